"""The decision journal: the last `capacity` entries, kept in memory for the
query socket and in `<state dir>/hb_journal` across restarts (docs/journal.md).

`record(kind, cause=..., ...)` is the one call a decision point makes. A
cause (hbeat.ipc.journal.CAUSES) opens a decision and becomes the *current*
one; a step belongs to the current decision, or to the decision that
started its operation (`op_started` remembers it; `op_finished` returns it
with the operation's duration, and `within(decision)` makes it current
while the finished operation's consequences are handled).

The decision loop never waits for the disk: `record` appends to the ring
and puts the encoded line on a bounded queue; a writer thread appends it
(what is queued in one `write`, O_APPEND, and one fsync) and compacts the file (the last
`capacity` lines to a temporary file, fsync, rename, fsync of the
directory) when it has grown past twice the capacity or `max_bytes`. A
full queue drops the line (counted, and reported once the writer catches
up). A crash can leave at most a torn last line: `load` skips it with a
WARN and rewrites the file. The file is mode 0600 in the state directory
(itself 0700): haclient members read the journal through the query socket.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbeat.ipc.journal import CAUSES, REASONS, Entry, Kind, make_entry, parse_journal
from hbeat.logfmt import Level
from supervisor.holdback import Holdback

JOURNAL_FILE = "hb_journal"
CAPACITY = 1000
MAX_BYTES = 1024 * 1024
QUEUE_LINES = 1000
CLOSE_WAIT_S = 2.0
BATCH_LINES = 256
MODE = 0o600

Logger = Callable[[Level, str], None]


@dataclass
class _Op:
    decision: int
    started_ms: int
    info: dict[str, Any]


class Journal:
    def __init__(self, state_dir: Path, log: Logger, *, capacity: int = CAPACITY,
                 max_bytes: int = MAX_BYTES, queue_lines: int = QUEUE_LINES,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(state_dir) / JOURNAL_FILE
        self.log = log
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.clock = clock
        self.ring: deque[Entry] = deque(maxlen=capacity)
        self.seq = 0
        self.current = 0  # the decision steps belong to now (0: none yet)
        self.current_why = ""
        self.dropped = 0
        self._whys: dict[int, str] = {}  # decision -> why its groups move (REASONS)
        self._ops: dict[tuple[str, int], _Op] = {}
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=queue_lines)
        self._lines: deque[bytes] = deque(maxlen=capacity)  # the writer's copy
        self._file_lines = 0
        self._file_bytes = 0
        self._failed = False
        self._writer: threading.Thread | None = None
        self.holdback: Holdback[Entry] = Holdback(self._put, queue_lines)
        """Entries kept from the writer for a moment (in the ring at once,
        encoded when released): while a death's takeover orders go out."""

    # --- start and stop -------------------------------------------------------

    def load(self) -> None:
        """Read the file back (at start, before the writer runs); a damaged
        line is skipped with a WARN and the file rewritten without it."""
        try:
            with self.path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                skip = max(0, size - 4 * self.max_bytes)
                f.seek(skip)
                data = f.read()
        except FileNotFoundError:
            data, skip = b"", 0
        except OSError as exc:
            self.log(Level.ERROR, f"{self.path}: cannot read the decision journal: "
                                  f"{exc.strerror}; starting a new one")
            data, skip = b"", 0
        if skip:
            data = data[data.find(b"\n") + 1:]  # from the first whole line
        parsed = parse_journal(data, source=str(self.path))
        for problem in parsed.problems[:5]:
            self.log(Level.WARN, f"decision journal: {problem}")
        if len(parsed.problems) > 5:
            self.log(Level.WARN, f"decision journal: {len(parsed.problems) - 5} more damaged "
                                 "lines skipped")
        for entry in parsed.entries[-self.capacity:]:
            self.ring.append(entry)
            self._lines.append(entry.to_line())
            if entry.is_cause:
                self._whys[entry.seq] = _why(entry)
        self.seq = parsed.entries[-1].seq if parsed.entries else 0
        self._file_lines = len(parsed.entries)
        self._file_bytes = len(data)
        if not parsed.clean or skip or len(parsed.entries) > self.capacity:
            self._compact()

    def start(self) -> None:
        """Start the writer thread (after `load`)."""
        self._writer = threading.Thread(target=self._write_loop, name="journal writer",
                                        daemon=True)
        self._writer.start()

    def close(self) -> None:
        """Write what is queued (for at most CLOSE_WAIT_S) and stop the writer."""
        if self._writer is None or not self._writer.is_alive():
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=CLOSE_WAIT_S)
        self._writer.join(CLOSE_WAIT_S)

    def flush(self, timeout_s: float = 1.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.001)
        return not self._queue.unfinished_tasks

    # --- recording (the decision loop) ----------------------------------------

    def record(self, kind: Kind, cause: str = "", *, node: str | None = None,
               group: str | None = None, decision: int | None = None,
               **detail: Any) -> Entry:
        """Add an entry; never blocks, never raises on I/O. A cause becomes the
        current decision; a step joins `decision` or the current one."""
        self.seq += 1
        entry = make_entry(self.seq, self.clock(), kind,
                           self.current if decision is None else decision, cause,
                           node=node, group=group, detail=detail)
        if entry.decision == 0:  # a step before any cause (cannot happen after start)
            entry = make_entry(self.seq, entry.wall, kind, self.seq, cause, node=node,
                               group=group, detail=detail)
        if kind in CAUSES:
            self.current = entry.seq
            self.current_why = self._whys[entry.seq] = _why(entry)
            while len(self._whys) > self.capacity:
                del self._whys[next(iter(self._whys))]
        self.ring.append(entry)
        if not self.holdback.keep(entry):
            self._put(entry)
        return entry

    def _put(self, entry: Entry) -> None:
        try:
            self._queue.put_nowait(entry.to_line())
        except queue.Full:
            self.dropped += 1

    def cause_of(self, decision: int) -> Entry | None:
        """The cause entry of `decision`, if still in the ring."""
        for entry in reversed(self.ring):
            if entry.seq <= decision:
                return entry if entry.seq == decision else None
        return None

    def why_of(self, decision: int) -> str:
        """Why groups move in `decision` (hbeat.ipc.journal.REASONS), "" if unknown."""
        return self._whys.get(decision, "")

    def op_started(self, space: str, op_id: int, now_ms: int, **info: Any) -> None:
        """Remember that operation `op_id` (in `space`: script, fence) belongs to
        the current decision and started at `now_ms` (monotonic), with `info`
        for its entry when it finishes."""
        self._ops[(space, op_id)] = _Op(self.current, now_ms, info)
        if len(self._ops) > 4 * self.capacity:  # lost results must not grow this
            del self._ops[next(iter(self._ops))]

    def op_finished(self, space: str, op_id: int, now_ms: int
                    ) -> tuple[int, int | None, dict[str, Any]]:
        """(decision, duration ms, info) of a finished operation; (current,
        None, {}) for one not started through `op_started`."""
        op = self._ops.pop((space, op_id), None)
        if op is None:
            return self.current, None, {}
        return op.decision, max(0, now_ms - op.started_ms), op.info

    @contextlib.contextmanager
    def within(self, decision: int) -> Iterator[None]:
        """Steps recorded inside belong to `decision` (a finished operation's)."""
        saved, saved_why = self.current, self.current_why
        self.current, self.current_why = decision, self._whys.get(decision, saved_why)
        try:
            yield
        finally:
            # a cause recorded inside stays current
            if self.current == decision:
                self.current, self.current_why = saved, saved_why

    def entries(self, *, since: float | None = None) -> list[Entry]:
        return [e for e in self.ring if since is None or e.wall >= since]

    # --- the writer thread ----------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < BATCH_LINES and batch[-1] is not None:
                    batch.append(self._queue.get_nowait())
            try:
                self._append([line for line in batch if line is not None])
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:
                return

    def _append(self, lines: list[bytes]) -> None:
        """Append what was queued: one write and one fsync for the batch."""
        if not lines:
            return
        self._lines.extend(lines)
        if self.dropped and self._queue.empty():
            lost, self.dropped = self.dropped, 0
            self.log(Level.WARN, f"decision journal: {lost} entries dropped (the disk could "
                                 "not keep up)")
        data = b"".join(lines)
        if self._file_lines + len(lines) > 2 * self.capacity or (
                self._file_bytes + len(data) > self.max_bytes):
            self._compact()
            return
        try:
            _write_synced(self.path, os.O_APPEND, data)
        except OSError as exc:
            self._write_failed(exc)
            return
        self._failed = False
        self._file_lines += len(lines)
        self._file_bytes += len(data)

    def _compact(self) -> None:
        """The file becomes the last `capacity` lines, atomically."""
        lines = list(self._lines)
        while lines and sum(map(len, lines)) > self.max_bytes:
            lines.pop(0)
        data = b"".join(lines)
        tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        try:
            _write_synced(tmp, os.O_TRUNC, data)
            os.replace(tmp, self.path)
            dfd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self._write_failed(exc)
            return
        self._failed = False
        self._file_lines = len(lines)
        self._file_bytes = len(data)

    def _write_failed(self, exc: OSError) -> None:
        if not self._failed:
            self.log(Level.ERROR, f"{self.path}: cannot write the decision journal: "
                                  f"{exc.strerror or exc}")
        self._failed = True


def _why(cause: Entry) -> str:
    if cause.kind is Kind.REQUEST:
        return str(cause.detail.get("what", "request"))
    return REASONS.get(cause.kind, cause.kind.value)


def _write_synced(path: Path, mode_flag: int, data: bytes) -> None:
    """Write all of `data` to `path` (created with MODE; `mode_flag` is
    O_APPEND or O_TRUNC) and fsync it before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode_flag | os.O_CLOEXEC, MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
