"""How long to wait before trying a faulted model call again, and whether to try at all."""

from __future__ import annotations

import random

from django.conf import settings

BASE_SECONDS = 1.0


def attempts_allowed() -> int:
    return max(0, settings.HARNESS_LLM_MAX_RETRIES)


def backoff_seconds(retries_so_far: int, retry_after: float | None = None) -> float:
    """`retry-after` when the API gave one (capped), else capped exponential with equal jitter."""
    cap = max(0.0, settings.HARNESS_LLM_MAX_RETRY_AFTER_SECONDS)
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    ceiling = min(cap, BASE_SECONDS * 2**retries_so_far)
    return ceiling / 2 + random.uniform(0, ceiling / 2)
