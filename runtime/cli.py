"""The `reactor` command: serve a model (`reactor run`), record it headless, print its schema.

Bad input (files, flags, values) gets one line on stderr and exit status 2; a model that fails
for good gets exit status 1. Never a traceback for something the user typed.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from reactor._commandline import UsageProblem, run_app, say
from reactor._manifest import MANIFEST, Manifest, ManifestError, ModelLoadError, read_manifest
from reactor._options import ServeOptions
from reactor._version import version
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

app = typer.Typer(
    name="reactor",
    help="Serve a streaming model over WebRTC, or record it headless to an mp4.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, highlight=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reactor {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """reactor: serve a streaming model, or record it headless."""


class Codec(StrEnum):
    vp8 = "vp8"
    h264 = "h264"


ManifestOption = Annotated[
    Path,
    typer.Option("--manifest", "-m", help="The model's reactor.yaml.", show_default=True),
]


def _manifest(path: Path) -> Manifest:
    try:
        return read_manifest(path)
    except ManifestError as exc:
        raise UsageProblem(str(exc)) from None


@app.command()
def run(
    manifest: ManifestOption = Path(MANIFEST),
    headless: Annotated[
        bool, typer.Option("--headless", help="No network: record frames to --out.")
    ] = False,
    frames: Annotated[int, typer.Option(help="Headless: how many video frames to record.")] = 90,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Headless: the mp4 to write.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Headless: start with field=value (repeatable)."),
    ] = None,
    fps: Annotated[
        float | None, typer.Option(help="Fixed frame rate; default: the model's own or adaptive.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8080,
    codec: Annotated[Codec, typer.Option(help="Video codec.")] = Codec.vp8,
    bitrate: Annotated[
        int | None, typer.Option(help="Target video bitrate, bits per second.")
    ] = None,
    ice_host: Annotated[
        list[str] | None,
        typer.Option("--ice-host", help="Offer ICE host candidates on this address (repeatable)."),
    ] = None,
    stun: Annotated[
        list[str] | None,
        typer.Option(help="A STUN server as HOST:PORT (repeatable); none by default."),
    ] = None,
    turn: Annotated[
        list[str] | None,
        typer.Option(
            help="A TURN server as USER:PASSWORD@HOST:PORT (repeatable); none by default."
        ),
    ] = None,
    max_upload_mb: Annotated[
        float,
        typer.Option(help="Largest file a client may upload, in MiB."),
    ] = 100.0,
    max_uploads: Annotated[int, typer.Option(help="Files one client session may upload.")] = 16,
    upload_type: Annotated[
        list[str] | None,
        typer.Option(
            "--upload-type",
            help="A content type clients may upload, e.g. image/* (repeatable); default: any.",
        ),
    ] = None,
    replicas: Annotated[
        int | None,
        typer.Option(
            help="Serve N model replicas behind this address on Ray Serve (the ray extra)."
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="With --replicas: join this Ray cluster instead of starting Ray here."),
    ] = None,
) -> None:
    """Serve the model (HTTP + WebRTC), or with --headless record it to an mp4."""
    if fps is not None and not fps > 0:
        raise UsageProblem(f"--fps must be positive, got {fps}")
    if headless and (replicas is not None or ray_address is not None):
        raise UsageProblem(
            "--replicas and --ray-address serve clients; they do not apply with --headless"
        )
    if headless:
        _run_headless(manifest, frames, out, set_ or [], fps)
        return
    if set_:
        raise UsageProblem("--set only applies with --headless; a client sets state when served")
    if out is not None:
        raise UsageProblem("--out only applies with --headless")
    if not 0 < port < 65536:
        raise UsageProblem(f"--port must be between 1 and 65535, got {port}")
    if bitrate is not None and bitrate <= 0:
        raise UsageProblem(f"--bitrate must be positive, got {bitrate}")
    if not max_upload_mb > 0:
        raise UsageProblem(f"--max-upload-mb must be positive, got {max_upload_mb:g}")
    if max_uploads < 0:
        raise UsageProblem(f"--max-uploads must be 0 or more, got {max_uploads}")
    for kind in upload_type or ():
        if not re.fullmatch(r"[\w.+*-]+/[\w.+*-]+", kind):
            raise UsageProblem(
                f"--upload-type {kind!r}: expected a content type like image/png or image/*"
            )
    options = ServeOptions(
        host=host,
        port=port,
        codec=codec.value,
        bitrate=bitrate,
        fps=fps,
        ice_hosts=tuple(ice_host or ()),
        stun=tuple(stun or ()),
        turn=tuple(turn or ()),
        max_upload_bytes=max(1, int(max_upload_mb * 1024 * 1024)),
        max_uploads=max_uploads,
        upload_types=tuple(upload_type or ()),
    )
    loaded = _manifest(manifest)
    if replicas is not None or ray_address is not None:
        from reactor.scale import serve_scaled  # imports Ray; only here

        serve_scaled(loaded, options, replicas=replicas, ray_address=ray_address)
        return
    try:
        from reactor import _server
    except ModuleNotFoundError as exc:
        if exc.name == "reactor._server":
            raise UsageProblem(
                "this installation has no server (reactor._server is missing); "
                "use --headless to record instead"
            ) from None
        raise
    result = _server.serve(loaded, options)
    if inspect.isawaitable(result):
        asyncio.run(result)  # type: ignore[arg-type]


def _run_headless(
    manifest_path: Path, frames: int, out: Path | None, sets: list[str], fps: float | None
) -> None:
    from reactor._headless import (
        HeadlessInputError,
        ModelFailedError,
        check_output_path,
        parse_sets,
        run_headless,
    )

    if out is None:
        raise UsageProblem("--headless needs --out FILE.mp4")
    if frames < 1:
        raise UsageProblem(f"--frames must be at least 1, got {frames}")
    try:
        check_output_path(out)
        manifest = _manifest(manifest_path)
        try:
            cls = manifest.model_class()
        except ManifestError as exc:
            raise UsageProblem(str(exc)) from None
        state = parse_sets(cls.state_class(), sets)
        try:
            model = manifest.load_model()
        except ModelLoadError as exc:
            logging.getLogger("reactor").error("%s", exc, exc_info=exc.__cause__)
            say(f"error: {exc}")
            raise typer.Exit(1) from None
        with Progress(
            TextColumn(f"[bold]{manifest.name}[/] → {out}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as progress:
            task = progress.add_task("frames", total=frames)
            result = run_headless(
                model,
                frames=frames,
                out=out,
                state=state,
                fps=fps,
                on_frame=lambda n: progress.update(task, completed=n),
            )
    except HeadlessInputError as exc:
        raise UsageProblem(str(exc)) from None
    except ModelFailedError as exc:
        say(f"error: {exc}; nothing was written")
        raise typer.Exit(1) from None
    for message in result.errors:
        say(f"warning: model error (restarted): {message}")
    width, height = result.size
    rate = result.frames / result.duration if result.duration > 0 else 0.0
    say(
        f"wrote {result.path}: {result.frames} frames of {width}x{height}, "
        f"a clip {result.duration:.2f} s long at {rate:.1f} fps"
    )


@app.command()
def schema(manifest: ManifestOption = Path(MANIFEST)) -> None:
    """Print the model's commands, state fields, tracks and messages as OpenAPI 3.1 JSON."""
    from reactor._schema import build_schema

    loaded = _manifest(manifest)
    try:
        cls = loaded.model_class()
    except ManifestError as exc:
        raise UsageProblem(str(exc)) from None
    document = build_schema(cls, name=loaded.name)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `reactor` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_app(app, "reactor", argv)


if __name__ == "__main__":
    main()
