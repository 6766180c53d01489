"""What the user tells reactorc that the code cannot: a sidecar `reactorc.yaml` beside the
pipeline, `--arg NAME=EXPR` and `--entry script.py` on the command line. The pipeline itself is
never edited; this is where what reactorc cannot infer is written down.

```yaml
# reactorc.yaml, beside pipeline.py
pipeline.py:
  arguments:              # a Python expression per parameter, evaluated once in load()
    noise: torch.randn(1, 4, 16, 32, 32)
    model: build_model("checkpoints/model.pt")
  fields:                 # parameters clients may change, with their type
    strength: float
  setup: |                # statements run in load() before the arguments (imports, helpers)
    from mypackage import build_model
  entry: scripts/generate.py   # the script that builds and calls the pipeline, as --entry
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libcst as cst

from reactorc.diagnostics import Diagnostic, diagnostic

SIDECAR = "reactorc.yaml"
FIELD_TYPES = ("int", "float", "str", "bool")


@dataclass(frozen=True)
class Hints:
    """The user's own inputs to the analysis (all optional)."""

    arguments: Mapping[str, str] = field(default_factory=dict)
    """Parameter -> a Python expression for its value."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Parameter -> the field type clients set it with."""
    setup: tuple[str, ...] = ()
    """Statements `load()` runs before evaluating the arguments."""
    entry: Path | None = None
    """A driver script that builds and calls the pipeline (`--entry`)."""
    sidecar: str = ""
    """The sidecar file the hints came from ("" when none)."""
    bound: frozenset[str] = frozenset()
    """Parameters a script's own setup binds (a lowered script's inputs): never state."""

    @property
    def empty(self) -> bool:
        return not (self.arguments or self.fields or self.setup or self.entry)


NO_HINTS = Hints()


def read_sidecar(pipeline: Path) -> tuple[Hints, list[Diagnostic]]:
    """The stanza for `pipeline` in `reactorc.yaml` beside it (no file: no hints)."""
    import yaml

    path = pipeline.parent / SIDECAR
    if not path.is_file():
        return NO_HINTS, []
    shown = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return NO_HINTS, [_bad(shown, 1, f"cannot read it: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return NO_HINTS, [_bad(shown, line, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    if data is None:
        return NO_HINTS, []
    if not isinstance(data, dict):
        return NO_HINTS, [_bad(shown, 1, "must map pipeline file names to their settings")]
    stanza = data.get(pipeline.name)
    if stanza is None:
        return NO_HINTS, []
    hints, problems = parse_stanza(stanza, f"{shown}: {pipeline.name}")
    if hints.entry is not None:
        entry = pipeline.parent / hints.entry
        if not entry.is_file():
            problems.append(f"{shown}: {pipeline.name}: entry: no such file {entry}")
        hints = replace(hints, entry=entry)
    return replace(hints, sidecar=shown), [_bad(shown, 1, p) for p in problems]


def parse_stanza(stanza: Any, where: str) -> tuple[Hints, list[str]]:
    """Hints from one file's settings; problems as one line each."""
    problems: list[str] = []
    if not isinstance(stanza, dict):
        return NO_HINTS, [f"{where} must be a mapping with arguments/fields/setup"]
    unknown = set(stanza) - {"arguments", "fields", "setup", "entry"}
    if unknown:
        problems.append(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
            "(known: arguments, fields, setup, entry)"
        )
    entry_raw = stanza.get("entry")
    if entry_raw is not None and not isinstance(entry_raw, str):
        problems.append(f"{where}: entry must be a path to a script, got {entry_raw!r}")
        entry_raw = None
    arguments: dict[str, str] = {}
    for name, expr in (stanza.get("arguments") or {}).items():
        text = str(expr)
        problem = expression_problem(text)
        if problem:
            problems.append(f"{where}: arguments.{name}: {problem}")
        else:
            arguments[str(name)] = text
    fields: dict[str, str] = {}
    for name, type_ in (stanza.get("fields") or {}).items():
        if type_ not in FIELD_TYPES:
            problems.append(
                f"{where}: fields.{name}: type must be one of {', '.join(FIELD_TYPES)}, "
                f"got {type_!r}"
            )
        else:
            fields[str(name)] = str(type_)
    setup_raw = stanza.get("setup") or ""
    setup: tuple[str, ...] = ()
    if setup_raw:
        try:
            module = cst.parse_module(str(setup_raw))
            setup = tuple(module.code_for_node(s).strip() for s in module.body)
        except cst.ParserSyntaxError as exc:
            problems.append(f"{where}: setup is not valid Python: {exc.message}")
    entry = Path(entry_raw) if entry_raw else None
    return Hints(arguments=arguments, fields=fields, setup=setup, entry=entry), problems


def expression_problem(text: str) -> str:
    """Why `text` is not one Python expression ("" when it is)."""
    try:
        cst.parse_expression(text)
    except (cst.ParserSyntaxError, ValueError):
        return f"`{text}` is not a Python expression"
    return ""


def parse_arg_flags(values: list[str]) -> tuple[dict[str, str], list[str]]:
    """`--arg NAME=EXPR` values -> {NAME: EXPR}; problems as one line each."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for value in values:
        name, sep, expr = value.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            problems.append(
                f"--arg {value!r}: expected NAME=EXPR, e.g. --arg 'noise=torch.randn(1, 4)'"
            )
            continue
        problem = expression_problem(expr.strip())
        if problem:
            problems.append(f"--arg {name}: {problem}")
            continue
        out[name] = expr.strip()
    return out, problems


def merge(sidecar: Hints, arguments: Mapping[str, str], entry: Path | None) -> Hints:
    """The command line wins over the sidecar."""
    return replace(
        sidecar,
        arguments={**sidecar.arguments, **arguments},
        entry=entry if entry is not None else sidecar.entry,
    )


def stanza(file_name: str, missing: Mapping[str, str]) -> str:
    """A ready-to-fill sidecar stanza for the parameters in `missing` (name -> example)."""
    lines = [f"{file_name}:", "  arguments:"]
    for name, example in missing.items():
        lines.append(f"    {name}: {example}")
    return "\n".join(lines)


def _bad(path: str, line: int, message: str) -> Diagnostic:
    return diagnostic(
        "RC010",
        path,
        line,
        1,
        message,
        "fix reactorc.yaml (see `reactorc explain` for a stanza to start from)",
    )
