"""Parameter descriptions (and types) from Google, NumPy and reST docstrings.

Descriptions become the state fields' help text; a type written in the docstring is used when
the parameter has no annotation."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ParamDoc:
    description: str
    type: str = ""


_GOOGLE_HEADERS = ("args:", "arguments:", "parameters:", "params:", "keyword args:", "kwargs:")
_GOOGLE_ENTRY = re.compile(
    r"^\*{0,2}(?P<name>[A-Za-z_]\w*)\s*(?:\((?P<type>[^)]*)\))?\s*:\s*(?P<desc>.*)$"
)
_NUMPY_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?::\s*(?P<type>.*))?$"
)
_REST_PARAM = re.compile(
    r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:(?P<type>[^:]+?)\s+)?(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<desc>.*)$"
)
_REST_TYPE = re.compile(r"^:type\s+(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>.*)$")
_REST_FIELD = re.compile(r"^:\w+")
_NUMPY_SECTIONS = ("parameters", "other parameters", "keyword arguments")


def parse(doc: str) -> dict[str, ParamDoc]:
    """Descriptions by parameter name, from whichever style(s) the docstring uses."""
    if not doc:
        return {}
    lines = doc.expandtabs().splitlines()
    found: dict[str, ParamDoc] = {}
    for style in (_rest, _numpy, _google):
        for name, pd in style(lines).items():
            found.setdefault(name, pd)
    return found


def _clean(parts: list[str]) -> str:
    return " ".join(p.strip() for p in parts if p.strip())


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google(lines: list[str]) -> dict[str, ParamDoc]:
    out: dict[str, ParamDoc] = {}
    i = 0
    while i < len(lines):
        if lines[i].strip().lower() not in _GOOGLE_HEADERS:
            i += 1
            continue
        header_indent = _indent(lines[i])
        i += 1
        entry_indent: int | None = None
        current: tuple[str, str, list[str]] | None = None
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            ind = _indent(line)
            if ind <= header_indent:
                break
            if entry_indent is None:
                entry_indent = ind
            m = _GOOGLE_ENTRY.match(line.strip()) if ind == entry_indent else None
            if m:
                if current:
                    out[current[0]] = ParamDoc(_clean(current[2]), current[1])
                current = (m["name"], (m["type"] or "").strip(), [m["desc"]])
            elif current:
                current[2].append(line)
            i += 1
        if current:
            out[current[0]] = ParamDoc(_clean(current[2]), current[1])
    return out


def _numpy(lines: list[str]) -> dict[str, ParamDoc]:
    out: dict[str, ParamDoc] = {}
    i = 0
    while i + 1 < len(lines):
        underline = lines[i + 1].strip()
        if not (
            lines[i].strip().lower() in _NUMPY_SECTIONS and underline and set(underline) == {"-"}
        ):
            i += 1
            continue
        base = _indent(lines[i])
        i += 2
        current: tuple[list[str], str, list[str]] | None = None
        while i < len(lines):
            line = lines[i]
            stripped = line.strip()
            if not stripped:
                i += 1
                continue
            if i + 1 < len(lines) and set(lines[i + 1].strip() or "x") == {"-"}:
                break
            ind = _indent(line)
            if ind < base:
                break
            if ind == base:
                m = _NUMPY_ENTRY.match(stripped)
                if not m:
                    break
                if current:
                    for n in current[0]:
                        out[n] = ParamDoc(_clean(current[2]), current[1])
                names = [n.strip().lstrip("*") for n in m["name"].split(",")]
                current = (names, (m["type"] or "").strip(), [])
            elif current:
                current[2].append(line)
            i += 1
        if current:
            for n in current[0]:
                out[n] = ParamDoc(_clean(current[2]), current[1])
    return out


def _rest(lines: list[str]) -> dict[str, ParamDoc]:
    descs: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        m = _REST_PARAM.match(stripped)
        if m:
            current = m["name"]
            descs[current] = [m["desc"]]
            if m["type"]:
                types[current] = m["type"].strip()
            continue
        t = _REST_TYPE.match(stripped)
        if t:
            types[t["name"]] = t["type"].strip()
            current = None
            continue
        if _REST_FIELD.match(stripped) or not stripped:
            current = None
            continue
        if current is not None:
            descs[current].append(stripped)
    return {n: ParamDoc(_clean(d), types.get(n, "")) for n, d in descs.items()}
