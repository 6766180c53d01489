"""How long `reactorc validate` takes per convertible fixture on the CPU, and where the time goes.

Each fixture's committed converted output (`tests/golden/<fixture>`) is validated in this process
with the fixture's own construction arguments as config and its curated `--change` values, the
way scripts/gpu_check.sh does on a GPU (there: one process per fixture). Reported per fixture:
the total seconds, the sessions' frames, the original's own clip time, the first-frame time,
achieved fps and the number of checks by status; with --stream also delivered fps and update
latency at the loopback client. The first fixture also pays for importing torch.

Prints one JSON document. Never asserted in tests: the machines are noisy.

    python benchmarks/validate.py [--frames 8] [--stream] [--only seed,nerf_render_path]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "validate"))

from validate_helpers import (  # noqa: E402
    GOLDEN,
    convertible,
    fixture_changes,
    fixture_config,
)

from reactorc.validate import ValidateOptions, validate  # noqa: E402


def _figure(report, check: str, key: str):
    for c in report.checks:
        if c.name == check:
            return c.figures.get(key)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        for fx in convertible():
            if only and fx.name not in only:
                continue
            folder = Path(tmp) / fx.name
            folder.mkdir()
            options = ValidateOptions(
                device="cpu",
                frames=args.frames,
                stream=args.stream,
                changes=fixture_changes(fx),
                config_path=fixture_config(fx, folder),
            )
            started = time.perf_counter()
            report = validate(GOLDEN / fx.name, options)
            seconds = time.perf_counter() - started
            statuses = [c.status for c in report.checks]
            row = {
                "fixture": fx.name,
                "seconds": round(seconds, 3),
                "ok": report.ok,
                "checks": {s: statuses.count(s) for s in ("pass", "warn", "skip", "fail")},
                "frames_per_session": _figure(report, "frame format", "frames"),
                "original_clip_s": _figure(report, "equivalence", "original_s"),
                "first_frame_s": _figure(report, "first frame", "seconds"),
                "achieved_fps": _figure(report, "pacing", "achieved_fps"),
            }
            if args.stream:
                row["stream_delivered_fps"] = _figure(report, "stream", "delivered_fps")
                row["stream_update_latency_ms"] = _figure(
                    report, "stream: update latency", "update_latency_ms"
                )
            rows.append(row)
    total = sum(r["seconds"] for r in rows)
    doc = {
        "benchmark": "reactorc validate per fixture (CPU)",
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "frames": args.frames,
        "stream": args.stream,
        "total_seconds": round(total, 2),
        "median_seconds": round(sorted(r["seconds"] for r in rows)[len(rows) // 2], 3)
        if rows
        else None,
        "fixtures": rows,
    }
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0


def _cpus() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
