"""`reactor run` as a person starts it: prints the URL, serves a client, and shuts down within
2 s of SIGINT or SIGTERM with the peer closed."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from rtc_client import Client

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project(tmp_path: Path) -> Path:
    for name in ("server_models.py", "pixelcode.py"):
        shutil.copy(HERE / name, tmp_path / name)
    (tmp_path / "reactor.yaml").write_text("model: server_models:Counter\nname: counter\n")
    return tmp_path / "reactor.yaml"


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    code = "import sys; from reactor.cli import main; main(sys.argv[1:])"
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        "run",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_run_serves_and_stops_within_2_s_of_a_signal(tmp_path: Path, signum: int) -> None:
    manifest = project(tmp_path)
    port = free_port()
    proc = await start_cli(
        "--manifest", str(manifest), "--port", str(port), "--ice-host", "127.0.0.1"
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.search(r"Serving counter at (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        assert match.group(1) == f"http://127.0.0.1:{port}/"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            client = Client(match.group(1).rstrip("/"), http)
            async with http.get(f"{match.group(1)}schema") as response:
                served = await response.json()
            printed = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; from reactor.cli import main; main(sys.argv[1:])",
                "schema", "--manifest", str(manifest), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(printed.communicate(), 30)
            assert served == json.loads(out)  # GET /schema is what `reactor schema` prints
            assert served["info"]["title"] == "counter"
            await client.start()
            await client.connect()
            await client.wait_frames(5)
            closed = asyncio.Event()
            client.pc.on(
                "connectionstatechange",
                lambda: closed.set() if client.pc.connectionState in ("closed", "failed") else None,
            )
            sent = time.monotonic()
            proc.send_signal(signum)
            code = await asyncio.wait_for(proc.wait(), 10)
            elapsed = time.monotonic() - sent
            assert code == 0, (await proc.stderr.read()).decode()
            assert elapsed < 2.0, elapsed
            # The server closed the peer: the client hears of it (DTLS close) soon after.
            await asyncio.wait_for(closed.wait(), 10)
            await client.close(stop=False)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_run_stops_within_2_s_even_in_the_middle_of_a_long_model_step(
    tmp_path: Path,
) -> None:
    (tmp_path / "slow.py").write_text(
        "import time\n"
        "import numpy as np\n"
        "from reactor import ReactorPipeline\n\n\n"
        "class Slow(ReactorPipeline):\n"
        "    def inference(self):\n"
        "        while True:\n"
        "            yield np.zeros((256, 256, 3), np.uint8)\n"
        "            time.sleep(6)  # a long step, e.g. a big model on a slow device\n"
    )
    (tmp_path / "reactor.yaml").write_text("model: slow:Slow\nname: slow\n")
    port = free_port()
    proc = await start_cli(
        "--manifest", str(tmp_path / "reactor.yaml"), "--port", str(port), "--ice-host", "127.0.0.1"
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = re.search(r"(http://\S+)", line).group(1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            client = Client(url.rstrip("/"), http)
            await client.start()
            await client.connect()
            await client.wait_frames(1)  # the model is now inside its 6 s step
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 15)
            elapsed = time.monotonic() - sent
            await client.close(stop=False)
        assert code == 0
        assert elapsed < 2.0, elapsed
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_run_with_a_bad_turn_option_is_one_line_and_status_2(tmp_path: Path) -> None:
    manifest = project(tmp_path)
    proc = await start_cli(
        "--manifest", str(manifest), "--port", str(free_port()), "--turn", "nohost"
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = [x for x in err.decode().splitlines() if x.strip() and not x.startswith("INFO")]
    assert lines == [lines[0]] and lines[0].startswith("error: --turn 'nohost'"), err.decode()
    assert "Traceback" not in err.decode()


async def test_run_on_a_busy_port_is_one_line_and_status_2(tmp_path: Path) -> None:
    manifest = project(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = await start_cli("--manifest", str(manifest), "--port", str(port))
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in err.decode()
    assert "Traceback" not in err.decode()
