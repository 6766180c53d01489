"""State inference: types, defaults, bounds, choices, descriptions, what is not state."""

from __future__ import annotations

import ast
import textwrap

import pytest
from compiler_helpers import codes, plan_of

from reactorc.analysis.docstrings import ParamDoc, parse


def pipeline(signature: str, body: str = "", doc: str = "", extra: str = "") -> str:
    """A one-method pipeline whose loop reads every parameter named in `signature`."""
    args = ast.parse(f"def f({signature}): pass").body[0].args
    reads = ", ".join(a.arg for a in args.args + args.kwonlyargs)
    docstring = f'        """{doc}"""\n' if doc else ""
    return (
        textwrap.dedent(extra)
        + "\n\nclass P:\n"
        + f"    def __call__(self, {signature}):\n"
        + docstring
        + textwrap.indent(textwrap.dedent(body), "        ")
        + "        frames = []\n"
        + "        for i in range(4):\n"
        + f"            frames.append(draw(i, {reads}))\n"
        + "        return frames\n"
    )


TYPES = [
    # (signature, name, type, default, choices)
    ("x: int = 3", "x", "int", 3, None),
    ("x: float = 2", "x", "float", 2.0, None),
    ("x: str = 'a'", "x", "str", "a", None),
    ("x: bool = True", "x", "bool", True, None),
    ("x=3", "x", "int", 3, None),
    ("x=-0.5", "x", "float", -0.5, None),
    ("x='hi'", "x", "str", "hi", None),
    ("x=False", "x", "bool", False, None),
    ("x: Optional[int] = None", "x", "int", None, None),
    ("x: int | None = None", "x", "int", None, None),
    ("x: 'float' = 1.5", "x", "float", 1.5, None),
    ("x: Literal['a', 'b'] = 'a'", "x", "choice", "a", ("a", "b")),
    ("x: Literal[1, 2, 4] = 2", "x", "choice", 2, (1, 2, 4)),
    ("x: Mode = Mode.FAST", "x", "choice", "fast", ("fast", "slow")),
    ("x: Annotated[float, 'gain'] = 0.1", "x", "float", 0.1, None),
    ("x=SIZE", "x", "int", 64, None),
]

EXTRA = """
import enum
from typing import Annotated, Literal, Optional

SIZE = 64


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"
"""


@pytest.mark.parametrize(("signature", "name", "type_", "default", "choices"), TYPES)
def test_field_type_and_default(signature, name, type_, default, choices) -> None:
    plan = plan_of(pipeline(signature, extra=EXTRA))
    f = plan.state_field(name)
    assert (f.type, f.default, f.choices) == (type_, default, choices)
    assert type(f.default) is type(default)


def test_enum_field_names_its_enum() -> None:
    plan = plan_of(pipeline("x: Mode = Mode.SLOW", extra=EXTRA))
    assert (plan.state_field("x").enum, plan.state_field("x").default) == ("Mode", "slow")


NOT_STATE = [
    ("image: torch.Tensor = None", "image", "tensor"),
    ("image: np.ndarray | None = None", "image", "tensor"),
    ("model: nn.Module = None", "model", "model"),
    ("callback: Callable[[int], None] = None", "callback", "callable"),
    ("sizes: list[int] = None", "sizes", "collection"),
    ("resolution=(64, 64)", "resolution", "list of values"),
    ("anything: Any = None", "anything", "says nothing"),
    ("when=time.time()", "when", "computed"),
]


@pytest.mark.parametrize(("signature", "name", "why"), NOT_STATE)
def test_parameters_that_are_not_plain_data_are_not_state(signature, name, why) -> None:
    plan = plan_of(pipeline(signature, extra="from typing import Any, Callable\n"))
    assert name not in {f.name for f in plan.state}
    (ns,) = [p for p in plan.non_state if p.param.name == name]
    assert why in ns.reason
    rc201 = [d for d in plan.diagnostics if d.code == "RC201"]
    assert rc201 and name in rc201[0].message and rc201[0].severity == "note"
    assert plan.ok


