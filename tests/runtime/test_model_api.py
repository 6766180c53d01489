"""The model API as a model author meets it: declaring state, outputs, events and messages."""

from __future__ import annotations

import enum
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import reactor
from reactor import (
    Audio,
    InputField,
    InputState,
    ModelMessage,
    Output,
    ReactorModel,
    ReactorPipeline,
    Rejection,
    Video,
    connected,
    disconnected,
    event,
)
from reactor._output import TrackSpec, tracks_for_model
from reactor._state import check_update, parse_text

SEED_EXAMPLE = """
from reactor import Output, Video, InputState, InputField, ReactorPipeline
import numpy as np


class MyOutput(Output):
    main_video: Video


class MyState(InputState):
    prompt: str = InputField(default="a sunny meadow")
    guidance_scale: float = InputField(default=7.5, ge=1.0, le=20.0)


class MyModel(ReactorPipeline):
    state: MyState

    def load(self, config):
        self.size = config["size"]

    def inference(self):
        for i in range(4):
            frame = np.full((self.size, self.size, 3), i, np.uint8)
            yield MyOutput(main_video=frame)

    def inference_batched(self):
        yield np.zeros((4, self.size, self.size, 3), np.uint8)
"""


def test_public_names_match_the_reactor_interface():
    expected = {
        "Output",
        "Video",
        "Audio",
        "InputState",
        "InputField",
        "ReactorPipeline",
        "ReactorModel",
        "event",
        "connected",
        "disconnected",
        "ModelMessage",
        "Rejection",
        # inputs from the client (issue 13): tracks it sends and files it uploads
        "MediaInput",
        "InputBuffer",
        "InputFrame",
        "ReadMode",
        "BufferClosed",
        "UploadedFile",
        "file_uploaded",
    }
    assert set(reactor.__all__) == expected
    for name in expected:
        assert getattr(reactor, name) is not None


def test_seed_example_runs_as_written(tmp_path):
    (tmp_path / "seed_model.py").write_text(SEED_EXAMPLE)
    sys.path.insert(0, str(tmp_path))
    try:
        import seed_model  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(tmp_path))
    model = seed_model.MyModel()
    model.load({"size": 8})
    assert model.state.prompt == "a sunny meadow"
    assert model.state.guidance_scale == 7.5
    frames = list(model.inference())
    assert [f.main_video[0, 0, 0] for f in frames] == [0, 1, 2, 3]
    assert tracks_for_model(seed_model.MyModel) == (TrackSpec("main_video", "video"),)


def test_importing_the_runtime_does_not_import_torch():
    code = "import reactor, reactor._runner, reactor.cli, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- state declaration --------------------------------------------------------------------


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


class FullState(InputState):
    prompt: str = InputField(default="hi", description="What to draw", max_length=10)
    name: str = InputField(default="abc", min_length=2)
    scale: float = InputField(default=7.5, ge=1.0, le=20.0)
    steps: int = InputField(default=4, ge=1, le=50)
    enabled: bool = True
    style: Literal["a", "b"] = "a"
    mode: Mode = Mode.FAST
    size: int = InputField(default=64, choices=[64, 128])
    _frame: int = 0


def test_state_is_a_dataclass_with_defaults_and_private_fields():
    state = FullState()
    assert state.prompt == "hi"
    assert state.mode is Mode.FAST
    assert state._frame == 0
    assert [f.name for f in FullState.public_fields()] == [
        "prompt",
        "name",
        "scale",
        "steps",
        "enabled",
        "style",
        "mode",
        "size",
    ]
    assert "_frame" in FullState._fields
    assert FullState._fields["prompt"].description == "What to draw"
    assert FullState(scale=3.0).scale == 3.0


def test_int_default_of_a_float_field_is_stored_as_float():
    class S(InputState):
        x: float = InputField(default=2, ge=0)

    assert S().x == 2.0
    assert isinstance(S().x, float)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("x: float = InputField(default=0.5, ge=1.0, le=20.0)", "must be >= 1.0"),
        ("x: int = InputField(default=30, le=20)", "must be <= 20"),
        ("x: str = InputField(default='a', min_length=2)", "at least 2"),
        ("x: str = InputField(default='abc', max_length=2)", "at most 2"),
        ("x: int = InputField(default=3, choices=[1, 2])", "one of"),
        ("x: int = InputField(default='3')", "expected an integer"),
        ("x: bool = InputField(default=1)", "expected a boolean"),
        ("x: Literal['a', 'b'] = 'c'", "one of"),
        ("x: int = InputField(description='no default')", "needs a default"),
        ("x: int", "needs a default"),
        ("x: list = InputField(default=[])", "mutable"),
        ("x: bytes = b''", "unsupported state type"),
        ("x: str = InputField(default='a', ge=1)", "ge= only applies"),
        ("x: int = InputField(default=1, max_length=3)", "max_length= only applies"),
    ],
)
def test_bad_declaration_fails_when_the_class_is_defined(declaration, message):
    source = f"class S(InputState):\n    {declaration}\n"
    with pytest.raises(TypeError, match=message):
        exec(source, {"__name__": __name__, "InputState": InputState, "InputField": InputField})


