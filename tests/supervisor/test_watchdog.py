"""supervisor/watchdog.py on a real FIFO (a character device is not needed:
the ioctls fail with ENOTTY there, which is the stand-in case)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hbeat.logfmt import Level
from supervisor.watchdog import Watchdog, WatchdogError, pet_interval_ms


class Reader:
    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)

    def read(self) -> bytes:
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            return b""


def test_open_pet_and_magic_close(tmp_path: Path) -> None:
    reader = Reader(tmp_path / "wd")
    logs: list[tuple[Level, str]] = []
    dog = Watchdog.open(str(tmp_path / "wd"), 3, 4000, 500, lambda lv, t: logs.append((lv, t)))
    assert reader.read() == b"\0"  # armed at once
    assert (Level.INFO, f"Using watchdog device: {tmp_path / 'wd'}") in logs
    warn = [t for lv, t in logs if lv is Level.WARN]
    assert warn and warn[0].startswith(
        "WDIOC_SETTIMEOUT: Failed to set watchdog timer to 3 seconds")
    dog.pet(1)  # not due yet (every pet_interval_ms)
    assert reader.read() == b""
    dog.pet(pet_interval_ms(3, 500))
    assert reader.read() == b"\0"
    dog.close()
    assert reader.read() == b"V"
    assert os.read(reader.fd, 1) == b""  # closed: end of file


def test_fencing_stops_petting_and_never_writes_the_magic_character(tmp_path: Path) -> None:
    reader = Reader(tmp_path / "wd")
    logs: list[tuple[Level, str]] = []
    dog = Watchdog.open(str(tmp_path / "wd"), 3, 4000, 500, lambda lv, t: logs.append((lv, t)))
    reader.read()
    dog.stop_petting("test")
    assert (Level.CRIT, f"test: no longer feeding watchdog {tmp_path / 'wd'}: this node "
                        "will be reset within 3 s.") in logs
    dog.pet(10**9)
    dog.close()
    assert reader.read() == b""
    assert dog.next_deadline() is None


def test_missing_reader_or_device_refuses_to_start(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "wd")  # nobody reads: ENXIO
    with pytest.raises(WatchdogError, match="Cannot open watchdog device"):
        Watchdog.open(str(tmp_path / "wd"), 3, 4000, 500, lambda lv, t: None)
    with pytest.raises(WatchdogError, match="No such file"):
        Watchdog.open(str(tmp_path / "none"), 3, 4000, 500, lambda lv, t: None)
