"""One finding of a verifier check module (schedule, power options, NPV): the code, the entity, the
measured value against its limit and unit, and the sentence. :mod:`placer.verify` turns findings
into the report's violations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    code: str
    entity: str
    measured: float | None
    limit: float | None
    unit: str
    message: str
