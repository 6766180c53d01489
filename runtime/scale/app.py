"""`reactor run --replicas N [--ray-address ADDR]`: many clients, one address, on Ray Serve.

A Serve application of N model replicas (`replica`: each loads the model once and runs
the single-client server, one GPU each when the cluster has GPUs) and one ingress
(`ingress`: protocol v1 HTTP on the given port, relaying each session's signalling to its
replica). Ray is imported only here, and only when `--replicas` is given.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from reactor._options import ServeOptions

if TYPE_CHECKING:
    from reactor._manifest import Manifest

log = logging.getLogger("reactor.scale")

APP_NAME = "reactor"


@dataclass(frozen=True)
class ScaleOptions:
    """How the Serve application is laid out and watched (the CLI sets `replicas` and
    `ray_address`; the rest have defaults tests and benchmarks may tighten)."""

    replicas: int
    ray_address: str | None = None
    """Join this Ray cluster; None starts a local Ray instance for this program."""
    app_name: str = APP_NAME
    route_prefix: str = "/"
    health_check_period: float = 2.0
    """Seconds between Serve's health checks of each replica (a dead one is replaced sooner)."""
    watch_period: float = 1.0
    """Seconds between the ingress's status calls to each replica."""
    call_timeout: float = 5.0
    """Bound on each ingress → replica call."""
    retry_after: float = 2.0
    """What a refused (409) client is told to wait before trying again."""
    ticket_ttl: float = 10.0
    """A waiting client keeps its place in line this long without trying again."""
    graceful_shutdown: float = 3.0
    """Seconds Serve gives a replica to end its session when the application stops."""


@dataclass(frozen=True)
class Deployed:
    """A running scale-out application."""

    url: str
    handle: Any
    """The ingress's Serve deployment handle (`report` gives `/health`'s body)."""
    health: dict[str, Any]
    gpus: bool


class PlacementError(Exception):
    """The replicas cannot all be placed (too few GPUs); the message says what to change."""


class ReplicaLoadError(Exception):
    """A replica could not load the model; the message names it and carries the model's error."""


@dataclass(frozen=True)
class Placement:
    """Where the replicas go: one GPU each when the cluster has GPUs, else one CPU each."""

    gpus: bool
    problem: str | None = None
    """Why this cannot work (the program stops with it)."""
    warning: str | None = None
    """What may keep replicas waiting (said, then carried on)."""


def place(replicas: int, cluster_gpus: float, *, joined: bool) -> Placement:
    """Plan one GPU per replica if there are any GPUs. Too few GPUs is an error on a Ray
    instance we started, and a warning on a joined cluster (its autoscaler may add nodes)."""
    if cluster_gpus < 1:
        return Placement(gpus=False)
    if cluster_gpus >= replicas:
        return Placement(gpus=True)
    have = int(cluster_gpus)
    if not joined:
        return Placement(
            gpus=True,
            problem=f"--replicas {replicas} needs one GPU per replica and this machine has "
            f"{have}; use --replicas {have} or fewer",
        )
    return Placement(
        gpus=True,
        warning=f"the cluster has {have} GPU(s) now; {replicas - have} replica(s) wait for "
        "GPU nodes to join",
    )


def replica_names(count: int) -> list[str]:
    return [f"replica-{i}" for i in range(count)]


def build_app(manifest: Manifest, options: ServeOptions, scale: ScaleOptions, *, gpus: bool) -> Any:
    """The Serve application: `scale.replicas` single-replica model deployments (so each
    session's calls reach exactly the replica that holds its peer) and the ingress."""
    from ray import serve
    from reactor.scale.ingress import Ingress
    from reactor.scale.replica import ModelReplica

    replica = serve.deployment(
        ModelReplica,
        num_replicas=1,
        ray_actor_options={"num_gpus": 1} if gpus else {"num_cpus": 1},
        max_ongoing_requests=64,
        health_check_period_s=scale.health_check_period,
        health_check_timeout_s=max(10.0, scale.health_check_period * 3),
        graceful_shutdown_timeout_s=scale.graceful_shutdown,
        logging_config={"enable_access_log": False},
    )
    names = replica_names(scale.replicas)
    bound = [replica.options(name=name).bind(str(manifest.path), options) for name in names]
    ingress = serve.deployment(
        Ingress,
        name="ingress",
        num_replicas=1,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=256,
        graceful_shutdown_timeout_s=1.0,
    )
    return ingress.bind(
        bound,
        names,
        manifest.name,
        watch_period=scale.watch_period,
        call_timeout=scale.call_timeout,
        retry_after=scale.retry_after,
        ticket_ttl=scale.ticket_ttl,
    )


