"""Waiting on conditions with deadlines: `wait_for` polls, `LogWatcher` tails.

Tests never sleep for a fixed time; they wait for something observable and
fail with a message that says what they waited for and what they saw last.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition did not become true before its deadline."""


def _short(value: object, limit: int = 2000) -> str:
    text = repr(value) if not isinstance(value, str) else value
    if len(text) > limit:
        text = text[: limit // 2] + " ... " + text[-limit // 2 :]
    return text


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    interval: float = 0.05,
    *,
    what: str | None = None,
    describe: Callable[[], object] | None = None,
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Poll `predicate` until it returns a truthy value, and return that value.

    Fails with `WaitTimeout` after `timeout` seconds. The message names `what`
    was awaited (default: the predicate's name) and the last observed state:
    `describe()` if given, else the predicate's last return value or the last
    exception of one of the `ignore` types it raised.
    """
    label = what or getattr(predicate, "__name__", repr(predicate))
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        now = time.monotonic()
        if now >= deadline:
            observed = describe() if describe is not None else last
            raise WaitTimeout(
                f"timed out after {timeout:g} s waiting for {label}; "
                f"last observed: {_short(observed)}"
            )
        time.sleep(min(interval, max(deadline - now, 0.0)))


class LogWatcher:
    """Follows a text file that grows (a log) and waits for lines matching a regex.

    Reading starts at the end of the file as it is when the watcher is made
    (`from_start=True` reads it whole); a file that does not exist yet is
    waited for. Each successful `wait` consumes the lines up to and including
    the match, so consecutive waits see events in order.
    """

    def __init__(self, path: Path | str, *, from_start: bool = False) -> None:
        self.path = Path(path)
        self._pos = 0
        self._partial = b""
        self._pending: list[str] = []
        self.seen: list[str] = []
        if not from_start and self.path.exists():
            self._pos = self.path.stat().st_size

    def _read(self) -> None:
        try:
            with self.path.open("rb") as fh:
                size = fh.seek(0, 2)
                if size < self._pos:  # truncated or replaced: start over
                    self._pos = 0
                    self._partial = b""
                fh.seek(self._pos)
                data = fh.read()
        except FileNotFoundError:
            return
        self._pos += len(data)
        chunks = (self._partial + data).split(b"\n")
        self._partial = chunks.pop()
        for raw in chunks:
            line = raw.decode("utf-8", "replace")
            self._pending.append(line)
            self.seen.append(line)

    def poll(self, pattern: str | re.Pattern[str]) -> re.Match[str] | None:
        """Consume pending lines up to the first match of `pattern`, if any."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        self._read()
        for i, line in enumerate(self._pending):
            m = rx.search(line)
            if m:
                del self._pending[: i + 1]
                return m
        return None

    def wait(
        self, pattern: str | re.Pattern[str], timeout: float, interval: float = 0.05
    ) -> re.Match[str]:
        """Wait until a line matching `pattern` appears; return its match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern

        def tail() -> str:
            lines = self._pending[-15:] or self.seen[-15:]
            state = "missing" if not self.path.exists() else f"{len(self.seen)} lines read"
            return f"{self.path} ({state}); last lines:\n" + "\n".join(lines)

        return wait_for(
            lambda: self.poll(rx),
            timeout,
            interval,
            what=f"/{rx.pattern}/ in {self.path}",
            describe=tail,
        )

    def text(self) -> str:
        """Everything read so far, as one string."""
        self._read()
        return "\n".join(self.seen)
