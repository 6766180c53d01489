"""`reactor run --replicas N` as a person runs it, and the promise that without `--replicas`
nothing changes: Ray is never imported and never started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

CLI = "import sys; from reactor.cli import main; main(sys.argv[1:])"

PROBE = """
import json, sys
from reactor import cli
from reactor import _server
_server.serve = lambda manifest, options: print("served", options.port)
try:
    cli.main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "ray": sorted(m for m in sys.modules if m.split(".")[0] == "ray")}))
"""
"""Runs the CLI in-process with the single-model server replaced, then says which Ray modules
got imported."""


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLOSED_PORT = closed_port()


def probe(*args: str) -> tuple[dict[str, object], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_importing_the_cli_does_not_import_ray() -> None:
    code = "import sys, reactor.cli, reactor; print(any(m.split('.')[0] == 'ray' for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_a_plain_run_neither_imports_nor_starts_ray(steady_manifest: Path) -> None:
    result, stderr = probe("run", "--manifest", str(steady_manifest), "--port", "8123")
    assert result == {"code": 0, "ray": []}, stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--replicas", "0"], "--replicas must be at least 1, got 0"),
        (["--ray-address", "10.0.0.5:6379"], "--ray-address needs --replicas N"),
        (
            ["--replicas", "2", "--headless", "--out", "x.mp4"],
            "--replicas and --ray-address serve clients; they do not apply with --headless",
        ),
        (["--replicas", "2", "--turn", "nonsense"], "--turn 'nonsense': expected"),
        (["--replicas", "2", "--ray-address", "head"], "--ray-address 'head': expected"),
        (
            ["--replicas", "2", "--ray-address", f"127.0.0.1:{CLOSED_PORT}"],
            f"cannot reach the Ray cluster at 127.0.0.1:{CLOSED_PORT} (Connection refused)",
        ),
    ],
)
def test_bad_scale_out_flags_exit_2_with_one_line_before_ray_starts(
    steady_manifest: Path, args: list[str], message: str
) -> None:
    result, stderr = probe("run", "--manifest", str(steady_manifest), *args)
    assert result == {"code": 2, "ray": []}, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], stderr


def test_a_model_that_cannot_be_imported_exits_2_before_ray_starts(tmp_path: Path) -> None:
    manifest = tmp_path / "reactor.yaml"
    manifest.write_text("model: nowhere:Model\n", encoding="utf-8")
    result, stderr = probe("run", "--manifest", str(manifest), "--replicas", "2")
    assert result == {"code": 2, "ray": []}, stderr
    assert "no module named 'nowhere'" in stderr


def raylet_pids() -> set[int]:
    """Running raylet processes (each Ray instance on this machine has one)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")[0]
                if command.endswith(b"/raylet"):
                    pids.add(int(entry.name))
    return pids


async def run_cli(
    *args: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, asyncio.Task[bytes]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        "run",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stderr is not None
    return proc, asyncio.ensure_future(proc.stderr.read())


async def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists()}
    return alive


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_run_with_replicas_serves_health_and_stops_its_ray_on_sigint(
    steady_manifest: Path,
) -> None:
    pytest.importorskip("ray.serve")
    before = raylet_pids()
    port = free_port()
    # Without --ray-address it starts its own Ray, even when RAY_ADDRESS names another one
    # (which it must then neither join nor shut down).
    proc, stderr = await run_cli(
        "--manifest", str(steady_manifest), "--replicas", "2", "--port", str(port),
        "--ice-host", "127.0.0.1", env={"RAY_ADDRESS": "127.0.0.1:9"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
        match = re.search(
            r"Serving steady with 2 replica\(s\), one CPU each, at (http://127\.0\.0\.1:\d+/)", line
        )
        assert match, line
        ours = raylet_pids() - before
        assert len(ours) == 1
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(match.group(1) + "health") as response,
        ):
            body = await response.json()
        assert (body["model"], body["replicas"], body["in_use"], body["free"]) == (
            "steady", 2, 0, 2,
        )  # fmt: skip
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, (await stderr).decode()[-3000:]
        assert await wait_gone(ours, 20) == set()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stderr.cancel()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_run_with_replicas_reports_a_model_that_fails_to_load_and_exits_1(
    broken_manifest: Path,
) -> None:
    pytest.importorskip("ray.serve")
    before = raylet_pids()
    proc, stderr = await run_cli(
        "--manifest", str(broken_manifest), "--replicas", "1", "--port", str(free_port()),
    )  # fmt: skip
    try:
        code = await asyncio.wait_for(proc.wait(), 120)
        text = (await stderr).decode()
        assert code == 1, text[-3000:]
        assert (
            "error: replica-0 could not load the model: BrokenCounter.load() raised "
            "FileNotFoundError: weights.safetensors is missing"
        ) in text
        assert await wait_gone(raylet_pids() - before, 20) == set()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
