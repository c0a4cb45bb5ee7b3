"""The repository carries everything its tests and its explanations need.

* No file refers to a path outside the repository: no sibling folder
  (the reference folder beside the checkout, `/work/...`), no `..` climb
  or `Path(__file__).parents[N]` that leaves the checkout, no environment
  variable pointing at outside data. Test data lives in tests/data/ (tests/data/interop/README.md).
* Every `docs/<page>.md §N.M` citation names a page of docs/ and a section
  heading of that page (and, for `§N item K`, a numbered item of section
  N); the old citation forms of documents that are not in the repository
  are gone, and so are references to tracker issue numbers, which mean
  nothing to a reader of the code.
* Every file path of the repository a file mentions (`tests/...py`,
  `docs/...md`, `src/.../`) exists, so a moved file cannot leave stale
  directions behind.

Files are those git tracks plus new ones it does not ignore; without git,
every file under the root except build products.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Directories that are never part of the repository (build products, caches).
NOT_OURS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
            ".benchmarks", ".mypy_cache", ".ruff_cache"}
# Build products a file may name although they do not exist in a fresh checkout.
GENERATED = ("fuzz/build", "fuzz/corpus", "src/linklayer/_frame_cffi")

OUTSIDE = [
    (re.compile(r"\.\./+shared\b"), "a sibling folder of the checkout"),
    (re.compile(r"(?<![\w.~-])/work/"), "an absolute path of the development machine"),
    (re.compile(r"HBEAT_SHARED"), "an environment variable naming outside data"),
]
CLIMB = re.compile(r"(?<![\w./-])((?:\.\./)+)([\w.-]*)")
PARENTS = re.compile(r"__file__\)?(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"__file__\)?(?:\.resolve\(\))?((?:\.parent)+)\b")
ROOT_PARENT = re.compile(r"\b(?:ROOT|REPO|REPO_ROOT)\.parent\b")

CITATION = re.compile(
    r"docs/(?P<page>[\w-]+)\.md(?P<refs>(?:[ \t]*\n?[ \t]*(?:#[ \t]*)?"
    r"(?:§\d+(?:\.\d+)*(?:[ \t]+items?[ \t]+\d+(?:,[ \t]*\d+)*)?)(?:,|[ \t]+and)?)*)"
)
SECTION_REF = re.compile(r"§(\d+(?:\.\d+)*)(?:[ \t]+items?[ \t]+(\d+(?:,[ \t]*\d+)*))?")
OLD_CITATIONS = [
    (re.compile(r"heartbeat-facts"), "the old fact sheet (cite docs/heartbeat-protocol.md §N.M)"),
    (re.compile(r"DESIGN\.md"), "the old design page (cite docs/design.md)"),
    (re.compile(r"\bissues?[ -]#?\d+", re.IGNORECASE), "a tracker issue number"),
]
# src/supervisor/resources.py is being split into smaller modules on another
# branch, which rewrites its citations in the same go; until then it still
# cites the old fact sheet.
CITATION_PENDING: set[str] = set()

REPO_PATH = re.compile(
    r"(?<![\w./<>$-])((?:src|tests|docs|bench|fuzz|tools|systemd)/[\w./-]*[\w/])"
)


@cache
def files() -> tuple[str, ...]:
    """Paths (relative, POSIX) of the repository's files."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*")
                 if p.is_file() and not NOT_OURS & set(p.relative_to(ROOT).parts)]
    return tuple(sorted(n for n in names if (ROOT / n).is_file()))


