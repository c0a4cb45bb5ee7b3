"""The peers' last known generation and status ts, kept in the state directory
(docs/security.md).

`hb_peers` holds one line per peer, `name generation ts` in decimal, so a
restarted node does not take an old recording of a peer for the peer
(`replayguard.record_refusal`). `parse_peers`/`format_peers` are pure; the
file is read once at start and written atomically (temp file, fsync,
rename, fsync of the directory) when a generation changes, when a peer
dies, at shutdown, and otherwise at most every `SAVE_EVERY_MS`. A file
that cannot be used is reported (file, line, what is wrong) and ignored:
the daemon starts without records rather than not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from hbeat.logfmt import Level

from .generation import MAX_GENERATION
from .generation import _write_atomically as write_atomically
from .replayguard import PeerRecord

PEERS_FILE = "hb_peers"
MAX_BYTES = 64 * 1024
MAX_TS = 2**63 - 1
SAVE_EVERY_MS = 5000


class PeerStateError(ValueError):
    """The peers file cannot be used; the message names the file, line and reason."""


def parse_peers(data: bytes, nodes: Collection[str], *, source: str = PEERS_FILE
                ) -> dict[str, PeerRecord]:
    """Records for the nodes of `nodes`; raise PeerStateError on anything else."""
    if len(data) > MAX_BYTES:
        raise PeerStateError(f"{source}: {len(data)} bytes, more than {MAX_BYTES}")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise PeerStateError(f"{source}: byte {exc.start} is not ASCII") from None
    out: dict[str, PeerRecord] = {}
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        words = line.split()
        where = f"{source}:{number}"
        if len(words) != 3:
            raise PeerStateError(f"{where}: expected `node generation ts`, got {line[:80]!r}")
        name, gen_text, ts_text = words
        if name not in nodes:
            raise PeerStateError(f"{where}: node {name[:80]!r} is not a peer in ha.cf")
        if name in out:
            raise PeerStateError(f"{where}: node {name} is listed twice")
        if not (gen_text.isdigit() and ts_text.isdigit()) or len(gen_text) + len(ts_text) > 40:
            raise PeerStateError(f"{where}: generation and ts must be decimal numbers")
        gen, ts = int(gen_text), int(ts_text)
        if not 0 < gen <= MAX_GENERATION:
            raise PeerStateError(f"{where}: generation {gen} is out of range "
                                 f"(1..{MAX_GENERATION})")
        if not 0 <= ts <= MAX_TS:
            raise PeerStateError(f"{where}: ts {ts} is out of range")
        out[name] = PeerRecord(gen, ts)
    return out


def format_peers(records: Mapping[str, PeerRecord]) -> bytes:
    return "".join(f"{name} {r.generation} {r.ts}\n"
                   for name, r in sorted(records.items())).encode("ascii")


class PeerStore:
    """Loads and saves `<state_dir>/hb_peers`; errors go to `log`, never raise."""

    def __init__(self, state_dir: Path, log: Callable[[Level, str], None]) -> None:
        self.path = Path(state_dir) / PEERS_FILE
        self.log = log
        self.saved: dict[str, PeerRecord] = {}
        self.last_save: int | None = None
        self.write_failed = False

    def load(self, peers: Collection[str]) -> dict[str, PeerRecord]:
        try:
            with self.path.open("rb") as f:
                data = f.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.log(Level.ERROR, f"{self.path}: cannot read: {exc.strerror}; starting "
                                  "without the peers' last generations")
            return {}
        try:
            records = parse_peers(data, peers, source=str(self.path))
        except PeerStateError as exc:
            self.log(Level.ERROR, f"{exc}; starting without the peers' last generations "
                                  "(the file is rewritten)")
            return {}
        self.saved = dict(records)
        return records

    def update(self, records: Mapping[str, PeerRecord], now: int, *, force: bool = False
               ) -> None:
        """Save `records` if they changed and it is time (see the module docstring)."""
        if records == self.saved:
            return
        gens_changed = {n: r.generation for n, r in records.items()} != {
            n: r.generation for n, r in self.saved.items()}
        due = self.last_save is None or now - self.last_save >= SAVE_EVERY_MS
        if not (force or gens_changed or due):
            return
        self.last_save = now
        try:
            write_atomically(self.path, format_peers(records), 0o600)
        except OSError as exc:
            if not self.write_failed:
                self.log(Level.ERROR, f"{self.path}: cannot write: {exc.strerror}")
            self.write_failed = True
            return
        self.write_failed = False
        self.saved = dict(records)
