"""The .deb under test, built once per session by `make deb` (into a
temporary directory, never the tree's build/deb)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_commands, require_root

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root("dpkg, debootstrap, loop devices and network namespaces")
    require_commands("dpkg-buildpackage", "dh", "debootstrap", "losetup", "mkfs.ext4")
    out = tmp_path_factory.mktemp("deb")
    res = subprocess.run(["make", "-C", str(REPO), "deb", f"DEB_DIR={out}"],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, f"make deb failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    debs = sorted(out.glob("hbeat_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]
