"""A picture the setup reads once (a talking head's source portrait: `source_image =
imageio.imread(opt.source_image)` in the `__main__` block, then resized) becomes an
`UploadedFile` field: an upload goes through the original's own read and the setup statements
that depend on it, and applies from the next clip. Without an upload the original's file stays.

imageio is not a dependency: a stand-in module beside the pipeline reads `value:N` files as a
4-channel picture of N and counts its reads."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
from emit_helpers import wrapper_class
from reactor import UploadedFile

from reactorc.analysis import explain
from reactorc.convert import build_files

FAKE_IMAGEIO = """
import numpy as np

reads = []


def imread(path):
    reads.append(str(path))
    with open(path, "rb") as fh:
        text = fh.read().decode()
    if not text.startswith("value:"):
        raise ValueError(f"{path}: not a picture")
    return np.full((4, 4, 4), int(text[6:]), np.uint8)


def mimread(path):
    return [np.zeros((4, 4, 3)) + k for k in range(3)]


def mimsave(path, frames):
    raise AssertionError("the stream must not save a video")
"""

SCRIPT = '''
"""Animate a portrait with the motion of a driving clip (first-order-model's demo, in small)."""

import argparse

import imageio
import numpy as np


def animate(source_image, driving, gain: float = 1.0):
    frames = []
    for i in range(len(driving)):
        frames.append(np.clip(source_image * gain + driving[i], 0, 255).astype(np.uint8))
    return frames


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source_image", default="source.png", help="path to source image")
    parser.add_argument("--driving_video", default="driving.mp4", help="path to driving video")
    parser.add_argument("--result", default="result.mp4")
    opt = parser.parse_args()
    source_image = imageio.imread(opt.source_image)
    driving = imageio.mimread(opt.driving_video)
    source_image = source_image[..., :3].astype(np.float32)
    frames = animate(source_image, driving)
    imageio.mimsave(opt.result, frames)
'''


def _convert(tmp_path: Path, target: str = "reactor"):
    path = tmp_path / "animate.py"
    if not path.exists():
        (tmp_path / "imageio.py").write_text(textwrap.dedent(FAKE_IMAGEIO))
        path.write_text(textwrap.dedent(SCRIPT).lstrip())
        (tmp_path / "source.png").write_bytes(b"value:10")
    plan = explain(path)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    out = tmp_path / f"out-{target}"
    out.mkdir()
    for name, text in build_files(plan, path, out, target).items():
        (out / name).write_text(text)
    return plan, out


@pytest.fixture
def converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "imageio", raising=False)
    plan, out = _convert(tmp_path)
    cls = wrapper_class(out)
    model = cls()
    model.load({"source_image": str(tmp_path / "source.png"), "result": "unused.mp4"})
    imageio = importlib.import_module("imageio")
    yield plan, out, model, imageio
    sys.modules.pop(cls.__module__, None)


def _values(model) -> list[int]:
    return [int(o.main_video[0, 0, 0, 0]) for o in model.inference()]


def _upload(text: bytes, name: str = "me.png") -> UploadedFile:
    return UploadedFile(name=name, mime_type="image/png", data=text)


def test_the_plan_names_the_read_its_field_and_what_it_rebuilds(converted) -> None:
    plan, out, *_ = converted
    assert plan.symbol == "animate" and "gain" in {f.name for f in plan.state}
    (fi,) = plan.file_inputs
    assert (fi.field, fi.kind, fi.call, fi.path) == (
        "source_image",
        "image",
        "imageio.imread",
        "opt.source_image",
    )
    assert fi.names == ("source_image",)
    assert "config.yml's `source_image`" in fi.description
    assert plan.to_json()["file_inputs"][0]["field"] == "source_image"
    text = (out / "animate_stream.py").read_text()
    assert "source_image: UploadedFile = InputField(" in text
    # the original's read with the upload's path, then the resize that depends on it
    assert "source_image = imageio.imread(uploaded_path)" in text
    assert "source_image = source_image[..., :3].astype(np.float32)" in text


def test_without_an_upload_the_originals_file_is_used(converted) -> None:
    _, _, model, imageio = converted
    assert _values(model) == [10, 11, 12]
    assert len(imageio.reads) == 1  # read once, in load()


def test_an_upload_goes_through_the_originals_read_from_the_next_clip(converted) -> None:
    _, _, model, imageio = converted
    clip = model.inference()
    assert int(next(clip).main_video[0, 0, 0, 0]) == 10
    model.state.source_image = _upload(b"value:50")
    assert [int(o.main_video[0, 0, 0, 0]) for o in clip] == [11, 12]  # this clip: unchanged
    assert _values(model) == [50, 51, 52]  # the next one: the upload
    assert imageio.reads[-1].endswith(".png")  # a file with the upload's suffix
    assert not Path(imageio.reads[-1]).exists()  # removed once read
    assert _values(model) == [50, 51, 52]
    assert len(imageio.reads) == 2  # decoded once per upload, not per clip
    model.state.source_image = None
    assert _values(model) == [10, 11, 12]  # cleared: the original's own file again


def test_an_upload_the_original_cannot_read_keeps_its_file_and_says_so(
    converted, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, model, _ = converted
    model.state.source_image = _upload(b"\x89PNG garbage", "broken.png")
    assert _values(model) == [10, 11, 12]
    err = capsys.readouterr().err
    assert "broken.png" in err and "could not be read for `source_image`" in err
    assert _values(model) == [10, 11, 12]
    assert capsys.readouterr().err == ""  # said once per upload


def test_the_reactor_runtime_target_has_no_upload_field_and_plays_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "imageio", raising=False)
    _, out = _convert(tmp_path, "reactor-runtime")
    text = (out / "animate_stream.py").read_text()
    assert "UploadedFile" not in text  # reactor-runtime 2.x has no uploads
    cls = wrapper_class(out)
    model = cls()
    model.load({"source_image": str(tmp_path / "source.png"), "result": "unused.mp4"})
    assert _values(model) == [10, 11, 12]
    sys.modules.pop(cls.__module__, None)
