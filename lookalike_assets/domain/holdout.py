"""Holdouts: which arm of an audience's holdout study a member is in.

A member's arm follows from a stable hash of tenant, audience and lead: a number in [0, 100) fixed for that
triple, below the audience's ``rules.holdout.percent`` -> ``control`` (kept out of every export), else
``treatment``. So a lead stays in its arm across refreshes and reruns, a lead that leaves and comes back returns
to the same arm, and raising the percentage only moves members from treatment to control (lowering it, back).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

Arm = Literal["treatment", "control"]


def holdout_unit(tenant_id: uuid.UUID | str, audience_id: uuid.UUID | str, lead_id: uuid.UUID | str) -> float:
    """A number in [0, 100) that only depends on the three ids (their canonical UUID form)."""
    text = f"{uuid.UUID(str(tenant_id))}:{uuid.UUID(str(audience_id))}:{uuid.UUID(str(lead_id))}"
    h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    return h / 2**64 * 100.0


def arm(tenant_id: uuid.UUID | str, audience_id: uuid.UUID | str, lead_id: uuid.UUID | str, percent: float) -> Arm:
    if percent <= 0:
        return "treatment"
    return "control" if holdout_unit(tenant_id, audience_id, lead_id) < percent else "treatment"
