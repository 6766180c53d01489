"""Parse: any file is accepted without a traceback; problems are diagnostics with positions."""

from __future__ import annotations

import pytest

from reactorc.analysis import explain, explain_text
from reactorc.parse import parse_bytes, parse_text, read_file

SYNTAX_ERRORS = [
    # (source, line, col) — the position CPython reports
    ("def f(:\n    pass\n", 1, 7),
    ("x = (1,\n", 1, 5),
    ("for i in range(3)\n    pass\n", 1, 18),
    ("class A:\npass\n", 2, 1),
    ("frames = []\nframes.append(\n", 2, 14),
    ("a b\n", 1, 3),
]


@pytest.mark.parametrize(("source", "line", "col"), SYNTAX_ERRORS)
def test_syntax_error_is_rc003_at_its_position(source: str, line: int, col: int) -> None:
    result = parse_text(source, "p.py")
    assert result.source is None
    (d,) = result.diagnostics
    assert (d.code, d.severity, d.line, d.col) == ("RC003", "error", line, col)
    assert d.message.startswith("syntax error: ")
    assert d.hint


@pytest.mark.parametrize(
    "source",
    ["", "\n\n", "# just a comment\n", '"""Only a docstring."""\n', "pass\n", "   \n\t\n"],
)
def test_empty_file_is_rc004(source: str) -> None:
    result = parse_text(source, "p.py")
    assert [d.code for d in result.diagnostics] == ["RC004"]


def test_non_utf8_byte_is_rc002_at_the_byte() -> None:
    data = b"x = 1\ny = '\xff'\n"
    result = parse_bytes(data, "p.py")
    (d,) = result.diagnostics
    assert (d.code, d.line, d.col) == ("RC002", 2, 6)
    assert "0xff" in d.message and "utf-8" in d.message


def test_declared_latin1_file_is_read() -> None:
    data = "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\nfor i in range(3):\n    pass\n"
    result = parse_bytes(data.encode("latin-1"), "p.py")
    assert result.diagnostics == ()
    assert result.source is not None and "café" in result.source.text


def test_unknown_encoding_declaration_is_rc002() -> None:
    result = parse_bytes(b"# -*- coding: klingon -*-\nx = 1\n", "p.py")
    assert [d.code for d in result.diagnostics] == ["RC002"]
    assert "encoding declaration" in result.diagnostics[0].message


def test_utf8_bom_is_accepted() -> None:
    result = parse_bytes(b"\xef\xbb\xbfx = 1\n", "p.py")
    assert result.diagnostics == () and result.source is not None


def test_nul_byte_is_a_syntax_error_not_a_crash() -> None:
    result = parse_bytes(b"x = 1\n\x00\n", "p.py")
    assert [d.code for d in result.diagnostics] == ["RC003"]


def test_missing_file_and_directory_are_rc001(tmp_path) -> None:
    missing = read_file(tmp_path / "nope.py")
    assert [d.code for d in missing.diagnostics] == ["RC001"]
    assert "no such file" in missing.diagnostics[0].message
    directory = read_file(tmp_path)
    assert [d.code for d in directory.diagnostics] == ["RC001"]
    assert "directory" in directory.diagnostics[0].message


def test_refused_parse_gives_a_plan_without_a_frame_loop(tmp_path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"def f(:\n")
    plan = explain(bad)
    assert plan.frame_loop is None and not plan.ok
    assert plan.to_json()["diagnostics"][0]["code"] == "RC003"


def _big_file(n_classes: int) -> str:
    head = (
        "import numpy as np\n\n\n"
        "class Pipeline:\n"
        "    def __call__(self, num_frames: int = 8, gain: float = 1.0):\n"
        "        frames = []\n"
        "        for i in range(num_frames):\n"
        "            frames.append(np.full((4, 4, 3), i * gain))\n"
        "        return np.stack(frames)\n"
    )
    helper = (
        "\n\nclass Helper{n}:\n"
        '    """Helper {n}."""\n\n'
        "    def __init__(self, config):\n"
        '        self.a = config.get("a{n}", {n})\n\n'
        "    def _compute(self, steps: int = 4, scale: float = 0.5):\n"
        "        total = 0.0\n"
        "        for k in range(steps):\n"
        "            total += self.a * k + scale\n"
        "        return total\n"
    )
    return head + "".join(helper.format(n=n) for n in range(n_classes))


def test_several_thousand_line_file_is_analysed(tmp_path) -> None:
    text = _big_file(300)
    assert text.count("\n") > 3000
    path = tmp_path / "big.py"
    path.write_text(text)
    plan = explain(path)
    assert plan.ok
    assert (plan.symbol, plan.frame_loop.line) == ("Pipeline.__call__", 7)


def test_expression_nested_too_deeply_is_rc005_not_a_crash() -> None:
    chain = " + ".join(["k"] * 1500)
    source = f"def run(k: int = 1):\n    frames = []\n    for i in range(3):\n        frames.append({chain})\n    return frames\n"
    plan = explain_text(source, "deep.py")
    assert [d.code for d in plan.diagnostics] == ["RC005"]
    assert plan.frame_loop is None


def test_long_but_analysable_expression_keeps_its_plan() -> None:
    chain = " + ".join(["k"] * 300)
    source = f"def run(k: int = 1):\n    frames = []\n    for i in range(3):\n        frames.append({chain})\n    return frames\n"
    plan = explain_text(source, "long.py")
    assert plan.ok and plan.state_field("k").live


@pytest.mark.parametrize(
    ("name", "data", "then"),
    [
        ("notes.md", b"# Notes\n\nSome words here.\n", "RC003"),
        ("clip.mp4", b"\x00\x00\x00\x18ftypmp42\xff\xfe", "RC002"),
        ("generate", b"#!/bin/sh\necho $((1 + 2)) > out\n", "RC003"),
    ],
)
def test_a_file_that_is_not_python_says_so_before_its_syntax_error(
    tmp_path, name: str, data: bytes, then: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    codes = [d.code for d in explain(path).diagnostics]
    assert codes[:2] == ["RC000", then]
    first = explain(path).diagnostics[0]
    assert first.message.startswith("is not a Python file (its name")
    assert first.hint == "pass the pipeline's .py file"


def test_a_notebook_is_rc000_with_the_export_command(tmp_path) -> None:
    path = tmp_path / "demo.ipynb"
    path.write_text('{"cells": [], "nbformat": 4}')
    (d,) = explain(path).diagnostics
    assert (d.code, d.message) == ("RC000", "is a Jupyter notebook, not a Python file")
    assert "jupyter nbconvert --to script demo.ipynb" in d.hint


def test_python_in_a_file_without_the_suffix_is_read_as_python(tmp_path) -> None:
    path = tmp_path / "pipeline.txt"
    path.write_text(
        "def f(n: int = 3):\n    frames = []\n    for i in range(n):\n        frames.append(i)\n    return frames\n"
    )
    plan = explain(path)
    assert "RC000" not in [d.code for d in plan.diagnostics] and plan.frame_loop is not None
