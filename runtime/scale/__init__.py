"""`reactor run --replicas N`: many clients behind one address, on Ray Serve.

The only package of the runtime that imports Ray (and only once a function here runs):
`app` builds and deploys the Serve application, `routing` is the pure table of replicas and
sessions, `ingress` the protocol-v1 deployment clients reach, `replica` the deployment that
holds one model instance and its single-client server."""

from reactor.scale.app import (
    Deployed,
    PlacementError,
    ReplicaLoadError,
    ScaleOptions,
    app_builder,
    build_app,
    deploy,
    place,
    serve_scaled,
)

__all__ = [
    "Deployed",
    "PlacementError",
    "ReplicaLoadError",
    "ScaleOptions",
    "app_builder",
    "build_app",
    "deploy",
    "place",
    "serve_scaled",
]
