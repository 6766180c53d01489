"""`reactor run`: the Reactor local-runtime HTTP protocol, version 1, over aiohttp, with one
streaming client per model instance, the `/schema` document and the viewer page.

HTTP routes answer JSON (errors too: `{"error": code, "message": one line}`); media and
commands travel over the aiortc peer made in `_transport`; data-channel messages are read and
answered by `_protocol`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.resources
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from aiohttp import web
from reactor import _protocol
from reactor._options import ServeOptions
from reactor._receive import BufferSink
from reactor._transport import (
    OfferError,
    Peer,
    PeerSettings,
    SettingsError,
    TrackInfo,
    check_settings,
    ice_servers_json,
)
from reactor._uploads import UploadLimits, Uploads
from reactor._version import version

if TYPE_CHECKING:
    from reactor._manifest import Manifest

log = logging.getLogger("reactor.server")

API_VERSION = 1
WEBRTC_VERSION = "1.0"
SERVER_VERSION = f"reactorc-{version()}"
SHUTDOWN_SECONDS = 2.0
"""Shutting down (SIGINT/SIGTERM) closes the peer and returns within this many seconds."""
_STEP_SECONDS = 0.6
"""Bound on each shutdown step (stopping the model, closing the peer)."""


class RunnerLike(Protocol):
    """What the server drives: the `Runner` contract in docs/internals.md."""

    tracks: list[Any]
    schema: dict[str, Any]

    async def start_session(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None: ...
    async def stop_session(self) -> None: ...
    def frames(self) -> AsyncIterator[Any]: ...
    async def command(self, name: str, data: dict[str, Any]) -> list[Any]: ...


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


@dataclass
class Session:
    """One client's session: created by `start_session`, streaming once its peer connects."""

    id: str
    created: float
    last_seen: float
    state: str = "CREATED"
    peer: Peer | None = None
    answer: str | None = None
    started: bool = False
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    runner_started: asyncio.Event = field(default_factory=asyncio.Event)
    pump: asyncio.Task[None] | None = None
    end_reason: str | None = None


