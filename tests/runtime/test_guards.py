"""The server's guards on their own, with fake clocks and fake memory: the message rate limit
and its bursts, the data-packet throttle, the model's state for /health, memory growth per clip
(GPU memory through torch, looked up and never imported), the load watchdog and the step
watch."""

from __future__ import annotations

import asyncio
import sys
import threading
import types

import pytest
from reactor._health import ClipMemory, assess, gpu_bytes
from reactor._limits import (
    BURST_QUIET_SECONDS,
    DTLS_APPLICATION_DATA,
    Limits,
    MessageGate,
    TokenBucket,
    throttle_data_packets,
)
from reactor._watchdog import LoadTimeout, ModelLoader, StepWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_gate_takes_a_burst_then_the_rate_and_answers_once_per_refused_burst() -> None:
    clock = Clock()
    gate = MessageGate(rate=10, burst=5, clock=clock)
    assert [gate.admit() for _ in range(7)] == ["accept"] * 5 + ["refuse_and_tell", "refuse"]
    clock.now += 0.11  # one token back: accepted, and the burst goes on
    assert [gate.admit() for _ in range(3)] == ["accept", "refuse", "refuse"]
    clock.now += BURST_QUIET_SECONDS / 2  # refusals keep coming: still the same burst
    assert gate.admit() == "accept"
    for _ in range(5):
        gate.admit()
    assert gate.bursts == 1
    clock.now += BURST_QUIET_SECONDS + 0.01  # quiet for a second: a new burst is told again
    assert [gate.admit() for _ in range(5)][-1] == "accept"
    while gate.admit() == "accept":
        pass
    assert gate.bursts == 2
    assert "10 a second (bursts of 5)" in gate.reason()


