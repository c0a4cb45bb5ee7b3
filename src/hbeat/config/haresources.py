"""The haresources parser: resource groups as ResourceManager reads them (pure).

One group per logical line, `node resource [resource...]`
(docs/heartbeat-protocol.md §6): a `#` starts a comment
anywhere; comments are removed first, then a line whose last character is
`\\` is joined with the next one; runs of blanks and tabs separate words;
the node name is lower-cased. A resource is `script` or
`script::arg::arg...`; a resource spelled like an IP address
(`[0-9]*.[0-9]*.[0-9]*.[0-9]*`, e.g. `10.0.0.1/24/eth0`) means
`IPaddr::<resource>`. Every resource keeps the line it was written on.

Stricter than ResourceManager where it silently does the wrong thing: a
`\\` followed by blanks (ResourceManager does not join the lines), a `\\`
on the last line, a group with no resources, an empty `::` argument and a
malformed address are errors.
"""

from __future__ import annotations

import ipaddress
import re

from hbeat.config.model import Level, Problem, Resource, ResourceGroup
from hbeat.config.textlines import SourceLine, split_lines

_IPLIKE = re.compile(r"[0-9].*\.[0-9].*\.[0-9].*\.[0-9].*", re.DOTALL)
_WORDS = re.compile(r"[ \t\f\v]+")
_DANGLING = re.compile(r"\\[ \t\f\v]+$")


def parse_haresources(data: bytes, path: str) -> tuple[list[ResourceGroup], list[Problem]]:
    lines, problems = split_lines(data, path)
    groups: list[ResourceGroup] = []
    for logical in _join(lines, path, problems):
        group = _group(logical, path, problems)
        if group is not None:
            groups.append(group)
    return groups, problems


def _join(lines: list[SourceLine], path: str,
          problems: list[Problem]) -> list[list[tuple[int, str]]]:
    """Logical lines as lists of (line number, text) pieces."""
    logical: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for line in lines:
        text = line.text
        dangling = _DANGLING.search(text)
        if dangling:
            problems.append(Problem(path, line.number, Level.ERROR,
                                    "backslash followed by blanks at the end of the line: "
                                    "ResourceManager does not join the next line; remove "
                                    "the blanks after the backslash"))
            text = text[:dangling.start()] + "\\"
        if text.endswith("\\"):
            current.append((line.number, text[:-1]))
            continue
        current.append((line.number, text))
        logical.append(current)
        current = []
    if current:
        last = current[-1][0]
        problems.append(Problem(path, last, Level.ERROR,
                                "backslash continuation at the end of the file: "
                                "there is no next line to join"))
        logical.append(current)
    return logical


def _group(pieces: list[tuple[int, str]], path: str,
           problems: list[Problem]) -> ResourceGroup | None:
    words = [(number, word) for number, text in pieces
             for word in _WORDS.split(text) if word]
    if not words:
        return None
    first_line, node = words[0]
    node = node.lower()
    resources: list[Resource] = []
    for number, word in words[1:]:
        resource = parse_resource(word, number, path, problems)
        if resource is not None:
            resources.append(resource)
    if len(words) == 1:
        problems.append(Problem(path, first_line, Level.ERROR,
                                f"resource group for node {node} lists no resources"))
        return None
    if len(resources) != len(words) - 1:
        return None
    return ResourceGroup(node, tuple(resources), first_line)


def parse_resource(word: str, number: int, path: str,
                   problems: list[Problem]) -> Resource | None:
    """`script`, `script::arg...` or an IP shorthand; None (with an error) if malformed."""
    def bad(message: str) -> None:
        problems.append(Problem(path, number, Level.ERROR, message))

    if "::" in word:
        script, *args = word.split("::")
        if not script:
            bad(f"resource [{word}] has no script name before '::'")
            return None
        if any(not arg for arg in args):
            bad(f"resource [{word}] has an empty argument (two '::' in a row, "
                "or '::' at the end)")
            return None
    elif _IPLIKE.fullmatch(word):
        address = word.split("/", 1)[0]
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            bad(f"resource [{word}] is spelled like an IP address, so it means "
                f"IPaddr::{word}, but [{address}] is not a valid IPv4 address")
            return None
        script, args = "IPaddr", [word]
    else:
        script, args = word, []
    if "/" in script or script in (".", ".."):
        bad(f"resource script name [{script}] must be a plain name (scripts are "
            "looked up in resource.d, then /etc/init.d)")
        return None
    return Resource(word, script, tuple(args), number)
