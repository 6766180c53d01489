"""The rewriter's small code tools: dead stores, placeholder-free f-strings, star imports, and
class names made from any file name."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from reactorc.render import names_for
from reactorc.rewrite.names import drop_dead_stores, plain_fstrings, star_import


def _dropped(source: str) -> str:
    fn = cst.parse_module(textwrap.dedent(source)).body[0]
    assert isinstance(fn, cst.FunctionDef)
    body = drop_dead_stores(fn.body)  # type: ignore[arg-type]
    return cst.Module(body=[fn.with_changes(body=body)]).code


def test_a_store_nothing_reads_goes_and_a_call_in_it_stays() -> None:
    out = _dropped(
        """
        def f():
            fps = reader.fps
            meta = reader.get_meta()
            w = 3
            h = w * 2
            x = 1
            use(x)
        """
    )
    assert "fps" not in out and "w = 3" not in out and "h = " not in out
    assert "    reader.get_meta()\n" in out  # what it does still happens
    assert "x = 1" in out and "use(x)" in out


def test_a_store_made_only_of_stores_goes_even_when_repeated() -> None:
    out = _dropped(
        """
        def f():
            end = Event()
            for i in range(3):
                if changed:
                    end = Event()
                yield i
        """
    )
    assert "end =" not in out and out.count("Event()") == 2


def test_a_dead_name_of_a_pair_goes_and_an_emptied_block_gets_pass() -> None:
    out = _dropped(
        """
        def f():
            rgbs, depths = [], []
            for i in range(3):
                if i == 1:
                    t = 3
                depths.append(i)
                yield i
        """
    )
    assert "rgbs" not in out and "depths = []" in out
    assert "if i == 1:\n            pass" in out  # never an empty block


def test_nested_functions_and_names_they_read_are_left_alone() -> None:
    out = _dropped(
        """
        def f():
            scale = 2.0
            def post(x):
                unused = 1
                return x * scale
            yield post(1)
        """
    )
    assert "scale = 2.0" in out and "unused = 1" in out


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('log(f"step")', 'log("step")'),
        ("log(f'a {{b}}')", "log('a {b}')"),
        ('log(rf"\\d")', 'log(r"\\d")'),
        ('log(f"{x}")', 'log(f"{x}")'),
    ],
)
def test_f_strings_without_placeholders_become_plain_strings(before: str, after: str) -> None:
    module = cst.parse_module(before + "\n")
    assert plain_fstrings(module).code.strip() == after  # type: ignore[attr-defined]
    assert eval(compile(after.replace("log", ""), "x", "eval"), {"x": 1}) == eval(
        compile(before.replace("log", ""), "x", "eval"), {"x": 1}
    )


def test_a_star_import_is_seen_only_at_the_top_level() -> None:
    assert star_import(cst.parse_module("from models.nerf import *\n"))
    assert not star_import(cst.parse_module("from models import nerf\n"))
    assert not star_import(cst.parse_module("def f():\n    pass\n"))


@pytest.mark.parametrize(
    ("stem", "model"),
    [
        ("render_path", "RenderPathStream"),
        ("1x_generate", "Pipeline1xGenerateStream"),
        ("2024", "Pipeline2024Stream"),
    ],
)
def test_class_names_are_identifiers_whatever_the_file_is_called(stem: str, model: str) -> None:
    from pathlib import Path

    from reactorc.analysis import explain_text

    plan = explain_text(
        "import numpy\n\nframes = []\nfor i in range(4):\n    frames.append(draw(i))\n"
        "numpy.save('out.npy', frames)\n",
        f"{stem}.py",
    )
    assert plan.ok and plan.symbol_kind == "module"  # a script is named after its file
    names = names_for(plan, Path(f"{stem}.py"))
    assert names.model == model
    assert names.output.isidentifier() and names.state.isidentifier()


def test_config_keys_for_files_the_pipeline_reads_are_checked_where_outputs_are_not() -> None:
    from reactorc.analysis import explain_text
    from reactorc.render import read_paths

    plan = explain_text(
        textwrap.dedent(
            """
            class P:
                def __init__(self, config):
                    self.net = load(config["ckpt_path"], config["data_root"])
                    self.out = config["output_dir"]
                    self.seed = config.get("weights_seed", 0)
                    self.path = config["path"]

                def run(self, n: int = 3):
                    frames = []
                    for i in range(n):
                        frames.append(self.net(i))
                    return frames
            """
        ),
        "p.py",
    )
    assert set(read_paths(plan)) == {"ckpt_path", "data_root", "path"}


def test_a_missing_local_checkpoint_is_named_at_load(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from emit_helpers import GOLDEN, wrapper_class

    cls = wrapper_class(GOLDEN / "seed_document")
    module = sys.modules[cls.__module__]
    assert module.local_file("checkpoints/net.pt") and module.local_file("./weights")
    assert not module.local_file("runwayml/stable-diffusion-v1-5")  # a hub id
    assert not module.local_file("https://example.org/net.pt") and not module.local_file(3)
    cls().load({"path": "checkpoints/surely-missing.pt"})
    err = capsys.readouterr().err
    assert "config.yml's `path` is 'checkpoints/surely-missing.pt', which does not exist" in err