@cache
def text_of(name: str) -> str | None:
    """The file's text, or None for binary data (pcaps, fuzz inputs)."""
    data = (ROOT / name).read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def texts() -> list[tuple[str, str]]:
    out = [(n, t) for n in files() if (t := text_of(n)) is not None]
    assert len(out) > 100, f"only {len(out)} text files found under {ROOT}"
    return out


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def test_no_file_refers_to_a_path_outside_the_repository() -> None:
    problems = []
    for name, text in texts():
        if name == SELF:
            continue  # names the forbidden forms to describe them
        depth = len(PurePosixPath(name).parts) - 1  # directories between the root and the file
        for rx, what in OUTSIDE:
            for m in rx.finditer(text):
                problems.append(f"{name}:{line_of(text, m.start())}: {what}: {m.group(0)!r}")
        for m in CLIMB.finditer(text):
            target = (ROOT / name).parent.joinpath(m.group(1) + m.group(2)).resolve()
            if not target.is_relative_to(ROOT):
                problems.append(f"{name}:{line_of(text, m.start())}: {m.group(0)!r} climbs "
                                f"out of the repository")
        for m in PARENTS.finditer(text):
            if int(m.group(1)) > depth:
                problems.append(f"{name}:{line_of(text, m.start())}: parents[{m.group(1)}] of a "
                                f"file {depth} folder(s) deep is outside the repository")
        for m in PARENT_CHAIN.finditer(text):
            if m.group(1).count(".parent") - 1 > depth:
                problems.append(f"{name}:{line_of(text, m.start())}: {m.group(0)!r} climbs out "
                                f"of the repository")
        for m in ROOT_PARENT.finditer(text):
            problems.append(f"{name}:{line_of(text, m.start())}: {m.group(0)!r} is the folder "
                            f"around the repository")
    assert not problems, "\n".join(problems)


@cache
def sections(page: str) -> dict[str, set[int]]:
    """The section numbers of docs/<page>.md, each with its numbered list items."""
    out: dict[str, set[int]] = {}
    current: set[int] | None = None
    for line in (ROOT / "docs" / f"{page}.md").read_text().splitlines():
        if m := re.match(r"#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", line):
            current = out.setdefault(m.group(1), set())
        elif line.startswith("#"):
            current = None
        elif current is not None and (m := re.match(r"(\d+)\.\s", line)):
            current.add(int(m.group(1)))
    return out


def test_every_docs_citation_resolves_to_a_section_of_the_page() -> None:
    problems = []
    cited = 0
    for name, text in texts():
        if name in CITATION_PENDING:
            continue
        for m in CITATION.finditer(text):
            where = f"{name}:{line_of(text, m.start())}"
            page = m.group("page")
            if not (ROOT / "docs" / f"{page}.md").is_file():
                problems.append(f"{where}: docs/{page}.md does not exist")
                continue
            for ref in SECTION_REF.finditer(m.group("refs")):
                cited += 1
                number, items = ref.group(1), ref.group(2)
                if number not in sections(page):
                    problems.append(f"{where}: docs/{page}.md has no section {number}")
                    continue
                for item in re.findall(r"\d+", items or ""):
                    if int(item) not in sections(page)[number]:
                        problems.append(f"{where}: docs/{page}.md §{number} has no item {item}")
    assert cited > 30, f"only {cited} citations found: is the pattern still right?"
    assert not problems, "\n".join(problems)


def test_no_citation_of_documents_outside_the_repository() -> None:
    problems = []
    for name, text in texts():
        if name in CITATION_PENDING or name == SELF:
            continue
        for rx, what in OLD_CITATIONS:
            for m in rx.finditer(text):
                problems.append(f"{name}:{line_of(text, m.start())}: {what}: {m.group(0)!r}")
    assert not problems, "\n".join(problems)


def test_every_repository_path_a_file_names_exists() -> None:
    problems = []
    for name, text in texts():
        for m in REPO_PATH.finditer(text):
            path = m.group(1)
            follows = text[m.end():m.end() + 1]
            if follows in ("*", "<", "{") or "..." in path or path.startswith(GENERATED):
                continue  # a pattern, or a build product
            if not (path.endswith("/") or re.search(r"\.\w+$", path)):
                continue  # not clearly a path (e.g. `src/seq/ts` in prose)
            if not (ROOT / path).exists():
                problems.append(f"{name}:{line_of(text, m.start())}: {path} does not exist")
    assert not problems, "\n".join(problems)


def test_the_interop_data_is_in_the_repository() -> None:
    """What tests/data/interop/README.md lists is there (nothing may skip for want of it)."""
    data = ROOT / "tests" / "data" / "interop"
    readme = (data / "README.md").read_text()
    listed = set(re.findall(r"`((?:pcap|flows|frames|config)/[\w.-]+|cl_status\.json)`", readme))
    assert len(listed) > 10
    for item in sorted(listed):
        if "NN-" in item:
            continue
        assert (data / item).is_file(), f"tests/data/interop/{item} is missing"
    assert len(list((data / "pcap").glob("*.pcap"))) == 6
    assert len(list((data / "flows").glob("*.flow.txt"))) == 6