BUILDER_ARGS = {
    "manifest": "path of reactor.yaml on every node (required)",
    "replicas": "how many model replicas (required)",
    "gpus": "one GPU per replica: true/false (default: true when the cluster has GPUs now)",
    "ice_hosts": "list of addresses to offer as ICE host candidates",
    "stun": "list of STUN servers",
    "turn": "list of TURN servers, USER:PASSWORD@HOST:PORT",
    "codec": "vp8 or h264",
    "bitrate": "video bitrate, bits per second",
    "fps": "fixed frame rate",
}


def app_builder(args: dict[str, Any]) -> Any:
    """The application for a Serve config file or a KubeRay RayService, where no `reactor run`
    process is there: `import_path: reactor.scale:app_builder` with `args` from
    `BUILDER_ARGS`. Serve's own `http_options` and `route_prefix` say where it listens."""
    import ray
    from reactor._manifest import read_manifest

    unknown = sorted(set(args) - set(BUILDER_ARGS))
    if unknown:
        raise ValueError(f"unknown args {unknown}; reactor takes {sorted(BUILDER_ARGS)}")
    for key in ("manifest", "replicas"):
        if key not in args:
            raise ValueError(f"args.{key} is required: {BUILDER_ARGS[key]}")
    replicas = args["replicas"]
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 1:
        raise ValueError(f"args.replicas must be a whole number of at least 1, got {replicas!r}")
    options = ServeOptions(
        codec=args.get("codec", "vp8"),
        bitrate=args.get("bitrate"),
        fps=args.get("fps"),
        ice_hosts=tuple(args.get("ice_hosts", ())),
        stun=tuple(args.get("stun", ())),
        turn=tuple(args.get("turn", ())),
    )
    gpus = args.get("gpus")
    if gpus is None:
        gpus = ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1
    return build_app(
        read_manifest(args["manifest"]), options, ScaleOptions(replicas=replicas), gpus=bool(gpus)
    )


def deploy(manifest: Manifest, options: ServeOptions, scale: ScaleOptions) -> Deployed:
    """Start the application on the connected Ray instance (Serve already started) and wait
    until every replica has loaded the model; `ReplicaLoadError` (application removed) if one
    could not."""
    import ray
    from ray import serve

    placement = place(
        scale.replicas, ray.cluster_resources().get("GPU", 0), joined=scale.ray_address is not None
    )
    if placement.problem is not None:
        raise PlacementError(placement.problem)
    if placement.warning is not None:
        log.warning("%s", placement.warning)
    gpus = placement.gpus
    app = build_app(manifest, options, scale, gpus=gpus)
    handle = serve.run(app, name=scale.app_name, route_prefix=scale.route_prefix)
    health = handle.report.remote().result(timeout_s=120)
    failed = [r for r in health["replica_states"] if r["state"] == "failed"]
    if failed:
        serve.delete(scale.app_name)
        raise ReplicaLoadError(
            f"{failed[0]['name']} could not load the model: {failed[0]['error']}"
        )
    host, port = _serve_address(options)
    host = host if ":" not in host else f"[{host}]"
    prefix = scale.route_prefix.rstrip("/")
    return Deployed(f"http://{host}:{port}{prefix}/", handle, health, gpus)


def _serve_address(options: ServeOptions) -> tuple[str, int]:
    """Where Serve's HTTP proxy listens: ours, unless Serve already ran on a joined cluster
    with its own settings (which it keeps)."""
    try:
        from ray.serve.context import _get_global_client

        config = _get_global_client().http_config
        return str(config.host), int(config.port)
    except Exception:
        return options.host, options.port


