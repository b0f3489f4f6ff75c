"""How long the client waits before trying the server again: exponential, jittered, and never
sooner than the server's own Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from parcelstream.retrying import backoff


@dataclass(frozen=True, slots=True)
class Backoff:
    first: float = 0.5
    """Seconds before the first retry (on average three quarters of it, with jitter)."""
    factor: float = 2.0
    ceiling: float = 30.0
    """The longest wait the client picks itself; a server's Retry-After may ask for more."""
    longest_retry_after: float = 300.0
    """A Retry-After beyond this is treated as this, so a confused proxy cannot park a device."""
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The wait before retry number `attempt` (1 for the first). Half is fixed, half random,
        so that a fleet of devices coming back online together spreads out."""
        wait = backoff(
            self.first, self.ceiling, max(0, attempt - 1), self.factor, rng=self.rng.random
        )
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.longest_retry_after))
        return wait
