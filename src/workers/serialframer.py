"""Splits a serial byte stream into classic heartbeat frames.

Heartbeat's serial reader (docs/heartbeat-protocol.md §1.5) collects lines, skips any
line until one starts with `>>>`, then gathers lines until one starts with
`<<<`. The port runs with IGNCR and ISTRIP, so carriage returns vanish and
input is 7-bit. This framer does the same on bytes handed to it, with a hard
bound on how much an unterminated frame may hold, and reports what it threw
away so garbage on the cable is counted, not silently eaten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from linklayer.message import MAX_FRAME

START = b">>>"
END = b"<<<"


@dataclass
class FramerStats:
    frames: int = 0
    junk_bytes: int = 0
    oversized: int = 0


@dataclass
class SerialFramer:
    """Feed bytes in, get whole `>>>\\n...<<<\\n` frames out."""

    max_frame: int = MAX_FRAME
    stats: FramerStats = field(default_factory=FramerStats)
    _line: bytearray = field(default_factory=bytearray)
    _frame: bytearray | None = None

    @property
    def idle(self) -> bool:
        """Between frames: no partial line held, no frame open (the C wait may
        then read the line: linklayer/quiet.py)."""
        return not self._line and self._frame is None

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        # ISTRIP: 7-bit input; IGNCR: carriage returns dropped.
        data = bytes(b & 0x7F for b in data) if any(b > 0x7F for b in data) else data
        data = data.replace(b"\r", b"")
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                self._append_partial(data[start:])
                return frames
            self._line += data[start:nl]
            start = nl + 1
            frame = self._take_line(bytes(self._line))
            self._line.clear()
            if frame is not None:
                frames.append(frame)

    def _append_partial(self, chunk: bytes) -> None:
        self._line += chunk
        if len(self._line) > self.max_frame:
            # A line that long can be neither a marker nor part of a legal frame.
            self.stats.junk_bytes += len(self._line)
            if self._frame is not None:
                self.stats.oversized += 1
                self.stats.junk_bytes += len(self._frame)
                self._frame = None
            self._line.clear()

    def _take_line(self, line: bytes) -> bytes | None:
        if self._frame is None:
            if line.startswith(START):
                self._frame = bytearray(b">>>\n")
            else:
                self.stats.junk_bytes += len(line) + 1
            return None
        if line.startswith(START):
            # A new start inside a frame: the earlier one was cut short.
            self.stats.junk_bytes += len(self._frame)
            self._frame = bytearray(b">>>\n")
            return None
        if line.startswith(END):
            self._frame += b"<<<\n"
            frame = bytes(self._frame)
            self._frame = None
            self.stats.frames += 1
            return frame
        if len(self._frame) + len(line) + 1 + 4 > self.max_frame:
            self.stats.oversized += 1
            self.stats.junk_bytes += len(self._frame) + len(line) + 1
            self._frame = None
            return None
        self._frame += line
        self._frame += b"\n"
        return None
