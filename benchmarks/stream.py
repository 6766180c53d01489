"""Streaming figures measured at the client, printed as JSON.

    python benchmarks/stream.py [--seconds 10] [--rates 10,30,80] [--batch-rate 10] [--codec vp8]

For each model (one frame per step at 10, 30 and 80 frames/s, and batches of 4 frames ten times
a second) the server runs in its own process (`reactor run`'s server on 127.0.0.1, a model that
takes one step's time per yield and draws its frame counter and `level` state value into the
pixels), and an aiortc client in this process connects over loopback and decodes every frame.
It reports: time to first frame after `start_session` (the model already loaded); frames
delivered per second; frames missing (counter gaps) and duplicated (a counter seen twice); the
model's own rate (frames made per second: lower than asked means it was held back); the time
from sending `set_level` to the first frame showing the new value (p50/p99, against the target
of one model step plus two frame intervals); model yield to client decode (p50/p99, both on
this machine's monotonic clock); and inter-arrival jitter (p99 deviation from the interval).
To tell where jitter comes from, the server also times each frame: its release by the runner
against its due time, and the end of its encoding (aiortc encodes in a thread) against the
previous frame's ("server" in each scenario). The load average is printed before and after.
The client and pixel code are the server tests' own (tests/server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))

import numpy as np  # noqa: E402
import pixelcode  # noqa: E402
from reactor import InputField, InputState, ReactorPipeline, disconnected  # noqa: E402

SIZE = 256

SERVER_TRACE: dict[str, list] = {"released": [], "encoded": []}
"""In the server process: (pts, monotonic time released, due time) per frame handed to a track,
and (pts, monotonic time its encoding finished) per encoded video frame."""


class Level(InputState):
    level: int = InputField(default=0, ge=0, le=255, description="Drawn into every frame")


def model_class(rate: float, batch: int, log_path: str, declare_fps: bool) -> type:
    """A model making `rate` frames per second, `batch` per step, that logs when each frame
    was yielded (written to `log_path` when the client leaves)."""
    step = batch / rate

    class Bench(ReactorPipeline):
        state: Level
        fps = rate if declare_fps else None

        def __init__(self) -> None:
            super().__init__()
            self.yields: list[tuple[int, float]] = []

        def inference(self):  # type: ignore[no-untyped-def]
            index = 0
            deadline = time.monotonic()
            while True:
                deadline += step
                delay = deadline - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # the model's own compute time
                else:
                    deadline = time.monotonic()
                level = self.state.level
                frames = [pixelcode.picture(SIZE, SIZE, index + i, level) for i in range(batch)]
                now = time.monotonic()
                self.yields.extend((index + i, now) for i in range(batch))
                yield np.stack(frames) if batch > 1 else frames[0]
                index += batch

        @disconnected
        def save(self) -> None:
            Path(log_path).write_text(json.dumps({"yields": self.yields, "server": SERVER_TRACE}))

    return Bench


def browser_like_receiver() -> None:
    """Make this process's aiortc video receivers release a frame when its last packet (RTP
    marker bit) arrives, as browsers do, instead of when the next frame starts arriving, which
    would add one frame interval to every figure. Only the measuring client uses it."""
    from aiortc import jitterbuffer, rtcrtpreceiver

    class MarkerJitterBuffer(jitterbuffer.JitterBuffer):
        def _remove_frame(self, sequence_number: int) -> jitterbuffer.JitterFrame | None:
            packets = []
            timestamp = None
            for count in range(self.capacity):
                packet = self._packets[(self._origin + count) % self.capacity]
                if packet is None or (timestamp is not None and packet.timestamp != timestamp):
                    break
                timestamp = packet.timestamp
                packets.append(packet)
                if packet.marker:
                    self.remove(count + 1)
                    data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
                    return jitterbuffer.JitterFrame(data=data, timestamp=timestamp)
            return super()._remove_frame(sequence_number)

    def make(capacity: int, prefetch: int = 0, is_video: bool = False) -> jitterbuffer.JitterBuffer:
        cls = MarkerJitterBuffer if is_video else jitterbuffer.JitterBuffer
        return cls(capacity, prefetch=prefetch, is_video=is_video)

    rtcrtpreceiver.JitterBuffer = make  # type: ignore[assignment]


def trace_server() -> None:
    """Time, in this (server) process, each frame's release to its track and the end of its
    encoding, into SERVER_TRACE; matched by pts (the encoder keeps the pacer's 90 kHz pts)."""
    from aiortc.rtcrtpsender import RTCRtpSender
    from reactor._transport import FrameTrack

    put = FrameTrack.put
    next_encoded = RTCRtpSender._next_encoded_frame

    async def timed_put(self: FrameTrack, frame: Any) -> None:
        if self.kind == "video":
            SERVER_TRACE["released"].append((frame.pts, time.monotonic(), frame.due))
        await put(self, frame)

    async def timed_next_encoded(self: RTCRtpSender, codec: Any) -> Any:
        encoded = await next_encoded(self, codec)
        if encoded is not None and self.kind == "video":
            SERVER_TRACE["encoded"].append((encoded.timestamp, time.monotonic()))
        return encoded

    FrameTrack.put = timed_put  # type: ignore[method-assign]
    RTCRtpSender._next_encoded_frame = timed_next_encoded  # type: ignore[method-assign]


def server_figures(trace: dict[str, list], interval: float) -> dict[str, Any]:
    """Release lateness, release-to-encoded time and encoded-frame jitter, after a warm-up."""
    released = trace.get("released", [])
    encoded = trace.get("encoded", [])
    # The track never drops a frame, so the n-th encoded frame is the n-th released one (the
    # encoder's 90 kHz timestamp can differ from the pacer's pts by a rounding tick).
    pairs = [
        (at, due, end)
        for (pts, at, due), (stamp, end) in zip(released, encoded, strict=False)
        if abs(stamp - pts) <= 2
    ][30:]
    late = [at - due for at, due, _ in pairs]
    encode = [end - at for at, _, end in pairs]
    release_gaps = [abs(b[0] - a[0] - interval) for a, b in itertools.pairwise(pairs)]
    encoded_gaps = [abs(b[2] - a[2] - interval) for a, b in itertools.pairwise(pairs)]
    return {
        "frames": len(pairs),
        "release_late_ms": {"p50": ms(percentile(late, 50)), "p99": ms(percentile(late, 99))},
        "release_jitter_p99_ms": ms(percentile(release_gaps, 99)),
        "release_to_encoded_ms": {
            "p50": ms(percentile(encode, 50)),
            "p99": ms(percentile(encode, 99)),
        },
        "encoded_jitter_p99_ms": ms(percentile(encoded_gaps, 99)),
    }


def serve_main(args: argparse.Namespace) -> None:
    """The server process: one model, served until SIGTERM."""
    from reactor._options import ServeOptions
    from reactor._runner import Runner
    from reactor._server import ReactorServer, run_server

    trace_server()
    cls = model_class(args.rate, args.batch, args.log, not args.adaptive)
    options = ServeOptions(port=args.port, codec=args.codec, ice_hosts=("127.0.0.1",))
    server = ReactorServer(Runner(cls()), options, model_name="bench")
    asyncio.run(run_server(server, ready=lambda url: print(url, flush=True)))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


async def scenario(name: str, rate: float, batch: int, args: argparse.Namespace) -> dict:
    import aiohttp
    from rtc_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = Path(tempfile.mkdtemp(prefix="reactor-bench-")) / "yields.json"
    command = [
        sys.executable, __file__, "--serve", "--rate", str(rate), "--batch", str(batch),
        "--port", str(port), "--log", str(log), "--codec", args.codec,
    ]  # fmt: skip
    if args.adaptive:
        command.append("--adaptive")
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        async with aiohttp.ClientSession() as http:
            client = Client(url.rstrip("/"), http)
            await client.start()
            await client.connect()
            await client.wait_frames(1, "main_video", timeout=30)
            first_frame = client.frames["main_video"][0].at - client.started_at
            # Warm up, then measure for `seconds`, changing `level` now and then.
            await asyncio.sleep(1.0)
            frames = client.frames["main_video"]
            start_index = len(frames)
            started = time.monotonic()
            updates: list[tuple[int, float]] = []
            value = 0
            while time.monotonic() - started < args.seconds:
                value = value % 250 + 1
                updates.append((value, client.send("application", "set_level", {"level": value})))
                await asyncio.sleep(args.update_every)
            await asyncio.sleep(1.0)  # let the last update show
            window = frames[start_index:]
            elapsed = window[-1].at - window[0].at if len(window) > 1 else 0.0
            await client.close()
        for _ in range(100):
            if log.exists():
                break
            await asyncio.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)

    counters = [f.counter for f in window]
    seen = set(counters)
    duplicated = len(counters) - len(seen)
    missing = (max(counters) - min(counters) + 1) - len(seen) if counters else 0
    logged = json.loads(log.read_text()) if log.exists() else {}
    made = [i for i, _ in logged.get("yields", [])]
    yields = dict(logged.get("yields", []))
    in_window = [i for i in made if min(counters) <= i <= max(counters)] if counters else []

    latencies = []
    for level, sent in updates:
        shown = next((f.at for f in frames if f.at >= sent and f.value == level), None)
        if shown is not None:
            latencies.append(shown - sent)
    yield_to_decode = [f.at - yields[f.counter] for f in window if f.counter in yields]
    interval = 1.0 / rate
    gaps = [b.at - a.at for a, b in itertools.pairwise(window)]
    jitter = [abs(g - interval) for g in gaps]
    step = batch / rate
    target = step + 2 * interval
    p99 = percentile(latencies, 99)
    return {
        "name": name,
        "model_fps": rate,
        "frames_per_step": batch,
        "time_to_first_frame_ms": ms(first_frame),
        "seconds_measured": round(elapsed, 2),
        "delivered_fps": round((len(window) - 1) / elapsed, 2) if elapsed else None,
        "model_made_fps": round(len(in_window) / elapsed, 2) if elapsed else None,
        "frames_received": len(window),
        "frames_made_in_window": len(in_window),
        "missing": missing,
        "duplicated": duplicated,
        "update_latency_ms": {
            "p50": ms(percentile(latencies, 50)),
            "p99": ms(p99),
            "n": len(latencies),
            "sent": len(updates),
            "target_p99": ms(target),
            "meets_target": p99 is not None and p99 <= target,
        },
        "yield_to_decode_ms": {
            "p50": ms(percentile(yield_to_decode, 50)),
            "p99": ms(percentile(yield_to_decode, 99)),
        },
        "jitter_p99_ms": ms(percentile(jitter, 99)),
        "server": server_figures(logged.get("server", {}), interval),
    }


