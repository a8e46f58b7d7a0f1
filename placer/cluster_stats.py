"""The definitions of a cluster schedule's reported figures, stated once for the simulator and the checker.

:class:`placer.cluster_schedule.Metrics`, ``TenantShare`` and ``SitePower`` are reported by the
simulator (:mod:`solvers.cluster_sim`) and recomputed by the checker
(:mod:`placer.verify_cluster`); both follow the definitions below, each with its own
arithmetic. The only shared code is :func:`percentile` (a definition, not a computation
either side checks).

Notation: a job's segments ``k`` hold ``held(k)`` GPUs (the sum of the allocation's GPUs;
a block job's whole SUs), for ``dur(k) = end_s - start_s`` seconds, at ``speed(k)``.
``first_arrival`` is the smallest ``arrival_s`` over all the workload's jobs, ``last_end`` the
largest segment ``end_s`` of the schedule.

Metrics
-------
* ``jobs``, ``completed``, ``unfinished``, ``rejected``: the workload's jobs and the records
  in each state.
* ``mean_jct_s``, ``p99_jct_s``: over completed jobs, JCT = ``end_s - arrival_s``; the
  arithmetic mean and :func:`percentile` 99. 0.0 when no job completed.
* ``mean_queue_s``, ``p99_queue_s``: over jobs with at least one segment, the first segment's
  ``start_s - arrival_s`` (the first wait only). 0.0 when no job started.
* ``makespan_s``: ``last_end - first_arrival`` (0.0 when there is no segment, never negative).
* ``utilisation``: ``sum_k held(k) x dur(k) / (fleet GPUs x makespan_s)`` (0.0 when the
  makespan is 0).
* ``fragmentation``: ``(1 / (fleet GPUs x makespan_s)) x`` the integral over
  ``[first_arrival, last_end]`` of the free GPUs of partly used domains (a domain with
  ``0 < held < gpus``) (0.0 when the makespan is 0).
* ``gpu_hours_capped``: ``sum_k held(k) x (1 - speed(k)) x dur(k) / 3600``.
* ``gpu_hours_paused``: ``sum over pauses of the GPUs held by the segment before the pause x
  the pause's length / 3600`` plus ``sum over resumed segments of held(k) x checkpoint_s /
  3600``. A pause is the gap between two consecutive segments of a job (``start_s`` of the
  later minus ``end_s`` of the earlier; 0 for a migration made in one instant) and, for an
  unfinished job whose last segment ends before the horizon, horizon minus that end. Every
  pause counts, whatever its cause.
* ``gpu_hours_lost_to_power``: ``gpu_hours_capped + gpu_hours_paused``.
* ``migrations``: resumed segments whose allocation (the sorted list of (domain, GPUs))
  differs from the previous segment's.
* ``pauses``: resumed segments that start after the previous segment's end (a gap), plus
  unfinished jobs whose last segment ends before the horizon (paused, never resumed).

Tenants (one row per tenant of the fleet or of ``workload.tenants``, sorted by name)
---------------------------------------------------------------------------------------
* ``quota_gpus``: the tenant policy's ``quota_gpus``, else the GPUs it owns in the fleet;
  ``weight``: the policy's, else 1.0.
* ``gpu_hours``: ``sum over its jobs' segments of held(k) x dur(k) / 3600``;
  ``mean_gpus_held``: that in GPU-seconds over ``makespan_s`` (0.0 when the makespan is 0);
  ``peak_gpus_held``: the most GPUs its jobs hold at one instant;
  ``share_of_quota``: ``mean_gpus_held / quota_gpus`` (0.0 when the quota is 0).

Sites (one row per fleet site, in the fleet's order)
----------------------------------------------------
The draw is :data:`placer.fleet.POWER_RULE`; the allowance is
:func:`placer.workload.allowance_steps` with the fleet's ``base_mw``. The window is
``[0, last_end)`` (just ``t = 0`` when there is no segment). Draw and allowance are step
functions (segments are ``[start_s, end_s)``, allowance steps hold from their time on), so
they are evaluated at every breakpoint of either inside the window.

* ``base_mw``: the fleet's base allowance; ``peak_mw``: the highest draw in the window;
* ``least_headroom_mw``: the smallest ``allowance - draw`` in the window;
* ``energy_mwh``: the integral of the draw over the window / 3600.

Percentiles are nearest-rank (:func:`percentile`).

Complexity: :func:`percentile` is O(n log n).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

SECONDS_PER_HOUR = 3600.0


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile: the ``ceil(q/100 x n)``-th smallest of the ``n``
    values (the smallest for ``q = 0``); 0.0 for no values.

    Inputs: any finite floats, ``0 <= q <= 100``. O(n log n)."""
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return 0.0
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside [0, 100]")
    rank = max(1, math.ceil(q * len(ordered) / 100.0))  # q x n first: exact for whole q (0.99 x 100 is not 99)
    return ordered[min(rank, len(ordered)) - 1]


__all__ = ["SECONDS_PER_HOUR", "percentile"]
