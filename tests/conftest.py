"""Shared fixtures and skip rules for the whole suite.

`require_root()` / `require_commands(...)` skip a test with the reason, or
fail it when CI=true (tests/harness/requirements.py). The `lab_factory` and
`lab` fixtures give namespaced clusters (tests/harness/README.md) that are
torn down after the test; a failed test's report shows every lab log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.harness.netns import Lab, sweep_stale_labs
from tests.harness.requirements import require_commands, require_root, skip_or_fail

__all__ = ["require_commands", "require_root", "skip_or_fail"]

_swept = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test's report gets the logs of every lab it used."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for lab in getattr(item, "hbeat_labs", []):
            report.sections.append((f"lab {lab.id} logs", lab.diagnostics()))
    return report


@pytest.fixture
def lab_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Lab]]:
    """`lab_factory(nodes=2, client=False, ...)` -> a started Lab, closed after the test."""
    global _swept
    require_root("network namespaces")
    require_commands("ip", "nsenter", "unshare", "ping")
    if not _swept:
        sweep_stale_labs()
        _swept = True
    labs: list[Lab] = []
    request.node.hbeat_labs = labs

    def make(*args: Any, **kwargs: Any) -> Lab:
        lab = Lab(*args, **kwargs)
        labs.append(lab)
        return lab.start()

    yield make
    for lab in reversed(labs):
        lab.close()


@pytest.fixture
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    """A started two-node lab (otter, weasel)."""
    return lab_factory(2)
