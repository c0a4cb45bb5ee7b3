"""Helper: `hbeat why` run on a lab node against its daemon (or its state directory)."""

from __future__ import annotations

import json
import os
from typing import Any

from tests.harness.hbeatnode import HBEAT, HbeatNode


def why(node: HbeatNode, *args: str) -> str:
    env = {**os.environ, "HBEAT_RUNTIME_DIR": str(node.runtime_dir),
           "HBEAT_STATE_DIR": str(node.state_dir), "HBEAT_NODE_NAME": node.name}
    res = node.node.run([HBEAT, "why", *args], check=False, env=env)
    assert res.returncode == 0, res
    return res.stdout


def why_decisions(node: HbeatNode) -> list[dict[str, Any]]:
    doc = json.loads(why(node, "--json"))
    assert doc["version"] == 1
    found: list[dict[str, Any]] = doc["decisions"]
    return found
