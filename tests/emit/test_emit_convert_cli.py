"""`reactorc convert` as a user runs it: what it writes, how it refuses, and the wrapper it
writes served headless by `reactor run` and `python server.py` in a fresh process."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from emit_helpers import ROOT, collect, convertible, reference, wrapper_class

from reactorc.render import split_header

SEED = ROOT / "fixtures" / "seed" / "pipeline.py"
FILES = ["README.md", "config.yml", "pipeline_stream.py", "reactor.yaml", "server.py"]


def reactorc(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reactorc.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_convert_writes_the_five_files_and_says_how_to_run_them(tmp_path: Path) -> None:
    out = tmp_path / "seed_out"
    done = reactorc("convert", SEED, "-o", out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == FILES
    assert "reactor run" in done.stderr
    manifest = yaml.safe_load((out / "reactor.yaml").read_text())
    assert manifest == {
        "model": "pipeline_stream:OriginalPipelineStream",
        "name": "original-pipeline",
        "config": "config.yml",
    }
    assert yaml.safe_load((out / "config.yml").read_text()) == {
        "weights_seed": 0,
        "height": 64,
        "width": 64,
        "embed_dim": 16,
    }
    assert not list(tmp_path.glob(".seed_out.*")), "the temporary folder was left behind"


def test_converting_again_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert reactorc("convert", SEED, "-o", out).returncode == 0
    before = {p.name: p.read_text() for p in out.iterdir()}
    done = reactorc("convert", SEED, "-o", out)
    assert done.returncode == 0
    assert "already up to date" in done.stderr
    assert {p.name: p.read_text() for p in out.iterdir()} == before


def test_a_hand_edited_output_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert reactorc("convert", SEED, "-o", out).returncode == 0
    wrapper = out / "pipeline_stream.py"
    edited = wrapper.read_text().replace("FLOAT_RANGE = (0.0, 1.0)", "FLOAT_RANGE = (-1.0, 1.0)")
    wrapper.write_text(edited)
    (out / "notes.txt").write_text("mine")
    done = reactorc("convert", SEED, "-o", out)
    assert done.returncode == 2
    assert "edited by hand" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr
    assert wrapper.read_text() == edited
    done = reactorc("convert", SEED, "-o", out, "--force")
    assert done.returncode == 0, done.stderr
    _, _, body = split_header(wrapper.read_text())
    assert "FLOAT_RANGE = (0.0, 1.0)" in body
    assert (out / "notes.txt").read_text() == "mine", "other files in the folder were lost"


def test_a_file_reactorc_did_not_write_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "server.py").write_text("print('my own server')\n")
    done = reactorc("convert", SEED, "-o", out)
    assert done.returncode == 2
    assert "not written by reactorc" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["server.py"], "nothing else is written"


def test_a_refused_pipeline_prints_its_diagnostics_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "o"
    done = reactorc("convert", ROOT / "fixtures/refused_interactive_prompt/pipeline.py", "-o", out)
    assert done.returncode == 2
    assert "RC110 error" in done.stderr and "hint:" in done.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["convert", "missing.py", "-o", "{tmp}/o"], "RC001"),
        (["convert", str(SEED), "-o", "{tmp}/o", "--target", "cloud"], "--target must be one of"),
        (["convert", str(SEED), "-o", "{tmp}/o", "--loop-line", "0"], "--loop-line"),
        (["convert", str(SEED)], "--out"),
        (["convert", str(SEED), "-o", "{tmp}/o", "--symbol", "Nope.run"], "RC105"),
        (["convert", str(SEED), "-o", "{tmp}/afile"], "not a folder"),
    ],
    ids=["missing-file", "bad-target", "bad-loop-line", "no-out", "bad-symbol", "out-is-a-file"],
)
def test_bad_usage_is_one_clear_message_and_exit_2(tmp_path: Path, args, message) -> None:
    (tmp_path / "afile").write_text("x")
    done = reactorc(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        done = reactorc("convert", SEED, "-o", locked / "o")
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2
    assert "cannot" in done.stderr and "Traceback" not in done.stderr


def test_an_unwritable_output_folder_as_root_is_a_clear_error(tmp_path: Path) -> None:
    # /proc is read-only even for root
    done = reactorc("convert", SEED, "-o", "/proc/reactorc-out")
    assert done.returncode == 2
    assert "cannot" in done.stderr and "Traceback" not in done.stderr


def test_reactor_runtime_target_uses_the_platform_manifest_and_runs_here(tmp_path: Path) -> None:
    out = tmp_path / "rt"
    done = reactorc("convert", SEED, "-o", out, "--target", "reactor-runtime")
    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load((out / "reactor.yaml").read_text())
    assert manifest == {
        "model": {"name": "original-pipeline"},
        "runtime": {"import": "pipeline_stream:OriginalPipelineStream", "config": "config.yml"},
    }
    wrapper = (out / "pipeline_stream.py").read_text()
    assert "from reactor_runtime.interface import" in wrapper
    model = wrapper_class(out)()
    model.load({"height": 16, "width": 16})
    frames = collect(model, 3)
    assert frames.shape == (3, 16, 16, 3) and frames.dtype == np.uint8


def _headless(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["seed", "world_model_actions", "gym_pixel_racer"])
def test_reactor_run_headless_records_the_converted_pipeline(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    assert reactorc("convert", ROOT / "fixtures" / name / "pipeline.py", "-o", out).returncode == 0
    clip = tmp_path / "clip.mp4"
    reactor = Path(sys.executable).with_name("reactor")
    cmd = [str(reactor), "run", "--headless", "--frames", "20", "--out", str(clip)]
    if name == "seed":
        cmd += ["--set", "prompt=a dark forest"]
    done = _headless(cmd, out)
    assert done.returncode == 0, done.stderr
    assert "20 frames" in done.stderr
    assert clip.stat().st_size > 0


@pytest.mark.slow
def test_python_server_py_runs_without_the_reactor_command(tmp_path: Path) -> None:
    out = tmp_path / "seed"
    assert reactorc("convert", SEED, "-o", out).returncode == 0
    clip = tmp_path / "clip.mp4"
    done = _headless(
        [sys.executable, str(out / "server.py"), "--headless", "--frames", "5", "--out", str(clip)],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert clip.stat().st_size > 0


ASYNC_ENUM_PIPELINE = """
import asyncio
from enum import Enum

