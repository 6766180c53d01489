"""How long `reactorc explain` takes: per fixture, and on a 1,500-line research file; and how
long a whole `reactorc convert` takes per convertible fixture (analysis, rewrite, templates,
ruff format, atomic write into a temporary folder; target: under 1 s each).

Prints one JSON document (seconds are the median of --repeat runs of read + parse + analyse,
in this process, after one warm-up run). Never asserted in tests: the machines are noisy.

    python benchmarks/compile.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from reactorc.analysis import explain

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"

HELPER = '''

class Stage{n}(object):
    """Stage {n} of a research model: configuration, a loop, some arithmetic.

    Args:
        config: a dict with ``scale{n}`` and ``steps{n}``.
    """

    def __init__(self, config):
        self.scale = config.get("scale{n}", {n})
        self.steps = config["steps{n}"]
        self.cache = []

    def _prepare(self, x, gain: float = 0.5):
        assert 0.0 <= gain <= 1.0
        return [v * gain + self.scale for v in x]

    def forward(self, x, steps: int = 4, mode: str = "fast"):
        """Run the stage.

        Parameters
        ----------
        x : list of float
            Input values.
        steps : int
            Iterations.
        """
        if mode not in ("fast", "slow"):
            raise ValueError(mode)
        total = 0.0
        for k in range(steps):
            total += sum(self._prepare(x)) * k
            if total > 1e6:
                total = total / 2
        return total
'''


def large_file(min_lines: int = 1500) -> str:
    """The seed pipeline followed by research-style helper classes, at least `min_lines` long."""
    text = (FIXTURES / "seed" / "pipeline.py").read_text(encoding="utf-8")
    n = 0
    while text.count("\n") < min_lines:
        text += HELPER.format(n=n)
        n += 1
    return text


def timed(path: Path, repeat: int) -> float:
    explain(path)  # warm-up: imports, caches
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        plan = explain(path)
        runs.append(time.perf_counter() - start)
    assert plan.source_sha256
    return statistics.median(runs)


def convert_timed(path: Path, repeat: int) -> float | None:
    """Median seconds of a full conversion of `path` into a fresh folder; None if it refuses."""
    from reactorc.convert import ConvertError, convert

    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeat + 1):
            start = time.perf_counter()
            try:
                convert(explain(path), path, Path(tmp) / f"out{k}")
            except ConvertError:
                return None
            if k:  # the first run is the warm-up
                runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    per_fixture = {}
    for pipeline in sorted(FIXTURES.glob("*/pipeline.py")):
        text = pipeline.read_text(encoding="utf-8")
        per_fixture[pipeline.parent.name] = {
            "lines": text.count("\n"),
            "seconds": round(timed(pipeline, args.repeat), 4),
        }
        converted = convert_timed(pipeline, args.repeat)
        if converted is not None:
            per_fixture[pipeline.parent.name]["convert_seconds"] = round(converted, 4)
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "large_pipeline.py"
        big.write_text(large_file(), encoding="utf-8")
        plan = explain(big)
        large = {
            "lines": big.read_text(encoding="utf-8").count("\n"),
            "seconds": round(timed(big, args.repeat), 4),
            "symbol": plan.symbol,
            "frame_loop_line": plan.frame_loop.line if plan.frame_loop else None,
        }
    json.dump(
        {
            "benchmark": "compile",
            "python": platform.python_version(),
            "machine": platform.machine(),
            "repeat": args.repeat,
            "fixtures": per_fixture,
            "large_file": large,
            "convert_target_seconds": 1.0,
            "convert_max_seconds": max(
                (f["convert_seconds"] for f in per_fixture.values() if "convert_seconds" in f),
                default=None,
            ),
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
