#!/usr/bin/env bash
# GPU check: on a fresh GPU machine, install reactorc, convert every convertible fixture and run
#   reactorc validate --device cuda --stream
# on each converted output, then print one table (one row per fixture). Target: under 5 minutes.
#
#   scripts/gpu_check.sh                      install, then validate on cuda with --stream
#   scripts/gpu_check.sh --device cpu         the same checks on the host (the CPU dry path)
#   scripts/gpu_check.sh --no-install         use the reactorc already installed
#   scripts/gpu_check.sh --only seed,nerf_render_path --frames 16 --no-stream
#
# torch: a torch that is already installed is used as it is. When there is none, torch==2.13.0
# is installed from PyPI: its Linux x86_64 wheel is a CUDA build (bundled CUDA libraries), which
# is what this script needs; the CPU-only build (what scripts/install.sh puts on CPU machines)
# would leave torch.cuda.is_available() False, and the script stops with a message saying so.
# Each fixture runs in its own process, so one model's torch or CUDA state cannot leak into
# the next; the exit status is 1 when any check failed on any fixture, 2 when setup failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
DEVICE=cuda
INSTALL=1
STREAM=--stream
FRAMES=16
ONLY=""
PER_FIXTURE_TIMEOUT=240

while [[ $# -gt 0 ]]; do
    case "$1" in
        --device) DEVICE="${2:?--device needs cuda or cpu}"; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --no-stream) STREAM=""; shift ;;
        --frames) FRAMES="${2:?--frames needs a number}"; shift 2 ;;
        --only) ONLY="${2:?--only needs fixture names}"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ "$DEVICE" != cuda && "$DEVICE" != cpu ]]; then
    echo "error: --device must be cuda or cpu, got $DEVICE" >&2
    exit 2
fi

started=$(date +%s)
if [[ "$INSTALL" == 1 ]]; then
    if ! "$PY" -c "import torch" >/dev/null 2>&1; then
        echo "installing torch==2.13.0 from PyPI (its Linux wheel is a CUDA build)"
        "$PY" -m pip install -q torch==2.13.0
    fi
    "$PY" -m pip install -q -e .
fi
if [[ "$DEVICE" == cuda ]]; then
    if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        version=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null || echo "none")
        echo "error: torch $version sees no CUDA device; install a CUDA build of torch (e.g." \
             "pip install torch==2.13.0 from PyPI on Linux x86_64) or pass --device cpu" >&2
        exit 2
    fi
    "$PY" -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0))"
fi

work=$(mktemp -d -t reactorc-gpu-check.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One line per convertible fixture: name, config file (the fixture's own construction
# arguments, {tmp} filled), then its curated --change values.
"$PY" - "$work" "$ONLY" > "$work/plan.tsv" <<'PYEOF'
import sys
from pathlib import Path

import yaml

sys.path.insert(0, ".")
from fixtures._reference import _fill_tmp, fixture_dirs, load_fixture

work, only = Path(sys.argv[1]), [n for n in sys.argv[2].split(",") if n]
known = []
for directory in fixture_dirs():
    fx = load_fixture(directory)
    if fx.refused:
        continue
    known.append(fx.name)
    if only and fx.name not in only:
        continue
    tmp = work / f"{fx.name}.tmp"
    tmp.mkdir()
    construct = _fill_tmp(dict(fx.construct or {}), str(tmp))
    config = dict(construct.get("config", construct.get("kwargs", {})))
    if fx.output is not None and fx.output.via == "step" and fx.reset is not None:
        config["reset"] = dict(fx.reset)
    path = work / f"{fx.name}.config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    changes = []
    for field, value in {**fx.live_changes, **fx.restart_changes}.items():
        value = value[0] if isinstance(value, list) else value
        value = str(value).lower() if isinstance(value, bool) else value
        changes.append(f"--change\x1f{field}={value}")
    print("\t".join([fx.name, str(path), "\x1f".join(changes)]))
missing = [n for n in only if n not in known]
if missing:
    print(f"error: --only names no convertible fixture: {', '.join(missing)}", file=sys.stderr)
    sys.exit(2)
PYEOF

while IFS=$'\t' read -r name config changes; do
    out="$work/$name.out"
    IFS=$'\x1f' read -r -a change_args <<< "$changes"
    if ! reactorc convert "fixtures/$name/pipeline.py" -o "$out" >"$work/$name.convert.log" 2>&1; then
        echo "{\"convert_failed\": true, \"log\": \"$work/$name.convert.log\"}" > "$work/$name.json"
        continue
    fi
    echo "validating $name" >&2
    timeout "$PER_FIXTURE_TIMEOUT" reactorc validate "$out" --device "$DEVICE" $STREAM \
        --frames "$FRAMES" --config "$config" --json "${change_args[@]}" \
        >"$work/$name.json" 2>"$work/$name.err" || true
done < "$work/plan.tsv"

"$PY" - "$work" "$DEVICE" "$started" <<'PYEOF'
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

work, device, started = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
names = [line.split("\t")[0] for line in (work / "plan.tsv").read_text().splitlines()]
table = Table(title=f"reactorc validate --device {device} over the fixtures", title_justify="left")
for column in ("fixture", "result", "load ms", "1st frame ms", "equivalence", "live", "restart",
               "pacing fps", "stream fps", "update ms", "cuda", "failed checks"):
    table.add_column(column)
failures = 0
for name in names:
    path = work / f"{name}.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        err = (work / f"{name}.err").read_text(errors="replace").strip().splitlines()
        table.add_row(name, "[red]no report[/]", *[""] * 9, (err[-1] if err else "timed out")[:60])
        failures += 1
        continue
    if report.get("convert_failed"):
        table.add_row(name, "[red]convert failed[/]", *[""] * 10)
        failures += 1
        continue
    checks = {c["name"]: c for c in report["checks"]}

    def fig(check, key, scale=1.0, digits=0):
        value = checks.get(check, {}).get("figures", {}).get(key)
        return f"{value * scale:.{digits}f}" if isinstance(value, int | float) else ""

    def tally(prefix):
        got = [c["status"] for n, c in checks.items() if n.startswith(prefix)]
        return f"{got.count('pass')}/{len(got)}" if got else "-"

    cuda = [c["status"] for n, c in checks.items() if n.startswith("cuda")]
    failed = [n for n, c in checks.items() if c["status"] == "fail"]
    failures += bool(failed)
    table.add_row(
        name,
        "[green]ok[/]" if report["ok"] else "[red]FAIL[/]",
        fig("load", "seconds", 1000.0),
        fig("first frame", "seconds", 1000.0),
        checks.get("equivalence", {}).get("status", ""),
        tally("live: "),
        tally("restart: "),
        fig("pacing", "achieved_fps"),
        fig("stream", "delivered_fps"),
        fig("stream: update latency", "update_latency_ms"),
        ",".join(cuda) or "-",
        ", ".join(failed)[:60],
    )
console = Console(width=200)
console.print(table)
console.print(f"{len(names)} fixtures, {failures} with a failed check, {time.time() - started:.0f} s")
sys.exit(1 if failures else 0)
PYEOF
