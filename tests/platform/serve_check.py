"""Serve a converted folder with one of Reactor's runtimes and check it with a client, all on
loopback inside a private network namespace. Run it under `unshare -n` (as root):

    unshare -n python serve_check.py --runtime 3.10.0 --python ENV/bin/python --folder OUT \
        --command set_motion --data '{"motion": 3.0}' --reference clip.npy --log server.log

It brings `lo` up, starts the server with the runtime's own command, waits until it is ready,
streams with `platform_client`, sends the command, stops the server and prints one JSON
object: what the client saw, and the server log's deprecation warnings and errors.

Loopback ICE: 3.x's WebRTC (libwebrtc) never gathers on a loopback interface, so the server
gets `lo_host.so` preloaded, which shows it 127.0.0.1 under another name (see shims/lo_host.c);
2.x's aiortc gets `shims/aioice_loopback` on PYTHONPATH. STUN points at an unused loopback port
so no public STUN host is ever tried.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy
import platform_client

HERE = Path(__file__).resolve().parent
STUN = "stun:127.0.0.1:3478"
"""An unused loopback port: 3.x needs some STUN server named, or it uses a public one."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(runtime: str, python: str, folder: Path, port: int) -> list[str]:
    if runtime.startswith("2."):
        return [
            python, "-m", "reactor_runtime.serve", "run", "--path", str(folder),
            "--runtime", "http", "--host", "127.0.0.1", "--port", str(port),
            "--transport", "aiortc",
        ]  # fmt: skip
    return [python, "-m", "reactor_runtime.serve"]


def server_env(runtime: str, port: int, lo_host: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if runtime.startswith("2."):
        env["PYTHONPATH"] = str(HERE / "shims" / "aioice_loopback")
        # 2.x handles the client's pings (and commands) on its HTTP event loop, which on a
        # loaded machine falls behind by many seconds: its 20 s ping watchdog then ends a
        # session whose client pings every 5 s. Its own setting gives it more room.
        env["WEBRTC_CLIENT_PING_TIMEOUT_SECONDS"] = "120"
    else:
        env.update(HOST="127.0.0.1", PORT=str(port), STUN_SERVERS=STUN, LD_PRELOAD=str(lo_host))
    return env


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"the server exited with status {server.returncode} before it was ready"
            )
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the server was not ready within {timeout:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", required=True, help="reactor-runtime version, e.g. 3.10.0")
    parser.add_argument("--python", required=True, help="the runtime environment's python")
    parser.add_argument("--folder", required=True, type=Path, help="a converted folder")
    parser.add_argument("--command", required=True, help="e.g. set_motion")
    parser.add_argument("--data", required=True, help="the command's data, as JSON")
    parser.add_argument("--lo-host", type=Path, help="lo_host.so, for a 3.x server")
    parser.add_argument("--log", type=Path, required=True, help="where the server's log goes")
    parser.add_argument(
        "--reference", type=Path, required=True, help="the clip at the default state (.npy)"
    )
    parser.add_argument("--frames-before", type=int, default=40)
    parser.add_argument(
        "--max-frames-after", type=int, default=240, help="how long to wait for the change"
    )
    parser.add_argument("--ready-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    result: dict[str, object] = {"runtime": args.runtime, "folder": args.folder.name}
    with args.log.open("wb") as log:
        server = subprocess.Popen(
            server_command(args.runtime, args.python, args.folder.resolve(), port),
            cwd=args.folder,
            env=server_env(args.runtime, port, args.lo_host or Path("/nonexistent")),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            wait_ready(base, server, args.ready_timeout)
            result["ready_s"] = round(time.monotonic() - started, 1)
            streaming = time.monotonic()
            report = asyncio.run(
                platform_client.stream_and_command(
                    base,
                    "v1" if args.runtime.startswith("2.") else "v3",
                    args.command,
                    json.loads(args.data),
                    numpy.load(args.reference),
                    args.frames_before,
                    args.max_frames_after,
                )
            )
            result["stream_s"] = round(time.monotonic() - streaming, 1)
            result.update(report.to_json())
        except Exception as exc:  # reported, with the server's log, for the test to show
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            stopping = time.monotonic()
            stop(server)
            result["stop_s"] = round(time.monotonic() - stopping, 1)
    text = args.log.read_text(encoding="utf-8", errors="replace")
    result["deprecations"] = [line for line in text.splitlines() if "deprecat" in line.lower()]
    result["log_errors"] = [
        line for line in text.splitlines() if " ERROR " in line or "Traceback" in line
    ][:10]
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