def test_a_sustained_flood_gets_the_rate_and_one_answer() -> None:
    clock = Clock()
    gate = MessageGate(rate=100, burst=200, clock=clock)
    answers = []
    for _ in range(10_000):  # 10,000 a second for a second
        clock.now += 0.0001
        answers.append(gate.admit())
    assert answers.count("refuse_and_tell") == 1
    assert 200 + 100 - 1 <= answers.count("accept") <= 200 + 100 + 1


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(2, 3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 10  # never more than the burst saved up
    assert sum(bucket.take() for _ in range(10)) == 3


async def test_data_packets_over_the_rate_are_dropped_and_media_never() -> None:
    packets = [bytes([DTLS_APPLICATION_DATA]) + b"sctp"] * 5 + [b"\x90rtp", b"\x16handshake"]

    class Ice:
        def __init__(self) -> None:
            self.queue = list(packets)

        async def _recv(self) -> bytes:
            if not self.queue:
                raise ConnectionError
            return self.queue.pop(0)

    ice = Ice()
    dropped = []
    throttle_data_packets(ice, rate=0.001, burst=2, on_drop=lambda: dropped.append(1))
    throttle_data_packets(ice, rate=0.001, burst=2)  # once per transport
    got = []
    with pytest.raises(ConnectionError):
        while True:
            got.append(await ice._recv())
    assert got == [*packets[:2], b"\x90rtp", b"\x16handshake"]
    assert len(dropped) == 3


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        ({"max_body_bytes": 0}, "max_body_bytes must be at least 1"),
        ({"command_rate": 0}, "command_rate must be positive"),
        ({"load_timeout": -1}, "load_timeout must be positive"),
        ({"stuck_after": 0}, "stuck_after must be positive"),
    ],
)
def test_limits_refuse_values_that_cannot_work(limits: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Limits(**limits)


@pytest.mark.parametrize(
    ("facts", "status", "http", "part"),
    [
        ({"loading_for": 12.0}, "loading", 503, "loading (12 s so far; the limit is 600 s)"),
        ({"lingering": True, "step_age": 3.5, "ended": "s1"}, "stuck", 503, "session s1 ended"),
        ({"session": "s2", "step_age": 61.0}, "stuck", 503, "running for 61 s, longer than"),
        ({"session": "s2", "step_age": 0.5}, "busy", 200, "session s2"),
        ({}, "ready", 200, "ready for a client"),
    ],
)
def test_the_models_state_with_its_reason(facts: dict, status: str, http: int, part: str) -> None:
    given = {
        "loading_for": None,
        "load_timeout": 600.0,
        "session": None,
        "step_age": None,
        "lingering": False,
        "ended": None,
        "stuck_after": 60.0,
        **facts,
    }
    health = assess(**given)
    assert (health.status, health.http_status) == (status, http)
    assert part in health.reason
    assert health.refuses_sessions == (http == 503)


def test_growth_per_clip_is_fitted_and_a_steady_one_warned_about() -> None:
    rss = iter(range(500_000_000, 600_000_000, 4_000_000))  # 4 MB more each clip
    memory = ClipMemory(window=8, rss=lambda: next(rss), gpu=lambda: None)
    memory.clip_started()  # the first clip is warm-up: not measured
    assert memory.growth("rss") is None
    for _ in range(10):
        memory.clip_started()
    slope, clips = memory.growth("rss")
    assert slope == pytest.approx(4_000_000) and clips == 8
    assert memory.growth("gpu") is None
    assert memory.warnings() == [
        "process memory (RSS) grows by 4.0 MB per clip over the last 8 clips: the model may "
        "keep something from each clip (a leak)"
    ]


def test_memory_that_comes_and_goes_is_no_leak() -> None:
    values = iter([300_000_000 + (i % 2) * 3_000_000 for i in range(40)])
    memory = ClipMemory(rss=lambda: next(values), gpu=lambda: None)
    for _ in range(20):
        memory.clip_started()
    assert abs(memory.growth("rss")[0]) < 1_000_000
    assert memory.warnings() == []


def test_gpu_memory_is_read_through_torch_when_the_model_uses_cuda(monkeypatch) -> None:
    allocated = {0: 1_000, 1: 2_000}
    cuda = types.SimpleNamespace(
        is_initialized=lambda: True,
        device_count=lambda: 2,
        memory_allocated=lambda device: allocated[device],
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert gpu_bytes() == 3_000
    cuda.is_initialized = lambda: False  # CUDA never touched: not initialised on its behalf
    assert gpu_bytes() is None
    monkeypatch.delitem(sys.modules, "torch")
    assert gpu_bytes() is None

    leak = iter(range(0, 10**9, 50_000_000))
    memory = ClipMemory(rss=lambda: 1, gpu=lambda: next(leak))
    for _ in range(8):
        memory.clip_started()
    assert memory.report()["gpu_growth_per_clip_bytes"] == 50_000_000
    assert "GPU memory grows by 50.0 MB per clip" in memory.warnings()[0]


async def test_a_load_that_does_not_return_times_out_and_one_that_fails_says_why() -> None:
    release = threading.Event()
    loader = ModelLoader(release.wait, timeout=0.3)
    loader.start()
    assert loader.loading
    with pytest.raises(LoadTimeout, match=r"did not finish loading within 0\.3 s"):
        await loader.wait()
    assert loader.loading and loader.elapsed() >= 0.3
    release.set()

    def broken() -> None:
        raise OSError("no weights")

    with pytest.raises(OSError, match="no weights"):
        await ModelLoader(broken, timeout=5).wait()
    assert await ModelLoader(lambda: "model", timeout=None).wait() == "model"

    async def later() -> str:
        await asyncio.sleep(0.1)
        return "loaded"

    slow = ModelLoader(lambda: asyncio.run(later()), timeout=5)
    slow.start()
    assert await slow.wait() == "loaded" and not slow.loading


def test_the_step_watch_tells_once_per_overdue_step() -> None:
    watch = StepWatch(stuck_after=5)
    assert [watch.overdue(age) for age in (1, 4, 6, 7, 30)] == [False, False, True, False, False]
    assert [watch.overdue(age) for age in (None, 0.1, 6)] == [False, False, True]
