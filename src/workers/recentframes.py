"""Byte-identical frames seen lately on one medium, to drop a replay flood early.

Every genuine frame differs from the ones before it (its seq or ts does), so
a frame whose exact bytes this worker forwarded a moment ago is a replay (or
a loop in the network): it is dropped before it costs the supervisor
anything. What remains of replay protection (older recordings) is the
membership's. Bounded: the last `size` frames' digests, oldest forgotten
first. BLAKE2b keyed with a per-process random key, so a sender cannot
craft collisions to push genuine frames out.
"""

from __future__ import annotations

import os

# hashlib's own blake2b, without the OpenSSL set-up that `import hashlib` does.
from _blake2 import blake2b
from collections import OrderedDict

# A replay of a recording longer than this cycles through the cache and
# misses every time (least recently seen goes first), each frame then costing
# the supervisor a parse: 16384 frames is 27 minutes of a peer at keepalive
# 100 ms, 4.5 hours at 1 s, for about 2 MiB (bench/README.md, attack phase).
RECENT_FRAMES = 16384


class RecentFrames:
    def __init__(self, size: int = RECENT_FRAMES) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self.size = size
        self._key = os.urandom(16)
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def seen_before(self, frame: bytes) -> bool:
        """True if these exact bytes were seen among the last `size` frames;
        remembers them either way."""
        digest = blake2b(frame, digest_size=16, key=self._key).digest()
        if digest in self._seen:
            self._seen.move_to_end(digest)
            return True
        self._seen[digest] = None
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return False
