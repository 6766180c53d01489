"""How the Serve application is laid out, checked without starting Ray: one deployment per
replica (so a session's calls reach the process holding its peer), one GPU each when there
are GPUs, and an ingress that takes no CPU from the models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reactor._manifest import read_manifest
from reactor._options import ServeOptions
from reactor.scale import ScaleOptions, build_app, place


@pytest.mark.parametrize(
    ("replicas", "gpus", "joined", "expected"),
    [
        (4, 0, False, (False, None, None)),
        (4, 8, False, (True, None, None)),
        (2, 2, True, (True, None, None)),
        (
            4,
            2,
            False,
            (True, "--replicas 4 needs one GPU per replica and this machine has 2; "
             "use --replicas 2 or fewer", None),
        ),
        (
            4,
            2,
            True,
            (True, None, "the cluster has 2 GPU(s) now; 2 replica(s) wait for GPU nodes to join"),
        ),
    ],
)  # fmt: skip
def test_one_gpu_per_replica_when_there_are_gpus(
    replicas: int, gpus: float, joined: bool, expected: tuple[bool, str | None, str | None]
) -> None:
    placement = place(replicas, gpus, joined=joined)
    assert (placement.gpus, placement.problem, placement.warning) == expected


@pytest.mark.ray
@pytest.mark.parametrize("gpus", [True, False])
def test_the_application_has_one_single_replica_deployment_per_model_replica(
    steady_manifest: Path, gpus: bool
) -> None:
    pytest.importorskip("ray.serve")
    options = ServeOptions(port=9000, ice_hosts=("127.0.0.1",))
    app = build_app(read_manifest(steady_manifest), options, ScaleOptions(replicas=3), gpus=gpus)
    ingress = app._bound_deployment
    assert (ingress.name, ingress.num_replicas) == ("ingress", 1)
    assert ingress.ray_actor_options["num_cpus"] == 0
    handles, names, model_name = ingress.init_args
    assert names == ["replica-0", "replica-1", "replica-2"] and model_name == "steady"
    for name, bound in zip(names, handles, strict=True):
        deployment = bound._bound_deployment
        assert (deployment.name, deployment.num_replicas) == (name, 1)
        assert deployment.init_args == (str(steady_manifest), options)
        wanted = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        assert wanted.items() <= deployment.ray_actor_options.items()
        assert ("num_gpus" in deployment.ray_actor_options) == gpus
    # Building the application imports Ray but starts nothing.
    import ray

    assert not ray.is_initialized()


@pytest.mark.ray
def test_a_serve_config_builds_the_same_application(steady_manifest: Path) -> None:
    """`import_path: reactor.scale.app:app_builder` (KubeRay RayService, `serve run config.yaml`)."""
    pytest.importorskip("ray.serve")
    from reactor.scale import app_builder

    args = {"manifest": str(steady_manifest), "replicas": 2, "gpus": True, "turn": ["a:b@t:3478"]}
    ingress = app_builder(args)._bound_deployment
    handles, names, _ = ingress.init_args
    assert names == ["replica-0", "replica-1"]
    replica = handles[0]._bound_deployment
    assert replica.ray_actor_options["num_gpus"] == 1
    assert replica.init_args[1].turn == ("a:b@t:3478",)


@pytest.mark.ray
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"replicas": 2}, "args.manifest is required"),
        ({"manifest": "m", "replicas": 0}, "args.replicas must be a whole number of at least 1"),
        ({"manifest": "m", "replicas": 1, "replica": 2}, "unknown args ['replica']"),
    ],
)
def test_a_serve_config_with_bad_args_says_which(args: dict[str, object], message: str) -> None:
    pytest.importorskip("ray.serve")
    from reactor.scale import app_builder

    with pytest.raises(ValueError, match=re.escape(message)):
        app_builder(args)
