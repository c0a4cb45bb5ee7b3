"""Checks of the CURVE key files `status_tcp ... curve SECRET CLIENTS` names.

Reads them (this is I/O, called by `load.inspect_config`): the server
certificate must hold a secret key and be readable by its owner only, as
authkeys must; the client directory must hold the public certificates
(`*.key`, the zmq.auth format written by `zmq.auth.create_certificates`
or `curve_keygen`) of the tools allowed to subscribe. Problems point at
the ha.cf line of the directive.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hbeat.config.model import HaCf, Level, Problem


def check_status_tcp(hacf: HaCf) -> list[Problem]:
    spec = hacf.status_tcp
    if spec is None or spec.secret_file is None or spec.clients_dir is None:
        return []
    import zmq.auth  # only a configuration with CURVE keys pays for it

    out: list[Problem] = []

    def error(message: str) -> None:
        out.append(Problem(hacf.path, spec.line, Level.ERROR, message))

    secret = Path(spec.secret_file)
    try:
        st = secret.stat()
    except OSError as exc:
        error(f"status_tcp: cannot read the server key {secret}: {exc.strerror}")
    else:
        if not stat.S_ISREG(st.st_mode):
            error(f"status_tcp: the server key {secret} is not a regular file")
            return out
        try:
            _public, secret_key = zmq.auth.load_certificate(str(secret))
        except (OSError, ValueError) as exc:
            error(f"status_tcp: {secret} is not a CURVE certificate: {exc}")
        else:
            if secret_key is None:
                error(f"status_tcp: {secret} holds no secret key (give the "
                      "`.key_secret` file, not the public `.key`)")
            elif st.st_mode & 0o077:
                error(f"status_tcp: the server key {secret} is readable by others (mode "
                      f"{stat.S_IMODE(st.st_mode):04o}); chmod 600 it: its secret key lets "
                      "anyone impersonate this node's feed")
    clients = Path(spec.clients_dir)
    if not clients.is_dir():
        error(f"status_tcp: the client keys directory {clients} does not exist")
        return out
    keys = sorted(p for p in clients.iterdir() if p.suffix == ".key")
    for key in keys:
        try:
            zmq.auth.load_certificate(str(key))
        except (OSError, ValueError) as exc:
            error(f"status_tcp: client key {key} is not a CURVE certificate: {exc}")
    if not keys:
        out.append(Problem(hacf.path, spec.line, Level.WARN,
                           f"status_tcp: no client key (*.key) in {clients}: no tool can "
                           "subscribe until one is added (and hbeat restarted)"))
    if os.stat(clients).st_mode & 0o002:
        error(f"status_tcp: the client keys directory {clients} is world-writable: "
              "anyone could add a key and read the feed")
    return out
