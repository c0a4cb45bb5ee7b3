"""The manual pages render without a warning from groff or man, and each
page the package promises exists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_commands

MAN = Path(__file__).resolve().parents[2] / "man"
PAGES = ["hbeat.8", "cl_status.1", "hb_standby.1", "hb_takeover.1", "hbeat-ha.cf.5"]


def test_the_promised_pages_exist() -> None:
    assert sorted(p.name for p in MAN.iterdir()) == sorted(PAGES)
    listed = (MAN.parent / "debian" / "hbeat.manpages").read_text().split()
    assert sorted(listed) == sorted(f"man/{p}" for p in PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_cleanly(page: str) -> None:
    require_commands("groff", "man")
    path = MAN / page
    res = subprocess.run(["groff", "-ww", "-z", "-man", str(path)], capture_output=True,
                         text=True)
    assert (res.returncode, res.stderr) == (0, "")
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    res = subprocess.run(["man", "--warnings", "-l", str(path)], capture_output=True,
                         text=True, env=env)
    assert (res.returncode, res.stderr) == (0, "")
    name = page.rsplit(".", 1)[0]
    assert "NAME" in res.stdout and name.split("-")[0] in res.stdout
