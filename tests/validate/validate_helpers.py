"""Shared by the validate/check tests: fixture configs, converted folders, broken wrappers.

The committed goldens (`tests/golden/<fixture>`) are converted outputs of every convertible
fixture; validate runs them with the fixture's own construction arguments as config (their
config.yml leaves keys without defaults empty). Broken wrappers are made by converting the seed
into a temporary folder and editing its wrapper text.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures._reference import Fixture, _fill_tmp, fixture_dirs, load_fixture  # noqa: E402
from reactorc.analysis import explain  # noqa: E402
from reactorc.convert import build_files  # noqa: E402
from reactorc.write import write_output  # noqa: E402

SEED = ROOT / "fixtures" / "seed" / "pipeline.py"


def convertible() -> list[Fixture]:
    return [fx for fx in (load_fixture(d) for d in fixture_dirs()) if not fx.refused]


def fixture_config(fx: Fixture, folder: Path) -> Path:
    """A config file holding what the fixture builds its pipeline with ({tmp} -> `folder`)."""
    construct = _fill_tmp(dict(fx.construct or {}), str(folder))
    config = dict(construct.get("config", construct.get("kwargs", {})))
    if fx.output is not None and fx.output.via == "step" and fx.reset is not None:
        config["reset"] = dict(fx.reset)
    path = folder / f"{fx.name}.config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def fixture_changes(fx: Fixture) -> tuple[str, ...]:
    """The fixture's curated live and restart values as `--change field=value` texts (a
    per-step list becomes its first element, as a client sends it)."""
    out = []
    for field, value in {**fx.live_changes, **fx.restart_changes}.items():
        if isinstance(value, list):
            value = value[0]
        if isinstance(value, bool):
            value = str(value).lower()
        out.append(f"{field}={value}")
    return tuple(out)


def convert_into(folder: Path, source: Path = SEED) -> Path:
    """Convert `source` into `folder` the way `reactorc convert` does; returns the folder."""
    plan = explain(source)
    write_output(folder, build_files(plan, source, folder))
    return folder


def edit_wrapper(folder: Path, old: str, new: str, count: int = 1) -> None:
    """Replace `old` (which must occur) by `new` in the folder's wrapper module."""
    path = wrapper_path(folder)
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def wrapper_path(folder: Path) -> Path:
    return next(p for p in folder.glob("*_stream.py"))


def check(report: Any, name: str) -> Any:
    """The check called `name` in a report (AssertionError naming those there)."""
    for c in report.checks:
        if c.name == name:
            return c
    raise AssertionError(f"no check {name!r}; got {[c.name for c in report.checks]}")
