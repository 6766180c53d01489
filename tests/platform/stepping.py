"""A small test driver: step a generated ReactorApp by hand and run the generator form it came
from, under the same state changes, and compare the frames.

Both forms are driven the way their runtimes drive them, minus the network: the generator form
(`--target reactor` or `reactor-runtime`) is iterated, its `inference()` started again when it
returns (the next clip); the step form (`--target reactor-app`) gets a session start, then
`process_input()` and `generate()` per step. After the n-th output of either, the changes
scheduled for n are written to its state, as a client's `set_<field>` lands between two steps
(those for 0 before the first).

Importable from the tests, and runnable by itself under another Python (a reactor-runtime 3.x
environment) to do the same against the real runtime:

    python stepping.py GENERATOR_DIR APP_DIR --config '{...}' --changes '[[2, "prompt", "x"]]'
    python stepping.py --jobs jobs.json

prints one JSON object (see `compare`), or a list of them for `--jobs` (see `run_jobs`). Without reactor_runtime installed, the step form is
imported against `FakeRuntime`: the handful of 3.x names the generated module uses.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import traceback
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import yaml

Change = tuple[int, str, Any]
"""(after this many outputs, field, value)."""


@contextmanager
def fake_reactor_runtime() -> Iterator[None]:
    """While a step-form module is imported: `reactor_runtime` as the few names it uses (the
    state, output and track classes of this project's runtime, which follow the same model API,
    and a bare ReactorApp); the real package when it is installed."""
    try:
        import reactor_runtime  # noqa: F401
    except ImportError:
        pass
    else:
        yield
        return
    from reactor import InputField, InputState, Output, Video

    class ReactorApp:
        """reactor-runtime 3.x's base, as far as a hand-driven step needs it."""

        state: Any = None

        def load(self, config: Any) -> None:
            pass

        async def process_input(self) -> Any:
            return self.state

        def generate(self, input: Any, /) -> Any:
            raise NotImplementedError

    fake = types.ModuleType("reactor_runtime")
    fake.__dict__.update(
        InputField=InputField,
        InputState=InputState,
        Output=Output,
        Video=Video,
        ReactorApp=ReactorApp,
        session_started=lambda func: func,
    )
    sys.modules["reactor_runtime"] = fake
    try:
        yield
    finally:
        del sys.modules["reactor_runtime"]


def model_class(folder: Path) -> type:
    """The class a converted folder's reactor.yaml names, its module imported by path under a
    name unique to the folder (every output calls its module `pipeline_stream` / `_app`)."""
    manifest = yaml.safe_load((folder / "reactor.yaml").read_text(encoding="utf-8"))
    ref = manifest["runtime"]["import"] if "runtime" in manifest else manifest["model"]
    module_name, _, class_name = ref.partition(":")
    unique = f"_stepping_{abs(hash(str(folder.resolve())))}_{module_name}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, folder / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        with fake_reactor_runtime():
            spec.loader.exec_module(module)
    return getattr(module, class_name)


def fresh_state(model: Any) -> Any:
    """A state at its defaults, as a runtime makes one when a session starts."""
    return typing.get_type_hints(type(model))["state"]()


def _apply(state: Any, changes: list[Change], outputs: int) -> None:
    for after, name, value in changes:
        if after == outputs:
            setattr(state, name, value)


def generator_frames(
    model: Any, changes: list[Change], max_outputs: int, clips: int = 2
) -> list[np.ndarray]:
    """The generator form's outputs: `clips` clips or `max_outputs` outputs, whichever first."""
    model.state = fresh_state(model)
    _apply(model.state, changes, 0)
    out: list[np.ndarray] = []
    ended = 0
    empty_clips = 0
    while len(out) < max_outputs and ended < clips:
        made = 0
        for output in model.inference():
            if output is None:
                continue
            out.append(np.asarray(output.main_video))
            made += 1
            _apply(model.state, changes, len(out))
            if len(out) >= max_outputs:
                break
        else:
            ended += 1
        empty_clips = empty_clips + 1 if made == 0 else 0
        if empty_clips >= 2:
            break  # a clip with no frame, twice: the runtime would report the model broken
    return out


