"""hbeat's IPaddr2, IPaddr, SendArp and Filesystem resource scripts
(scripts/resource.d) with the real OCF agents of resource-agents, in a lab
node: an address on the node's eth1, gratuitous ARPs for the node's own
address, an ext4 loop device mounted in the node's mount namespace.
Their argument mapping is tested in tests/packaging/test_resource_scripts.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import require_commands, require_root
from tests.harness import Lab

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts" / "resource.d"
AGENTS = Path("/usr/lib/ocf/resource.d/heartbeat")


def real_agents(*names: str) -> None:
    missing = [n for n in names if not os.access(AGENTS / n, os.X_OK)]
    if missing:
        require_commands(*[str(AGENTS / n) for n in missing])


def test_ipaddr2_and_filesystem_on_a_lab_node(lab: Lab, tmp_path: Path) -> None:
    require_root("loop devices")
    require_commands("losetup", "mkfs.ext4", "findmnt")
    real_agents("IPaddr2", "IPaddr", "SendArp", "Filesystem")
    node = lab["otter"]
    vip = f"10.{lab.subnet}.0.77"

    def has_vip() -> bool:
        out = subprocess.run(["ip", "-n", node.netns, "-4", "-o", "addr", "show", "dev",
                              "eth1"], capture_output=True, text=True).stdout
        return f" {vip}/24 " in out

    for script in ("IPaddr2", "IPaddr"):
        path = str(SCRIPTS / script)
        assert node.run([path, f"{vip}/24/eth1", "status"], check=False).returncode == 3
        node.run([path, f"{vip}/24/eth1", "start"])
        assert has_vip(), script
        assert node.run([path, f"{vip}/24/eth1", "status"]).stdout == "running\n"
        node.run([path, f"{vip}/24/eth1", "stop"])
        assert not has_vip(), script

    rsctmp = tmp_path / "rsctmp"
    rsctmp.mkdir()
    sendarp = ["env", f"HA_RSCTMP={rsctmp}", str(SCRIPTS / "SendArp"), f"{node.ip}/eth1"]
    assert node.run([*sendarp, "status"], check=False).returncode == 3
    node.run([*sendarp, "start"])
    assert node.run([*sendarp, "status"]).stdout == "running\n"
    node.run([*sendarp, "stop"])
    assert node.run([*sendarp, "status"], check=False).returncode == 3

    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
    dev = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        (node.private("/mnt") / "hbeat-fs").mkdir()
        fs = [str(SCRIPTS / "Filesystem"), dev, "/mnt/hbeat-fs", "ext4"]
        assert node.run([*fs, "status"], check=False).returncode == 3
        node.run([*fs, "start"], timeout=60)
        found = node.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "/mnt/hbeat-fs"]).stdout
        assert found.split() == [dev, "ext4"]
        assert node.run([*fs, "status"]).stdout == "running\n"
        node.run([*fs, "stop"], timeout=60)
        assert node.run(["findmnt", "/mnt/hbeat-fs"], check=False).returncode != 0
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)
