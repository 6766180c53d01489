"""Shared by the platform tests: the fixtures there are, how to load and change each one, the
Reactor runtime environments (built by scripts/platform-envs.sh) and the network namespace the
servers run in."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fixtures._reference import FixtureError, _fill_tmp, load_fixture  # noqa: E402
from reactorc.convert import convert  # noqa: E402
from reactorc.plan import Plan  # noqa: E402
from reactorc.render import split_header  # noqa: E402

CACHE = Path(os.environ.get("REACTORC_PLATFORM_CACHE") or Path.home() / ".cache" / "reactorc-ci")
RUNTIMES = ("3.10.0", "2.7.8")
SHIMS = Path(__file__).resolve().parent / "shims"


def pipelines() -> list[Path]:
    """Every fixture folder's pipeline, found now: fixtures added later are covered too."""
    return sorted((ROOT / "fixtures").glob("*/pipeline.py"))


def convert_both(plan: Plan, pipeline: Path, tmp: Path, generator_target: str) -> tuple[Path, Path]:
    """The generator form (`generator_target`) and the step form of `pipeline`, in `tmp`."""
    generator, app = tmp / "generator", tmp / "app"
    convert(plan, pipeline, generator, target=generator_target)  # type: ignore[arg-type]
    convert(plan, pipeline, app, target="reactor-app")
    return generator, app


def load_config(
    pipeline: Path, folder: Path, tmp: Path, with_fixture: bool = True
) -> dict[str, Any]:
    """What load() gets: the generated config.yml (what a runtime serving `folder` passes),
    with what the fixture builds its pipeline with on top (fixture.yaml's `construct`, a step
    API's `reset`) unless `with_fixture` is False."""
    _, _, body = split_header((folder / "config.yml").read_text(encoding="utf-8"))
    config = yaml.safe_load(body) or {}
    if not with_fixture:
        return config
    try:
        fx = load_fixture(pipeline.parent)
    except FixtureError:
        return config
    construct = _fill_tmp(dict(fx.construct or {}), str(tmp))
    config.update(construct.get("config", construct.get("kwargs", {})))
    if fx.output is not None and fx.output.via == "step" and fx.reset is not None:
        config["reset"] = dict(fx.reset)
    return config


def state_changes(pipeline: Path, plan: Plan) -> list[tuple[int, str, Any]]:
    """The fixture's own changes as a client sends them: restart fields after the first output,
    live fields after the second (a per-step list as its first element)."""
    try:
        fx = load_fixture(pipeline.parent)
    except FixtureError:
        return []
    fields = {f.name for f in plan.state}

    def wire(value: Any) -> Any:
        return value[0] if isinstance(value, list) else value

    changes = [(1, k, wire(v)) for k, v in fx.restart_changes.items() if k in fields]
    changes += [(2, k, wire(v)) for k, v in fx.live_changes.items() if k in fields]
    return changes


BUILD_WAIT = 1200.0
"""Seconds to wait for a scripts/platform-envs.sh still building (in .ci/run, in the background)."""


def wait_for_build(timeout: float = BUILD_WAIT, cache: Path = CACHE) -> None:
    """Return once no scripts/platform-envs.sh is building (its pid in `cache`/.building), or
    after `timeout` seconds."""
    marker = cache / ".building"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid = int(marker.read_text().strip())
        except (OSError, ValueError):
            return  # no build running
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # a build that died without cleaning up
        except PermissionError:
            pass  # alive, another user's
        if _zombie(pid):
            return  # ended, not yet reaped by its parent
        time.sleep(1.0)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def runtime_python(version: str) -> Path | None:
    """The runtime environment's python, when scripts/platform-envs.sh has built it (waiting
    for a build still running)."""
    wait_for_build()
    env = CACHE / f"reactor-runtime-{version}"
    python = env / "bin" / "python"
    return python if python.is_file() and (env / ".reactorc-spec").is_file() else None


def missing_runtime(version: str) -> str:
    return (
        f"the reactor-runtime {version} environment is not built ({CACHE}/reactor-runtime-"
        f"{version}); `bash scripts/platform-envs.sh` builds it (.ci/run does)"
    )


def namespace_problem() -> str | None:
    """Why servers cannot run in a private network namespace here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root for `unshare -n` (a private network namespace holding only lo)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare (util-linux) and ip (iproute2)"
    done = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    if done.returncode != 0:
        return f"`unshare -n` fails here: {done.stderr.decode(errors='replace').strip()}"
    return None


def build_lo_host(folder: Path) -> Path:
    """shims/lo_host.c as a shared object (the LD_PRELOAD for a 3.x server)."""
    out = folder / "lo_host.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIMS / "lo_host.c"), "-ldl"],
        check=True,
        capture_output=True,
    )
    return out