import numpy as np


class Palette(Enum):
    WARM = "warm"
    COLD = "cold"


class Painter:
    def __init__(self, size, gain=2):
        self.size = size

    async def paint(self, palette: Palette = Palette.WARM, level: int = 3, num_frames: int = 5):
        frames = []
        for i in range(num_frames):
            await asyncio.sleep(0)
            base = 100 if palette is Palette.WARM else 20
            frames.append(np.full((self.size, self.size, 3), base + level * i, np.uint8))
        return np.stack(frames)
"""


def test_an_async_pipeline_with_an_enum_field_streams_and_switches(tmp_path: Path) -> None:
    source = tmp_path / "painter.py"
    source.write_text(ASYNC_ENUM_PIPELINE)
    out = tmp_path / "out"
    done = reactorc("convert", source, "-o", out)
    assert done.returncode == 0, done.stderr
    wrapper = (out / "painter_stream.py").read_text()
    assert "async def inference(self):" in wrapper
    assert 'default=Palette("warm")' in wrapper
    assert yaml.safe_load((out / "config.yml").read_text()) == {"size": None, "gain": 2}
    model = wrapper_class(out)()
    with pytest.raises(ValueError, match=r"set size in config\.yml"):
        model.load({"size": None})
    model.load({"size": 4})
    frames = collect(model, 7, [(1, "palette", "cold")])
    levels = [int(v) for v in frames[:, 0, 0, 0]]
    # warm (100 + 3i) until the command lands: it is sent after frame 1, and the frames the
    # generator had already made or started keep the old value (at most two with one queued);
    # then cold (20 + 3i), and it stays cold in the next clip (i counts from 0 per 5-frame clip)
    switch = next(i for i, v in enumerate(levels) if v < 100)
    assert 2 <= switch <= 4
    assert levels == [(100 if i < switch else 20) + 3 * (i % 5) for i in range(7)]


CLASHING_NAMES = """
import numpy as np


class Path:
    def __init__(self, n):
        self.points = list(range(n))


def to_video(x):
    return np.stack(x) + 1


class Clash:
    def __init__(self, size=4):
        self.size = size

    def run(self, n: int = 3, gain: int = 10):
        path = Path(n)
        frames = []
        for i in path.points:
            postprocess = i * gain
            frames.append(np.full((self.size, self.size, 3), postprocess, np.uint8))
        video = to_video(frames)
        return video
