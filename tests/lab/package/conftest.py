"""The .deb under test, built once per run by `make deb` (into a temporary
directory, never the tree's build/deb). Under pytest-xdist the workers share
one build: the first to arrive builds it under a lock, the others wait and
reuse it."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_commands, require_root

REPO = Path(__file__).resolve().parents[3]


def _build(out: Path) -> Path:
    debs = sorted(out.glob("hbeat_*.deb"))
    if len(debs) == 1:
        return debs[0]
    res = subprocess.run(["make", "-C", str(REPO), "deb", f"DEB_DIR={out}"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"make deb failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    debs = sorted(out.glob("hbeat_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root("dpkg, debootstrap, loop devices and network namespaces")
    require_commands("dpkg-buildpackage", "dh", "debootstrap", "losetup", "mkfs.ext4")
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _build(tmp_path_factory.mktemp("deb"))
    shared = tmp_path_factory.getbasetemp().parent  # one per run, shared by the workers
    with open(shared / "deb.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = shared / "deb"
        out.mkdir(exist_ok=True)
        return _build(out)
