"""Skip-or-fail rules for tests that need root or a Debian package.

Outside CI a missing requirement skips the test with the reason. With the
environment variable CI=true the same condition fails the test instead:
CI runs as root after `make test` installed the packages, so nothing may
be skipped there.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

# command -> (where it lives when not on PATH, the Debian package providing it)
KNOWN_COMMANDS: dict[str, tuple[str | None, str]] = {
    "heartbeat": ("/usr/libexec/heartbeat/heartbeat", "heartbeat"),
    "cl_status": ("/usr/bin/cl_status", "heartbeat"),
    "socat": (None, "socat"),
    "stonith": ("/usr/sbin/stonith", "cluster-glue"),
    "tcpdump": ("/usr/bin/tcpdump", "tcpdump"),
    "ip": ("/usr/sbin/ip", "iproute2"),
    "tc": ("/usr/sbin/tc", "iproute2"),
    "nft": ("/usr/sbin/nft", "nftables"),
    "nsenter": (None, "util-linux"),
    "unshare": (None, "util-linux"),
    "ping": (None, "iputils-ping"),
    "systemd-analyze": (None, "systemd"),
    "crm_verify": ("/usr/sbin/crm_verify", "pacemaker-cli-utils"),
    "cibadmin": ("/usr/sbin/cibadmin", "pacemaker-cli-utils"),
    "crm": ("/usr/sbin/crm", "crmsh"),
    "pcs": ("/usr/sbin/pcs", "pcs"),
    "corosync": ("/usr/sbin/corosync", "corosync"),
    "dpkg-buildpackage": (None, "dpkg-dev"),
    "dh": (None, "debhelper"),
    "debootstrap": (None, "debootstrap"),
    "mkfs.ext4": (None, "e2fsprogs"),
    "losetup": (None, "mount"),
    "findmnt": (None, "util-linux"),
    "groff": (None, "groff-base"),
    "man": (None, "man-db"),
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test with `reason`, or fail it when CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a test may not be skipped in CI)", pytrace=False)
    pytest.skip(reason)


def require_root(why: str = "network namespaces") -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"needs root: {why}")


def find_command(name: str) -> str | None:
    """The path of a command: on PATH, in the sbin directories, or where its
    Debian package installs it."""
    sbin_path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    found = shutil.which(name, path=sbin_path)
    if found:
        return found
    known = KNOWN_COMMANDS.get(name, (None, ""))[0]
    if known and os.access(known, os.X_OK):
        return known
    if name.startswith("/") and os.access(name, os.X_OK):
        return name
    return None


def require_commands(*names: str) -> None:
    """Skip (or fail in CI) unless every command exists; the reason names the
    Debian packages to install."""
    missing = [n for n in names if find_command(n) is None]
    if missing:
        pkgs = sorted({KNOWN_COMMANDS.get(n, (None, Path(n).name))[1] for n in missing})
        skip_or_fail(
            f"needs command(s) {', '.join(missing)}: apt-get install {' '.join(pkgs)} "
            "(or run `make sysdeps` as root)"
        )


def kernel_lacks_sched_slice() -> str | None:
    """Why this kernel cannot show a settable fair-scheduler slice, or None.

    A SCHED_OTHER task's slice appears as `se.slice` in /proc/<pid>/sched
    since Linux 6.6 (EEVDF, and only with CONFIG_SCHED_DEBUG), and
    sched_setattr() can set it (sched_runtime) since 6.12. Debian 12's 6.1
    kernel has neither."""
    release = os.uname().release
    sched = Path("/proc/self/sched")
    if not sched.exists():
        return (f"kernel {release} has no /proc/self/sched (built without "
                "CONFIG_SCHED_DEBUG): the fair-scheduler slice cannot be read")
    if not any(line.partition(":")[0].strip() == "se.slice"
               for line in sched.read_text().splitlines()):
        return (f"kernel {release} lacks the se.slice field in /proc/self/sched "
                "(per-task fair-scheduler slices need Linux 6.12 or later)")
    m = re.match(r"(\d+)\.(\d+)", release)
    if m and (int(m.group(1)), int(m.group(2))) < (6, 12):
        return (f"kernel {release} shows se.slice but cannot set it with sched_setattr "
                "(Linux 6.12 or later)")
    return None


def require_kernel_sched_slice() -> None:
    """Skip, with the reason, where the kernel lacks settable fair-scheduler
    slices. The one skip CI allows: it is a property of the running kernel,
    which no package `make test` installs can change."""
    why = kernel_lacks_sched_slice()
    if why is not None:
        pytest.skip(why)
