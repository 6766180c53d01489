"""Soak, faults and hostile clients against `reactor run`, printed as JSON.

    python benchmarks/soak.py [--sessions 1000] [--vanishing 200] [--minutes 30]
                              [--ping-timeout 2] [--fps 30] [--flood-seconds 10] [--seed 15]

Starts `reactor run` (its own process, 127.0.0.1 only) on a model of fixed step time (one frame
per 1/fps s, its counter and `level` state value drawn into the pixels) and drives it with
aiortc clients (tests/server's) on loopback:

1. `sessions` full sessions in a row: start_session, SDP, first frame, a `set_level` command
   (until a frame shows it), stop_session. Failures (with reasons) and time to first frame,
   p50/p99 over the first and the last 100.
2. Concurrency: 3 rounds of 20 simultaneous start_session calls (exactly one may win, the rest
   get 409 with a reason), and two clients racing start/stop 50 times each (each stop names its
   session; none may stop the other's).
3. `vanishing` clients that disappear without stop_session at a random point (before the
   answer, after ICE, mid-stream): each is a child process killed with SIGKILL; how long until
   the server takes the next client (the ping timeout, `--ping-timeout`).
4. Server RSS, open descriptors, threads, open peer connections and asyncio tasks (from its
   /metrics) after a warm-up and after all of the above, once the ping timeout has passed.
5. A data-channel flood (10,000 messages a second, valid and invalid, for `flood-seconds`):
   what the rate limit let through, the server's CPU, and how late frames left (p99) against
   the same client's calm seconds before.
6. A `minutes`-long stream at `fps`: frames lost and duplicated (by the counter in the pixels),
   and per minute the arrival-interval jitter p99 at the client, the server's frame delay p99
   and its RSS.

Bounded in time and count; loopback only. The load average is printed before and after.
`tests/server/test_soak.py` runs a shortened form (100 sessions, 50 vanishing clients, 2 minutes)
and asserts no failure, no leak, RSS growth under 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
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
SERVER_TESTS = ROOT / "tests" / "server"
sys.path.insert(0, str(SERVER_TESTS))

import aiohttp  # noqa: E402
from reactor._metrics import read_samples  # noqa: E402
from rtc_client import Client  # noqa: E402

API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}

MODEL = '''
import time

import pixelcode
from reactor import InputField, InputState, ReactorPipeline


class Level(InputState):
    level: int = InputField(default=0, ge=0, le=255, description="Drawn into every frame")


class Steady(ReactorPipeline):
    """One frame per step, each step taking 1/fps s (the model's own compute time)."""

    state: Level

    def load(self, config: dict) -> None:
        self.step = 1.0 / float(config.get("fps", 30))

    def inference(self):
        index = 0
        deadline = time.monotonic()
        while True:
            deadline += self.step
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                deadline = time.monotonic()
            yield pixelcode.picture(256, 64, index % 65536, self.state.level)
            index += 1
'''


# -------------------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`reactor run` of the Steady model in its own process."""

    def __init__(self, folder: Path, fps: float, ping_timeout: float) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(SERVER_TESTS / "pixelcode.py", folder / "pixelcode.py")
        (folder / "soak_model.py").write_text(MODEL)
        (folder / "reactor.yaml").write_text(
            f"model: soak_model:Steady\nname: soak\nconfig: {{fps: {fps}}}\n"
        )
        self.folder = folder
        self.fps = fps
        self.ping_timeout = ping_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        code = "import sys; from reactor.cli import main; main(sys.argv[1:])"
        self.log = (self.folder / "server.log").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, "run", "--manifest", str(self.folder / "reactor.yaml"),
            "--port", str(self.port), "--ice-host", "127.0.0.1", "--fps", str(self.fps),
            "--ping-timeout", str(self.ping_timeout),
            stdout=asyncio.subprocess.PIPE, stderr=self.log,
        )  # fmt: skip
        assert self.proc.stdout is not None
        await asyncio.wait_for(self.proc.stdout.readline(), 60)

    async def stop(self) -> tuple[int | None, float]:
        """SIGTERM; the exit status and seconds to exit."""
        if self.proc is None or self.proc.returncode is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            code = await self.proc.wait()
        self.log.close()
        return code, time.monotonic() - sent


async def metrics(http: aiohttp.ClientSession, server: Server) -> dict:
    async with http.get(f"{server.url}/metrics") as response:
        return read_samples(await response.text())


def total(samples: dict, name: str, **labels: str) -> float:
    want = tuple(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if all(p in k for p in want))


async def health(http: aiohttp.ClientSession, server: Server) -> dict:
    async with http.get(f"{server.url}/health") as response:
        return await response.json()


async def wait_ready(http: aiohttp.ClientSession, server: Server, timeout: float) -> float | None:
    """Seconds until /health says ready (None if it did not within `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if (await health(http, server))["status"] == "ready":
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def resources(http: aiohttp.ClientSession, server: Server) -> dict[str, float]:
    """What a leak would grow: the server's memory, descriptors, threads, open peers, tasks
    (sampled once the server is idle). `threads` leaves out the worker pool, which grows on
    demand up to its fixed size (`worker_threads`, reported on its own)."""
    samples = await metrics(http, server)
    return {
        "rss_mb": round(total(samples, "process_resident_memory_bytes") / 1e6, 1),
        "open_fds": total(samples, "process_open_fds"),
        "threads": total(samples, "process_threads") - total(samples, "reactor_worker_threads"),
        "worker_threads": total(samples, "reactor_worker_threads"),
        "peer_connections": total(samples, "reactor_peer_connections"),
        "asyncio_tasks": total(samples, "reactor_asyncio_tasks"),
    }


async def idle_resources(http: aiohttp.ClientSession, server: Server) -> dict[str, float]:
    """Resources once every session has gone (the ping timeout included) and the server has
    had a moment to close what they left: the median of three samples."""
    await wait_ready(http, server, server.ping_timeout + 15)
    await asyncio.sleep(server.ping_timeout + 1.0)
    samples = []
    for _ in range(3):
        samples.append(await resources(http, server))
        await asyncio.sleep(0.5)
    return {key: statistics.median(s[key] for s in samples) for key in samples[0]}


# -------------------------------------------------------------------------------------------------
# Figures


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def histogram_p99(a: dict, b: dict, name: str) -> float | None:
    """The p99 of a Prometheus histogram between two scrapes, to its bucket's upper bound."""
    buckets = {}
    for labels, value in b.get(f"{name}_bucket", {}).items():
        bound = dict(labels)["le"]
        buckets[bound] = value - a.get(f"{name}_bucket", {}).get(labels, 0.0)
    count = buckets.get("+Inf", 0.0)
    if not count:
        return None
    for bound, cumulative in sorted(
        ((float(k), v) for k, v in buckets.items() if k != "+Inf"), key=lambda x: x[0]
    ):
        if cumulative >= 0.99 * count:
            return bound
    return float("inf")


# -------------------------------------------------------------------------------------------------
# 1. Sessions in a row


async def full_session(http: aiohttp.ClientSession, server: Server, level: int) -> float:
    """start → SDP → first frame → set_level (until a frame shows it) → stop; time to first
    frame."""
    client = Client(server.url, http)
    started = time.monotonic()
    try:
        await client.start()
        await client.connect()
        client.send("runtime", "ping", {})
        await client.wait_frames(1)
        first = time.monotonic() - started
        client.send("application", "set_level", {"level": level})
        deadline = time.monotonic() + 10
        while not any(f.value == level for f in client.frames.get("main_video", [])):
            if time.monotonic() > deadline:
                raise AssertionError(f"no frame showed level {level} within 10 s")
            await client.wait_frames(len(client.frames["main_video"]) + 1)
        status, body = await stop(http, server, client.session_id)
        if status != 200 or body.get("stopped") is False:
            raise AssertionError(f"stop_session answered {status} {body}")
        return first
    finally:
        await client.close(stop=False)


async def stop(http: aiohttp.ClientSession, server: Server, session_id: str) -> tuple[int, dict]:
    body = json.dumps({"session_id": session_id})
    async with http.post(f"{server.url}/stop_session", data=body) as response:
        return response.status, await response.json()


async def sessions_in_a_row(http: aiohttp.ClientSession, server: Server, count: int) -> dict:
    firsts: list[float] = []
    failures: list[str] = []
    started = time.monotonic()
    for i in range(count):
        try:
            firsts.append(await asyncio.wait_for(full_session(http, server, 1 + i % 250), 30))
        except Exception as exc:
            failures.append(f"session {i}: {type(exc).__name__}: {exc}"[:300])
            await wait_ready(http, server, server.ping_timeout + 15)
    head, tail = firsts[:100], firsts[-100:]
    return {
        "sessions": count,
        "failures": len(failures),
        "failure_reasons": failures[:10],
        "seconds": round(time.monotonic() - started, 1),
        "first_frame_ms_first_100": {
            "p50": ms(percentile(head, 50)),
            "p99": ms(percentile(head, 99)),
        },
        "first_frame_ms_last_100": {
            "p50": ms(percentile(tail, 50)),
            "p99": ms(percentile(tail, 99)),
        },
    }


# -------------------------------------------------------------------------------------------------
# 2. Concurrency


async def start(http: aiohttp.ClientSession, server: Server) -> tuple[int, dict]:
    async with http.post(f"{server.url}/start_session", json={}, headers=API) as response:
        return response.status, await response.json()


async def simultaneous_starts(http: aiohttp.ClientSession, server: Server, rounds: int = 3) -> dict:
    out = []
    for _ in range(rounds):
        answers = await asyncio.gather(*(start(http, server) for _ in range(20)))
        won = [body for status, body in answers if status == 200]
        refused = [body for status, body in answers if status == 409]
        out.append(
            {
                "won": len(won),
                "refused_409": len(refused),
                "refused_with_reason": sum(1 for b in refused if b.get("message")),
                "other": sorted(status for status, _ in answers if status not in (200, 409)),
            }
        )
        for body in won:
            await stop(http, server, body["session_id"])
    return {"rounds": out}


async def start_stop_race(http: aiohttp.ClientSession, server: Server, turns: int = 50) -> dict:
    """Two clients start and stop as fast as they can; each stop names its own session."""
    figures = {"started": 0, "refused_409": 0, "stopped": 0, "stolen": 0, "other": []}

    async def racer() -> None:
        for _ in range(turns):
            status, body = await start(http, server)
            if status == 409:
                figures["refused_409"] += 1
                continue
            if status != 200:
                figures["other"].append(status)
                continue
            figures["started"] += 1
            await asyncio.sleep(random.random() * 0.01)
            status, answer = await stop(http, server, body["session_id"])
            if status != 200:
                figures["other"].append(status)
            elif answer.get("stopped") is False:
                figures["stolen"] += 1  # someone else ended it: must never happen
            else:
                figures["stopped"] += 1

    await asyncio.gather(racer(), racer())
    figures["ready_after"] = (await health(http, server))["status"]
    return figures


# -------------------------------------------------------------------------------------------------
# 3. Clients that vanish


class VanishingClients:
    """tests/server/vanishing_client.py as a fork server: a client per request, each reporting
    `<pid> <session id>` when it reaches its point, killed by pid."""

    async def __aenter__(self) -> VanishingClients:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(SERVER_TESTS / "vanishing_client.py"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def reach(self, url: str, point: str, frames: int) -> tuple[int | None, str]:
        """(pid, session id or "error: ...") once the client is at `point` (30 s at most)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"url": url, "point": point, "frames": frames}
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        await self.proc.stdin.drain()
        try:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 45)).decode()
        except TimeoutError:
            return None, "error: no answer from the client within 45 s"
        pid, _, said = line.strip().partition(" ")
        return int(pid), said


async def vanishing_clients(
    http: aiohttp.ClientSession, server: Server, count: int, rng: random.Random
) -> dict:
    points = ("before_answer", "after_ice", "mid_stream")
    freed: dict[str, list[float]] = {point: [] for point in points}
    failures: list[str] = []
    async with VanishingClients() as clients:
        for i in range(count):
            point = points[i % len(points)]
            pid, said = await clients.reach(server.url, point, rng.randrange(2, 30))
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            if pid is None or said.startswith("error"):
                failures.append(f"client {i} ({point}): {said}"[:300])
                await wait_ready(http, server, server.ping_timeout + 15)
                continue
            took = await wait_ready(http, server, server.ping_timeout + 15)
            if took is None:
                failures.append(f"client {i} ({point}): its session was not freed")
                continue
            freed[point].append(time.monotonic() - killed)
    every = [x for values in freed.values() for x in values]
    return {
        "clients": count,
        "failures": len(failures),
        "failure_reasons": failures[:10],
        "ping_timeout_s": server.ping_timeout,
        "freed_after_s": {
            point: {
                "count": len(values),
                "p50": round(percentile(values, 50), 2) if values else None,
                "max": round(max(values), 2) if values else None,
            }
            for point, values in freed.items()
        },
        "freed_within_ping_timeout_plus_1s": sum(1 for x in every if x <= server.ping_timeout + 1),
    }


# -------------------------------------------------------------------------------------------------
# 5. Flood


async def pinging(client: Client, server: Server, seconds: float) -> None:
    """Wait `seconds`, pinging as a client does (often enough for the ping timeout)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        client.send("runtime", "ping", {})
        await asyncio.sleep(min(left, server.ping_timeout / 4, 5.0))


async def flood(
    http: aiohttp.ClientSession, server: Server, seconds: float, calm: float = 5.0
) -> dict:
    client = Client(server.url, http)
    await client.start()
    await client.connect()
    await client.wait_frames(5)
    messages = [
        json.dumps({"scope": "application", "data": {"type": "set_level", "data": {"level": i}}})
        for i in range(50)
    ] + ["{not json", json.dumps({"scope": "nowhere"})]
    a = await metrics(http, server)
    await pinging(client, server, calm)
    b = await metrics(http, server)
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        if sent > elapsed * 10_000:
            await asyncio.sleep(0.005)
            continue
        for _ in range(50):
            client.channel.send(messages[sent % len(messages)])
            sent += 1
    c = await metrics(http, server)
    window = time.monotonic() - started
    await client.close()

    def figures(x: dict, y: dict, span: float) -> dict:
        frames = total(y, "reactor_frames_sent_total") - total(x, "reactor_frames_sent_total")
        return {
            "frames": frames,
            "frames_per_s": round(frames / span, 1),
            "frames_late": total(y, "reactor_frames_late_total")
            - total(x, "reactor_frames_late_total"),
            "frame_delay_p99_ms_at_most": ms(histogram_p99(x, y, "reactor_frame_delay_seconds")),
            "server_cpu_share": round(
                (total(y, "process_cpu_seconds_total") - total(x, "process_cpu_seconds_total"))
                / span,
                3,
            ),
        }

    passed = (
        total(c, "reactor_commands_total")
        + total(c, "reactor_commands_refused_total")
        - total(c, "reactor_commands_refused_total", reason="rate_limited")
        - total(b, "reactor_commands_total")
        - total(b, "reactor_commands_refused_total")
        + total(b, "reactor_commands_refused_total", reason="rate_limited")
    )
    return {
        "offered_messages": sent,
        "seconds": round(window, 1),
        "messages_past_the_rate_limit": passed,
        "refused_rate_limited": total(c, "reactor_commands_refused_total", reason="rate_limited")
        - total(b, "reactor_commands_refused_total", reason="rate_limited"),
        "packets_dropped_unread": total(c, "reactor_data_packets_dropped_total")
        - total(b, "reactor_data_packets_dropped_total"),
        "refused_bursts": total(c, "reactor_refused_bursts_total")
        - total(b, "reactor_refused_bursts_total"),
        "calm": figures(a, b, calm),
        "flood": figures(b, c, window),
    }


# -------------------------------------------------------------------------------------------------
# 6. A long stream


async def long_stream(http: aiohttp.ClientSession, server: Server, minutes: float) -> dict:
    client = Client(server.url, http)
    await client.start()
    await client.connect()
    await client.wait_frames(2)
    per_minute = []
    started = time.monotonic()
    last = await metrics(http, server)
    seen = 0
    minute = 0
    try:
        while time.monotonic() - started < minutes * 60:
            end = min(started + (minute + 1) * 60, started + minutes * 60)
            await pinging(client, server, end - time.monotonic())
            now = await metrics(http, server)
            frames = client.frames["main_video"][seen:]
            seen += len(frames)
            intervals = [b.at - a.at for a, b in itertools.pairwise(frames)]
            jitter = [abs(x - 1 / server.fps) for x in intervals]
            per_minute.append(
                {
                    "minute": minute + 1,
                    "frames": len(frames),
                    "arrival_jitter_p99_ms": ms(percentile(jitter, 99)),
                    "server_frame_delay_p99_ms_at_most": ms(
                        histogram_p99(last, now, "reactor_frame_delay_seconds")
                    ),
                    "server_frames_late": total(now, "reactor_frames_late_total")
                    - total(last, "reactor_frames_late_total"),
                    "server_rss_mb": round(total(now, "process_resident_memory_bytes") / 1e6, 1),
                }
            )
            last = now
            minute += 1
    finally:
        received = list(client.frames.get("main_video", []))
        await client.close()
    counters = [f.counter for f in received]
    lost = duplicated = 0
    for a, b in itertools.pairwise(counters):
        step = (b - a) % 65536
        if step == 0:
            duplicated += 1
        elif step > 1:
            lost += step - 1
    return {
        "minutes": minutes,
        "fps": server.fps,
        "frames_received": len(counters),
        "frames_lost": lost,
        "frames_duplicated": duplicated,
        "per_minute": per_minute,
    }


# -------------------------------------------------------------------------------------------------


async def soak(
    *,
    sessions: int = 1000,
    vanishing: int = 200,
    minutes: float = 30.0,
    ping_timeout: float = 2.0,
    fps: float = 30.0,
    flood_seconds: float = 10.0,
    warmup: int = 30,
    seed: int = 15,
    parallel_stream: bool = False,
    folder: Path | None = None,
) -> dict:
    """Every phase against one `reactor run`; the figures as a dict.

    `parallel_stream` runs the stream on a second `reactor run` while the other phases run
    (the test suite's shortened form does, to stay short); the full benchmark streams last, on
    its own, so its figures are the stream's alone."""
    rng = random.Random(seed)
    random.seed(seed)
    with tempfile.TemporaryDirectory(prefix="reactor-soak-") as scratch:
        root = folder or Path(scratch)
        server = Server(root / "sessions", fps, ping_timeout)
        streamer = Server(root / "stream", fps, ping_timeout) if parallel_stream else server
        await server.start()
        if streamer is not server:
            await streamer.start()
        out: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_before": [round(x, 2) for x in os.getloadavg()],
            },
            "settings": {
                "sessions": sessions,
                "vanishing": vanishing,
                "minutes": minutes,
                "ping_timeout": ping_timeout,
                "fps": fps,
                "flood_seconds": flood_seconds,
                "warmup": warmup,
                "parallel_stream": parallel_stream,
            },
        }
        phases: dict[str, float] = {}
        out["seconds"] = phases

        async def timed(name: str, work: Any) -> Any:
            began = time.monotonic()
            try:
                return await work
            finally:
                phases[name] = round(time.monotonic() - began, 1)

        stream_task: asyncio.Task[dict] | None = None
        try:
            # No keep-alive: an idle connection held by this client is not the server's leak.
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), connector=connector
            ) as http:
                await timed("ready", wait_ready(http, server, 60))
                if streamer is not server and minutes > 0:
                    await wait_ready(http, streamer, 60)
                    await sessions_in_a_row(http, streamer, 3)
                    stream_before = await idle_resources(http, streamer)
                    stream_task = asyncio.ensure_future(
                        timed("stream", long_stream(http, streamer, minutes))
                    )
                await timed("warmup", sessions_in_a_row(http, server, warmup))
                before = await timed("idle_before", idle_resources(http, server))
                out["sessions"] = await timed("sessions", sessions_in_a_row(http, server, sessions))
                out["concurrency"] = {
                    "simultaneous_starts": await timed(
                        "simultaneous_starts", simultaneous_starts(http, server)
                    ),
                    "start_stop_race": await timed("race", start_stop_race(http, server)),
                }
                out["vanishing"] = await timed(
                    "vanishing", vanishing_clients(http, server, vanishing, rng)
                )
                after = await timed("idle_after", idle_resources(http, server))
                out["resources"] = {
                    "before": before,
                    "after": after,
                    "rss_growth_percent": round(100 * (after["rss_mb"] / before["rss_mb"] - 1), 2),
                }
                if flood_seconds > 0:
                    out["flood"] = await timed("flood", flood(http, server, flood_seconds))
                if stream_task is not None:
                    out["stream"] = await stream_task
                    stream_task = None
                    stream_after = await idle_resources(http, streamer)
                    out["stream_resources"] = {
                        "before": stream_before,
                        "after": stream_after,
                        "rss_growth_percent": round(
                            100 * (stream_after["rss_mb"] / stream_before["rss_mb"] - 1), 2
                        ),
                    }
                elif minutes > 0:
                    out["stream"] = await timed("stream", long_stream(http, server, minutes))
                    stream_after = await idle_resources(http, server)
                    out["stream_resources"] = {
                        "before": after,
                        "after": stream_after,
                        "rss_growth_percent": round(
                            100 * (stream_after["rss_mb"] / after["rss_mb"] - 1), 2
                        ),
                    }
        finally:
            if stream_task is not None:
                stream_task.cancel()
            code, took = await server.stop()
            out["server_exit"] = {"status": code, "seconds_after_sigterm": round(took, 2)}
            if streamer is not server:
                code, took = await streamer.stop()
                out["stream_server_exit"] = {
                    "status": code,
                    "seconds_after_sigterm": round(took, 2),
                }
        out["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--vanishing", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--ping-timeout", type=float, default=2.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--parallel-stream",
        action="store_true",
        help="stream on a second server while the other phases run (shorter, noisier)",
    )
    args = parser.parse_args()
    figures = asyncio.run(
        soak(
            sessions=args.sessions,
            vanishing=args.vanishing,
            minutes=args.minutes,
            ping_timeout=args.ping_timeout,
            fps=args.fps,
            flood_seconds=args.flood_seconds,
            warmup=args.warmup,
            seed=args.seed,
            parallel_stream=args.parallel_stream,
        )
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
