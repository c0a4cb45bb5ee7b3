"""The status feed over TCP for remote tools (ha.cf `status_tcp`, off by default).

A second ZeroMQ PUB socket carrying exactly what the ipc feed carries. With
`curve SECRET CLIENTS` it is a CURVE server: pyzmq's ThreadAuthenticator
(its own thread, so the supervisor's loop never waits on a handshake)
admits only clients whose public key is in CLIENTS, read when the daemon
starts; everything else gets nothing. `insecure` serves it in the clear
(`hbeat check` warns). docs/status-feed.md tells how to set it up.
"""

from __future__ import annotations

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from hbeat.config.model import StatusTcp

ZAP_DOMAIN = b"hbeat-status"


class TcpFeed:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], spec: StatusTcp) -> None:
        """Bind; raises zmq.ZMQError (address in use, ...) or OSError/ValueError (keys)."""
        self.auth: ThreadAuthenticator | None = None
        self.socket = ctx.socket(zmq.PUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        try:
            if spec.secret_file is not None and spec.clients_dir is not None:
                public, secret = zmq.auth.load_certificate(spec.secret_file)
                if secret is None:
                    raise ValueError(f"{spec.secret_file} holds no secret key")
                self.auth = ThreadAuthenticator(ctx)
                self.auth.start()
                self.auth.configure_curve(domain=ZAP_DOMAIN.decode(),
                                         location=spec.clients_dir)
                self.socket.curve_secretkey = secret
                self.socket.curve_publickey = public
                self.socket.curve_server = True
                self.socket.zap_domain = ZAP_DOMAIN
            self.socket.bind(spec.endpoint)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self.socket.close()
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
