"""Diagnostics: what the compiler found wrong or noteworthy, as values, gathered and printed together.

Codes are stable (`RC###`); each is listed with an example in docs/diagnostics.md. A diagnostic
prints like a compiler's: `path:line:col: RC### severity: message` then `  hint: ...`.
Lines and columns are 1-based, as editors show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Code:
    """One entry of the code table: the code, its fixed severity and a short title."""

    code: str
    severity: Severity
    title: str


CODES: dict[str, Code] = {
    c.code: c
    for c in (
        # Reading and parsing the file.
        Code("RC000", "error", "not a Python file"),
        Code("RC001", "error", "cannot read the file"),
        Code("RC002", "error", "the file is not valid text in its encoding"),
        Code("RC003", "error", "syntax error"),
        Code("RC004", "error", "the file has no code"),
        Code("RC005", "error", "the file is nested too deeply to analyse"),
        Code("RC010", "error", "reactorc.yaml is not valid"),
        # Finding the pipeline and its frame loop.
        Code("RC101", "error", "no frame loop found"),
        Code("RC102", "note", "module-level script: setup and loop"),
        Code("RC103", "error", "several frame loops rank equally"),
        Code("RC104", "note", "frame loop chosen among several candidates"),
        Code("RC105", "error", "--symbol names nothing in the file"),
        Code("RC106", "error", "--loop-line is not a loop in the pipeline"),
        Code("RC110", "error", "blocking input inside the frame loop"),
        Code("RC111", "error", "no per-frame boundary"),
        Code("RC113", "note", "progress bar dropped"),
        Code("RC114", "error", "producer/consumer threads"),
        Code("RC115", "error", "one call makes a whole clip per iteration"),
        Code("RC116", "error", "the module script cannot be split into setup and loop"),
        # State.
        Code("RC201", "note", "parameter is not state"),
        Code("RC202", "note", "parameter type unknown"),
        Code("RC203", "warning", "default breaks its own bounds or choices"),
        Code("RC204", "note", "variadic parameter is not state"),
        Code("RC206", "note", "per-step sequence becomes a live field"),
        Code("RC207", "note", "parameter type inferred from its use or name"),
        Code("RC208", "note", "parameter built from a field"),
        # Dependencies and epilogue.
        Code("RC301", "warning", "post-loop statement reduces across frames"),
        # Constructor.
        Code("RC401", "note", "config key without a default"),
        # Where arguments come from.
        Code("RC501", "warning", "no value for a parameter"),
        Code("RC502", "error", "the --entry script does not call the pipeline"),
        Code("RC503", "warning", "the driver builds an argument from unknown names"),
        Code("RC504", "note", "arguments come from the driver"),
        # The step form (convert --target reactor-app).
        Code("RC601", "error", "the frame loop carries state the step form cannot follow"),
        Code("RC602", "error", "no frame loop a step can take one iteration of"),
        # reactorc itself.
        Code("RC900", "error", "internal error"),
    )
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable code, its severity, where it is, what is wrong and what to do."""

    code: str
    severity: Severity
    path: str
    line: int
    col: int
    message: str
    hint: str

    def format(self) -> str:
        """`path:line:col: RC### severity: message`, then the hint on its own indented line."""
        head = f"{self.path}:{self.line}:{self.col}: {self.code} {self.severity}: {self.message}"
        return f"{head}\n  hint: {self.hint}" if self.hint else head

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "line": self.line,
            "col": self.col,
            "message": self.message,
            "hint": self.hint,
        }


def diagnostic(code: str, path: str, line: int, col: int, message: str, hint: str) -> Diagnostic:
    """A diagnostic with the severity the code table fixes for `code` (KeyError if unknown)."""
    return Diagnostic(code, CODES[code].severity, path, max(line, 1), max(col, 1), message, hint)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """In source order, errors before warnings before notes at the same position."""
    rank = {"error": 0, "warning": 1, "note": 2}
    return tuple(sorted(diagnostics, key=lambda d: (d.line, d.col, rank[d.severity], d.code)))


def format_all(diagnostics: Iterable[Diagnostic]) -> str:
    return "\n".join(d.format() for d in diagnostics)


def shorten(code: str, n: int) -> str:
    """`code` on one line, cut to `n` characters with "..." when longer (for messages)."""
    one = " ".join(code.split())
    return one if len(one) <= n else one[: n - 3] + "..."
