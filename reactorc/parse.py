"""Parse: read a researcher's file, whatever it holds, into a libcst tree with metadata.

Any file is accepted without a traceback: unreadable paths, bytes that are not text in the
declared encoding, syntax errors, empty files and files that are not Python become diagnostics (RC000-RC005) that point at
the position where the problem is.
"""

from __future__ import annotations

import ast
import codecs
import hashlib
import io
import re
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper

from reactorc.diagnostics import Diagnostic, diagnostic


@dataclass(frozen=True)
class Source:
    """A parsed file: its text, hash, libcst module and the metadata analysis visitors need."""

    path: str
    text: str
    sha256: str
    wrapper: MetadataWrapper

    @property
    def module(self) -> cst.Module:
        return self.wrapper.module


@dataclass(frozen=True)
class ParseResult:
    """Either a `Source` or the diagnostics that say why the file could not be read."""

    source: Source | None
    diagnostics: tuple[Diagnostic, ...]


PYTHON_SUFFIXES = (".py", ".pyw", ".pyi")


def read_file(path: str | Path) -> ParseResult:
    """Read and parse the file at `path`."""
    shown = str(path)
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return _fail("RC001", shown, 1, 1, "no such file", "check the path you passed")
    except IsADirectoryError:
        return _fail(
            "RC001", shown, 1, 1, "is a directory, not a file", "pass the pipeline's .py file"
        )
    except OSError as exc:
        return _fail(
            "RC001", shown, 1, 1, f"cannot read: {exc.strerror or exc}", "check its permissions"
        )
    suffix = p.suffix.lower()
    if suffix == ".ipynb":
        return _fail(
            "RC000",
            shown,
            1,
            1,
            "is a Jupyter notebook, not a Python file",
            f"export it as a script (`jupyter nbconvert --to script {p.name}`) and pass the .py",
        )
    result = parse_bytes(data, shown)
    if result.source is None and suffix not in PYTHON_SUFFIXES:
        what = f"its name ends in {suffix}" if suffix else "its name has no .py suffix"
        first = diagnostic(
            "RC000",
            shown,
            1,
            1,
            f"is not a Python file ({what}), and it does not parse as one",
            "pass the pipeline's .py file",
        )
        return ParseResult(None, (first, *result.diagnostics))
    return result


def parse_bytes(data: bytes, path: str) -> ParseResult:
    """Decode `data` by its PEP 263 declaration (UTF-8 by default) and parse it."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        return _fail(
            "RC002",
            path,
            exc.lineno or 1,
            1,
            f"bad encoding declaration: {exc.msg}",
            "declare a codec Python knows (e.g. `# -*- coding: utf-8 -*-`) or remove the line",
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line, col = _position_of_byte(data, exc.start)
        name = codecs.lookup(encoding).name
        return _fail(
            "RC002",
            path,
            line,
            col,
            f"byte 0x{data[exc.start]:02x} is not valid {name}",
            "save the file as UTF-8, or declare its encoding with `# -*- coding: <name> -*-`",
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    return parse_text(text, path, sha256=hashlib.sha256(data).hexdigest())


def parse_text(text: str, path: str, *, sha256: str | None = None) -> ParseResult:
    """Parse source text; syntax errors are reported at the position Python or libcst gives."""
    digest = sha256 or hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        line, col, message = _syntax_error_details(text, exc)
        return _fail(
            "RC003",
            path,
            line,
            col,
            f"syntax error: {message}",
            "the file must be valid Python 3; run `python -m py_compile` on it to check",
        )
    except (RecursionError, MemoryError):
        return _fail(
            "RC005",
            path,
            1,
            1,
            "the file is nested too deeply to analyse",
            "split the deepest expression (a very long `a + b + ...` chain or deeply "
            "nested calls) into several statements",
        )
    except ValueError as exc:
        return _fail(
            "RC003",
            path,
            1,
            1,
            f"cannot parse: {exc}",
            "the file must be valid Python 3; run `python -m py_compile` on it to check",
        )
    if not any(_is_code(stmt) for stmt in module.body):
        return _fail(
            "RC004",
            path,
            1,
            1,
            "the file has no code",
            "pass the file that defines the pipeline (its class or function)",
        )
    return ParseResult(
        Source(path, text, digest, MetadataWrapper(module, unsafe_skip_copy=True)), ()
    )


def _is_code(stmt: cst.BaseStatement) -> bool:
    """A docstring-only or `pass`-only module counts as empty."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return not all(
            isinstance(s, cst.Pass)
            or (isinstance(s, cst.Expr) and isinstance(s.value, cst.BaseString))
            for s in stmt.body
        )
    return True


_AT = re.compile(r"error at (\d+):(\d+)")


def _syntax_error_details(text: str, exc: cst.ParserSyntaxError) -> tuple[int, int, str]:
    """Prefer CPython's own message and position (clearer), fall back to libcst's."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as py:
        if py.lineno:
            return py.lineno, max(py.offset or 1, 1), py.msg
    except (ValueError, RecursionError, MemoryError):
        pass
    message = exc.message.split("\n", 1)[0]
    m = _AT.search(message)
    if m:
        return int(m.group(1)), int(m.group(2)) + 1, message
    return exc.editor_line, exc.editor_column, message


def _position_of_byte(data: bytes, offset: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    return line, offset - start + 1


def _fail(code: str, path: str, line: int, col: int, message: str, hint: str) -> ParseResult:
    return ParseResult(None, (diagnostic(code, path, line, col, message, hint),))
