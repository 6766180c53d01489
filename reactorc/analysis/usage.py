"""Types and roles of parameters written without an annotation or a default, from how the
function uses them and from the names research code gives them.

`def inference(self, prompt, num_frames=100)` says nothing about `prompt`, but the body passes
it as `prompt=` to a call, and every user of such a pipeline knows a prompt is text. Evidence is
weighed: a use that fixes the type (a string method, `range(x)`, a comparison with a literal)
beats a keyword it is passed as, which beats the parameter's name alone."""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst

from reactorc.analysis._cst import dotted, iter_nodes, last_name, literal, words

STR_METHODS = frozenset(
    {
        "strip",
        "lstrip",
        "rstrip",
        "lower",
        "upper",
        "split",
        "splitlines",
        "replace",
        "format",
        "encode",
        "startswith",
        "endswith",
        "join",
        "title",
        "capitalize",
    }
)

EXACT_NAMES: dict[str, str] = {
    "prompt": "str",
    "text": "str",
    "caption": "str",
    "negative_prompt": "str",
    "neg_prompt": "str",
    "n_prompt": "str",
    "style": "str",
    "instruction": "str",
    "seed": "int",
    "guidance_scale": "float",
    "guidance": "float",
    "cfg": "float",
    "cfg_scale": "float",
    "scale": "float",
    "strength": "float",
    "eta": "float",
    "temperature": "float",
    "temp": "float",
    "top_p": "float",
    "top_k": "int",
    "steps": "int",
    "fps": "int",
    "length": "int",
    "height": "int",
    "width": "int",
    "batch_size": "int",
    "motion_bucket_id": "int",
    "noise_aug_strength": "float",
    "image_guidance_scale": "float",
    "denoise": "float",
    "denoising_strength": "float",
    "radius": "float",
    "elevation": "float",
    "azimuth": "float",
    "speed": "float",
    "zoom": "float",
    "exposure": "float",
    "gamma": "float",
    "truncation_psi": "float",
    "psi": "float",
    "trunc": "float",
    "truncation_cutoff": "int",
    "noise_mode": "str",
    "relative": "bool",
    "adapt_movement_scale": "bool",
}
SUFFIX_NAMES: tuple[tuple[str, str], ...] = (
    ("_prompt", "str"),
    ("_text", "str"),
    ("_scale", "float"),
    ("_strength", "float"),
    ("_weight", "float"),
    ("_ratio", "float"),
    ("_steps", "int"),
    ("_frames", "int"),
    ("_seed", "int"),
    ("_fps", "int"),
)
PREFIX_NAMES: tuple[tuple[str, str], ...] = (("num_", "int"), ("n_", "int"))
TEXT_CALL_WORDS = ("prompt", "text", "token", "caption", "clip_encode")

PROMPT_LIST_NAMES = re.compile(r"^(text_)?(prompts?|captions?|texts)(_list)?$|_prompts$")
NOISE_NAMES = re.compile(
    r"^(noise|init_noise|initial_noise|noises|z|z_t|zt|x_t|xt|x_T|eps|epsilon|latent_noise|"
    r"noise_latents|start_noise|sampled_noise|input_noise|z0|x0_noise)$"
)
GENERATOR_NAMES = re.compile(r"^(generator|rng|g|gen|torch_generator|random_generator)$")


def type_from_name(name: str) -> str:
    """The scalar type research code means by a parameter called `name` ("" when unknown)."""
    if name in EXACT_NAMES:
        return EXACT_NAMES[name]
    for suffix, type_ in SUFFIX_NAMES:
        if name.endswith(suffix):
            return type_
    for prefix, type_ in PREFIX_NAMES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return type_
    return ""


@dataclass(frozen=True)
class Evidence:
    """What the body says about one parameter: the type and how it knows."""

    type: str
    how: str
    strength: int


