"""What a writer thread is not handed for a moment: the log and journal lines
of a death's turn, held until its takeover orders are out
(docs/processes.md, "A death's orders first")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Holdback(Generic[T]):
    """Between `hold` and `release`, `keep` holds items (at most `limit`;
    beyond that it refuses and the caller hands them on as usual);
    `release` hands the held ones to `put`, in order."""

    def __init__(self, put: Callable[[T], None], limit: int) -> None:
        self._put = put
        self._limit = limit
        self._held: list[T] | None = None

    @property
    def holding(self) -> bool:
        return self._held is not None

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def keep(self, item: T) -> bool:
        """True when `item` is held (False: not holding, or `limit` reached)."""
        if self._held is None or len(self._held) >= self._limit:
            return False
        self._held.append(item)
        return True

    def release(self) -> None:
        held, self._held = self._held, None
        for item in held or ():
            self._put(item)
