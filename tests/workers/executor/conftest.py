"""Fixtures for the executor tests: a config tree with scripts, and stand-in supervisors.

`tree` is a temporary config directory with an empty `resource.d` and
`init.d`; `tree.script(name, body)` writes an executable script there.
`standin(**setup)` starts a real executor behind a `StandIn` ROUTER,
pointed at that tree, and stops it after the test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workers.executor.standin import StandIn


class Tree:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.resource_dir = root / "resource.d"
        self.init_dir = root / "init.d"
        self.events = root / "events.log"
        self.resource_dir.mkdir()
        self.init_dir.mkdir()

    def script(self, name: str, body: str, *, where: str = "resource.d",
               mode: int = 0o755) -> Path:
        path = self.root / where / name
        path.write_text(body)
        path.chmod(mode)
        return path

    def events_lines(self) -> list[list[str]]:
        if not self.events.exists():
            return []
        return [line.split() for line in self.events.read_text().splitlines()]

    def setup(self, **extra: Any) -> dict[str, Any]:
        return {"config_dir": str(self.root), "node": "otter",
                "resource_dir": str(self.resource_dir), "init_dir": str(self.init_dir),
                "kill_grace_s": 1, **extra}


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
def standin(tree: Tree) -> Iterator[Callable[..., StandIn]]:
    made: list[StandIn] = []

    def make(*, prefix: tuple[str, ...] = (), **setup: Any) -> StandIn:
        s = StandIn(tree.setup(**setup), prefix=prefix, log_dir=tree.root)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def proc_state(pid: int) -> str | None:
    """The /proc state letter of `pid` (R, S, Z, ...), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            members.append(int(entry))
    return members
