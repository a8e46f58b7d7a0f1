"""korea-2025-npu: korea-2025 with a domestic-NPU reservation (issue 11 §6). The SKUs are the two
domestic vendors' with figures marked est.; the scenario solves and verifies with the same engine as
korea-2025, back to back, and places every NPU as well as every Blackwell."""

from __future__ import annotations

from placer.verify import verify
from topologies import builtin_scenario, describe


def test_the_variant_adds_domestic_skus_and_a_tenant_only():
    base, npu = builtin_scenario("korea-2025"), builtin_scenario("korea-2025-npu")
    new = {k.id: k for k in npu.catalog}.keys() - {k.id for k in base.catalog}
    assert new == {"furiosa-rngd", "rebellions-atom"}
    for k in npu.catalog:
        if k.id in new:
            assert k.vendor in ("FuriosaAI", "Rebellions") and "est." in k.source
    assert [t.id for t in npu.demand.tenants] == [t.id for t in base.demand.tenants] + ["domestic-npu"]
    assert npu.topology.model_dump() == base.topology.model_dump()
    assert npu.policy.power_band_mw.max_mw > base.policy.power_band_mw.max_mw
    assert "domestic-NPU" in describe("korea-2025-npu")


def test_both_solve_and_verify_back_to_back():
    from solvers import solve

    plans = {}
    for name in ("korea-2025", "korea-2025-npu"):
        sc = builtin_scenario(name)
        plans[name] = solve(sc, "milp", time_limit_s=30)
        assert verify(sc, plans[name]).valid
    npu = plans["korea-2025-npu"]
    placed = sum(a.gpus for a in npu.assignments if a.tenant == "domestic-npu")
    assert placed == 20_000 + 19_200
    assert npu.summary.objective > plans["korea-2025"].summary.objective
