"""Score reactorc on real research pipelines: `explain` (and with --convert, `convert`) on every
file of the corpus listed in benchmarks/real_corpus.json, against the plan expected after reading
the code. Prints JSON: per family and in total, how many plans are right, wrong, refused or crash,
and the recall of live parameters; with --convert, how many right plans give a wrapper that
compiles and passes `ruff check --select F`.

The files themselves are not in the repository (their licences are their authors'). Fill the
folder once (it needs network access to GitHub), then score:

    python benchmarks/real_corpus.py --fetch            # downloads into benchmarks/real_corpus/
    python benchmarks/real_corpus.py [--convert] [--corpus DIR] [--only FAMILY]

A file is **right** when the outcome matches (a plan, or a refusal when one is expected) and, for
a plan, the symbol, the frame loop's line and frames per iteration match too. **refused** is a
refusal where a plan was expected (honest, not right); **wrong** is a plan where a refusal was
expected or a plan of another loop; **crash** is an RC900 or no answer in 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "real_corpus.json"
DEFAULT_CORPUS = HERE / "real_corpus"
RAW = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def fetch(entries: list[dict[str, Any]], corpus: Path) -> dict[str, Any]:
    """Download every file of the manifest at its commit into `corpus/<id>`."""
    done, failed = 0, []
    for e in entries:
        target = corpus / e["id"]
        if target.is_file():
            done += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        url = RAW.format(repo=e["repo"], commit=e["commit"], path=e["path"])
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                target.write_bytes(response.read())
            done += 1
        except OSError as exc:
            failed.append(f"{e['id']}: {exc}")
    return {"fetched": done, "failed": failed}


def run(args: list[str], timeout: float = 120.0) -> tuple[int, str, str]:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reactorc.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "", "timed out"
    return done.returncode, done.stdout, done.stderr


def score_plan(expected: dict[str, Any], plan: dict[str, Any] | None) -> str:
    if plan is None or any(d["code"] == "RC900" for d in plan.get("diagnostics", [])):
        return "crash"
    refused = plan.get("frame_loop") is None or any(
        d["severity"] == "error" for d in plan.get("diagnostics", [])
    )
    if expected["outcome"] == "refuse":
        return "right" if refused else "wrong"
    if refused:
        return "refused"
    loop = plan["frame_loop"]
    same = (
        plan["symbol"] == expected["symbol"]
        and loop["line"] == expected["loop_line"]
        and loop["frames_per_iteration"] == expected["frames_per_iteration"]
    )
    return "right" if same else "wrong"


def live_of(plan: dict[str, Any] | None) -> set[str]:
    """The parameters (or options) the plan makes live."""
    if plan is None:
        return set()
    out = {a["param"] for a in plan.get("arguments", []) if a["role"] == "live"}
    out |= {f.get("param") or f["name"] for f in plan.get("state", []) if f["live"]}
    return out


def convert_check(path: Path, missing: dict[str, str]) -> dict[str, Any]:
    """Convert `path` with the missing arguments filled as a user fills the stanza `explain`
    prints (its example expression; `None` where it has none), then compile the wrapper and run
    `ruff check --select F` on it."""
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        out = Path(tmp) / "out"
        extra = [x for m, code in missing.items() for x in ("--arg", f"{m}={_example(code)}")]
        code, _, err = run(["convert", str(path), "-o", str(out), *extra])
        if code != 0:
            return {"converted": False, "error": (err.strip().splitlines() or ["?"])[-1]}
        wrappers = sorted(out.glob("*_stream.py"))
        if not wrappers:
            return {"converted": False, "error": "no wrapper written"}
        source = wrappers[0].read_text(encoding="utf-8")
        try:
            compile(source, str(wrappers[0]), "exec")
            compiles = True
        except SyntaxError as exc:
            compiles = False
            err = str(exc)
        lint = subprocess.run(
            ["ruff", "check", "--isolated", "--select", "F", "--quiet", str(wrappers[0])],
            capture_output=True,
            text=True,
            check=False,
        )
        return {
            "converted": True,
            "compiles": compiles,
            "ruff_f": lint.returncode == 0,
            "ruff_output": lint.stdout.strip().splitlines()[:3],
            "filled": sorted(missing),
        }


def _example(code: str) -> str:
    """The stanza's example expression without its comment; `None` for a placeholder."""
    expr = code.split("  #", 1)[0].strip()
    return "None" if not expr or expr.startswith(("...", '"path/to')) else expr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--fetch", action="store_true", help="download the files, then score")
    parser.add_argument("--convert", action="store_true", help="also convert the right plans")
    parser.add_argument("--only", help="one family")
    parser.add_argument("--files", action="store_true", help="list each file's result")
    options = parser.parse_args()
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))
    if options.only:
        entries = [e for e in entries if e["family"] == options.only]
    report: dict[str, Any] = {}
    if options.fetch:
        report["fetch"] = fetch(entries, options.corpus)
    missing_files = [e["id"] for e in entries if not (options.corpus / e["id"]).is_file()]
    if missing_files:
        print(
            f"{len(missing_files)} corpus file(s) missing under {options.corpus}; "
            "run with --fetch (needs network access to GitHub)",
            file=sys.stderr,
        )
        entries = [e for e in entries if e["id"] not in missing_files]
    families: dict[str, dict[str, Any]] = defaultdict(
        lambda: defaultdict(int, live_expected=0, live_found=0, false_live=0)
    )
    files = []
    started = time.perf_counter()
    for e in entries:
        path = options.corpus / e["id"]
        _, out, _ = run(["explain", str(path), "--json"])
        try:
            plan = json.loads(out) if out else None
        except json.JSONDecodeError:
            plan = None
        verdict = score_plan(e["expected"], plan)
        fam = families[e["family"]]
        fam[verdict] += 1
        fam["files"] += 1
        row: dict[str, Any] = {"id": e["id"], "verdict": verdict}
        if e["expected"]["outcome"] == "plan":
            expected_live = set(e["expected"]["live"])
            found = live_of(plan) if verdict == "right" else set()
            fam["live_expected"] += len(expected_live)
            fam["live_found"] += len(expected_live & found)
            fam["false_live"] += len(found - expected_live)
            row["live_missed"] = sorted(expected_live - found)
            row["live_extra"] = sorted(found - expected_live)
        if plan is not None and plan.get("frame_loop"):
            row["got"] = [plan["symbol"], plan["frame_loop"]["line"]]
        elif plan is not None:
            row["got"] = [d["code"] for d in plan["diagnostics"] if d["severity"] == "error"]
        if options.convert and verdict == "right" and e["expected"]["outcome"] == "plan":
            missing = {
                a["param"]: a.get("code", "")
                for a in (plan or {}).get("arguments", [])
                if a["source"] == "missing"
            }
            result = convert_check(path, missing)
            row["convert"] = result
            fam["convertible"] += 1
            if result.get("converted") and result.get("compiles") and result.get("ruff_f"):
                fam["wrapper_ok"] += 1
            if missing:
                fam["needed_stanza"] += 1
        files.append(row)
    total: dict[str, Any] = defaultdict(int)
    for fam in families.values():
        for k, v in fam.items():
            total[k] += v
    for block in [*families.values(), total]:
        block["live_recall"] = (
            round(block["live_found"] / block["live_expected"], 3)
            if block["live_expected"]
            else None
        )
        block["right_share"] = round(block["right"] / block["files"], 3) if block["files"] else None
    report.update(
        {
            "corpus": str(options.corpus),
            "seconds": round(time.perf_counter() - started, 1),
            "total": dict(total),
            "families": {k: dict(v) for k, v in sorted(families.items())},
        }
    )
    if options.files:
        report["files"] = files
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    raise SystemExit(main())
