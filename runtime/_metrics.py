"""What the server counts, served as `GET /metrics` in the Prometheus text format (0.0.4).

The people who run model servers scrape this format already; it is simple enough to write
without a client library: `# HELP` and `# TYPE` lines, then one `name{labels} value` line per
sample, histograms as cumulative `_bucket{le=...}` lines plus `_sum` and `_count`.

Counters only grow while the server runs. Gauges (sessions, peers, memory, threads, the model's
state) are read when the page is asked for.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATE_FALLBACK_SECONDS = 0.010
"""A frame counts as late when it leaves more than half a frame interval after its due time;
before a track has two frames (no interval yet), more than this."""

FRAME_DELAY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
UPDATE_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass
class Family:
    """One metric: its name, help, type and samples (`labels -> value`)."""

    name: str
    help: str
    type: str
    samples: dict[Labels, float] = field(default_factory=dict)

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.type}"
        for labels, value in self.samples.items():
            yield f"{self.name}{_labels(labels)} {_number(value)}"


class Counter(Family):
    """A count that only grows; `label_names` are fixed, their values come from a closed set."""

    def __init__(self, name: str, help: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help, "counter")
        self.label_names = tuple(label_names)
        if not self.label_names:
            self.samples[()] = 0.0
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple((n, str(labels[n])) for n in self.label_names)
        with self._lock:
            self.samples[key] = self.samples.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self.samples.get(tuple((n, str(labels[n])) for n in self.label_names), 0.0)

    def total(self) -> float:
        return sum(self.samples.values())


class Histogram:
    """Observations counted into cumulative buckets (upper bounds in seconds), with sum and count."""

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.help = help
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * len(self.bounds)
        self.count = 0
        self.sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self.count += 1
            self.sum += value
            for i, bound in enumerate(self.bounds):
                if value <= bound:
                    self.counts[i] += 1
                    break

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        cumulative = 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            cumulative += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}'
        yield f'{self.name}_bucket{{le="+Inf"}} {self.count}'
        yield f"{self.name}_sum {_number(self.sum)}"
        yield f"{self.name}_count {self.count}"


class Metrics:
    """The counters of one served model (one `ReactorServer`, or one replica of it)."""

    def __init__(self) -> None:
        self.sessions_started = Counter(
            "reactor_sessions_started_total", "Sessions started (start_session answered 200)."
        )
        self.sessions_ended = Counter(
            "reactor_sessions_ended_total", "Sessions ended, by reason.", ["reason"]
        )
        self.sessions_refused = Counter(
            "reactor_sessions_refused_total",
            "start_session calls refused: busy (another client streams), loading, stuck.",
            ["reason"],
        )
        self.frames_sent = Counter(
            "reactor_frames_sent_total", "Frames handed to a track's encoder, per track.", ["track"]
        )
        self.frames_late = Counter(
            "reactor_frames_late_total",
            "Frames handed to the encoder more than half a frame interval after their due time.",
            ["track"],
        )
        self.frame_delay = Histogram(
            "reactor_frame_delay_seconds",
            "How long after its due time each frame was handed to the encoder.",
            FRAME_DELAY_BUCKETS,
        )
        self.update_latency = Histogram(
            "reactor_update_latency_seconds",
            "From a set_<field> command's arrival to the release of the first frame made with it.",
            UPDATE_LATENCY_BUCKETS,
        )
        self.commands = Counter(
            "reactor_commands_total", "Client commands accepted (set_<field> and events)."
        )
        self.commands_refused = Counter(
            "reactor_commands_refused_total",
            "Client data-channel messages refused, by reason.",
            ["reason"],
        )
        self.refused_bursts = Counter(
            "reactor_refused_bursts_total",
            "Bursts of data-channel messages over a client's rate (each answered with one error).",
        )
        self.messages_dropped = Counter(
            "reactor_messages_dropped_total",
            "Messages to a client dropped because it was not reading them.",
            ["reason"],
        )
        self.packets_dropped = Counter(
            "reactor_data_packets_dropped_total",
            "Data-channel packets dropped unread because a client sent more than its rate.",
        )
        self.requests_refused = Counter(
            "reactor_requests_refused_total",
            "HTTP requests answered with an error, by HTTP status and error code.",
            ["status", "code"],
        )
        self.upload_bytes = Counter(
            "reactor_upload_bytes_total", "Bytes of files uploaded by clients."
        )
        self._last_due: dict[str, float] = {}

    # -- what the server calls ------------------------------------------------------------------

    def frame_sent(self, track: str, due: float, released: float) -> None:
        """A frame left for its encoder at `released`; it was due at `due` (same clock)."""
        delay = max(0.0, released - due)
        previous = self._last_due.get(track)
        self._last_due[track] = due
        interval = due - previous if previous is not None else 0.0
        late_after = interval / 2 if interval > 0 else LATE_FALLBACK_SECONDS
        self.frames_sent.inc(track=track)
        self.frame_delay.observe(delay)
        if delay > late_after:
            self.frames_late.inc(track=track)

    def session_ended(self, reason: str) -> None:
        self._last_due.clear()
        self.sessions_ended.inc(reason=reason)

    def upload_received(self, size: int) -> None:
        """Count `size` bytes of an uploaded file (called by the upload route as bytes land)."""
        self.upload_bytes.inc(size)

    # -- the page -------------------------------------------------------------------------------

    def render(self, gauges: Iterable[Family] = ()) -> str:
        """The Prometheus text page: these counters, then `gauges` read at this moment."""
        families: list[Family | Histogram] = [
            self.sessions_started,
            self.sessions_ended,
            self.sessions_refused,
            self.frames_sent,
            self.frames_late,
            self.frame_delay,
            self.update_latency,
            self.commands,
            self.commands_refused,
            self.refused_bursts,
            self.messages_dropped,
            self.packets_dropped,
            self.requests_refused,
            self.upload_bytes,
            *gauges,
        ]
        return "\n".join(line for family in families for line in family.lines()) + "\n"


def gauge(name: str, help: str, value: float | dict[Labels, float]) -> Family:
    """A gauge family with one value, or with a value per label set."""
    samples = value if isinstance(value, dict) else {(): float(value)}
    return Family(name, help, "gauge", dict(samples))


# -------------------------------------------------------------------------------------------------
# The process


def process_families() -> list[Family]:
    """The process's memory, descriptors, threads and CPU time, under the names Prometheus'
    own client uses (Linux's /proc; on other systems only what the standard library tells)."""
    families = []
    rss = resident_bytes()
    if rss is not None:
        families.append(gauge("process_resident_memory_bytes", "Resident memory size.", rss))
    fds = open_descriptors()
    if fds is not None:
        families.append(gauge("process_open_fds", "Open file descriptors.", fds))
    families.append(
        gauge("process_threads", "Threads of the process (native ones included).", os_threads())
    )
    cpu = os.times()
    families.append(
        Family(
            "process_cpu_seconds_total",
            "User and system CPU time spent.",
            "counter",
            {(): cpu.user + cpu.system},
        )
    )
    return families


def resident_bytes() -> int | None:
    """Resident memory of this process now (None where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def open_descriptors() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def os_threads() -> int:
    """The process's threads as the system counts them (native threads of codecs included)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return threading.active_count()


# -------------------------------------------------------------------------------------------------
# Reading pages back (the scale-out ingress merges its replicas' pages; benchmarks read them)

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def read_samples(text: str) -> dict[str, dict[Labels, float]]:
    """`{name: {labels: value}}` from a text page (comments skipped)."""
    out: dict[str, dict[Labels, float]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        labels = tuple(
            (k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
            for k, v in _LABEL.findall(match.group(2) or "")
        )
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        out.setdefault(match.group(1), {})[labels] = value
    return out


def merge_pages(pages: dict[str, str], label: str = "replica") -> str:
    """Several servers' pages as one: every sample gets `label="<key>"`, and each metric's HELP
    and TYPE lines appear once, before its first sample."""
    described: set[tuple[str, str]] = set()
    head: dict[str, list[str]] = {}
    body: dict[str, list[str]] = {}
    order: list[str] = []
    for key, text in pages.items():
        current = None
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                name = line.split()[2]
                if name not in head:
                    head[name] = []
                    body[name] = []
                    order.append(name)
                if (line[2:6], name) not in described:
                    described.add((line[2:6], name))
                    head[name].append(line)
                current = name
                continue
            match = _SAMPLE.match(line)
            if match is None or line.startswith("#"):
                continue
            labels = match.group(2)
            extra = f'{label}="{_escape(key)}"'
            labelled = "{" + extra + ("," + labels[1:] if labels and labels != "{}" else "}")
            name = current if current is not None else match.group(1)
            if name not in body:
                head[name] = []
                body[name] = []
                order.append(name)
            body[name].append(f"{match.group(1)}{labelled} {match.group(3)}")
    return "".join("\n".join(head[n] + body[n]) + "\n" for n in order)
