"""One model replica of `reactor run --replicas N`: a Ray Serve deployment that loads the model
once and runs the ordinary single-client server (`reactor._server.ReactorServer`) for it.

The server listens on 127.0.0.1 inside the replica's process only; the ingress reaches it by
calling `relay()` through a Serve deployment handle, and `relay()` passes the request on over
that loopback socket. So every protocol rule, the session's life and the aiortc peer are the
server's own code, and media flows straight from this process to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

import aiohttp
from reactor._options import ServeOptions

log = logging.getLogger("reactor.scale")

RELAY_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "origin",
        "reactor-api-version",
        "reactor-api-accept-version",
        "reactor-webrtc-version",
    }
)
"""Request headers the ingress passes on; the rest (hop-by-hop, host) stay behind."""

RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "cache-control",
        "retry-after",
        "vary",
        "access-control-allow-origin",
        "access-control-allow-private-network",
    }
)
"""Response headers passed back to the client (the ingress sets CORS on every answer too)."""

NOT_THIS_PROCESS = 0
"""`relay()`'s status when the caller expected another process of this replica (the one that
held its session, before Ray restarted it): the request was not run."""


class ModelReplica:
    """A Serve deployment class (one replica per deployment): the model plus its server."""

    async def __init__(self, manifest_path: str, options: ServeOptions) -> None:
        from reactor._manifest import ManifestError, ModelLoadError, read_manifest
        from reactor._runner import Runner
        from reactor._server import ReactorServer, run_server
        from reactor._transport import SettingsError

        self.instance = uuid.uuid4().hex
        self.pid = os.getpid()
        self.node = _node_address()
        self.load_error: str | None = None
        self.server: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._closed = False
        self._serving: asyncio.Task[None] | None = None
        self._url = ""
        try:
            manifest = read_manifest(manifest_path)
            model = await asyncio.to_thread(manifest.load_model)
            runner = Runner(model, fps=options.fps, name=manifest.name)
            self.server = ReactorServer(
                runner, replace(options, host="127.0.0.1", port=0), model_name=manifest.name
            )
        except ModelLoadError as exc:
            log.error("loading the model failed", exc_info=exc.__cause__ or exc)
            self.load_error = str(exc)
        except (ManifestError, SettingsError, TypeError) as exc:
            self.load_error = str(exc)
        if self.server is None:
            log.error("replica on %s (pid %d): %s", self.node, self.pid, self.load_error)
            return
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._serving = asyncio.ensure_future(
            run_server(self.server, stop=self._stop, ready=ready.set_result)
        )
        done, _ = await asyncio.wait(
            {ready, self._serving}, timeout=30, return_when="FIRST_COMPLETED"
        )
        if ready not in done:
            problem = self._serving.exception() if self._serving in done else None
            self.load_error = f"the replica's server did not start: {problem or 'timed out'}"
            return
        self._url = ready.result().rstrip("/")
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), auto_decompress=False
        )

    def check_health(self) -> None:
        """Serve's health check: a replica whose server stopped is useless, so Serve replaces
        it. (One whose model failed to load stays, reported by `status`, so it is not reloaded
        in a loop.)"""
        if self._serving is not None and self._serving.done():
            raise RuntimeError("this replica's server stopped")

    async def status(self) -> dict[str, Any]:
        """Who this replica is and which session it carries (see `ReplicaReport`)."""
        server = self.server
        session = server.session if server is not None else None
        return {
            "instance": self.instance,
            "pid": self.pid,
            "node": self.node,
            "session": session.id if session is not None else None,
            "load_error": self.load_error,
            "ended": list(server.ended[-16:]) if server is not None else [],
        }

    async def relay(
        self,
        method: str,
        path_qs: str,
        headers: dict[str, str],
        body: bytes,
        instance: str | None = None,
    ) -> dict[str, Any]:
        """Pass one HTTP request of the protocol to this replica's server; its answer back as
        `{status, headers, body, instance}`. With `instance` (the process a session was started
        on), a different process answers `NOT_THIS_PROCESS` without running it."""
        if instance is not None and instance != self.instance:
            return {
                "status": NOT_THIS_PROCESS,
                "headers": [],
                "body": b"",
                "instance": self.instance,
            }
        if self._http is None:
            raise RuntimeError(f"this replica has no server: {self.load_error}")
        kept = {k: v for k, v in headers.items() if k.lower() in RELAY_HEADERS}
        host = next((v for k, v in headers.items() if k.lower() == "host"), None)
        if host:  # the address clients use, for URLs the server hands out (upload slots)
            kept["X-Forwarded-Host"] = host
        async with self._http.request(
            method, self._url + path_qs, headers=kept, data=body or None
        ) as response:
            payload = await response.read()
            out = [(k, v) for k, v in response.headers.items() if k.lower() in RESPONSE_HEADERS]
            return {
                "status": response.status,
                "headers": out,
                "body": payload,
                "instance": self.instance,
            }

    async def close(self) -> None:
        """End the session (closing its peer) and stop the server; safe to call twice."""
        self._closed = True
        self._stop.set()
        if self._serving is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._serving, 5)
        if self._http is not None:
            await self._http.close()

    def __del__(self) -> Awaitable[None] | None:
        """Serve calls this when it stops the replica, and awaits what it returns: `close()`.
        (When Python collects a closed replica, there is nothing left to do.)"""
        if getattr(self, "_closed", True):
            return None
        return self.close()


def _node_address() -> str:
    try:
        import ray.util

        return str(ray.util.get_node_ip_address())
    except Exception:
        return "unknown"
