"""A minimal Debian 12 root for installing the hbeat package, cached.

`bookworm_root(depends)` debootstraps `--variant=minbase` bookworm with the
package's Depends already included (first alternative of each), so that
`dpkg -i` of the .deb finds them all without a network. The root is kept in
/var/cache/hbeat-test/bookworm-<hash of the list>/root (HBEAT_TEST_CACHE
overrides the directory) and shared read-only by every run, which lays an
overlay over it per node; a lock keeps two runs from building it at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("HBEAT_TEST_CACHE", "/var/cache/hbeat-test"))
MIRROR = os.environ.get("HBEAT_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"


def first_alternatives(depends: str) -> list[str]:
    """Package names of a Depends field: the first alternative, versions dropped."""
    names = []
    for item in depends.split(","):
        first = item.split("|")[0].strip()
        name = re.split(r"[\s(:]", first, maxsplit=1)[0]
        if name and not name.startswith("$"):
            names.append(name)
    return sorted(set(names))


def bookworm_root(packages: list[str]) -> Path:
    key = hashlib.sha256(f"{SUITE} minbase {MIRROR} {' '.join(packages)}".encode()).hexdigest()
    base = CACHE / f"{SUITE}-{key[:16]}"
    root = base / "root"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (base / "complete").exists():
            return root
        scratch = base / "root.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.parent.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
             SUITE, str(scratch), MIRROR],
            capture_output=True, text=True, timeout=1200)
        if res.returncode != 0:
            raise RuntimeError(f"debootstrap failed (exit {res.returncode}):\n"
                               f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
        # The root is shared read-only: no apt lists or downloaded .debs in it.
        shutil.rmtree(scratch / "var/cache/apt/archives", ignore_errors=True)
        (scratch / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        scratch.rename(root)
        (base / "complete").write_text(" ".join(packages) + "\n")
        return root
