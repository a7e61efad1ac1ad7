"""Backoff for background retries: exponential, capped, and jittered so retries don't herd."""

from __future__ import annotations

import random


def jittered_backoff(
    attempt: int, base_seconds: float, max_seconds: float, rng: random.Random
) -> float:
    """base, 2*base, 4*base, ... up to the cap, each scaled by a random 0.5-1.0."""
    ceiling = min(max_seconds, base_seconds * 2.0 ** max(0, attempt - 1))
    return ceiling * rng.uniform(0.5, 1.0)
