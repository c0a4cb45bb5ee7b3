"""Moving one node from heartbeat to hbeat and back, as README.md's "Replacing
heartbeat node by node" says, with the real packages: Debian's heartbeat
3.0.6 installed by apt (from the Debian mirror) into an overlay of the test
root, then `apt install ./hbeat_*.deb`, which removes heartbeat (Conflicts)
and takes over /etc/init.d/heartbeat (Replaces) without a conffile
question; `apt purge heartbeat` clears heartbeat's leftover resource.d
scripts so that hbeat's own are used; the administrator's files stay
throughout. Going back (purge hbeat, install heartbeat) restores heartbeat's
script. Each step runs chrooted in a private mount namespace of its own.
The same root checks that, under systemd, /etc/init.d/heartbeat and the
heartbeat command hand their actions to hbeat.service.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import require_commands

from .testroot import bookworm_root, first_alternatives

APT = ("env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "
       "--no-install-recommends")
SECRET = "0c5e8a1d7f3b9e2a4c6d8f0b1e3a5c7d"


class Root:
    """An overlay of the cached root; `sh(script)` runs in it as root."""

    def __init__(self, base: Path, scratch: Path) -> None:
        self.base = base
        self.upper, self.work, self.merged = (scratch / d for d in ("upper", "work", "root"))
        for d in (self.upper, self.work, self.merged):
            d.mkdir(parents=True)

    def sh(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        r = self.merged
        setup = (f"mount -t overlay overlay -o lowerdir={self.base},upperdir={self.upper},"
                 f"workdir={self.work} {r} && mount -t proc proc {r}/proc && "
                 f"mount --rbind /dev {r}/dev && mount -t tmpfs tmpfs {r}/run && "
                 f"mount -t tmpfs tmpfs {r}/tmp && cp /etc/resolv.conf {r}/etc/resolv.conf && "
                 f'exec chroot {r} env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 '
                 f'sh -ec "$0"')
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               setup, script], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def ok(self, script: str, timeout: float = 300) -> str:
        res = self.sh(script, timeout)
        assert res.returncode == 0, f"{script}\nexit {res.returncode}\n{res.stdout[-3000:]}\n" \
                                    f"{res.stderr[-3000:]}"
        return res.stdout


def test_replace_heartbeat_and_go_back(deb: Path, tmp_path: Path) -> None:
    require_commands("unshare")
    depends = subprocess.run(["dpkg-deb", "-f", str(deb), "Depends"], capture_output=True,
                             text=True, check=True).stdout
    root = Root(bookworm_root(first_alternatives(depends)), tmp_path / "node")
    (root.upper / "root").mkdir()
    shutil.copy(deb, root.upper / "root" / deb.name)
    pkg = f"/root/{deb.name}"

    # A heartbeat node: the package, and the administrator's files.
    root.ok(f"printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; "
            f"chmod 755 /usr/sbin/policy-rc.d; apt-get -q update; {APT} install heartbeat",
            timeout=600)
    root.ok(f"""
        printf 'keepalive 1\\ndeadtime 10\\ninitdead 60\\nbcast lo\\nnode otter weasel\\n' \\
            > /etc/ha.d/ha.cf
        echo 'otter IPaddr2::10.9.9.9/24/lo mysvc' > /etc/ha.d/haresources
        printf 'auth 1\\n1 sha1 {SECRET}\\n' > /etc/ha.d/authkeys; chmod 600 /etc/ha.d/authkeys
        printf '#!/bin/sh\\necho running\\n' > /etc/ha.d/resource.d/mysvc
        chmod 755 /etc/ha.d/resource.d/mysvc
        test -x /usr/libexec/heartbeat/heartbeat
    """)

    # Install hbeat: apt removes heartbeat, hbeat takes its init script over.
    out = root.ok(f"{APT} install {pkg}; dpkg-query -W -f='${{db:Status-Abbrev}}' heartbeat; "
                  "echo; dpkg-query -W -f='${db:Status-Abbrev}' hbeat; echo; "
                  "dpkg -S /etc/init.d/heartbeat; grep -c hbeat /etc/init.d/heartbeat")
    assert "Removing heartbeat" in out, out
    assert "rc \nii \nhbeat: /etc/init.d/heartbeat\n" in out, out
    # Under systemd, heartbeat's init script and flags drive hbeat.service
    # (a recording systemctl stands in for systemd, which this root lacks).
    out = root.ok("""
        mkdir -p /run/systemd/system
        printf '#!/bin/sh\\necho "systemctl $*" >> /tmp/calls\\n' > /usr/bin/systemctl
        chmod 755 /usr/bin/systemctl
        for action in start stop restart force-reload reload; do
            /etc/init.d/heartbeat $action
        done
        heartbeat -k; heartbeat
        heartbeat -s || echo "exit $?"
        cat /tmp/calls; rm /usr/bin/systemctl
    """)
    assert out.splitlines() == [
        "heartbeat is stopped. No process", "exit 3",
        "systemctl start hbeat.service", "systemctl stop hbeat.service",
        "systemctl restart hbeat.service", "systemctl restart hbeat.service",
        "systemctl reload hbeat.service", "systemctl stop hbeat.service",
        "systemctl start hbeat.service",
        "systemctl show --property=MainPID --value hbeat.service"], out
    # heartbeat's leftover conffiles still shadow hbeat's IPaddr2 ...
    check = root.ok("hbeat check --node-name otter")
    assert "/etc/ha.d/resource.d/IPaddr2" in check, check
    # ... until heartbeat is purged; the administrator's files stay.
    out = root.ok("apt-get -y -q purge heartbeat; hbeat check --node-name otter; "
                  "ls /etc/ha.d /etc/ha.d/resource.d; dpkg -S /etc/init.d/heartbeat")
    assert "/usr/lib/hbeat/resource.d/IPaddr2" in out and "/etc/ha.d/resource.d/mysvc" in out
    assert "harc" not in out and "rc.d" not in out, out
    assert "hbeat: /etc/init.d/heartbeat" in out

    # And back: purge hbeat, install heartbeat; its own init script returns.
    out = root.ok(f"apt-get -y -q purge hbeat; {APT} install heartbeat; "
                  "dpkg -S /etc/init.d/heartbeat; grep -c hbeat /etc/init.d/heartbeat || true; "
                  "cat /etc/ha.d/haresources; test -x /usr/libexec/heartbeat/heartbeat",
                  timeout=600)
    assert "heartbeat: /etc/init.d/heartbeat\n0\n" in out, out
    assert "otter IPaddr2::10.9.9.9/24/lo mysvc" in out
