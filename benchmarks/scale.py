"""Scale-out figures, printed as JSON: the cost of the Ray Serve ingress, and how fast it fills.

    python benchmarks/scale.py [--replicas 2] [--trials 5] [--fps 30] [--rounds 3]

Two servers of the same model (tests/server's Counter: 256x256 frames carrying their counter)
run as a person starts them, each in its own process on 127.0.0.1: `reactor run` (one model
instance) and `reactor run --replicas N` (a local Ray instance, N replicas behind one ingress).
An aiortc client in this process (the server tests' own, tests/server/rtc_client.py) measures:

- startup: seconds from starting the command to its "Serving" line (the model loaded);
- start_session round trip, and time to first frame from `POST /start_session` to the first
  decoded frame (offer, answer, ICE, DTLS, the first encoded frame), one session at a time,
  `--trials` times on each server;
- filling the replicas: with all N free, N clients start at once; sessions accepted per second
  (N / time until the last `start_session` was answered 200) and streams started per second
  (N / time until every client decoded its first frame), then one more client's 409 round trip.
  Repeated `--rounds` times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))

import aiohttp  # noqa: E402
from rtc_client import Client  # noqa: E402

CLI = "import sys; from reactor.cli import main; main(sys.argv[1:])"
API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


def model_folder(folder: Path, fps: float) -> Path:
    for name in ("server_models.py", "pixelcode.py"):
        shutil.copy(ROOT / "tests" / "server" / name, folder / name)
    (folder / "bench_model.py").write_text(
        f"from server_models import Counter\n\n\nclass BenchCounter(Counter):\n    fps = {fps!r}\n",
        encoding="utf-8",
    )
    manifest = folder / "reactor.yaml"
    manifest.write_text("name: bench\nmodel: bench_model:BenchCounter\n", encoding="utf-8")
    return manifest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `reactor run` process; stopped with SIGINT."""

    def __init__(self, manifest: Path, *extra: str) -> None:
        self.args = ["--manifest", str(manifest), "--port", str(free_port())]
        self.args += ["--ice-host", "127.0.0.1", *extra]
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""
        self.startup = 0.0
        self._drain: asyncio.Task[bytes] | None = None

    async def __aenter__(self) -> Server:
        began = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLI, "run", *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._drain = asyncio.ensure_future(self.proc.stderr.read())
        line = (await asyncio.wait_for(self.proc.stdout.readline(), 180)).decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not match:
            await self.__aexit__()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.url = match.group(1)
        self.startup = time.monotonic() - began
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)


async def stop(http: aiohttp.ClientSession, url: str, session_id: str) -> None:
    async with http.post(url + "stop_session", json={"session_id": session_id}) as response:
        await response.read()


async def first_frame(http: aiohttp.ClientSession, url: str) -> tuple[float, float, Client]:
    """(start_session round trip, time to first frame), both from the POST; client running."""
    client = Client(url.rstrip("/"), http)
    began = time.monotonic()
    await client.start()
    answered = time.monotonic()
    await client.connect()
    await client.wait_frames(1, timeout=30)
    return answered - began, client.frames["main_video"][0].at - began, client


async def wait_free(http: aiohttp.ClientSession, url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with http.get(url + "health") as response:
            body = await response.json()
        if body.get("free", 1) >= count and not body.get("waiting"):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the replicas did not all become free: {body}")


async def one_at_a_time(server: Server, trials: int, replicas: int | None) -> dict[str, Any]:
    starts, firsts = [], []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for _ in range(trials):
            if replicas:
                await wait_free(http, server.url, replicas)
            start, first, client = await first_frame(http, server.url)
            starts.append(start)
            firsts.append(first)
            await stop(http, server.url, client.session_id)
            await client.close(stop=False)
            await asyncio.sleep(0.3)
    return {
        "startup_s": round(server.startup, 2),
        "start_session_ms": summary(starts, 1000),
        "time_to_first_frame_ms": summary(firsts, 1000),
    }


async def fill(server: Server, replicas: int, rounds: int) -> dict[str, Any]:
    accepted_rates, streaming_rates, refused_ms = [], [], []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for _ in range(rounds):
            await wait_free(http, server.url, replicas)
            results = await asyncio.gather(
                *(first_frame(http, server.url) for _ in range(replicas))
            )
            last_answer = max(start for start, _, _ in results)
            last_frame = max(first for _, first, _ in results)
            accepted_rates.append(replicas / last_answer)
            streaming_rates.append(replicas / last_frame)
            asked = time.monotonic()
            async with http.post(server.url + "start_session", json={}, headers=API) as response:
                await response.read()
                assert response.status == 409, response.status
            refused_ms.append((time.monotonic() - asked) * 1000)
            for _, _, client in results:
                await stop(http, server.url, client.session_id)
                await client.close(stop=False)
            await asyncio.sleep(0.5)
    return {
        "sessions": replicas,
        "sessions_accepted_per_s": summary(accepted_rates),
        "streams_started_per_s": summary(streaming_rates),
        "refused_409_ms": summary(refused_ms),
    }


def summary(values: list[float], scale: float = 1.0) -> dict[str, float]:
    scaled = [v * scale for v in values]
    return {
        "median": round(statistics.median(scaled), 1),
        "min": round(min(scaled), 1),
        "max": round(max(scaled), 1),
        "n": len(scaled),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        manifest = model_folder(Path(folder), args.fps)
        async with Server(manifest) as direct:
            single = await one_at_a_time(direct, args.trials, None)
        async with Server(manifest, "--replicas", str(args.replicas)) as scaled:
            through = await one_at_a_time(scaled, args.trials, args.replicas)
            filled = await fill(scaled, args.replicas, args.rounds)
    overhead = (
        through["time_to_first_frame_ms"]["median"] - single["time_to_first_frame_ms"]["median"]
    )
    print(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "model": {"fps": args.fps, "size": "256x256", "codec": "vp8"},
                "replicas": args.replicas,
                "direct_reactor_run": single,
                "through_ingress": through,
                "ingress_time_to_first_frame_overhead_ms": round(overhead, 1),
                "filling_the_replicas": filled,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
