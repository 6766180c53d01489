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


# Constructs real research code is full of, each valid Python on its own: inserted into the
# fixtures (indented like the line they precede) they keep the file parseable, so the analysis
# walks them all the way down instead of stopping at a syntax error.
CONSTRUCTS = [
    # a guard whose body holds blocks at any depth
    "if strength is None:\n    if mode:\n        for k in range(2):\n            with ctx():\n"
    "                pass\n    raise ValueError('strength')",
    "assert 0 <= strength <= 1, 'strength out of range'",
    "if not (0 < ratio <= 1):\n    raise ValueError(ratio)",
    # walrus, match, except*, star-args, type comments
    "if (n := len(frames)) > 3:\n    frames = frames[:n]",
    "chosen = [y for y in range(3) if (z := y)]",
    "match mode:\n    case 'fast':\n        steps = 1\n    case {'k': v}:\n        steps = v\n"
    "    case _:\n        pass",
    "try:\n    pass\nexcept* ValueError:\n    pass",
    "def helper(a, /, b=2, *rest, c, **kw):  # type: (int, int) -> int\n    return a",
    "total = 0  # type: int",
    "print(*frames, sep='', **{'end': ''})",
    # decorators with arguments, async code, nested definitions
    "@functools.lru_cache(maxsize=None)\n@torch.autocast('cuda', dtype=torch.float16)\n"
    "def cached(x):\n    return x",
    "async def fetch(queue):\n    async for item in queue:\n        await item\n"
    "    async with lock:\n        yield 1",
    "class Inner:\n    def __call__(self, x):\n        return [x for _ in range(2)]",
    "global_frames = lambda *a, **k: (yield)",
]


def _insert(source: str, data: st.DataObject) -> str:
    lines = source.splitlines()
    for _ in range(data.draw(st.integers(1, 3), label="inserts")):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        code = lines[i]
        indent = code[: len(code) - len(code.lstrip())] if code.strip() else ""
        construct = data.draw(st.sampled_from(CONSTRUCTS), label="construct")
        lines[i:i] = [indent + part for part in construct.splitlines()]
    return "\n".join(lines) + "\n"


@settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(index=st.integers(0, len(SOURCES) - 1), data=st.data())
def test_real_code_constructs_inside_fixtures_never_raise(index: int, data) -> None:
    text = _insert(SOURCES[index], data)
    plan = explain_text(text, "constructs.py")
    doc = json.loads(json.dumps(plan.to_json()))
    assert all(d["code"] != "RC900" for d in doc["diagnostics"]), doc["diagnostics"]
    assert doc["diagnostics"] or plan.ok


def test_the_constructs_are_valid_python_so_the_analysis_goes_deep() -> None:
    import ast

    for construct in CONSTRUCTS:
        ast.parse(construct)  # a construct that does not parse would test the parser only
    # and inserted before any statement line of a fixture, the file still parses
    sample = SOURCES[0].splitlines()
    at = next(i for i, line in enumerate(sample) if line.startswith("        ") and line.strip())
    indent = sample[at][: len(sample[at]) - len(sample[at].lstrip())]
    for construct in CONSTRUCTS:
        lines = list(sample)
        lines[at:at] = [indent + part for part in construct.splitlines()]
        ast.parse("\n".join(lines))


def test_a_very_long_real_file_is_analysed_without_raising() -> None:
    # every fixture one after another: thousands of lines, many candidates, repeated names
    text = "\n\n".join(SOURCES * 3)
    assert text.count("\n") > 3000
    plan = explain_text(text, "long.py")
    assert all(d.code != "RC900" for d in plan.diagnostics)
