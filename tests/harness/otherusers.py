"""Letting another user (`nobody`, a haclient member) run code from this
checkout: the directories above it may be private (a clone in a `mktemp -d`
folder is 0700), so the tests that drop root add the search bit to them for
the test's duration and put the modes back afterwards."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def traversable(*paths: Path) -> Iterator[None]:
    """Add o+x to every directory from / down to each of `paths` (inclusive
    when it is a directory) that lacks it; restore the old modes on exit.
    Nothing is made readable or writable: only the search bit is added."""
    changed: dict[Path, int] = {}
    try:
        for path in paths:
            path = path.resolve()
            chain = [*reversed(path.parents), *([path] if path.is_dir() else [])]
            for directory in chain:
                if directory in changed:
                    continue
                mode = stat.S_IMODE(directory.stat().st_mode)
                if not mode & stat.S_IXOTH:
                    directory.chmod(mode | stat.S_IXOTH)
                    changed[directory] = mode
        yield
    finally:
        for directory, mode in changed.items():
            with suppress(FileNotFoundError):  # a test's temporary directory, gone
                directory.chmod(mode)