def test_parameter_nothing_says_anything_about_is_rc202_with_what_the_wrapper_passes() -> None:
    plan = plan_of(pipeline("thing=None, steps: int = 2"))
    assert [f.name for f in plan.state] == ["steps"]
    d = next(d for d in plan.diagnostics if d.code == "RC202")
    assert "`thing`" in d.message and "its default `None`" in d.message
    assert d.severity == "note"
    assert "reactorc.yaml" in d.hint and "annotate" not in d.hint


def test_docstring_type_gives_the_type_when_there_is_no_annotation() -> None:
    doc = "Run.\n\n        Args:\n            prompt (str): What to show.\n        "
    plan = plan_of(pipeline("prompt", doc=doc))
    f = plan.state_field("prompt")
    assert (f.type, f.has_default, f.description) == ("str", False, "What to show.")


def test_variadic_parameters_are_rc204() -> None:
    plan = plan_of(pipeline("n: int = 1, *args, **kwargs"))
    assert [f.name for f in plan.state] == ["n"]
    assert codes(plan).count("RC204") == 2


BOUNDS = [
    # (guard statement, expected (ge, le))
    ("assert 0 <= x <= 10", (0, 10)),
    ("assert 0.5 <= y <= 2", (0.5, 2.0)),
    ("assert x >= 1", (1, None)),
    ("assert x > 0", (1, None)),
    ("assert y > 0", (0.0, None)),
    ("assert 1 <= x", (1, None)),
    ("assert x < 10", (None, 9)),
    ("assert 0 <= x and x <= 5", (0, 5)),
    ("if not 0 <= x <= 8:\n    raise ValueError('x')", (0, 8)),
    ("if x < 2 or x > 6:\n    raise ValueError('x')", (2, 6)),
    ("if x <= 0:\n    raise ValueError('x')", (1, None)),
    ("if y > 1.0:\n    raise ValueError('y')", (None, 1.0)),
    ("assert -1 <= y <= 1", (-1.0, 1.0)),
    ("if x < LIMIT:\n    raise ValueError('x')", (3, None)),
]


@pytest.mark.parametrize(("guard", "expected"), BOUNDS)
def test_bounds_from_guards(guard: str, expected: tuple) -> None:
    plan = plan_of(pipeline("x: int = 5, y: float = 0.75", body=guard + "\n", extra="LIMIT = 3\n"))
    name = "y" if "y" in guard.split("\n")[0] else "x"
    f = plan.state_field(name)
    assert (f.ge, f.le) == expected


def test_guard_that_only_warns_is_not_a_bound() -> None:
    plan = plan_of(pipeline("x: int = 5", body="if x > 3:\n    print('large')\n"))
    assert (plan.state_field("x").ge, plan.state_field("x").le) == (None, None)


@pytest.mark.parametrize(
    "guard",
    [
        "assert mode in ('a', 'b', 'c')",
        "if mode not in ['a', 'b', 'c']:\n    raise ValueError(mode)",
        "if mode not in MODES:\n    raise ValueError(mode)",
    ],
)
def test_choices_from_membership_guards(guard: str) -> None:
    plan = plan_of(pipeline("mode='a'", body=guard + "\n", extra="MODES = ('a', 'b', 'c')\n"))
    f = plan.state_field("mode")
    assert (f.type, f.choices) == ("choice", ("a", "b", "c"))


def test_length_bounds_from_len_guards() -> None:
    plan = plan_of(pipeline("prompt: str = 'hi'", body="assert 1 <= len(prompt) <= 77\n"))
    f = plan.state_field("prompt")
    assert (f.min_length, f.max_length) == (1, 77)


def test_isinstance_guard_types_an_untyped_parameter() -> None:
    plan = plan_of(pipeline("steps", body="assert isinstance(steps, int)\n"))
    assert plan.state_field("steps").type == "int"


@pytest.mark.parametrize(
    ("signature", "guard", "problem"),
    [
        ("x: int = 20", "assert 0 <= x <= 10", "above its upper bound 10"),
        ("x: float = -1.0", "assert x >= 0", "below its lower bound 0.0"),
        ("x: str = 'z'", "assert x in ('a', 'b')", "not one of ['a', 'b']"),
    ],
)
def test_default_breaking_its_own_guard_is_rc203(signature, guard, problem) -> None:
    plan = plan_of(pipeline(signature, body=guard + "\n"))
    d = next(d for d in plan.diagnostics if d.code == "RC203")
    assert problem in d.message and d.severity == "warning"