def type_from_usage(name: str, body: cst.CSTNode) -> Evidence | None:
    """The strongest evidence of `name`'s scalar type in `body`, None when there is none."""
    best: Evidence | None = None

    def note(ev: Evidence) -> None:
        nonlocal best
        if best is None or ev.strength > best.strength:
            best = ev

    for node in iter_nodes(body):
        if isinstance(node, cst.Attribute) and _is(node.value, name):
            if node.attr.value in STR_METHODS:
                note(Evidence("str", f"`{name}.{node.attr.value}()` is a string method", 3))
        elif isinstance(node, cst.Call):
            callee = last_name(node.func)
            for arg in node.args:
                if not _is(arg.value, name):
                    continue
                if arg.keyword is not None:
                    typed = type_from_name(arg.keyword.value)
                    if typed:
                        note(Evidence(typed, f"passed as `{arg.keyword.value}=`", 2))
                if callee == "range" and arg.keyword is None:
                    note(Evidence("int", f"`range({name})` counts with it", 3))
                elif dotted(node.func) in ("len", "str.join"):
                    continue
                elif any(w in callee.lower() for w in TEXT_CALL_WORDS) and arg.keyword is None:
                    note(Evidence("str", f"given to `{callee}()`, which takes text", 1))
        elif isinstance(node, cst.Comparison):
            operands = [node.left] + [t.comparator for t in node.comparisons]
            if any(_is(o, name) for o in operands):
                for o in operands:
                    value = literal(o)
                    if isinstance(value, bool) or value is None:
                        continue
                    if isinstance(value, str):
                        note(Evidence("str", f"compared with the text {value!r}", 3))
                    elif isinstance(value, float):
                        note(Evidence("float", f"compared with {value!r}", 2))
                    elif isinstance(value, int):
                        note(Evidence("int", f"compared with {value!r}", 1))
        elif isinstance(node, cst.FormattedStringExpression) and _is(node.expression, name):
            note(Evidence("str", "formatted into an f-string", 0))
        elif isinstance(node, cst.BinaryOperation) and (
            _is(node.left, name) or _is(node.right, name)
        ):
            other = node.right if _is(node.left, name) else node.left
            value = literal(other)
            if isinstance(value, float) and not isinstance(value, bool):
                note(Evidence("float", f"multiplied or added with {value!r}", 1))
    return best


PATH_WORDS = ("path", "dir", "ckpt", "checkpoint", "file", "folder", "weights", "root", "outdir")
# Where the model runs, not what it makes: moving it mid-stream is a restart.
PLACEMENT = frozenset(
    {"device", "cpu", "gpu", "gpu_id", "gpus", "cuda", "local_rank", "dtype", "fp16", "half"}
)
# How the work is split, not what it makes: a client has no reason to change them.
PERFORMANCE = frozenset(
    {
        "chunk",
        "chunk_size",
        "netchunk",
        "seq_chunk",
        "batch_size",
        "num_workers",
        "workers",
        "tile",
        "tile_size",
        "tile_pad",
        "pre_pad",
        "precision",
        "backend",
        "codec",
        "rank",
    }
)
NOT_KNOBS = PLACEMENT | PERFORMANCE
"""Settings of where and how the model runs: config.yml keys, never client fields."""
# The size of the frames: the stream's resolution is fixed for a clip.
FRAME_SIZE = frozenset(
    {
        "width",
        "height",
        "w",
        "h",
        "resolution",
        "size",
        "res",
        "image_size",
        "img_size",
        "image_width",
        "image_height",
        "frame_size",
        "output_size",
    }
)


def is_path(name: str) -> bool:
    """A file or folder by its name (`ckpt_path`, `out_dir`, `savePath`)."""
    return bool(words(name) & set(PATH_WORDS))


def fixed_for_a_clip(name: str, type_: str) -> str:
    """Why a field applies at restart whatever the loop does with it ("" when nothing says so
    by its name): a path, where the model runs, the frame size."""
    if type_ not in ("int", "float", "bool") and is_path(name):
        return "a path: applies at restart"
    if name.lower() in PLACEMENT:
        return "chooses where the model runs: applies at restart"
    if name.lower() in FRAME_SIZE and type_ in ("int", "float", "tuple", "list"):
        return "sets the frame size: applies at restart"
    return ""


def is_prompt_list(name: str, annotation: str) -> bool:
    """A list of prompts (`text_prompts: List[str]`, `prompts`): one prompt per block/batch."""
    ann = annotation.replace(" ", "")
    typed_list = ann.lower().startswith(
        ("list[str]", "sequence[str]", "tuple[str", "typing.list[str]")
    )
    return bool(PROMPT_LIST_NAMES.search(name)) and (typed_list or not annotation)


def is_noise(name: str, annotation: str) -> bool:
    """A noise tensor the caller draws (`noise: torch.Tensor`, `z`, `x_T`)."""
    if not NOISE_NAMES.match(name):
        return False
    return not annotation or any(w in annotation for w in ("Tensor", "ndarray", "Array"))


def is_generator(name: str, annotation: str) -> bool:
    """A random generator the caller seeds (`generator: torch.Generator`)."""
    if "Generator" in annotation or "RandomState" in annotation:
        return True
    return bool(GENERATOR_NAMES.match(name)) and not annotation


def _is(node: cst.CSTNode, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name
