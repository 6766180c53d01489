"""Which replica serves which session, for the scale-out ingress (`reactor run --replicas N`).

A pure table, no Ray and no network, so the routing rules are tested on their own: a new
session gets a free replica and its id is bound to it; when all are busy the client is told how
many waiting clients are ahead of it (a ticket keeps its place in line); a replica that dies or
restarts ends the session it carried, with the reason kept for the client's next call.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

SlotState = Literal["starting", "free", "reserved", "busy", "down", "failed"]
"""starting: not heard from yet; reserved: a start_session is being relayed to it; down: not
answering (Ray is restarting it); failed: its model did not load."""

MISSES_BEFORE_LOST = 3
"""Status calls in a row that time out before a replica counts as gone (a slow model may make
one late answer; a dead process makes an error, which counts at once)."""

ENDED_KEPT = 256
"""How many ended sessions' reasons are kept for the clients' later calls."""


@dataclass(frozen=True)
class ReplicaReport:
    """What a replica says about itself when asked (`ModelReplica.status`)."""

    instance: str
    """A fresh id per replica process: a different one means Ray restarted it."""
    pid: int
    node: str
    session: str | None
    load_error: str | None = None
    ended: tuple[tuple[str, str], ...] = ()
    """(session id, reason) of the sessions it ended lately, oldest first."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplicaReport:
        return cls(
            instance=str(data["instance"]),
            pid=int(data["pid"]),
            node=str(data.get("node", "")),
            session=data.get("session"),
            load_error=data.get("load_error"),
            ended=tuple((str(s), str(r)) for s, r in data.get("ended", ())),
        )


@dataclass
class Slot:
    """One model replica as the ingress sees it."""

    name: str
    state: SlotState = "starting"
    session: str | None = None
    instance: str | None = None
    pid: int | None = None
    node: str | None = None
    error: str | None = None
    misses: int = 0
    restarts: int = 0


@dataclass(frozen=True)
class Granted:
    """A free replica, now reserved for the caller's new session."""

    replica: str


@dataclass(frozen=True)
class Busy:
    """Every running replica is streaming; the caller waits behind `ahead` others."""

    ahead: int
    ticket: str
    retry_after: float
    replicas: int
    in_use: int


@dataclass(frozen=True)
class Unavailable:
    """No replica can take a session at all (all down or failed); `reason` says why."""

    reason: str


@dataclass
class _Ticket:
    id: str
    last_seen: float