def serve_scaled(
    manifest: Manifest,
    options: ServeOptions,
    *,
    replicas: int | None,
    ray_address: str | None = None,
) -> None:
    """`reactor run --replicas N`: start (or join) Ray, deploy, serve until SIGINT/SIGTERM,
    then remove the application (and stop the Ray instance it started).

    One line on stderr and exit status 2 for what the user can fix, 1 when the model failed
    to load in a replica.
    """

    def fail(message: str, status: int) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(status)

    if replicas is None:
        fail("--ray-address needs --replicas N (how many model replicas to run)", 2)
    if replicas < 1:
        fail(f"--replicas must be at least 1, got {replicas}", 2)
    from reactor._manifest import ManifestError
    from reactor._transport import PeerSettings, SettingsError, ice_servers

    try:
        ice_servers(PeerSettings.from_options(options))
        if ray_address is None:
            # On a cluster the model may import only on its nodes; here it must import now.
            manifest.model_class()
    except (SettingsError, ManifestError) as exc:
        fail(str(exc), 2)
    if ray_address is not None:
        problem = _cluster_problem(ray_address)
        if problem is not None:
            fail(problem, 2)
    try:
        import ray
        from ray import serve
    except ImportError:
        fail("--replicas runs on Ray Serve, which is not installed: pip install 'reactorc[ray]'", 2)
    scale = ScaleOptions(replicas=replicas, ray_address=ray_address)
    if ray_address is None:
        problem = _port_problem(options.host, options.port)
        if problem is not None:
            fail(problem, 2)
        ray.init(
            address="local",  # a new instance, even when RAY_ADDRESS names a cluster
            num_cpus=max(os.cpu_count() or 1, replicas),
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    else:
        try:
            ray.init(address=ray_address, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            fail(f"cannot join the Ray cluster at {ray_address}: {_first_line(exc)}", 2)
        running = _running_apps()
        if scale.app_name in running:
            ray.shutdown()  # leaves the cluster, and that application, as they were
            fail(
                f"an application named {scale.app_name!r} already runs on the Ray cluster at "
                f"{ray_address}; stop it first (`serve delete {scale.app_name}` there)",
                2,
            )
    status = 0
    try:
        serve.start(http_options={"host": options.host, "port": options.port})
        print(
            f"Starting {replicas} replica(s) of {manifest.name} on Ray Serve "
            "(each loads the model once)...",
            file=sys.stderr,
        )
        try:
            deployed = deploy(manifest, options, scale)
        except ReplicaLoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            return
        except PlacementError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            return
        except RuntimeError as exc:  # Serve could not deploy the application
            print(f"error: the application did not start: {_first_line(exc)}", file=sys.stderr)
            status = 1
            return
        where = "GPU" if deployed.gpus else "CPU"
        print(
            f"Serving {manifest.name} with {replicas} replica(s), one {where} each, at "
            f"{deployed.url}  (GET /health shows them; Ctrl+C stops)"
        )
        sys.stdout.flush()
        _wait_for_signal()
    except KeyboardInterrupt:  # Ctrl+C while the replicas were still loading
        print("interrupted; stopping the replicas", file=sys.stderr)
        status = 130
    finally:
        _teardown(scale)
        if status:
            raise SystemExit(status)


def _running_apps() -> set[str]:
    """The Serve applications on the joined cluster (none when Serve is not running there)."""
    from ray import serve

    try:
        return set(serve.status().applications)
    except Exception:
        return set()


def _wait_for_signal() -> None:
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _teardown(scale: ScaleOptions) -> None:
    """Remove our application; a Ray instance we started goes with Serve."""
    import ray
    from ray import serve

    try:
        if scale.ray_address is None:
            serve.shutdown()
        else:
            serve.delete(scale.app_name)
    except Exception:
        log.exception("stopping the Serve application failed")
    finally:
        if scale.ray_address is None:
            ray.shutdown()


def _cluster_problem(address: str) -> str | None:
    """Why `--ray-address` cannot work, checked before Ray (which retries an unreachable head
    for minutes). `auto` and `ray://` addresses are left to Ray."""
    if address == "auto" or "://" in address:
        return None
    host, colon, port = address.rpartition(":")
    if not colon or not host or not port.isdigit():
        return (
            f"--ray-address {address!r}: expected the head node's HOST:PORT "
            "(e.g. 10.0.0.5:6379), or auto on a node of the cluster"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        return (
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
            "is `ray start --head` running there?"
        )
    return None


def _port_problem(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return (
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                "pick another --port or stop the program using it"
            )
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