"""


def test_names_the_original_shares_with_the_wrapper_are_kept_apart(tmp_path: Path) -> None:
    source = tmp_path / "clash.py"
    source.write_text(CLASHING_NAMES)
    out = tmp_path / "out"
    assert reactorc("convert", source, "-o", out).returncode == 0
    wrapper = (out / "clash_stream.py").read_text()
    assert "original_to_video = original.to_video" in wrapper
    assert "original_Path = original.Path" in wrapper
    assert "def postprocess_(frames):" in wrapper
    model = wrapper_class(out)()
    model.load({})
    levels = [int(v) for v in collect(model, 4)[:, 0, 0, 0]]
    assert levels == [1, 11, 21, 1]  # the original's own to_video (+1) ran on each frame


def test_output_is_formatted_with_the_ruff_settings_of_where_it_lands(tmp_path: Path) -> None:
    default = tmp_path / "default"
    assert reactorc("convert", SEED, "-o", default).returncode == 0
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    (narrow / "ruff.toml").write_text("line-length = 60\n")
    out = narrow / "o"
    assert reactorc("convert", SEED, "-o", out).returncode == 0
    wrapper = out / "pipeline_stream.py"
    assert wrapper.read_text() != (default / "pipeline_stream.py").read_text()
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", str(wrapper), str(out / "server.py")],
        cwd=narrow,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_symbol_and_loop_line_choose_the_same_wrapper_the_ranking_chose(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    named = tmp_path / "named"
    assert reactorc("convert", SEED, "-o", chosen).returncode == 0
    done = reactorc(
        "convert", SEED, "-o", named, "--symbol", "OriginalPipeline.__call__", "--loop-line", "81"
    )
    assert done.returncode == 0, done.stderr
    for name in FILES:
        assert (named / name).read_text() == (chosen / name).read_text(), name


def test_crlf_bom_and_latin1_sources_convert_and_run(tmp_path: Path) -> None:
    text = SEED.read_text(encoding="utf-8")
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    latin = tmp_path / "latin.py"
    latin.write_bytes(
        ("# -*- coding: latin-1 -*-\n" + text.replace("a sunny meadow", "a sunny café")).encode(
            "latin-1"
        )
    )
    expected = reference(next(fx for fx in convertible() if fx.name == "seed"))
    for source, module in ((crlf, "crlf_stream.py"), (latin, "latin_stream.py")):
        out = tmp_path / source.stem
        done = reactorc("convert", source, "-o", out)
        assert done.returncode == 0, done.stderr
        model = wrapper_class(out)()
        model.load({"height": 64, "width": 64})
        frames = collect(model, 16, queue_frames=8)
        if source is crlf:
            assert np.array_equal(frames, expected)
        else:
            assert 'default="a sunny café"' in (out / module).read_text(encoding="utf-8")
            assert not np.array_equal(frames, expected)  # the prompt differs


def test_a_wrapper_moved_away_from_its_original_says_so(tmp_path: Path) -> None:
    source = tmp_path / "src" / "pipeline.py"
    source.parent.mkdir()
    source.write_text(SEED.read_text())
    out = tmp_path / "out"
    assert reactorc("convert", source, "-o", out).returncode == 0
    moved = tmp_path / "elsewhere" / "deeper" / "out"
    moved.parent.mkdir(parents=True)
    out.rename(moved)
    reactor = Path(sys.executable).with_name("reactor")
    done = _headless(
        [str(reactor), "run", "--headless", "--frames", "2", "--out", str(tmp_path / "c.mp4")],
        moved,
    )
    assert done.returncode == 2
    assert "the original pipeline is missing" in done.stderr
    assert "Traceback" not in done.stderr


RAW_WRITER = """
import numpy as np


class Raw:
    def __init__(self, path="out.rgb", size=4):
        self.path = path
        self.size = size

    def run(self, n: int = 3, gain: float = 0.25):
        with open(self.path, "wb") as fh:
            for i in range(n):
                frame = np.full((self.size, self.size, 3), i * gain)
                fh.write((frame * 255).astype(np.uint8).tobytes())
"""


def test_a_writer_of_raw_bytes_streams_its_frames(tmp_path: Path) -> None:
    source = tmp_path / "raw.py"
    source.write_text(RAW_WRITER)
    out = tmp_path / "out"
    done = reactorc("convert", source, "-o", out)
    assert done.returncode == 0, done.stderr
    model = wrapper_class(out)()
    model.load({"path": str(tmp_path / "never.rgb")})
    frames = collect(model, 4)
    assert frames.shape == (4, 4, 4, 3) and frames.dtype == np.uint8
    assert [int(v) for v in frames[:, 0, 0, 0]] == [0, 63, 127, 0]
    assert not (tmp_path / "never.rgb").exists(), "the writer was opened"


def test_a_writer_of_bytes_no_frame_comes_back_from_is_refused_at_convert(tmp_path: Path) -> None:
    source = tmp_path / "raw.py"
    source.write_text(RAW_WRITER.replace("fh.write((", 'fh.write(b"RGB" + ('))
    out = tmp_path / "out"
    done = reactorc("convert", source, "-o", out)
    assert done.returncode == 2
    assert "line 14: `fh.write(" in done.stderr and "writes bytes" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


PPM_WRITER = """
import os

import numpy as np