# -- updates ---------------------------------------------------------------------------------

ACCEPTED = [
    ("set_scale", {"scale": 2.5}, "scale", 2.5),
    ("set_scale", {"scale": 3}, "scale", 3.0),  # int -> float is the one coercion
    ("set_scale", {"scale": 20}, "scale", 20.0),
    ("set_steps", {"steps": 1}, "steps", 1),
    ("set_enabled", {"enabled": False}, "enabled", False),
    ("set_prompt", {"prompt": "a dark forest"[:10]}, "prompt", "a dark for"),
    ("set_style", {"style": "b"}, "style", "b"),
    ("set_mode", {"mode": "slow"}, "mode", Mode.SLOW),
    ("set_size", {"size": 128}, "size", 128),
]


@pytest.mark.parametrize(("command", "data", "field", "stored"), ACCEPTED)
def test_valid_update_is_accepted(command, data, field, stored):
    values, rejections = check_update(FullState, command, data)
    assert rejections == []
    assert values == {field: stored}
    assert type(values[field]) is type(stored)


REJECTED = [
    ("set_scale", {"scale": "3"}, "scale", "expected a number"),
    ("set_scale", {"scale": True}, "scale", "expected a number"),
    ("set_scale", {"scale": 0.5}, "scale", "must be >= 1.0"),
    ("set_scale", {"scale": 21}, "scale", "must be <= 20.0"),
    ("set_scale", {"scale": float("nan")}, "scale", "finite"),
    ("set_scale", {"scale": None}, "scale", "expected a number"),
    ("set_steps", {"steps": 2.0}, "steps", "expected an integer"),
    ("set_steps", {"steps": True}, "steps", "expected an integer"),
    ("set_steps", {"steps": 0}, "steps", "must be >= 1"),
    ("set_enabled", {"enabled": 1}, "enabled", "expected a boolean"),
    ("set_enabled", {"enabled": "true"}, "enabled", "expected a boolean"),
    ("set_prompt", {"prompt": 5}, "prompt", "expected a string"),
    ("set_prompt", {"prompt": "x" * 11}, "prompt", "at most 10"),
    ("set_name", {"name": "x"}, "name", "at least 2"),
    ("set_style", {"style": "c"}, "style", "one of"),
    ("set_mode", {"mode": "FAST"}, "mode", "one of"),
    ("set_size", {"size": 96}, "size", "one of"),
    ("set_size", {"size": True}, "size", "expected an integer"),
    ("set_scale", {}, "scale", "missing"),
    ("set_scale", "3", "scale", "expected an object"),
    ("set_nope", {"nope": 1}, None, "unknown command"),
    ("set__frame", {"_frame": 3}, None, "unknown command"),
]


@pytest.mark.parametrize(("command", "data", "field", "reason"), REJECTED)
def test_invalid_update_is_rejected_with_field_value_and_reason(command, data, field, reason):
    values, rejections = check_update(FullState, command, data)
    assert values == {}
    assert len(rejections) == 1
    rejection = rejections[0]
    assert isinstance(rejection, Rejection)
    assert rejection.command == command
    assert rejection.field == field
    assert reason in rejection.reason
    if isinstance(data, dict) and field in data:
        assert rejection.value == data[field] or rejection.value != rejection.value  # nan


def test_extra_field_in_an_update_rejects_the_whole_command():
    values, rejections = check_update(FullState, "set_scale", {"scale": 2.0, "other": 1})
    assert values == {}
    assert [(r.field, r.value) for r in rejections] == [("other", 1)]
    assert "unknown field" in rejections[0].reason


def test_rejection_serialises_for_the_client():
    rejection = Rejection("set_scale", "scale", 99, "must be <= 20.0")
    assert rejection.to_dict() == {
        "command": "set_scale",
        "field": "scale",
        "value": 99,
        "reason": "must be <= 20.0",
    }
    assert "set_scale.scale" in rejection.message()


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("scale", "2.5", 2.5),
        ("steps", "7", 7),
        ("enabled", "false", False),
        ("enabled", "yes", True),
        ("prompt", "a b", "a b"),
        ("mode", "slow", "slow"),
        ("style", "b", "b"),
    ],
)
def test_command_line_values_parse_to_the_field_type(field, text, value):
    assert parse_text(FullState._fields[field], text) == value


@pytest.mark.parametrize(("field", "text"), [("scale", "abc"), ("steps", "2.5"), ("enabled", "2")])
def test_unparsable_command_line_values_raise(field, text):
    with pytest.raises(ValueError):
        parse_text(FullState._fields[field], text)


# -- outputs, events, messages --------------------------------------------------------------


class Voice(Audio):
    sample_rate = 16000


class AV(Output):
    main_video: Video
    sound: Voice


