"""CURVE certificates for the `status_tcp` tests: a server, a known client
(`good`, its public key in clients/) and an unknown one (`bad`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq.auth


def make_keys(root: Path) -> dict[str, Path]:
    """server, good and bad certificates; clients/ holds good's public key only."""
    root.mkdir(parents=True, exist_ok=True)
    clients = root / "clients"
    clients.mkdir()
    for name in ("server", "good", "bad"):
        zmq.auth.create_certificates(str(root), name)
    shutil.copy(root / "good.key", clients / "good.key")
    for secret in root.glob("*.key_secret"):
        secret.chmod(0o600)
    return {"dir": root, "clients": clients, "server": root / "server.key",
            "server_secret": root / "server.key_secret",
            "good": root / "good.key_secret", "bad": root / "bad.key_secret"}
