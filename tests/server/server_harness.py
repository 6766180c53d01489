"""Serving a model on a free loopback port for the server tests (always shut down after)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from reactor._options import ServeOptions
from reactor._server import ReactorServer, run_server
from rtc_client import Client


@dataclass
class Running:
    server: ReactorServer
    runner: Any
    url: str
    http: aiohttp.ClientSession

    def client(self) -> Client:
        return Client(self.url.rstrip("/"), self.http)


@contextlib.asynccontextmanager
async def serving(runner: Any, **options: Any) -> AsyncIterator[Running]:
    """Serve `runner` on a free loopback port; always shuts down."""
    opts = ServeOptions(port=0, ice_hosts=("127.0.0.1",), **options)
    server = ReactorServer(runner, opts, model_name="fake")
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(run_server(server, stop=stop, ready=ready.set_result))
    url = await asyncio.wait_for(ready, 10)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        try:
            yield Running(server, runner, url, http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