def test_output_fields_are_tracks_and_optional():
    assert AV.tracks() == (
        TrackSpec("main_video", "video"),
        TrackSpec("sound", "audio", 16000),
    )
    out = AV(main_video=np.zeros((2, 2, 3), np.uint8))
    assert out.sound is None


def test_output_field_of_another_type_fails_at_definition():
    with pytest.raises(TypeError, match="must be typed Video or Audio"):

        class Bad(Output):
            frame: np.ndarray


class Score(ModelMessage):
    points: int
    label: str


def test_model_message_is_a_dataclass_with_a_wire_type():
    assert Score(3, "x").to_envelope() == {
        "scope": "application",
        "data": {"type": "score", "data": {"points": 3, "label": "x"}},
    }


class EventModel(ReactorModel):
    @event(name="jump", description="Jump up", dedupe=True)
    def jump(self, height: float = InputField(default=1.0, ge=0.0, le=5.0)) -> None:
        pass

    @event
    async def reset(self, hard: bool) -> None:
        pass

    @connected
    def hello(self) -> None:
        pass

    @disconnected
    async def bye(self) -> None:
        pass


def test_events_and_hooks_are_collected_from_the_class():
    events = EventModel.events()
    assert set(events) == {"jump", "reset"}
    assert events["jump"].dedupe is True
    assert events["jump"].description == "Jump up"
    assert events["reset"].required == frozenset({"hard"})
    assert events["reset"].is_async
    assert EventModel._on_connected == ("hello",)
    assert EventModel._on_disconnected == ("bye",)
    assert events["jump"].check({"height": 2})[0] == {"height": 2.0}
    _, rejections = events["jump"].check({"height": 9})
    assert rejections[0].field == "height"
    _, rejections = events["reset"].check({})
    assert rejections[0].reason == "missing value"
    _, rejections = events["reset"].check({"hard": True, "x": 1})
    assert rejections[0].field == "x"


@pytest.mark.parametrize("name", ["connected", "ping", "set_x"])
def test_reserved_event_names_are_refused(name):
    with pytest.raises(ValueError, match="reserved"):
        event(name=name)(lambda self: None)


def test_event_with_a_default_out_of_bounds_fails_at_definition():
    with pytest.raises(TypeError, match="must be <= 1"):

        class M(ReactorModel):
            @event(name="go")
            def go(self, x: int = InputField(default=5, le=1)) -> None:
                pass


def test_state_annotation_must_be_an_input_state():
    with pytest.raises(TypeError, match="InputState subclass"):

        class M(ReactorPipeline):
            state: int


def test_fps_must_be_positive():
    with pytest.raises(TypeError, match="positive"):

        class M(ReactorPipeline):
            fps = 0


def test_model_without_output_class_has_one_video_track():
    source = textwrap.dedent(
        """
        from reactor import ReactorPipeline
        class Bare(ReactorPipeline):
            def inference(self):
                yield None
        """
    )
    namespace: dict = {"__name__": "bare_module_for_test"}
    exec(source, namespace)
    assert tracks_for_model(namespace["Bare"]) == (TrackSpec("main_video", "video"),)


def test_the_readme_model_example_runs(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## The runtime", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {"__name__": "readme_example"}
    sys.modules["readme_example"] = types.ModuleType("readme_example")
    try:
        exec(compile(code, "README.md", "exec", dont_inherit=True), namespace)
        sys.modules["readme_example"].__dict__.update(namespace)
        model = namespace["MyModel"]()
        model.load({"size": 8})
        first = next(model.inference())
        assert first.main_video.shape == (8, 8, 3)
        assert int(first.main_video[0, 0, 0]) == 75
        assert tracks_for_model(namespace["MyModel"]) == (TrackSpec("main_video", "video"),)
    finally:
        del sys.modules["readme_example"]


def test_the_readme_links_every_user_doc_from_its_docs_list():
    root = Path(__file__).resolve().parents[2]
    docs = root.joinpath("README.md").read_text().split("\n## Docs\n", 1)[1].split("\n## ", 1)[0]
    linked = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", docs)
    assert all(text == target for text, target in linked)
    assert sorted(target for _, target in linked) == sorted(
        f"docs/{p.name}" for p in root.joinpath("docs").glob("*.md")
    )


def test_state_subclass_inherits_fields_and_can_add_more():
    class Base(InputState):
        a: int = InputField(default=1, ge=0)

    class More(Base):
        b: str = "x"

    assert [f.name for f in More.public_fields()] == ["a", "b"]
    assert More() == More(a=1, b="x")
    assert check_update(More, "set_a", {"a": -1})[1][0].reason == "must be >= 0"


def test_rejected_non_finite_value_serialises_as_valid_json():
    import json

    _, rejections = check_update(FullState, "set_scale", {"scale": float("inf")})
    text = json.dumps(rejections[0].to_dict(), allow_nan=False)
    assert '"value": "inf"' in text
