"""The ingress's routing rules, without Ray: a free replica per new session, the session bound
to it, a place in line when all are busy, and sessions ended by replicas that die or restart."""

from __future__ import annotations

import pytest
from reactor.scale.routing import (
    MISSES_BEFORE_LOST,
    Busy,
    Granted,
    ReplicaReport,
    SlotTable,
    Unavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def report(instance: str, session: str | None = None, **extra: object) -> ReplicaReport:
    return ReplicaReport(instance=instance, pid=1, node="10.0.0.1", session=session, **extra)


def running(names: tuple[str, ...] = ("r0", "r1"), clock: Clock | None = None) -> SlotTable:
    table = SlotTable(list(names), retry_after=2.0, ticket_ttl=10.0, clock=clock or Clock())
    for name in names:
        table.observe(name, report(f"{name}-a"))
    return table


def start(table: SlotTable, session_id: str, ticket: str | None = None) -> str:
    choice = table.request(ticket)
    assert isinstance(choice, Granted), choice
    table.bind(choice.replica, session_id)
    return choice.replica


def test_each_new_session_gets_its_own_free_replica_and_stays_bound_to_it() -> None:
    table = running()
    first, second = start(table, "s1"), start(table, "s2")
    assert {first, second} == {"r0", "r1"}
    assert table.find("s1") == first and table.find("s2") == second
    health = table.health()
    assert (health["replicas"], health["in_use"], health["free"]) == (2, 2, 0)


def test_replicas_not_heard_from_take_no_session() -> None:
    table = SlotTable(["r0", "r1"])
    assert isinstance(table.request(), Unavailable)
    table.observe("r1", report("r1-a"))
    assert table.request() == Granted("r1")


def test_a_reserved_replica_is_not_given_twice() -> None:
    table = running(("r0",))
    assert table.request() == Granted("r0")
    # The first start is still being relayed: the next client waits.
    waiting = table.request()
    assert isinstance(waiting, Busy)
    table.release("r0")
    assert table.request(waiting.ticket) == Granted("r0")


def test_all_busy_tells_each_waiting_client_how_many_are_ahead() -> None:
    table = running()
    start(table, "s1")
    start(table, "s2")
    third, fourth = table.request(), table.request()
    assert isinstance(third, Busy) and isinstance(fourth, Busy)
    assert (third.ahead, fourth.ahead) == (0, 1)
    assert (third.replicas, third.in_use, third.retry_after) == (2, 2, 2.0)
    # Trying again with the ticket keeps the place; without it is the back of the line.
    again = table.request(third.ticket)
    assert isinstance(again, Busy) and (again.ahead, again.ticket) == (0, third.ticket)
    newcomer = table.request()
    assert isinstance(newcomer, Busy) and newcomer.ahead == 2
    assert table.health()["waiting"] == 3


def test_a_freed_replica_goes_to_the_front_of_the_line() -> None:
    table = running()
    start(table, "s1")
    start(table, "s2")
    third = table.request()
    fourth = table.request()
    assert isinstance(third, Busy) and isinstance(fourth, Busy)
    assert table.end("s1", "client stopped the session") == ("s1", "client stopped the session")
    still = table.request(fourth.ticket)
    assert isinstance(still, Busy) and still.ahead == 1
    assert isinstance(table.request(), Busy)  # no ticket: behind both
    assert start(table, "s3", third.ticket) == "r0"
    after = table.request(fourth.ticket)
    assert isinstance(after, Busy) and after.ahead == 0


def test_a_client_that_stops_trying_loses_its_place() -> None:
    clock = Clock()
    table = running(clock=clock)
    start(table, "s1")
    start(table, "s2")
    gone, patient = table.request(), table.request()
    assert isinstance(gone, Busy) and isinstance(patient, Busy)
    clock.now += 6
    table.request(patient.ticket)
    clock.now += 6  # 12 s since `gone` last asked, 6 s since `patient` did
    table.end("s1", "client stopped the session")
    assert start(table, "s3", patient.ticket) == "r0"
    assert table.health()["waiting"] == 0


def test_spare_replicas_serve_clients_without_a_ticket_while_others_wait() -> None:
    table = running(("r0", "r1", "r2"))
    start(table, "s1")
    start(table, "s2")
    start(table, "s3")
    waiting = table.request()
    assert isinstance(waiting, Busy)
    table.end("s1", "done")
    table.end("s2", "done")
    # Two free, one client waiting: a newcomer may take the second one.
    assert isinstance(table.request(), Granted)
    assert isinstance(table.request(waiting.ticket), Granted)


def test_a_session_that_ended_on_its_replica_frees_it_with_the_replicas_reason() -> None:
    table = running()
    replica = start(table, "s1")
    ended = table.observe(
        replica, report(f"{replica}-a", None, ended=(("s1", "no ping from the client for 20 s"),))
    )
    assert ended == [("s1", "no ping from the client for 20 s")]
    assert table.find("s1") is None
    assert table.ended_reason("s1") == "no ping from the client for 20 s"
    assert table.slots[replica].state == "free"


def test_a_dead_replica_ends_its_session_and_the_other_goes_on() -> None:
    table = running()
    a, b = start(table, "s1"), start(table, "s2")
    ended = table.lost(a, "its process died")
    assert [session for session, _ in ended] == ["s1"]
    assert f"({a}) stopped: its process died" in ended[0][1]
    assert table.find("s2") == b and table.find("s1") is None
    health = table.health()
    assert (health["in_use"], health["free"], health["down"]) == (1, 0, 1)
    # Ray brings it back as a new process: it takes new sessions again.
    table.observe(a, report(f"{a}-b"))
    assert table.slots[a].restarts == 1
    assert start(table, "s3") == a


def test_a_restarted_replica_ends_the_session_it_had() -> None:
    table = running()
    a = start(table, "s1")
    ended = table.observe(a, report(f"{a}-b"))
    assert [session for session, _ in ended] == ["s1"]
    assert "stopped and was restarted" in (table.ended_reason("s1") or "")
    assert table.slots[a].state == "free"


def test_slow_answers_end_a_session_only_when_they_keep_coming() -> None:
    table = running()
    a = start(table, "s1")
    for _ in range(MISSES_BEFORE_LOST - 1):
        assert table.lost(a, "no answer within 5 s", certain=False) == []
    assert table.find("s1") == a
    table.observe(a, report(f"{a}-a", "s1"))  # it answered: the count starts again
    for _ in range(MISSES_BEFORE_LOST - 1):
        assert table.lost(a, "no answer within 5 s", certain=False) == []
    assert table.lost(a, "no answer within 5 s", certain=False) != []
    assert table.find("s1") is None


def test_a_replica_whose_model_failed_to_load_takes_no_session() -> None:
    table = SlotTable(["r0", "r1"])
    table.observe("r0", report("r0-a", load_error="Counter.load() raised OSError: no weights"))
    table.observe("r1", report("r1-a"))
    assert table.request() == Granted("r1")
    health = table.health()
    assert health["failed"] == 1
    assert health["replica_states"][0]["error"] == "Counter.load() raised OSError: no weights"


def test_no_replica_could_load_the_model_says_the_models_error() -> None:
    table = SlotTable(["r0"])
    table.observe("r0", report("r0-a", load_error="Counter.load() raised OSError: no weights"))
    choice = table.request()
    assert isinstance(choice, Unavailable)
    assert "no weights" in choice.reason
    assert table.health()["status"] == "unavailable"


def test_a_session_the_ingress_did_not_start_is_adopted() -> None:
    """After the ingress itself restarts, the sessions running on replicas still route."""
    table = SlotTable(["r0", "r1"])
    table.observe("r0", report("r0-a", "old"))
    table.observe("r1", report("r1-a"))
    assert table.find("old") == "r0"
    assert table.request() == Granted("r1")


def test_a_replica_that_refused_as_busy_is_not_offered_again_until_it_reports() -> None:
    table = running(("r0",))
    assert table.request() == Granted("r0")
    table.release("r0", busy=True)
    waiting = table.request()
    assert isinstance(waiting, Busy)
    table.observe("r0", report("r0-a", None))
    assert table.request(waiting.ticket) == Granted("r0")


def test_replica_names_must_be_distinct() -> None:
    with pytest.raises(ValueError, match="distinct"):
        SlotTable(["r0", "r0"])


def test_a_call_answered_by_a_new_process_ends_the_session_of_the_old_one() -> None:
    """Ray may route a session's call to the replica's new process before any status call
    shows it: the session is over, and the replica is free again."""
    table = running()
    a = start(table, "s1")
    assert table.instance_of(a) == f"{a}-a"
    ended = table.restarted(a, f"{a}-b")
    assert [session for session, _ in ended] == ["s1"]
    assert "stopped and was restarted" in ended[0][1]
    assert (table.slots[a].state, table.slots[a].restarts) == ("free", 1)
    assert table.restarted(a, f"{a}-b") == []  # the same new process again: nothing more


def test_binding_records_the_process_the_session_started_on() -> None:
    table = running(("r0",))
    choice = table.request()
    assert choice == Granted("r0")
    # The start was answered by a process the table had not seen yet.
    assert table.bind("r0", "s1", "r0-b") == []
    assert table.instance_of("r0") == "r0-b"
    assert table.observe("r0", report("r0-b", "s1")) == []
    assert table.find("s1") == "r0"
