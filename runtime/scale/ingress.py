"""The one address of `reactor run --replicas N`: a Ray Serve ingress deployment that speaks
Reactor protocol v1 HTTP and relays each session's signalling to the replica bound to it.

It never touches media: the WebRTC peer lives in the replica. Its own answers are `/health`,
the CORS preflight, and the routing refusals (409 with the client's place in line when every
replica is busy, 410 with the reason when a session's replica died, 503 when none runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from reactor import _protocol
from reactor._metrics import CONTENT_TYPE, gauge, merge_pages
from reactor.scale.replica import NOT_THIS_PROCESS
from reactor.scale.routing import Busy, Granted, ReplicaReport, SlotTable, Unavailable
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("reactor.scale")

TICKET_HEADER = "Reactor-Queue-Ticket"
"""A refused client sends back the ticket from its 409 to keep its place in line."""
SESSION_HEADER = "Reactor-Session-Id"
"""Names the session `POST /stop_session` stops when several run behind this address."""


class ReplicaUnreachable(Exception):
    """A relay or status call did not reach the replica; `certain` when its process is gone."""

    def __init__(self, message: str, *, certain: bool) -> None:
        super().__init__(message)
        self.certain = certain


class ReplicaRestarted(Exception):
    """The process a session was started on is gone; a new one answered in its place."""


class Ingress:
    """A Serve deployment class (one replica): routing table, `/health`, and the relay."""

    async def __init__(
        self,
        replicas: list[Any],
        names: list[str],
        model_name: str,
        *,
        watch_period: float = 1.0,
        call_timeout: float = 5.0,
        retry_after: float = 2.0,
        ticket_ttl: float = 10.0,
    ) -> None:
        self.handles = dict(zip(names, replicas, strict=True))
        self.table = SlotTable(list(names), retry_after=retry_after, ticket_ttl=ticket_ttl)
        self.model_name = model_name
        self.watch_period = watch_period
        self.call_timeout = call_timeout
        self._watches = [asyncio.ensure_future(self._watch(name)) for name in names]

    def __del__(self) -> None:
        """Serve calls this when it stops the ingress: stop watching the replicas."""
        for watch in getattr(self, "_watches", ()):
            if not watch.done():
                with contextlib.suppress(RuntimeError):  # its loop is already closed
                    watch.get_loop().call_soon_threadsafe(watch.cancel)

    # -- keeping the table true -----------------------------------------------------------------

    async def _watch(self, name: str) -> None:
        """Ask one replica how it is, every `watch_period` (each on its own, so one being
        restarted delays no other): finds sessions that ended there, and the replica dying or
        coming back."""
        while True:
            try:
                await self._refresh_one(name)
            except Exception:
                log.exception("asking %s for its status failed", name)
            await asyncio.sleep(self.watch_period)

    async def refresh(self) -> None:
        await asyncio.gather(*(self._refresh_one(name) for name in self.handles))

    async def _refresh_one(self, name: str) -> None:
        try:
            raw = await self._call(name, "status")
        except ReplicaUnreachable as exc:
            self._log_ended(self.table.lost(name, str(exc), certain=exc.certain))
            return
        self._log_ended(self.table.observe(name, ReplicaReport.from_dict(raw)))

    async def report(self) -> dict[str, Any]:
        """`/health`'s body after asking every replica now (what `reactor run` prints at start)."""
        await self.refresh()
        return self._health()

    def _health(self) -> dict[str, Any]:
        return {"model": self.model_name, **self.table.health()}

    def _end(self, session_id: str, reason: str) -> None:
        ended = self.table.end(session_id, reason)
        self._log_ended([ended] if ended else [])

    def _log_ended(self, ended: list[tuple[str, str]]) -> None:
        for session_id, reason in ended:
            log.warning("session %s ended: %s", session_id, reason)

    async def _call(self, name: str, method: str, *args: Any) -> Any:
        """One handle call to a replica, bounded by `call_timeout`; Ray's failures become
        `ReplicaUnreachable`."""
        from ray.exceptions import ActorUnavailableError, RayActorError

        handle = getattr(self.handles[name], method)
        try:
            return await asyncio.wait_for(handle.remote(*args), self.call_timeout)
        except TimeoutError:
            raise ReplicaUnreachable(
                f"no answer within {self.call_timeout:g} s", certain=False
            ) from None
        except ActorUnavailableError as exc:
            raise ReplicaUnreachable(_first_line(exc), certain=False) from None
        except RayActorError:
            raise ReplicaUnreachable("its process died", certain=True) from None

    async def _relay(
        self,
        name: str,
        request: Request,
        path_qs: str,
        body: bytes,
        *,
        bound: bool = False,
        method: str | None = None,
    ) -> tuple[Response, str]:
        """Relay to replica `name`; `bound`: only to the process the session started on
        (`ReplicaRestarted` otherwise). Returns the response and the answering process."""
        expected = self.table.instance_of(name) if bound else None
        reply = await self._call(
            name, "relay", method or request.method, path_qs, dict(request.headers), body, expected
        )
        if reply["status"] == NOT_THIS_PROCESS:
            self._log_ended(self.table.restarted(name, reply["instance"]))
            raise ReplicaRestarted(name)
        response = Response(
            reply["body"], status_code=reply["status"], headers=dict(reply["headers"])
        )
        return response, reply["instance"]

    # -- HTTP -----------------------------------------------------------------------------------

    async def __call__(self, request: Request) -> Response:
        path = request.url.path
        root = request.scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if request.method == "OPTIONS":
            response = _preflight(request)
        else:
            try:
                response = await self._route(request, path)
            except ReplicaUnreachable as exc:
                response = _error(503, "replica_unreachable", f"the replica did not answer: {exc}")
            except Exception as exc:
                log.exception("relaying %s %s failed", request.method, path)
                response = _error(
                    502, "relay_failed", f"relaying the request failed: {_first_line(exc)}"
                )
        origin = request.headers.get("origin")
        response.headers["Access-Control-Allow-Origin"] = origin or "*"
        if origin:
            response.headers["Vary"] = "Origin"
        return response

    async def _route(self, request: Request, path: str) -> Response:
        method = request.method
        if path == "/health" and method == "GET":
            return JSONResponse(self._health())
        if path == "/metrics" and method == "GET":
            return await self._metrics(request)
        if path == "/start_session" and method == "POST":
            return await self._start_session(request)
        if path == "/stop_session" and method == "POST":
            return await self._stop_session(request)
        parts = path.split("/")
        if len(parts) >= 3 and parts[1] == "sessions" and parts[2]:
            return await self._session_call(request, parts[2], path)
        return await self._anywhere(request, path)

    def _path_qs(self, request: Request, path: str) -> str:
        query = request.url.query
        return path + (f"?{query}" if query else "")

    async def _anywhere(self, request: Request, path: str) -> Response:
        """Stateless routes (viewer, `/schema`, unknown paths): any running replica answers."""
        order = {"free": 0, "busy": 1}
        live = sorted(
            (s for s in self.table.slots.values() if s.state in order), key=lambda s: order[s.state]
        )
        if not live:
            return _error(503, "no_replica", self.table.why_unavailable())
        body = await request.body()
        response, _ = await self._relay(live[0].name, request, self._path_qs(request, path), body)
        return response

    async def _metrics(self, request: Request) -> Response:
        """Every running replica's /metrics as one page (each sample labelled with its
        replica), then how many replicas are in each state."""
        pages: dict[str, str] = {}
        live = [
            s.name for s in self.table.slots.values() if s.state in ("free", "busy", "reserved")
        ]

        async def one(name: str) -> None:
            with contextlib.suppress(ReplicaUnreachable, ReplicaRestarted):
                response, _ = await self._relay(name, request, "/metrics", b"", method="GET")
                if response.status_code == 200:
                    pages[name] = bytes(response.body).decode("utf-8", errors="replace")

        await asyncio.gather(*(one(name) for name in live))
        counts: dict[str, int] = {}
        for slot in self.table.slots.values():
            counts[slot.state] = counts.get(slot.state, 0) + 1
        states = ("starting", "free", "reserved", "busy", "down", "failed")
        replicas = gauge(
            "reactor_replicas",
            "Model replicas behind this address, by state.",
            {(("state", state),): float(counts.get(state, 0)) for state in states},
        )
        text = merge_pages({name: pages[name] for name in sorted(pages)})
        text += "\n".join(replicas.lines()) + "\n"
        return Response(text, headers={"Content-Type": CONTENT_TYPE})

    async def _start_session(self, request: Request) -> Response:
        ticket = request.headers.get(TICKET_HEADER)
        body = await request.body()
        refused: Response | None = None
        for _ in range(len(self.table.slots) + 1):
            choice = self.table.request(ticket)
            if isinstance(choice, Unavailable):
                return _error(503, "no_replica", choice.reason)
            if isinstance(choice, Busy):
                return _busy(choice)
            assert isinstance(choice, Granted)
            name = choice.replica
            try:
                response, instance = await self._relay(name, request, "/start_session", body)
            except ReplicaUnreachable as exc:
                self.table.release(name)
                self._log_ended(self.table.lost(name, str(exc), certain=exc.certain))
                continue
            if response.status_code == 409:  # it has a session we did not know of
                self.table.release(name, busy=True)
                continue
            if response.status_code == 503:  # its model is loading or stuck: try another
                self.table.release(name, busy=True)
                refused = response
                continue
            if response.status_code != 200:
                self.table.release(name)
                return response
            answer = json.loads(response.body)
            self._log_ended(self.table.bind(name, answer["session_id"], instance))
            log.info("session %s started on %s", answer["session_id"], name)
            answer["replica"] = name
            return JSONResponse(answer)
        if refused is not None:
            return refused
        return _error(503, "no_replica", "no replica took the session; try again")

    async def _stop_session(self, request: Request) -> Response:
        """Stops the named session (`{"session_id"}` body, `?session_id=`, or the
        Reactor-Session-Id header); unnamed, the only running one, as a single server does."""
        body = await request.body()
        session_id = request.headers.get(SESSION_HEADER) or _query_value(request, "session_id")
        if session_id is None and body.strip():
            # As the single server: a body that is not {"session_id": ...} stops nothing.
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                return _error(
                    400,
                    "bad_request",
                    'the body must be empty or {"session_id": "<the id start_session returned>"}',
                )
            session_id = parsed.get("session_id")
        if session_id is None:
            running = self.table.sessions()
            if not running:
                return JSONResponse({"session_id": None, "state": "CLOSED"})
            if len(running) > 1:
                return _error(
                    400,
                    "which_session",
                    f"{len(running)} sessions run behind this address; name the one to stop: "
                    'POST /stop_session with {"session_id": ...} or DELETE /sessions/{id}',
                )
            session_id = running[0]
        if not isinstance(session_id, str):
            return _error(400, "bad_request", "session_id must be a string")
        name = self.table.find(session_id)
        if name is None:
            if self.table.ended_reason(session_id) is not None:
                return JSONResponse({"session_id": session_id, "state": "CLOSED"})
            return _unknown(session_id)
        try:
            await self._relay(
                name, request, f"/sessions/{session_id}", b"", bound=True, method="DELETE"
            )
        except ReplicaUnreachable as exc:  # its session is gone with it
            self._log_ended(self.table.lost(name, str(exc), certain=exc.certain))
        except ReplicaRestarted:
            pass
        self._end(session_id, "client stopped the session")
        return JSONResponse({"session_id": session_id, "state": "CLOSED"})

    async def _session_call(self, request: Request, session_id: str, path: str) -> Response:
        """`/sessions/{id}/...`: relayed to the session's replica, or why it is gone."""
        name = self.table.find(session_id)
        if name is None:
            return _gone(self.table, session_id)
        body = await request.body()
        try:
            response, _ = await self._relay(
                name, request, self._path_qs(request, path), body, bound=True
            )
        except ReplicaRestarted:
            return _gone(self.table, session_id)
        except ReplicaUnreachable as exc:
            self._log_ended(self.table.lost(name, str(exc), certain=exc.certain))
            if self.table.find(session_id) is None:
                return _gone(self.table, session_id)
            raise
        status = response.status_code
        if request.method == "DELETE" and status == 200:
            self._end(session_id, "client deleted the session")
        elif status in (404, 410):
            answer: Any = {}
            with contextlib.suppress(ValueError):
                answer = json.loads(response.body)
            answer = answer if isinstance(answer, dict) else {}
            # The replica no longer has it (ended there); a 404 for an unknown route does not
            # end anything.
            if status == 410 or answer.get("error") == "unknown_session":
                self._end(session_id, str(answer.get("message") or f"it ended on {name}"))
        return response


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _query_value(request: Request, key: str) -> str | None:
    values = parse_qs(request.url.query).get(key)
    return values[0] if values else None


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _busy(busy: Busy) -> JSONResponse:
    waiting = "no one is" if busy.ahead == 0 else f"{busy.ahead} client(s) are"
    response = _error(
        409,
        "all_replicas_busy",
        f"all {busy.replicas} replicas are streaming to other clients; {waiting} ahead of you. "
        f"Try again in {busy.retry_after:g} s with the header {TICKET_HEADER}: {busy.ticket} "
        "to keep your place",
        replicas=busy.replicas,
        in_use=busy.in_use,
        ahead=busy.ahead,
        ticket=busy.ticket,
        retry_after=busy.retry_after,
    )
    response.headers["Retry-After"] = str(max(1, round(busy.retry_after)))
    return response


def _unknown(session_id: str) -> JSONResponse:
    return _error(
        404, "unknown_session", f"no session {session_id!r}; start one with POST /start_session"
    )


def _gone(table: SlotTable, session_id: str) -> JSONResponse:
    reason = table.ended_reason(session_id)
    if reason is None:
        return _unknown(session_id)
    return _error(410, "session_ended", f"session {session_id} has ended: {reason}")


def _preflight(request: Request) -> Response:
    headers = _protocol.preflight_headers(
        request.headers.get("access-control-request-headers", ""),
        request.headers.get("access-control-request-private-network") == "true",
    )
    return Response(status_code=204, headers=headers)
