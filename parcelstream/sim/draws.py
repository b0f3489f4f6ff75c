"""The simulator's randomness, all derived from the scenario's seed: a sequence of per-package
draws, and keyed draws that everyone sharing the key (a truck trip, a driver's day) gets alike."""

from __future__ import annotations

import random
from hashlib import blake2b

_SCALE = float(1 << 64)


class SeededDraws:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self._salt = str(seed).encode()
        self._keyed: dict[tuple[object, ...], float] = {}

    def uniform(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high)

    def chance(self, probability: float) -> bool:
        # Always consume a draw, so one fault rate never shifts every other draw of a scenario.
        return self.rng.random() < probability

    def pick(self, options: tuple[str, ...]) -> str:
        return self.rng.choice(options)

    def keyed(self, *key: object) -> float:
        """A number in [0, 1) fixed by the seed and `key`."""
        found = self._keyed.get(key)
        if found is None:
            text = "|".join(map(str, key)).encode()
            digest = blake2b(text, digest_size=8, key=self._salt).digest()
            found = self._keyed[key] = int.from_bytes(digest, "big") / _SCALE
        return found


class TypicalDraws:
    """Every draw at the same quantile: the journey a package has on a typical (q=0.5) or a
    somewhat unlucky (q=0.8) trip. Used to set the service promise per lane."""

    def __init__(self, quantile: float) -> None:
        self.quantile = quantile

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.quantile

    def chance(self, probability: float) -> bool:
        return False

    def pick(self, options: tuple[str, ...]) -> str:
        return options[0]

    def keyed(self, *key: object) -> float:
        return self.quantile
