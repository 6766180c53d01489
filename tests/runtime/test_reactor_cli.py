"""The `reactor` command: manifests, headless recording, schema, and every bad input → exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
from reactor import cli
from reactor._manifest import ManifestError, read_manifest

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "hello" / "reactor.yaml"

MODEL = textwrap.dedent(
    '''
    from typing import Literal

    import numpy as np

    from reactor import InputField, InputState, Output, ReactorPipeline, Video


    class Out(Output):
        main_video: Video


    class State(InputState):
        level: int = InputField(default=10, ge=0, le=200, description="Grey level")
        gain: float = InputField(default=1.0, ge=0.5, le=4.0)
        shape: Literal["box", "dot"] = "box"
        on: bool = True


    class Grey(ReactorPipeline):
        """Frames filled with the state's level; the frame number in the corner."""

        state: State
        fps = 120

        def load(self, config):
            self.size = config["size"]
            self.fail = config.get("fail", False)

        def inference(self):
            i = 0
            while True:
                if self.fail:
                    raise RuntimeError("broken model")
                frame = np.full((self.size, self.size, 3), self.state.level, np.uint8)
                frame[0, 0] = i % 256
                yield Out(main_video=frame)
                i += 1


    class NotAModel:
        pass
    '''
)


def write_model(folder: Path, manifest: str, config: str | None = "size: 16\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grey_model.py").write_text(MODEL)
    if config is not None:
        (folder / "config.yml").write_text(config)
    path = folder / "reactor.yaml"
    path.write_text(manifest)
    return path


SHORT = "model: grey_model:Grey\nname: grey\nconfig: config.yml\n"
NESTED = "model:\n  name: grey-nested\nruntime:\n  import: grey_model:Grey\n  config: config.yml\n"


def reactor(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# -- manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "name"), [(SHORT, "grey"), (NESTED, "grey-nested")])
def test_both_manifest_forms_read_the_same_model(tmp_path, text, name):
    manifest = read_manifest(write_model(tmp_path, text))
    assert manifest.name == name
    assert manifest.model_ref == "grey_model:Grey"
    assert manifest.config == {"size": 16}
    assert manifest.root == tmp_path.resolve()
    assert manifest.path == (tmp_path / "reactor.yaml").resolve()
    assert manifest.model_class().__name__ == "Grey"
    model = manifest.load_model()
    assert model.size == 16


def test_manifest_is_a_frozen_value(tmp_path):
    manifest = read_manifest(write_model(tmp_path, SHORT))
    with pytest.raises(AttributeError):
        manifest.name = "x"  # type: ignore[misc]


def test_inline_config_and_no_config(tmp_path):
    inline = read_manifest(
        write_model(tmp_path / "a", "model: grey_model:Grey\nconfig: {size: 4}\n")
    )
    assert inline.config == {"size": 4}
    assert inline.name == "Grey"
    bare = read_manifest(write_model(tmp_path / "b", "model: grey_model:Grey\n", config=None))
    assert bare.config == {}


def test_empty_config_file_is_an_empty_dict(tmp_path):
    assert read_manifest(write_model(tmp_path, SHORT, config="")).config == {}


def test_model_is_imported_from_the_manifest_folder_whatever_the_cwd(tmp_path, monkeypatch):
    write_model(tmp_path / "deep" / "model", SHORT)
    monkeypatch.chdir(tmp_path)
    assert read_manifest(Path("deep/model/reactor.yaml")).model_class().__name__ == "Grey"


@pytest.mark.parametrize(
    ("manifest", "config", "message"),
    [
        ("model: [unclosed\n", "size: 1\n", "invalid YAML"),
        ("- a\n- b\n", "size: 1\n", "expected a mapping"),
        ("name: x\n", "size: 1\n", "'model:' is missing"),
        ("model: grey_model\n", "size: 1\n", "must be 'module:Class'"),
        ("model: grey-model:Grey\n", "size: 1\n", "must be 'module:Class'"),
        ("model: {name: x}\n", "size: 1\n", "'runtime:' must be a mapping"),
        ("model: {name: x}\nruntime: {config: c.yml}\n", "size: 1\n", "runtime.import is missing"),
        ("model: grey_model:Grey\nconfig: missing.yml\n", "size: 1\n", "no such file"),
        (SHORT, "size: [1\n", "invalid YAML"),
        (SHORT, "- 1\n", "expected a mapping of settings"),
        ("model: grey_model:Grey\nname: ''\n", None, "name must be a non-empty string"),
    ],
)
def test_bad_manifest_is_one_clear_error(tmp_path, manifest, config, message):
    path = write_model(tmp_path, manifest, config=config)
    with pytest.raises(ManifestError, match=message):
        read_manifest(path)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nowhere:Grey", "no module named 'nowhere'"),
        ("grey_model:Missing", "has no 'Missing'"),
        ("grey_model:NotAModel", "neither a ReactorPipeline nor a ReactorModel"),
        ("grey_model:np", "neither a ReactorPipeline nor a ReactorModel"),
    ],
)
def test_unresolvable_or_wrong_class_is_one_clear_error(tmp_path, ref, message):
    manifest = read_manifest(write_model(tmp_path, f"model: {ref}\nconfig: config.yml\n"))
    with pytest.raises(ManifestError, match=message):
        manifest.model_class()


def test_error_inside_the_model_module_is_reported_not_raised(tmp_path):
    path = write_model(tmp_path, "model: broken_model:X\n")
    (tmp_path / "broken_model.py").write_text("import numpy\nraise ImportError('needs a GPU')\n")
    with pytest.raises(ManifestError, match="importing it failed: ImportError: needs a GPU"):
        read_manifest(path).model_class()


def test_two_manifests_with_the_same_module_name_load_their_own(tmp_path):
    first = write_model(tmp_path / "one", SHORT)
    second = write_model(tmp_path / "two", SHORT)
    (tmp_path / "two" / "grey_model.py").write_text(MODEL.replace("fps = 120", "fps = 7"))
    assert read_manifest(first).model_class().fps == 120
    assert read_manifest(second).model_class().fps == 7


# -- headless ------------------------------------------------------------------------------


def test_headless_writes_an_mp4_with_the_frames_in_order(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    out = tmp_path / "clip.mp4"
    code, _, stderr = reactor(
        ["run", "--manifest", str(path), "--headless", "--frames", "12", "--out", str(out)], capsys
    )
    assert code == 0, stderr
    # The summary says the clip's length and its rate: 12 frames at the model's 120 fps.
    assert "wrote" in stderr and "12 frames of 16x16, a clip 0.10 s long at 120.0 fps" in stderr
    frames = decode(out)
    assert len(frames) == 12
    assert frames[0].shape == (16, 16, 3)
    assert abs(int(frames[5][8, 8, 0]) - 10) <= 3  # the default level, through H.264
    assert [name for name in os.listdir(tmp_path) if name.endswith(".part")] == []


def test_headless_pts_come_from_the_pacer(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    out = tmp_path / "clip.mp4"
    argv = ["run", "-m", str(path), "--headless", "--frames", "6", "--fps", "30", "--out", str(out)]
    assert reactor(argv, capsys)[0] == 0
    with av.open(str(out)) as container:
        pts = [f.pts for f in container.decode(video=0)]
        time_base = container.streams.video[0].time_base
    seconds = [float(p * time_base) for p in pts]
    assert seconds == pytest.approx([i / 30 for i in range(6)], abs=1e-3)


def test_headless_set_changes_the_state_from_the_first_frame(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    out = tmp_path / "clip.mp4"
    argv = ["run", "-m", str(path), "--headless", "--frames", "3", "--out", str(out)]
    code, _, stderr = reactor([*argv, "--set", "level=200", "--set", "shape=dot"], capsys)
    assert code == 0, stderr
    assert all(abs(int(f[8, 8, 0]) - 200) <= 3 for f in decode(out))


def test_headless_failing_model_exits_1_and_writes_nothing(tmp_path, capsys):
    path = write_model(tmp_path, SHORT, config="size: 16\nfail: true\n")
    out = tmp_path / "clip.mp4"
    argv = ["run", "-m", str(path), "--headless", "--frames", "5", "--out", str(out)]
    code, _, stderr = reactor(argv, capsys)
    assert code == 1
    assert "broken model" in stderr and "nothing was written" in stderr
    assert not out.exists()
    assert os.listdir(tmp_path).count("clip.mp4") == 0
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]


def test_headless_replaces_an_existing_file_only_when_done(tmp_path, capsys):
    path = write_model(tmp_path, SHORT, config="size: 16\nfail: true\n")
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"previous")
    argv = ["run", "-m", str(path), "--headless", "--frames", "5", "--out", str(out)]
    assert reactor(argv, capsys)[0] == 1
    assert out.read_bytes() == b"previous"


BAD_HEADLESS = [
    (["--set", "nope=1"], "--set nope: unknown field; the state fields are: level, gain"),
    (["--set", "level=999"], "--set level=999: must be <= 200"),
    (["--set", "level=abc"], "--set level: expected an integer, got 'abc'"),
    (["--set", "gain=0.1"], "--set gain=0.1: must be >= 0.5"),
    (["--set", "shape=star"], "--set shape: must be one of ['box', 'dot']"),
    (["--set", "on=maybe"], "--set on: expected true or false"),
    (["--set", "level"], "expected field=value"),
    (["--frames", "0"], "--frames must be at least 1"),
    (["--frames", "many"], "Invalid value for '--frames'"),
    (["--fps", "-3"], "--fps must be positive"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_HEADLESS)
def test_bad_headless_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    path = write_model(tmp_path, SHORT)
    out = tmp_path / "clip.mp4"
    argv = ["run", "-m", str(path), "--headless", "--frames", "3", "--out", str(out), *extra]
    code, _stdout, stderr = reactor(argv, capsys)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("missing/clip.mp4", "does not exist"),
        (".", "is a folder"),
    ],
)
def test_unwritable_out_is_exit_2(tmp_path, capsys, out, message):
    path = write_model(tmp_path, SHORT)
    argv = ["run", "-m", str(path), "--headless", "--out", str(tmp_path / out)]
    code, _, stderr = reactor(argv, capsys)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder_is_exit_2(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    argv = ["run", "-m", str(path), "--headless", "--out", str(locked / "clip.mp4")]
    code, _, stderr = reactor(argv, capsys)
    assert code == 2 and "not writable" in stderr


def test_headless_without_out_is_exit_2(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    code, _, stderr = reactor(["run", "-m", str(path), "--headless"], capsys)
    assert code == 2 and "--headless needs --out" in stderr


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "no such file"),
        ("model: [x\n", "invalid YAML"),
        ("model: nowhere:Grey\n", "no module named 'nowhere'"),
        ("model: grey_model:NotAModel\n", "neither a ReactorPipeline nor a ReactorModel"),
        ("CONFIG:", "config.yml: no such file"),
        ("CONFIG:size: [1\n", "config.yml:2:1: invalid YAML"),
        ("CONFIG:- 1\n", "expected a mapping of settings"),
        (
            "SOURCE:from reactor import InputField, InputState\n"
            "class S(InputState):\n    x: float = InputField(default=50.0, le=20.0)\n",
            "importing it failed: TypeError: S.x: default 50.0 must be <= 20.0",
        ),
        ("SOURCE:def broken(:\n", "importing it failed: SyntaxError"),
        (
            "SOURCE:from reactor import Audio, Output, ReactorPipeline, Video\n"
            "class A(Output):\n    x: Video\n"
            "class B(Output):\n    x: Audio\n"
            "class Grey(ReactorPipeline):\n    def inference(self):\n        yield None\n",
            "track 'x' is declared as video and as audio",
        ),
    ],
)
@pytest.mark.parametrize("command", ["run-headless", "schema"])
def test_bad_manifest_or_model_is_exit_2(tmp_path, capsys, manifest, message, command):
    # "CONFIG:<text>" = a good manifest with this config.yml (empty: none); "SOURCE:<code>" =
    # a good manifest whose model module is this code; None = no reactor.yaml at all.
    if manifest is None:
        path = tmp_path / "reactor.yaml"
    elif manifest.startswith("CONFIG:"):
        path = write_model(tmp_path, SHORT, config=manifest.removeprefix("CONFIG:") or None)
    elif manifest.startswith("SOURCE:"):
        path = write_model(tmp_path, SHORT)
        (tmp_path / "grey_model.py").write_text(manifest.removeprefix("SOURCE:"))
    else:
        path = write_model(tmp_path, manifest)
    if command == "schema":
        argv = ["schema", "-m", str(path)]
    else:
        argv = ["run", "-m", str(path), "--headless", "--out", str(tmp_path / "c.mp4")]
    code, stdout, stderr = reactor(argv, capsys)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert stdout == ""


def test_default_manifest_is_reactor_yaml_in_the_working_folder(tmp_path, capsys, monkeypatch):
    write_model(tmp_path, SHORT)
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = reactor(["schema"], capsys)
    assert code == 0
    assert json.loads(stdout)["info"]["title"] == "grey"


# -- schema --------------------------------------------------------------------------------


def test_schema_is_openapi_with_commands_state_and_tracks(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    code, stdout, _ = reactor(["schema", "--manifest", str(path)], capsys)
    assert code == 0
    document = json.loads(stdout)
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "grey"
    set_level = document["paths"]["/commands/set_level"]["post"]
    body = set_level["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["level"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 200,
        "default": 10,
        "description": "Grey level",
    }
    assert body["required"] == ["level"] and body["additionalProperties"] is False
    shape = document["components"]["schemas"]["State"]["properties"]["shape"]
    assert shape == {"type": "string", "enum": ["box", "dot"], "default": "box"}
    assert document["components"]["schemas"]["State"]["properties"]["on"]["type"] == "boolean"
    assert document["x-reactor"]["tracks"] == [
        {"name": "main_video", "kind": "video", "direction": "recvonly"}
    ]
    assert document["x-reactor"]["commands"] == ["set_level", "set_gain", "set_shape", "set_on"]
    assert document["x-reactor"]["fps"] == 120


# -- serving -------------------------------------------------------------------------------


def test_run_without_headless_hands_parsed_options_to_the_server(tmp_path, capsys, monkeypatch):
    import types

    from reactor._options import ServeOptions

    calls = []
    fake = types.ModuleType("reactor._server")
    fake.serve = lambda manifest, options: calls.append((manifest, options))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "reactor._server", fake)
    monkeypatch.setattr(sys.modules["reactor"], "_server", fake, raising=False)
    path = write_model(tmp_path, SHORT)
    argv = [
        "run", "-m", str(path), "--port", "9000", "--codec", "h264", "--bitrate", "800000",
        "--fps", "24", "--ice-host", "127.0.0.1", "--ice-host", "10.0.0.2",
        "--stun", "stun:example.org:3478",
    ]  # fmt: skip
    code, _, stderr = reactor(argv, capsys)
    assert code == 0, stderr
    ((manifest, options),) = calls
    assert manifest.name == "grey"
    assert options == ServeOptions(
        host="127.0.0.1",
        port=9000,
        codec="h264",
        bitrate=800000,
        fps=24.0,
        ice_hosts=("127.0.0.1", "10.0.0.2"),
        stun=("stun:example.org:3478",),
        turn=(),
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--codec", "av1"], "Invalid value for '--codec'"),
        (["--port", "0"], "--port must be between 1 and 65535"),
        (["--port", "http"], "Invalid value for '--port'"),
        (["--bitrate", "-5"], "--bitrate must be positive"),
        (["--set", "level=3"], "--set only applies with --headless"),
        (["--unknown"], "No such option"),
    ],
)
def test_bad_server_flags_are_exit_2(tmp_path, capsys, extra, message):
    path = write_model(tmp_path, SHORT)
    code, _, stderr = reactor(["run", "-m", str(path), *extra], capsys)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_run_help_gives_the_form_of_stun_and_turn_servers(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    code, stdout, _ = reactor(["run", "--help"], capsys)
    assert code == 0
    text = " ".join(line.strip(" │|") for line in stdout.splitlines())
    text = " ".join(text.split())
    assert "A STUN server as HOST:PORT (repeatable)" in text
    assert "A TURN server as USER:PASSWORD@HOST:PORT (repeatable)" in text


# -- the README's first command ----------------------------------------------------------


@pytest.mark.slow
def test_bundled_example_records_through_the_console_script(tmp_path):
    out = tmp_path / "hello.mp4"
    argv = ["reactor", "run", "--manifest", str(HELLO), "--headless", "--frames", "15"]
    result = subprocess.run(
        [*argv, "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    frames = decode(out)
    assert len(frames) == 15
    assert frames[0].shape == (128, 128, 3)
    assert not np.array_equal(frames[0], frames[1])  # it animates


def test_run_without_a_server_module_is_a_clear_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "reactor._server", None)
    monkeypatch.delattr(sys.modules["reactor"], "_server", raising=False)
    path = write_model(tmp_path, SHORT)
    code, _, stderr = reactor(["run", "-m", str(path)], capsys)
    assert code == 2
    assert "reactor._server is missing" in stderr


AUDIO_MODEL = textwrap.dedent(
    """
    import numpy as np
    from reactor import Audio, InputState, Output, ReactorPipeline, Video

    class S(InputState):
        x: int = 0

    class AV(Output):
        main_video: Video
        sound: Audio

    class Talk(ReactorPipeline):
        state: S
        fps = 30

        def inference(self):
            i = 0
            while True:
                tone = np.full((2, 1600), 1000, np.int16)
                yield AV(main_video=np.full((16, 16, 3), i % 256, np.uint8), sound=tone)
                i += 1
    """
)


def test_headless_records_the_first_audio_track_too(tmp_path, capsys):
    (tmp_path / "talk.py").write_text(AUDIO_MODEL)
    (tmp_path / "reactor.yaml").write_text("model: talk:Talk\n")
    out = tmp_path / "av.mp4"
    argv = ["run", "-m", str(tmp_path), "--headless", "--frames", "15", "--out", str(out)]
    assert reactor(argv, capsys)[0] == 0
    with av.open(str(out)) as container:
        kinds = sorted(s.type for s in container.streams)
        samples = sum(f.samples for f in container.decode(audio=0))
    assert kinds == ["audio", "video"]
    assert samples >= 15 * 1600 * 0.9  # 0.5 s of sound, less the encoder's tail


def test_written_file_gets_ordinary_permissions(tmp_path, capsys):
    path = write_model(tmp_path, SHORT)
    out = tmp_path / "clip.mp4"
    old = os.umask(0o022)
    try:
        argv = ["run", "-m", str(path), "--headless", "--frames", "2", "--out", str(out)]
        assert reactor(argv, capsys)[0] == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644