class ReactorServer:
    """The HTTP and WebRTC side of one served model (one model instance, one client at a time)."""

    def __init__(
        self,
        runner: RunnerLike,
        options: ServeOptions | None = None,
        *,
        model_name: str = "model",
        model_version: str | None = None,
    ) -> None:
        self.runner = runner
        self.schema: dict[str, Any] = runner.schema
        self.options = options or ServeOptions()
        self.settings = PeerSettings.from_options(self.options)
        check_settings(self.settings)  # a bad --ice-host/--stun/--turn fails here, not later
        self.model_name = model_name
        self.model_version = model_version
        self.session: Session | None = None
        self.ended: list[tuple[str, str]] = []
        """(session id, reason) of every ended session, oldest first."""
        self._runner_lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.uploads = Uploads(_upload_limits(self.options), self._find)
        self.app = self._make_app()

    # -- app ------------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._cors, self._json_errors], client_max_size=4 * 1024 * 1024
        )
        base = "/sessions/{session_id}/transport/webrtc"
        app.router.add_get("/", self._viewer_index)
        app.router.add_get("/viewer/{name}", self._viewer_file)
        app.router.add_get("/health", self._health)
        app.router.add_get("/schema", self._schema)
        app.router.add_post("/start_session", self._start_session)
        app.router.add_post("/stop_session", self._stop_session)
        app.router.add_get("/sessions/{session_id}", self._get_session)
        app.router.add_delete("/sessions/{session_id}", self._delete_session)
        app.router.add_get(base + "/ice_servers", self._ice_servers)
        app.router.add_post(base + "/sdp_params", self._post_sdp)
        app.router.add_put(base + "/sdp_params", self._post_sdp)
        app.router.add_get(base + "/sdp_params", self._get_sdp)
        app.router.add_post(base + "/ice_candidates", self._ice_candidates)
        self.uploads.add_routes(app)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self._watchdog = asyncio.ensure_future(self._watch_pings())

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.close()

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """End the session (closing its peer and stopping the model) and the ping watchdog."""
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.session is not None:
            await self.end_session(self.session, "server shutting down")

    @web.middleware
    async def _cors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if request.method == "OPTIONS":
                response = self._preflight(request)
            else:
                response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        origin = request.headers.get("Origin")
        response.headers["Access-Control-Allow-Origin"] = origin or "*"
        if origin:
            response.headers["Vary"] = "Origin"
        if isinstance(response, web.HTTPException):
            raise response
        return response

    @web.middleware
    async def _json_errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.content_type == "application/json" or exc.status < 400:
                raise
            return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.text or exc.reason)

    def _preflight(self, request: web.Request) -> web.Response:
        headers = _protocol.preflight_headers(
            request.headers.get("Access-Control-Request-Headers", ""),
            request.headers.get("Access-Control-Request-Private-Network") == "true",
        )
        return web.Response(status=204, headers=headers)

    # -- plain routes ---------------------------------------------------------------------------

    async def _viewer_index(self, request: web.Request) -> web.Response:
        return self._viewer_response("index.html")

    async def _viewer_file(self, request: web.Request) -> web.Response:
        return self._viewer_response(request.match_info["name"])

    def _viewer_response(self, name: str) -> web.Response:
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or "\\" in name or name.startswith(".") or suffix not in types:
            return _error(404, "not_found", f"no viewer file {name!r}")
        resource = importlib.resources.files("reactor").joinpath("viewer", name)
        if not resource.is_file():
            return _error(404, "not_found", f"no viewer file {name!r}")
        return web.Response(
            body=resource.read_bytes(),
            content_type=types[suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "model": self.model_name,
                "session": self.session.id if self.session else None,
            }
        )

    async def _schema(self, request: web.Request) -> web.Response:
        return web.json_response(self.schema)

    # -- sessions -------------------------------------------------------------------------------

    def _check_api_version(self, request: web.Request) -> web.Response | None:
        return _check_version(
            request.headers.get("Reactor-API-Version"), API_VERSION, "Reactor-API-Version"
        )

    def _session_body(self, session: Session) -> dict[str, Any]:
        model: dict[str, Any] = {"name": self.model_name}
        if self.model_version:
            model["version"] = self.model_version
        tracks = [
            {"name": t.name, "kind": t.kind, "direction": "recvonly"} for t in self.runner.tracks
        ]
        tracks += [  # the client's camera and microphone tracks, which the model reads
            {"name": t.name, "kind": t.kind, "direction": "sendonly"}
            for t in getattr(self.runner, "input_tracks", ())
        ]
        return {
            "session_id": session.id,
            "state": session.state,
            "cluster": "local",
            "model": model,
            "server_info": {"server_version": SERVER_VERSION},
            "selected_transport": {"protocol": "webrtc", "version": WEBRTC_VERSION},
            "capabilities": {
                "protocol_version": str(API_VERSION),
                "tracks": tracks,
                "commands": _protocol.capability_commands(self.schema),
                "emission_fps": getattr(self.runner, "fps", None),
            },
        }

    async def _start_session(self, request: web.Request) -> web.Response:
        refused = self._check_api_version(request)
        if refused is not None:
            return refused
        body, problem = await _json_body(request, allow_empty=True)
        if problem is not None:
            return problem
        extra = body.get("extra_args") if isinstance(body, dict) else None
        if not isinstance(body, dict) or (extra is not None and not isinstance(extra, dict)):
            return _error(
                400, "bad_request", 'the body must be {} or {"extra_args": {...}} (a JSON object)'
            )
        if self.session is not None:
            return _error(
                409,
                "session_busy",
                "another client is streaming from this model; one client at a time "
                "(it ends with POST /stop_session or when its pings stop)",
                session_id=self.session.id,
            )
        now = time.monotonic()
        session = Session(id=uuid.uuid4().hex, created=now, last_seen=now)
        self.session = session
        log.info("session %s started", session.id)
        return web.json_response(self._session_body(session))

    async def _stop_session(self, request: web.Request) -> web.Response:
        """Stops the current session. A body naming another session (`{"session_id": ...}`, a
        stale tab's beacon) stops nothing: that client's session is already over."""
        body, problem = await _json_body(request, allow_empty=True)
        if problem is not None:
            return problem
        named = body.get("session_id") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(named, (str, type(None))):
            return _error(
                400,
                "bad_request",
                'the body must be empty or {"session_id": "<the id start_session returned>"}',
            )
        session = self.session
        if named is not None and (session is None or session.id != named):
            ended = self._ended_reason(named)
            why = f"had already ended: {ended}" if ended is not None else "is not known here"
            return web.json_response(
                {
                    "session_id": named,
                    "state": "CLOSED",
                    "stopped": False,
                    "message": f"session {named} {why}; nothing was stopped",
                }
            )
        if session is None:
            return web.json_response({"session_id": None, "state": "CLOSED"})
        await self.end_session(session, "client stopped the session")
        return web.json_response({"session_id": session.id, "state": "CLOSED"})

    def _ended_reason(self, session_id: str) -> str | None:
        """Why session `session_id` ended, if it is one of the recently ended ones."""
        return next((r for s, r in reversed(self.ended) if s == session_id), None)

    def _find(self, request: web.Request) -> Session | web.Response:
        session_id = request.match_info["session_id"]
        session = self.session
        if session is None or session.id != session_id:
            ended = self._ended_reason(session_id)
            if ended is not None:
                return _error(410, "session_ended", f"session {session_id} has ended: {ended}")
            return _error(
                404,
                "unknown_session",
                f"no session {session_id!r}; start one with POST /start_session",
            )
        return session

    async def _get_session(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(self._session_body(found))

    async def _delete_session(self, request: web.Request) -> web.Response:
        found = self._find(request)
        if isinstance(found, web.Response):
            return found
        await self.end_session(found, "client deleted the session")
        return web.json_response({"session_id": found.id, "state": "CLOSED"})

    # -- WebRTC transport -----------------------------------------------------------------------

    def _transport_session(self, request: web.Request) -> Session | web.Response:
        refused = _check_version(
            request.headers.get("Reactor-WebRTC-Version"), WEBRTC_VERSION, "Reactor-WebRTC-Version"
        )
        if refused is not None:
            return refused
        return self._find(request)

    async def _ice_servers(self, request: web.Request) -> web.Response:
        found = self._transport_session(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response({"ice_servers": ice_servers_json(self.settings)})

    async def _post_sdp(self, request: web.Request) -> web.Response:
        """Take the client's offer (POST; PUT reconnects) and answer it at once: the reply is
        202 as the protocol asks, and the answer is there for the first GET poll."""
        found = self._transport_session(request)
        if isinstance(found, web.Response):
            return found
        session = found
        body, problem = await _json_body(request)
        if problem is not None:
            return problem
        if not isinstance(body, dict) or not isinstance(body.get("sdp_offer"), str):
            return _error(400, "bad_offer", "the body must be a JSON object with sdp_offer (text)")
        mapping = body.get("track_mapping")
        if mapping is not None and not isinstance(mapping, list):
            return _error(400, "bad_offer", "track_mapping must be a list of {mid, name, kind}")
        if session.peer is not None:
            if request.method == "POST" and not session.peer.closed:
                return _error(
                    409,
                    "offer_exists",
                    "this session already has a peer connection; PUT the offer to reconnect",
                )
            old, session.peer = session.peer, None
            session.connected.clear()
            session.answer = None
            await old.close()
        peer = Peer(
            self.settings,
            [TrackInfo(t.name, t.kind, getattr(t, "sample_rate", None)) for t in self.runner.tracks]
            + [
                TrackInfo(t.name, t.kind, t.sample_rate, "sendonly")
                for t in getattr(self.runner, "input_tracks", ())
            ],
            on_message=lambda raw: self._on_message(session, raw),
            on_state=lambda state: self._on_peer_state(session, peer, state),
            inputs=BufferSink(
                getattr(self.runner, "inputs", {}),
                lambda: self.session is session and session.runner_started.is_set(),
            ),
        )
        try:
            answer = await peer.answer(body["sdp_offer"], mapping)
        except OfferError as exc:
            await peer.close()
            return _error(400, "bad_offer", str(exc))
        if self.session is not session:  # ended while we were answering
            await peer.close()
            return _error(410, "session_ended", f"session {session.id} has ended")
        session.peer = peer
        session.answer = answer
        return web.json_response({"status": "accepted"}, status=202)

    async def _get_sdp(self, request: web.Request) -> web.Response:
        found = self._transport_session(request)
        if isinstance(found, web.Response):
            return found
        if found.answer is None:
            return web.json_response({"status": "pending"}, status=202)
        return web.json_response({"sdp_answer": found.answer})

    async def _ice_candidates(self, request: web.Request) -> web.Response:
        """Trickled client candidates: `{candidate, sdpMid, sdpMLineIndex}`, a list of them,
        or `{"candidates": [...]}`. Not needed by the published client (it gathers before
        offering, and aiortc also learns addresses from connectivity checks)."""
        found = self._transport_session(request)
        if isinstance(found, web.Response):
            return found
        body, problem = await _json_body(request)
        if problem is not None:
            return problem
        if isinstance(body, dict) and isinstance(body.get("candidates"), list):
            entries = body["candidates"]
        else:
            entries = body if isinstance(body, list) else [body]
        if found.peer is None:
            return _error(409, "no_offer", "POST the SDP offer to sdp_params first")
        try:
            added = await found.peer.add_candidates(entries)
        except OfferError as exc:
            return _error(400, "bad_candidate", str(exc))
        return web.json_response({"added": added})

    # -- the session's life ---------------------------------------------------------------------

    async def _on_peer_state(self, session: Session, peer: Peer, state: str) -> None:
        if session.peer is not peer or self.session is not session:
            return
        log.info("session %s: peer %s", session.id, state)
        if state == "connected":
            session.state = "ACTIVE"
            session.connected.set()
            if not session.started:
                await self._start_streaming(session)
        elif state == "disconnected":
            session.connected.clear()
        elif state in ("failed", "closed"):
            await self.end_session(session, f"peer connection {state}")

    async def _start_streaming(self, session: Session) -> None:
        """Start the model for this client (state from defaults, `@connected` runs) and pump its
        paced frames to the peer's tracks."""
        session.started = True
        send = self._sender(session)
        async with self._runner_lock:
            if self.session is not session:
                return
            try:
                await self.runner.start_session(send)
            except Exception as exc:
                log.exception("starting the model for session %s failed", session.id)
                await send(
                    {
                        "scope": "runtime",
                        "data": {
                            "type": "error",
                            "data": {"source": "model", "message": str(exc), "restarts_left": 0},
                        },
                    }
                )
                self._background(self.end_session(session, f"model failed to start: {exc}"))
                return
            session.runner_started.set()
            session.pump = asyncio.ensure_future(self._pump(session))

    def _sender(self, session: Session) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def send(message: dict[str, Any]) -> None:
            peer = session.peer
            if peer is not None:
                peer.send(json.dumps(message, default=repr))

        return send

    async def _pump(self, session: Session) -> None:
        """Move paced frames from the runner to the peer's tracks. A full track waits (so the
        model is held back); frames are never thinned here."""
        frames = self.runner.frames()
        try:
            async for frame in frames:
                while not session.connected.is_set():
                    await session.connected.wait()
                peer = session.peer
                sink = peer.sinks.get(frame.track) if peer is not None else None
                if sink is not None:
                    await sink.put(frame)
            # The frames ended without us stopping them: the model gave up (it failed for good).
            failure = getattr(self.runner, "failure", None)
            reason = getattr(failure, "message", None) or "the model stopped producing frames"
            self._background(self.end_session(session, f"model failed: {reason}"))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %s: the frame stream failed", session.id)
            self._background(self.end_session(session, "the frame stream failed"))
        finally:
            closer = getattr(frames, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(closer(), _STEP_SECONDS)

    async def end_session(self, session: Session, reason: str) -> None:
        """End a session once: free the slot for the next client, stop the frame pump, close
        the peer, stop the model (`@disconnected` runs)."""
        if session.end_reason is not None:
            return
        session.end_reason = reason
        session.state = "CLOSED"
        if self.session is session:
            self.session = None
        self.ended.append((session.id, reason))
        del self.ended[:-32]
        self.uploads.drop(session.id)  # nothing a client uploaded outlives its session
        log.info("session %s ended: %s", session.id, reason)
        if session.pump is not None:
            session.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(session.pump), _STEP_SECONDS)
        # The peer first: it is quick, and the client learns at once that the stream is over.
        if session.peer is not None:
            await session.peer.close()
        if session.started:
            async with self._runner_lock:
                try:
                    await asyncio.wait_for(self.runner.stop_session(), _STEP_SECONDS * 2)
                except Exception:
                    log.exception("stopping the model for session %s failed", session.id)

    async def _watch_pings(self) -> None:
        """Drop a client that stopped sending anything (pings included) for `ping_timeout`."""
        timeout = self.options.ping_timeout
        period = max(0.05, min(1.0, timeout / 4))
        while True:
            await asyncio.sleep(period)
            session = self.session
            if session is not None and time.monotonic() - session.last_seen > timeout:
                await self.end_session(session, f"no ping from the client for {timeout:g} s")

    # -- data channel ---------------------------------------------------------------------------

    async def _on_message(self, session: Session, raw: str | bytes) -> None:
        """Act on one client message; every refusal is answered with a runtime `error`."""
        session.last_seen = time.monotonic()
        peer = session.peer
        if peer is None:
            return
        parsed = _protocol.parse_message(raw)
        if isinstance(parsed, _protocol.CommandError):
            peer.send(_protocol.envelope("runtime", "error", _protocol.error_data(parsed)))
            return
        if parsed.scope == "runtime" and parsed.name != "fileUploaded":
            self._runtime_command(peer, parsed)
            return
        if not session.runner_started.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(session.runner_started.wait(), 5.0)
        if parsed.scope == "runtime":
            await self._file_uploaded(session, peer, parsed)
            return
        model = getattr(self.runner, "model", None)
        data = await self.uploads.command_data(
            session.id, parsed, type(model) if model is not None else None
        )
        if isinstance(data, _protocol.CommandError):
            peer.send(_protocol.envelope("runtime", "error", _protocol.error_data(data)))
            return
        try:
            refusals = await self.runner.command(parsed.name, data)
        except Exception as exc:
            log.exception("command %s failed", parsed.name)
            refusals = [_protocol.CommandError(parsed.name, None, f"failed: {exc}")]
        for refusal in refusals:
            peer.send(_protocol.envelope("runtime", "error", _protocol.error_data(refusal)))

    async def _file_uploaded(
        self, session: Session, peer: Peer, command: _protocol.Command
    ) -> None:
        """The client's `fileUploaded`: the model's `@file_uploaded` hooks get the file; an
        upload that is unknown or incomplete is answered with an error."""
        found = await self.uploads.announced(session.id, command.data)
        if isinstance(found, _protocol.CommandError):
            peer.send(_protocol.envelope("runtime", "error", _protocol.error_data(found)))
            return
        notify = getattr(self.runner, "file_uploaded", None)
        if notify is not None:
            await notify(found)

    def _runtime_command(self, peer: Peer, command: _protocol.Command) -> None:
        if command.name == "ping":
            peer.send(_protocol.envelope("runtime", "pong", command.data))
        elif command.name == "requestSchema":
            peer.send(_protocol.envelope("runtime", "modelSchema", self.schema))
        elif command.name == "requestCapabilities":
            commands = _protocol.capability_commands(self.schema)
            peer.send(_protocol.envelope("runtime", "modelCapabilities", {"commands": commands}))
        else:
            error = _protocol.CommandError(
                command.name,
                None,
                "unknown runtime command; the runtime answers "
                + ", ".join(_protocol.RUNTIME_COMMANDS),
            )
            peer.send(_protocol.envelope("runtime", "error", _protocol.error_data(error)))


def _upload_limits(options: ServeOptions) -> UploadLimits:
    return UploadLimits(
        max_bytes=options.max_upload_bytes,
        max_files=options.max_uploads,
        max_session_bytes=max(UploadLimits.max_session_bytes, options.max_upload_bytes),
        types=tuple(options.upload_types),
        wait=options.upload_wait,
    )


def _check_version(value: str | None, supported: int | str, header: str) -> web.Response | None:
    """426 when the client's protocol version is older than ours, 501 when newer."""
    if value is None:
        return None
    try:
        theirs = float(value)
    except ValueError:
        return _error(400, "bad_version", f"{header}: {value!r} is not a version number")
    ours = float(supported)
    if int(theirs) < int(ours):
        return _error(
            426, "client_too_old", f"{header} {value} is too old; this server speaks {supported}"
        )
    if int(theirs) > int(ours):
        return _error(
            501, "server_too_old", f"{header} {value} is newer than this server's {supported}"
        )
    return None


async def _json_body(
    request: web.Request, *, allow_empty: bool = False
) -> tuple[Any, web.Response | None]:
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return {}, None
        return None, _error(400, "bad_request", "the request needs a JSON body")
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as exc:
        return None, _error(400, "bad_json", f"the body is not JSON: {exc.msg} at char {exc.pos}")
    except UnicodeDecodeError as exc:  # JSON is UTF-8 text; a stray byte is the client's mistake
        return None, _error(400, "bad_json", f"the body is not UTF-8 text: {exc.reason}")


# -------------------------------------------------------------------------------------------------
# Running the server


async def run_server(
    server: ReactorServer,
    *,
    stop: asyncio.Event | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM when it is None); returns within
    `SHUTDOWN_SECONDS` of the signal with the peer closed."""
    options = server.options
    runner = web.AppRunner(server.app, handle_signals=False, access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise SettingsError(
            f"cannot listen on {options.host}:{options.port} ({exc.strerror or exc}); "
            "pick another --port or stop the program using it"
        ) from None
    port = runner.addresses[0][1] if runner.addresses else options.port
    host = options.host if ":" not in options.host else f"[{options.host}]"
    url = f"http://{host}:{port}/"
    if ready is not None:
        ready(url)
    own_stop = stop is None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if own_stop:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        if own_stop:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.close(), SHUTDOWN_SECONDS * 0.35)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(runner.cleanup(), SHUTDOWN_SECONDS * 0.2)


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """The `reactor run` loop's default executor: daemon worker threads, and a shutdown that
    waits briefly, so a model step still running (it can take seconds on a GPU) never holds up
    the 2 s shutdown. The work it runs is the encoder's and the runner's blocking calls."""

    def __init__(self, max_workers: int | None = None) -> None:
        # A ThreadPoolExecutor only by type (asyncio requires it); none of its machinery runs.
        super().__init__(max_workers)
        self._max = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._work.put((future, fn, args, kwargs))
            if self._idle == 0 and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._worker, name=f"reactor-worker-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1
        return future

    def _worker(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._work.put(None)
        if wait:
            deadline = time.monotonic() + SHUTDOWN_SECONDS * 0.1
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))


async def _serve_until_signalled(server: ReactorServer, announce: Callable[[str], None]) -> None:
    asyncio.get_running_loop().set_default_executor(_DaemonExecutor())
    await run_server(server, ready=announce)


def serve(manifest: Manifest, options: ServeOptions) -> None:
    """`reactor run`: load the manifest's model and serve it until SIGINT/SIGTERM.

    Bad settings or a model that cannot be loaded end the program with one line on stderr
    (exit status 2 for what the user can fix, 1 when the model's own `load()` failed).
    """
    from reactor._manifest import ManifestError, ModelLoadError
    from reactor._runner import Runner

    def fail(message: str, status: int) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(status)

    try:
        model = manifest.load_model()
        runner = Runner(model, fps=options.fps, name=manifest.name)
        server = ReactorServer(runner, options, model_name=manifest.name)
    except (SettingsError, ManifestError) as exc:
        fail(str(exc), 2)
    except ModelLoadError as exc:
        log.error("loading the model failed", exc_info=exc.__cause__ or exc)
        fail(str(exc), 1)
    except TypeError as exc:  # the model class is malformed (tracks, state, fps)
        fail(str(exc), 2)

    def announce(url: str) -> None:
        print(f"Serving {server.model_name} at {url}  (open it in a browser; Ctrl+C stops)")
        sys.stdout.flush()

    try:
        asyncio.run(_serve_until_signalled(server, announce))
    except SettingsError as exc:
        fail(str(exc), 2)