async def main_async(args: argparse.Namespace) -> dict:
    import aiortc

    if not args.stock_receiver:
        browser_like_receiver()
    scenarios = [(f"{r:g} fps", r, 1) for r in args.rates]
    if args.batch_rate:
        scenarios.append((f"batches of 4, {args.batch_rate:g} per s", 4 * args.batch_rate, 4))
    load_before = [round(x, 2) for x in os.getloadavg()]
    results = [await scenario(name, rate, batch, args) for name, rate, batch in scenarios]
    return {
        "benchmark": "stream",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "aiortc": aiortc.__version__,
            "platform": platform.platform(),
        },
        "settings": {
            "frame": f"{SIZE}x{SIZE}",
            "codec": args.codec,
            "seconds": args.seconds,
            "update_every_s": args.update_every,
            "model_declares_fps": not args.adaptive,
            "client_receiver": "aiortc, stock"
            if args.stock_receiver
            else "aiortc, frames released on the RTP marker bit (as browsers do)",
            "transport": "loopback, server in its own process, aiortc client",
        },
        "scenarios": results,
        "notes": [
            "Times are taken when the aiortc client has decoded a frame. A stock aiortc receiver "
            "releases a video frame only when the next frame's first packet arrives, adding one "
            "frame interval that browsers do not; unless --stock-receiver is given, the client "
            "releases frames on the RTP marker bit instead.",
            "State updates apply between two steps of the model (the step in progress finishes "
            "with the old state), so an update waits for up to one step, then one step.",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per model")
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[10, 30, 80]
    )
    parser.add_argument(
        "--batch-rate", type=float, default=10.0, help="batches of 4 per second (0: skip)"
    )
    parser.add_argument("--codec", choices=["vp8", "h264"], default="vp8")
    parser.add_argument(
        "--update-every", type=float, default=0.37, help="seconds between set_level"
    )
    parser.add_argument("--adaptive", action="store_true", help="models declare no fps")
    parser.add_argument(
        "--stock-receiver", action="store_true", help="measure with aiortc's own jitter buffer"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_main(args)
        return
    result = asyncio.run(main_async(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