def app_frames(app: Any, changes: list[Change], outputs: int) -> list[np.ndarray]:
    """`outputs` outputs of the step form, stepped by hand: a session start, then per step
    `process_input()` and `generate()` (a step that returns None emits nothing)."""
    app.state = fresh_state(app)
    _apply(app.state, changes, 0)
    app.new_session()
    loop = asyncio.new_event_loop()
    out: list[np.ndarray] = []
    try:
        for _ in range(4 * outputs + 8):
            if len(out) >= outputs:
                break
            step_input = loop.run_until_complete(app.process_input())
            result = app.generate(step_input)
            if result is None:
                continue
            out.append(np.asarray(result.main_video))
            _apply(app.state, changes, len(out))
    finally:
        loop.close()
    return out


def compare(
    generator_dir: Path,
    app_dir: Path,
    config: dict[str, Any],
    changes: list[Change],
    max_outputs: int = 40,
) -> dict[str, Any]:
    """Run both forms and say how their outputs compare: `outputs` (the generator form's count),
    `app_outputs`, `frames`, `equal` (every output the same shape and bytes), `first_mismatch`
    (the index of the first output that differs, or None)."""
    generator = model_class(generator_dir)()
    generator.load(dict(config))
    expected = generator_frames(generator, changes, max_outputs)
    app = model_class(app_dir)()
    app.load(dict(config))
    got = app_frames(app, changes, len(expected))
    mismatch = next(
        (
            i
            for i, (a, b) in enumerate(zip(expected, got, strict=False))
            if a.shape != b.shape or not np.array_equal(a, b)
        ),
        None,
    )
    if mismatch is None and len(got) != len(expected):
        mismatch = min(len(got), len(expected))
    return {
        "outputs": len(expected),
        "app_outputs": len(got),
        "frames": int(sum(len(a) for a in expected)),
        "equal": mismatch is None,
        "first_mismatch": mismatch,
    }


def run_jobs(path: Path) -> list[dict[str, Any]]:
    """Several comparisons in one process (one torch import): `path` holds a JSON list of
    {name, generator, app, config, changes}; each result carries its name, or its error."""
    results = []
    for job in json.loads(path.read_text(encoding="utf-8")):
        try:
            result = compare(
                Path(job["generator"]),
                Path(job["app"]),
                job["config"],
                [tuple(c) for c in job["changes"]],  # type: ignore[misc]
            )
        except Exception as exc:  # reported per job, so one failure does not hide the others
            where = traceback.format_exc().strip().splitlines()[-6:]
            result = {"equal": False, "error": f"{type(exc).__name__}: {exc}", "where": where}
        results.append({"name": job["name"], **result})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generator_dir", type=Path, nargs="?")
    parser.add_argument("app_dir", type=Path, nargs="?")
    parser.add_argument("--config", default="{}", help="load()'s config, as JSON")
    parser.add_argument("--changes", default="[]", help="[[after, field, value], ...] as JSON")
    parser.add_argument("--max-outputs", type=int, default=40)
    parser.add_argument("--jobs", type=Path, help="a JSON list of comparisons to run instead")
    args = parser.parse_args(argv)
    if args.jobs is not None:
        results = run_jobs(args.jobs)
        print(json.dumps(results))
        return 0 if all(r["equal"] for r in results) else 1
    if args.generator_dir is None or args.app_dir is None:
        parser.error("give GENERATOR_DIR and APP_DIR, or --jobs")
    changes = [tuple(c) for c in json.loads(args.changes)]
    result = compare(
        args.generator_dir,
        args.app_dir,
        json.loads(args.config),
        changes,  # type: ignore[arg-type]
        args.max_outputs,
    )
    print(json.dumps(result))
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