class Rings:
    def __init__(self, size=8, out_dir="frames"):
        self.size = size
        self.out_dir = out_dir

    def render(self, num_frames: int = 3, speed: float = 0.5):
        os.makedirs(self.out_dir, exist_ok=True)
        r = np.hypot(*np.mgrid[0 : self.size, 0 : self.size])
        for t in range(num_frames):
            wave = 0.5 + 0.5 * np.sin(r / 2.0 - t * speed)
            with open(os.path.join(self.out_dir, f"{t:04d}.ppm"), "wb") as fh:
                fh.write(b"P6 8 8 255\\n")
                fh.write((np.stack([wave, wave, 1 - wave], -1) * 255).astype(np.uint8).tobytes())
"""


PPM_HEADERS = {
    "bytes-header": 'fh.write(b"P6 8 8 255\\n")',
    "encoded-text-header": 'fh.write(f"P6 {self.size} {self.size} 255\\n".encode())',
}


@pytest.mark.parametrize("header", list(PPM_HEADERS), ids=list(PPM_HEADERS))
def test_ppm_frames_written_as_header_and_raw_bytes_stream_as_the_original_wrote_them(
    tmp_path: Path, header: str
) -> None:
    source = tmp_path / "rings.py"
    source.write_text(PPM_WRITER.replace(PPM_HEADERS["bytes-header"], PPM_HEADERS[header]))
    assert PPM_HEADERS[header] in source.read_text()
    original = runpy.run_path(str(source))  # run as its author runs it
    original["Rings"](out_dir=str(tmp_path / "written")).render()
    written = [
        np.frombuffer(p.read_bytes()[len(b"P6 8 8 255\n") :], np.uint8).reshape(8, 8, 3)
        for p in sorted((tmp_path / "written").iterdir())
    ]
    out = tmp_path / "out"
    assert reactorc("convert", source, "-o", out).returncode == 0
    model = wrapper_class(out)()
    model.load({"out_dir": str(tmp_path / "streamed")})
    assert np.array_equal(collect(model, 3), np.stack(written))
    assert not list((tmp_path / "streamed").iterdir()), "the wrapper wrote a file"


ANIMATE = """\
import numpy as np


def animate(source, strength: float = 1.0, n: int = 3):
    frames = []
    for t in range(n):
        frames.append(np.clip(source * (t + 1) * strength, 0, 255).astype(np.uint8))
    return frames
"""


def test_a_missing_argument_stops_convert_with_the_stanza_and_writes_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "pipeline.py").write_text(ANIMATE)
    done = reactorc("convert", tmp_path / "pipeline.py", "-o", tmp_path / "out")
    assert done.returncode == 2
    assert "RC501" in done.stderr and "arguments:" in done.stderr and "source:" in done.stderr
    assert "no value for `source`" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_arg_supplies_a_missing_argument_and_the_wrapper_streams_with_it(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(ANIMATE)
    out = tmp_path / "arg_out"
    done = reactorc(
        "convert",
        tmp_path / "pipeline.py",
        "-o",
        out,
        "--arg",
        "source=np.full((16, 16, 3), 40, np.uint8)",
    )
    assert done.returncode == 0, done.stderr
    model = wrapper_class(out)()
    model.load({})
    frames = collect(model, 3)
    assert [int(f[0, 0, 0]) for f in frames] == [40, 80, 120]


def test_a_malformed_arg_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(ANIMATE)
    done = reactorc("convert", tmp_path / "pipeline.py", "-o", tmp_path / "out", "--arg", "source")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --arg 'source': expected NAME=EXPR, e.g. --arg 'noise=torch.randn(1, 4)'"
    ]


def test_entry_names_the_script_whose_setup_load_runs(tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(ANIMATE)
    (tmp_path / "run.py").write_text(
        "import argparse\n"
        "import numpy as np\n"
        "from pipeline import animate\n\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--level', type=int, default=10)\n\n"
        "if __name__ == '__main__':\n"
        "    args = parser.parse_args()\n"
        "    image = np.full((16, 16, 3), args.level, np.uint8)\n"
        "    animate(image, n=2)\n"
    )
    out = tmp_path / "entry_out"  # wrapper_class caches modules by folder name
    done = reactorc("convert", tmp_path / "pipeline.py", "-o", out, "--entry", tmp_path / "run.py")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((out / "config.yml").read_text()) == {"level": 10}
    # another module called `pipeline` in the process must not stand in for the original
    stranger = type(sys)("pipeline")
    saved = sys.modules.get("pipeline")
    sys.modules["pipeline"] = stranger
    try:
        model = wrapper_class(out)()
        model.load({"level": 20})
    finally:
        if saved is None:
            sys.modules.pop("pipeline", None)
        else:
            sys.modules["pipeline"] = saved
    assert sys.modules.get("pipeline") is saved
    frames = collect(model, 2)
    assert [int(f[0, 0, 0]) for f in frames] == [20, 40]
    missing = reactorc("convert", tmp_path / "pipeline.py", "-o", out, "--entry", "nope.py")
    assert missing.returncode == 2 and "--entry nope.py: no such file" in missing.stderr
