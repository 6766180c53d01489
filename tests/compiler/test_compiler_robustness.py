"""Property tests: whatever the file holds, analysis returns a plan (maybe a refusal) and
never raises. Fixtures are mutated and truncated the ways an editor or a bad copy would."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactorc.analysis import explain_text
from reactorc.parse import parse_bytes

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted(p.read_text(encoding="utf-8") for p in (REPO / "fixtures").glob("*/pipeline.py"))
TOKENS = [
    "for ",
    "while ",
    " in ",
    "range(",
    ")",
    "(",
    "[",
    "]",
    ":",
    "\n",
    "    ",
    "yield ",
    "return ",
    "frames.append(",
    "x",
    "=",
    "0",
    "assert ",
    "<=",
    "if ",
    "raise ",
    "def f(",
    "class C:",
    "with ",
    "lambda ",
    "*",
    "**",
    ",",
    "'",
    '"',
    "#",
    "\\",
    "async ",
    "await ",
    "not ",
    "@torch.no_grad()\n",
    "input()",
    "cv2.waitKey(0)",
    "tqdm(",
    "self.",
    "None",
]


def _mutate(source: str, data: st.DataObject) -> str:
    lines = source.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        if not lines:
            break
        kind = data.draw(st.sampled_from(["cut", "drop", "dup", "insert", "swap", "indent"]))
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        if kind == "cut":
            lines = [*lines[:i], lines[i][: data.draw(st.integers(0, len(lines[i])))]]
        elif kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "insert":
            at = data.draw(st.integers(0, len(lines[i])))
            text = "".join(data.draw(st.lists(st.sampled_from(TOKENS), max_size=6)))
            lines[i] = lines[i][:at] + text + lines[i][at:]
        elif kind == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = (
                data.draw(st.sampled_from(["", "    ", "\t", "        "])) + lines[i].lstrip()
            )
    return "".join(lines)


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    index=st.integers(0, len(SOURCES) - 1),
    data=st.data(),
    symbol=st.sampled_from([None, None, "<module>", "P.run", "f"]),
    loop_line=st.one_of(st.none(), st.integers(1, 200)),
)
def test_mutated_fixtures_never_raise(index: int, data, symbol, loop_line) -> None:
    text = _mutate(SOURCES[index], data)
    plan = explain_text(text, "mutated.py", symbol=symbol, loop_line=loop_line)
    doc = json.loads(json.dumps(plan.to_json()))
    assert doc["diagnostics"] or plan.ok
    assert all(d["code"] != "RC900" for d in doc["diagnostics"])
    if plan.frame_loop is not None:
        assert 1 <= plan.frame_loop.line <= text.count("\n") + 1


@settings(max_examples=150, deadline=None, database=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    result = parse_bytes(data, "random.py")
    assert (result.source is None) == bool(result.diagnostics)


@settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_token_soup_never_raises(tokens: list[str]) -> None:
    plan = explain_text("".join(tokens), "soup.py")
    json.dumps(plan.to_json())
