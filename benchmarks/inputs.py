"""Inputs from the client, measured at the client, printed as JSON.

    python benchmarks/inputs.py [--seconds 10] [--fps 30] [--steps-ms 0,20] [--uploads-mb 1,20]

The server runs in its own process (`reactor run`'s server on 127.0.0.1) with a model that
reads the newest camera frame (`try_read()`, a sync generator, as a converted pipeline does),
takes `step` ms of compute, and shows the frame. An aiortc client in this process publishes a
camera at `--fps` whose frames carry a counter (tests/server/pixelcode), once the session is
ready (as the JS client's publishTrack does), and decodes what comes back.

It reports, per model step: glass-to-glass latency, from a camera frame handed to the client's
encoder to its echo decoded at the client (p50/p99/max, both ends on this machine's monotonic
clock), split into camera -> model (the model read it) and model -> client; and the input frames
sent that never came back, with where they went (never reached the model, or skipped by the
model's own LATEST read when two arrived within one step). Then uploads of `--uploads-mb` sizes:
the time of the two HTTP calls (POST the slot, PUT the bytes) and until the model's
`@file_uploaded` hook has the file and says so. The target is Reactor's issue 13: p50 <= one
step + 50 ms, p99 <= one step + 80 ms, no input frame lost by the runtime when the model keeps
up. The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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

import pixelcode  # noqa: E402
from reactor import (  # noqa: E402
    MediaInput,
    ModelMessage,
    ReactorPipeline,
    UploadedFile,
    Video,
    disconnected,
    file_uploaded,
)

SIZE = 256


class CameraInput(MediaInput):
    camera: Video


class Got(ModelMessage):
    """The model's @file_uploaded hook has the file."""

    name: str
    size: int


def model_class(step: float, log_path: str) -> type:
    """An echo of the newest camera frame that takes `step` seconds of compute per frame and
    logs, per counter, when it read the frame and when it yielded it."""

    class Echo(ReactorPipeline):
        media: CameraInput

        def __init__(self) -> None:
            super().__init__()
            self.log: list[tuple[int, float, float]] = []

        def inference(self):  # type: ignore[no-untyped-def]
            while True:
                frames = self.media.camera.try_read()
                if frames is None:
                    yield None  # rests until the next camera frame arrives
                    continue
                read_at = time.monotonic()
                counter, _ = pixelcode.read(frames[-1].data)
                if step > 0:
                    time.sleep(step)  # the model's own compute
                self.log.append((counter, read_at, time.monotonic()))
                yield frames[-1].data

        @file_uploaded
        async def got(self, uploaded_file: UploadedFile) -> None:
            await self.send(Got(uploaded_file.name, uploaded_file.size))

        @disconnected
        def save(self) -> None:
            camera = self.media.camera
            Path(log_path).write_text(
                json.dumps(
                    {
                        "read": self.log,
                        "received": camera.total_received,
                        "dropped_by_buffer": camera.dropped,
                    }
                )
            )

    return Echo


def serve_main(args: argparse.Namespace) -> None:
    """The server process: the echo model, served until SIGTERM."""
    from reactor._options import ServeOptions
    from reactor._runner import Runner
    from reactor._server import ReactorServer, run_server

    model = model_class(args.step, args.log)()
    options = ServeOptions(port=args.port, ice_hosts=("127.0.0.1",), max_upload_bytes=64 << 20)
    server = ReactorServer(Runner(model), options, model_name="inputs-bench")
    asyncio.run(run_server(server, ready=lambda url: print(url, flush=True)))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": ms(percentile(values, 50)),
        "p99": ms(percentile(values, 99)),
        "max": ms(max(values)) if values else None,
    }