@dataclass
class SlotTable:
    """The ingress's view of its replicas and the sessions bound to them."""

    names: list[str]
    retry_after: float = 2.0
    """Seconds a refused client is asked to wait before trying again."""
    ticket_ttl: float = 10.0
    """A waiting client that does not try again within this many seconds loses its place."""
    clock: Callable[[], float] = time.monotonic
    slots: dict[str, Slot] = field(init=False)
    _queue: list[_Ticket] = field(init=False, default_factory=list)
    _ended: OrderedDict[str, str] = field(init=False, default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"replica names must be distinct and not empty: {self.names}")
        self.slots = {name: Slot(name) for name in self.names}

    # -- what the replicas say ------------------------------------------------------------------

    def observe(self, name: str, report: ReplicaReport) -> list[tuple[str, str]]:
        """Take a replica's report; returns the sessions that ended because of it."""
        slot = self.slots[name]
        ended: list[tuple[str, str]] = []
        ended += self._restarted(slot, report.instance)
        slot.instance, slot.pid, slot.node, slot.misses = (
            report.instance,
            report.pid,
            report.node,
            0,
        )
        if report.load_error is not None:
            if slot.session is not None:
                ended.append(self._end(slot, f"{name} could not load the model"))
            slot.state, slot.error = "failed", report.load_error
            return ended
        slot.error = None
        if slot.state == "reserved":
            return ended
        if slot.session is not None and report.session != slot.session:
            reason = dict(report.ended).get(slot.session, f"it ended on {name}")
            ended.append(self._end(slot, reason))
        if slot.session is None and report.session is not None:
            # A session this ingress did not start (it restarted, or a start was refused as
            # busy): adopt it so its calls still reach this replica.
            slot.session = report.session
        slot.state = "busy" if slot.session is not None else "free"
        return ended

    def restarted(self, name: str, instance: str) -> list[tuple[str, str]]:
        """A relayed call found `instance` where the session's process was: that one is gone,
        and its session with it."""
        slot = self.slots[name]
        ended = self._restarted(slot, instance)
        slot.instance = instance
        if slot.state in ("busy", "down"):
            slot.state = "free" if slot.session is None else slot.state
        return ended

    def _restarted(self, slot: Slot, instance: str) -> list[tuple[str, str]]:
        if slot.instance is None or instance == slot.instance:
            return []
        slot.restarts += 1
        if slot.session is None:
            return []
        return [
            self._end(
                slot,
                f"the replica serving it ({slot.name}) stopped and was restarted; "
                "start a new session",
            )
        ]

    def instance_of(self, name: str) -> str | None:
        """The replica process the table knows (sessions there were started on it)."""
        return self.slots[name].instance

    def lost(self, name: str, why: str, *, certain: bool = True) -> list[tuple[str, str]]:
        """A replica did not answer. `certain` (its process is gone) ends its session at once;
        a timeout does only after `MISSES_BEFORE_LOST` in a row."""
        slot = self.slots[name]
        slot.misses += 1
        if not certain and slot.misses < MISSES_BEFORE_LOST:
            return []
        ended = []
        if slot.session is not None:
            ended.append(
                self._end(
                    slot,
                    f"the replica serving it ({name}) stopped: {why}; start a new session",
                )
            )
        if slot.state != "failed":
            slot.state = "down"
        slot.error = why
        return ended

    # -- sessions -------------------------------------------------------------------------------

    def request(self, ticket: str | None = None) -> Granted | Busy | Unavailable:
        """A client asks for a new session: a free replica (reserved for it) if it is at the
        front of the line, else its place in line."""
        now = self._expire()
        position = next((i for i, t in enumerate(self._queue) if t.id == ticket), None)
        free = [s for s in self.slots.values() if s.state == "free"]
        ahead = position if position is not None else len(self._queue)
        if ahead < len(free):
            slot = free[0]
            slot.state = "reserved"
            if position is not None:
                del self._queue[position]
            return Granted(slot.name)
        in_use = sum(s.state in ("busy", "reserved") for s in self.slots.values())
        if in_use == 0 and not free:
            return Unavailable(self.why_unavailable())
        if position is None:
            entry = _Ticket(uuid.uuid4().hex, now)
            self._queue.append(entry)
        else:
            entry = self._queue[position]
            entry.last_seen = now
        return Busy(
            ahead=ahead,
            ticket=entry.id,
            retry_after=self.retry_after,
            replicas=len(self.slots),
            in_use=in_use,
        )

    def _expire(self) -> float:
        now = self.clock()
        self._queue = [t for t in self._queue if now - t.last_seen <= self.ticket_ttl]
        return now

    def bind(
        self, name: str, session_id: str, instance: str | None = None
    ) -> list[tuple[str, str]]:
        """The reserved replica (process `instance`) started `session_id`: its later calls go
        there. Returns sessions ended because the replica turned out to be a new process."""
        slot = self.slots[name]
        ended = self._restarted(slot, instance) if instance is not None else []
        if instance is not None:
            slot.instance = instance
        slot.state, slot.session = "busy", session_id
        return ended

    def release(self, name: str, *, busy: bool = False) -> None:
        """The relayed start did not make a session; `busy` when the replica said it has one
        (it is adopted at the next report)."""
        slot = self.slots[name]
        if slot.state == "reserved":
            slot.state = "busy" if busy else "free"

    def find(self, session_id: str) -> str | None:
        """The replica carrying `session_id`, if it is running."""
        return next((s.name for s in self.slots.values() if s.session == session_id), None)

    def ended_reason(self, session_id: str) -> str | None:
        return self._ended.get(session_id)

    def end(self, session_id: str, reason: str) -> tuple[str, str] | None:
        """The session ended (the client stopped it, or its replica said so); frees its slot."""
        name = self.find(session_id)
        if name is None:
            return None
        return self._end(self.slots[name], reason)

    def sessions(self) -> list[str]:
        return [s.session for s in self.slots.values() if s.session is not None]

    def _end(self, slot: Slot, reason: str) -> tuple[str, str]:
        session_id = slot.session
        assert session_id is not None
        slot.session = None
        if slot.state in ("busy", "reserved"):
            slot.state = "free"
        self._ended[session_id] = reason
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)
        return session_id, reason

    def why_unavailable(self) -> str:
        """Why no replica can take a session (every one failed to load, or none runs yet)."""
        failed = [s for s in self.slots.values() if s.state == "failed"]
        if failed and len(failed) == len(self.slots):
            return f"no replica could load the model: {failed[0].error}"
        waiting = [s.name for s in self.slots.values() if s.state in ("down", "starting")]
        return (
            f"no replica is running ({', '.join(waiting)} restarting or starting); "
            f"try again in a few seconds"
        )

    # -- figures --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`GET /health`: how many replicas, sessions in use, free ones, and each replica."""
        self._expire()
        states = [s.state for s in self.slots.values()]
        in_use = sum(state in ("busy", "reserved") for state in states)
        free = states.count("free")
        return {
            "status": "ok" if free or in_use else "unavailable",
            "replicas": len(self.slots),
            "in_use": in_use,
            "free": free,
            "waiting": len(self._queue),
            "down": sum(state in ("down", "starting") for state in states),
            "failed": states.count("failed"),
            "replica_states": [
                {
                    "name": s.name,
                    "state": s.state,
                    "session": s.session,
                    "pid": s.pid,
                    "node": s.node,
                    "restarts": s.restarts,
                    **({"error": s.error} if s.error else {}),
                }
                for s in self.slots.values()
            ],
        }