GOOGLE = """Generate.

Args:
    prompt: Text describing
        the scene.
    guidance_scale (float): Strength of guidance.
    *args: ignored.

Returns:
    frames.
"""

NUMPY = """Generate.

Parameters
----------
prompt : str
    Text describing the
    scene.
steps, substeps : int, optional
    Step counts.

Returns
-------
np.ndarray
"""

REST = """Generate.

:param prompt: Text describing
    the scene.
:param int steps: Denoising steps.
:type prompt: str
:returns: frames
"""


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            GOOGLE,
            {
                "prompt": ParamDoc("Text describing the scene.", ""),
                "guidance_scale": ParamDoc("Strength of guidance.", "float"),
                "args": ParamDoc("ignored.", ""),
            },
        ),
        (
            NUMPY,
            {
                "prompt": ParamDoc("Text describing the scene.", "str"),
                "steps": ParamDoc("Step counts.", "int, optional"),
                "substeps": ParamDoc("Step counts.", "int, optional"),
            },
        ),
        (
            REST,
            {
                "prompt": ParamDoc("Text describing the scene.", "str"),
                "steps": ParamDoc("Denoising steps.", "int"),
            },
        ),
        ("Just a summary line.", {}),
        ("", {}),
    ],
    ids=["google", "numpy", "rest", "no-params", "empty"],
)
def test_docstring_styles(doc: str, expected: dict) -> None:
    assert parse(doc) == expected


def test_descriptions_reach_the_fields() -> None:
    doc = (
        "Run.\n\n        Parameters\n        ----------\n        gain : float\n"
        "            How bright.\n        "
    )
    plan = plan_of(pipeline("gain=1.0", doc=doc))
    assert plan.state_field("gain").description == "How bright."


def test_per_step_sequence_becomes_a_live_field() -> None:
    plan = plan_of(
        """
        def imagine(actions: list[str] = None, num_frames: int = 8):
            frames = []
            for i in range(num_frames):
                frames.append(step(actions[i]))
            return frames
        """
    )
    f = plan.state_field("actions")
    assert (f.type, f.per_step, f.live) == ("str", True, True)
    (seq,) = plan.per_step
    assert (seq.param, seq.element_field, seq.index_expr, seq.element_type) == (
        "actions",
        "actions",
        "i",
        "str",
    )
    assert "RC206" in codes(plan)


def test_indexed_tensor_input_is_not_a_per_step_field() -> None:
    plan = plan_of(
        """
        def upscale(video: "np.ndarray" = None, sharp: float = 0.5):
            out = []
            for i in range(len(video)):
                out.append(sr(video[i], sharp))
            return out
        """
    )
    assert [f.name for f in plan.state] == ["sharp"]
    assert plan.per_step == ()
    assert [p.param.name for p in plan.non_state] == ["video"]


def test_untyped_parameter_the_loop_iterates_is_an_input_not_unknown() -> None:
    plan = plan_of(
        """
        def render_path(poses, exposure: float = 1.0):
            frames = []
            for pose in poses:
                frames.append(draw(pose) * exposure)
            return frames
        """
    )
    (ns,) = plan.non_state
    assert (ns.param.name, ns.reason) == ("poses", "the frame loop iterates over it: a sequence")
    # nothing passes `poses`: it is a live sequence with no value yet, and the plan says what
    # to write in reactorc.yaml instead of calling its type unknown
    assert "RC501" in codes(plan) and "RC202" not in codes(plan)
    arg = plan.argument("poses")
    assert arg is not None and (arg.role, arg.source) == ("live", "missing")


def test_diffusers_style_docstring_types_and_descriptions() -> None:
    plan = plan_of(
        '''
        class P:
            def __call__(self, prompt, num_frames=16):
                """Run.

                Args:
                    prompt (`str` or `List[str]`, *optional*):
                        The prompt or prompts to guide generation.
                    num_frames (`int`, *optional*, defaults to 16):
                        Frames.
                """
                frames = []
                for i in range(num_frames):
                    frames.append(draw(prompt, i))
                return frames
        '''
    )
    prompt = plan.state_field("prompt")
    assert (prompt.type, prompt.description) == (
        "str",
        "The prompt or prompts to guide generation.",
    )
    assert plan.state_field("num_frames").description == "Frames."