async def start_server(step: float, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [
        sys.executable, __file__, "--serve", "--step", str(step), "--port", str(port),
        "--log", str(log),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()  # type: ignore[union-attr]
    return proc, url.rstrip("/")


async def stop_server(proc: asyncio.subprocess.Process, log: Path) -> dict[str, Any]:
    for _ in range(100):
        if log.exists():
            break
        await asyncio.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    await asyncio.wait_for(proc.wait(), 10)
    return json.loads(log.read_text()) if log.exists() else {}


async def camera_scenario(step_ms: float, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp
    from input_client import InputClient, StampedCamera

    step = step_ms / 1000
    log = Path(tempfile.mkdtemp(prefix="reactor-inputs-")) / "model.json"
    proc, url = await start_server(step, log)
    try:
        async with aiohttp.ClientSession() as http:
            client = InputClient(url, http)
            await client.start()
            await client.connect(marker_release=not args.stock_receiver)
            camera = StampedCamera(fps=args.fps, size=SIZE, value=100)
            client.publish("camera", camera)  # once ready, as the JS client's publishTrack
            await asyncio.sleep(1.0)  # warm-up: the encoders settle
            first = max(camera.sent, default=0) + 1
            await asyncio.sleep(args.seconds)
            last = max(camera.sent)
            await asyncio.sleep(0.5)  # the last frames come back
            client.publish("camera", None)
            received = list(client.frames["main_video"])
            await client.close()
    finally:
        logged = await stop_server(proc, log)

    back: dict[int, float] = {}
    for frame in received:
        if frame.value == 100 and first <= frame.counter <= last:
            back.setdefault(frame.counter, frame.at)
    sent = {n: at for n, at in camera.sent.items() if first <= n <= last}
    read = {c: (r, y) for c, r, y in logged.get("read", []) if c in sent}
    glass = [back[n] - sent[n] for n in sent if n in back]
    to_model = [read[n][0] - sent[n] for n in sent if n in read]
    to_client = [back[n] - read[n][1] for n in sent if n in back and n in read]
    lost = [n for n in sent if n not in back]
    never_read = [n for n in lost if n not in read]
    p50, p99 = percentile(glass, 50), percentile(glass, 99)
    return {
        "model_step_ms": step_ms,
        "camera_fps": args.fps,
        "input_frames_sent": len(sent),
        "echoed": len(back),
        "echoed_percent": round(100 * len(back) / len(sent), 1) if sent else None,
        "lost": len(lost),
        "lost_never_read_by_model": len(never_read),
        "lost_after_the_model_read_them": len(lost) - len(never_read),
        "dropped_by_input_buffer": logged.get("dropped_by_buffer"),
        "glass_to_glass_ms": spread(glass),
        "camera_to_model_ms": spread(to_model),
        "model_to_client_ms": spread(to_client),
        "target": {
            "p50_ms": step_ms + 50,
            "p99_ms": step_ms + 80,
            "meets": p50 is not None
            and p99 is not None
            and p50 * 1000 <= step_ms + 50
            and p99 * 1000 <= step_ms + 80,
        },
    }


async def upload_scenario(args: argparse.Namespace) -> list[dict[str, Any]]:
    import aiohttp
    from input_client import InputClient

    log = Path(tempfile.mkdtemp(prefix="reactor-inputs-")) / "model.json"
    proc, url = await start_server(0.0, log)
    rows = []
    try:
        async with aiohttp.ClientSession() as http:
            client = InputClient(url, http)
            await client.start()
            await client.connect(marker_release=not args.stock_receiver)
            for mb in args.uploads_mb:
                data = os.urandom(int(mb * 1024 * 1024))
                http_times, model_times = [], []
                for i in range(args.upload_repeats):
                    name = f"file-{mb:g}mb-{i}.bin"
                    started = time.monotonic()
                    _, took = await client.upload(data, name=name, mime_type="image/png")
                    reply = await client.wait_message(
                        lambda m, n=name: (
                            m["data"]["type"] == "got" and m["data"]["data"]["name"] == n
                        ),
                        timeout=60,
                    )
                    at = client.message_times[client.messages.index(reply)]
                    http_times.append(took)
                    model_times.append(at - started)
                rows.append(
                    {
                        "size_mb": mb,
                        "repeats": args.upload_repeats,
                        "post_and_put_ms": spread(http_times),
                        "until_the_model_has_it_ms": spread(model_times),
                    }
                )
            await client.close()
    finally:
        await stop_server(proc, log)
    return rows


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import aiortc

    load_before = [round(x, 2) for x in os.getloadavg()]
    cameras = [await camera_scenario(step, args) for step in args.steps_ms]
    uploads = await upload_scenario(args) if args.uploads_mb else []
    return {
        "benchmark": "inputs",
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
            "codec": "vp8",
            "seconds": args.seconds,
            "client_receiver": "aiortc, stock"
            if args.stock_receiver
            else "aiortc, frames released on the RTP marker bit (as browsers do)",
            "transport": "loopback, server in its own process, aiortc client",
        },
        "camera": cameras,
        "uploads": uploads,
        "notes": [
            "Glass-to-glass runs from a frame handed to the client's encoder to its echo "
            "decoded at the client: two encodes, two decodes, the model's step and the pacer.",
            "The model reads the newest frame (ReadMode.LATEST): a frame that arrives while it "
            "is busy with the last one is skipped by the model, not lost by the runtime; "
            "'lost_never_read_by_model' counts those and frames that never reached it.",
            "Upload times: POST + PUT of random bytes, then the fileUploaded message and the "
            "model's @file_uploaded hook answering with a message.",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per step")
    parser.add_argument("--fps", type=float, default=30.0, help="the client camera's rate")
    parser.add_argument(
        "--steps-ms",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[0.0, 20.0],
        help="model compute per frame, one scenario each",
    )
    parser.add_argument(
        "--uploads-mb",
        type=lambda s: [float(x) for x in s.split(",") if x],
        default=[1.0, 20.0],
        help="upload sizes in MiB ('' skips uploads)",
    )
    parser.add_argument("--upload-repeats", type=int, default=5)
    parser.add_argument(
        "--stock-receiver", action="store_true", help="the client uses aiortc's own jitter buffer"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", type=float, default=0.0, help=argparse.SUPPRESS)
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
