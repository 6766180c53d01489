"""`reactor run` in its own process, as a person starts it, for the tests that need a real
process (signals, exit status, a model thread that never returns)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
MODEL_FILES = ("server_models.py", "pixelcode.py", "fault_models.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def project(folder: Path, model: str, config: dict | None = None) -> Path:
    """A model folder serving `model` ("module:Class" from the files above); its reactor.yaml."""
    for name in MODEL_FILES:
        shutil.copy(HERE / name, folder / name)
    lines = [f"model: {model}", "name: faulty"]
    if config:
        lines.append("config: {" + ", ".join(f"{k}: {v}" for k, v in config.items()) + "}")
    (folder / "reactor.yaml").write_text("\n".join(lines) + "\n")
    return folder / "reactor.yaml"


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    url: str
    banner: str
    stderr: Path

    async def stop(self, signum: int = signal.SIGTERM, timeout: float = 10.0) -> tuple[int, float]:
        """Send `signum`; the exit status and the seconds it took to exit."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        return code, time.monotonic() - sent

    def errors(self) -> list[str]:
        """stderr lines that are not INFO logging."""
        text = self.stderr.read_text(errors="replace")
        return [line for line in text.splitlines() if line and not line.startswith("INFO")]


@contextlib.asynccontextmanager
async def reactor_run(manifest: Path, *args: str) -> AsyncIterator[Served]:
    """`reactor run --manifest M --port P --ice-host 127.0.0.1 ARGS`; killed if still running."""
    port = free_port()
    stderr = manifest.parent / "stderr.log"
    code = "import sys; from reactor.cli import main; main(sys.argv[1:])"
    with stderr.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, "run", "--manifest", str(manifest), "--port", str(port),
            "--ice-host", "127.0.0.1", *args,
            stdout=asyncio.subprocess.PIPE, stderr=sink,
        )  # fmt: skip
    try:
        banner = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", banner)
        assert match, (banner, stderr.read_text())
        yield Served(proc, match.group(1), banner, stderr)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
