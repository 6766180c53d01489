"""Command-line options a research script declares with argparse: their names, types, defaults,
choices and help. A driver's `args = parser.parse_args()` becomes, in the wrapper, options read
from config.yml with these defaults; options the pipeline takes as parameters give their fields
a type, a default and a description."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, is_missing, iter_nodes, last_name, literal
from reactorc.plan import ConfigKey

PARSE_CALLS = frozenset({"parse_args", "parse_known_args"})
ADD_CALLS = frozenset({"add_argument"})
PATH_WORDS = (
    "path",
    "dir",
    "ckpt",
    "checkpoint",
    "weights",
    "config",
    "cfg_file",
    "file",
    "folder",
    "root",
    "output",
    "out",
    "save",
    "model",
    "pretrained",
    "input",
    "source",
    "video",
    "image",
    "audio",
    "resume",
    "log",
)
PATH_SUFFIXES = (
    ".pt",
    ".pth",
    ".ckpt",
    ".safetensors",
    ".bin",
    ".yaml",
    ".yml",
    ".json",
    ".mp4",
    ".png",
    ".jpg",
    ".wav",
    ".txt",
    ".npy",
    ".npz",
)


@dataclass(frozen=True)
class Option:
    """One `add_argument(...)`: the attribute it sets on the namespace and what it takes."""

    dest: str
    flags: tuple[str, ...]
    type: str
    """"int", "float", "str", "bool" (store_true/false or type=bool) or "" when unknown."""
    default: Any
    has_default: bool
    default_code: str
    choices: tuple[Any, ...] | None
    help: str
    required: bool
    many: bool
    """nargs is +, * or a count: a list of values."""
    line: int

    @property
    def is_path(self) -> bool:
        """Names or holds a file or folder (a checkpoint, a config, an input clip, an output)."""
        words = self.dest.lower().split("_")
        if any(w in PATH_WORDS for w in words) and self.type in ("str", ""):
            return True
        return isinstance(self.default, str) and (
            "/" in self.default or self.default.lower().endswith(PATH_SUFFIXES)
        )


def find_options(ctx: Ctx) -> dict[str, Option]:
    """Every option declared in the file (argparse's `add_argument`, click's `@click.option`),
    by dest (the first declaration wins)."""
    found: dict[str, Option] = {}
    for node in iter_nodes(ctx.source.module, into_scopes=True):
        if isinstance(node, cst.Call) and last_name(node.func) in ADD_CALLS:
            option = _option(node, ctx)
        elif isinstance(node, cst.Call) and dotted(node.func) in CLICK_OPTIONS:
            option = _option(node, ctx, click=True)
        else:
            continue
        if option is not None and option.dest not in found:
            found[option.dest] = option
    return found


CLICK_OPTIONS = frozenset({"click.option", "click.argument", "option", "typer.Option"})


def is_parse_call(node: cst.CSTNode, parse_functions: set[str]) -> bool:
    """`parser.parse_args()`, `get_parser().parse_known_args()`, or a call of a function of the
    file that returns one (`args = get_args()`)."""
    if not isinstance(node, cst.Call):
        return False
    name = last_name(node.func)
    return name in PARSE_CALLS or dotted(node.func) in parse_functions


def parse_functions(ctx: Ctx) -> set[str]:
    """Functions of the file that return parsed options (`def get_args(): ... return
    parser.parse_args()`), by name."""
    out: set[str] = set()
    for node in iter_nodes(ctx.source.module, into_scopes=True):
        if not isinstance(node, cst.FunctionDef):
            continue
        for inner in iter_nodes(node.body):
            if isinstance(inner, cst.Return) and inner.value is not None:
                if any(
                    isinstance(c, cst.Call) and last_name(c.func) in PARSE_CALLS
                    for c in iter_nodes(inner.value)
                ):
                    out.add(node.name.value)
            elif (
                isinstance(inner, cst.Call)
                and last_name(inner.func) in PARSE_CALLS
                and _returns_a_name(node)
            ):  # `args = parser.parse_args(); ...; return args`
                out.add(node.name.value)
    return out


def _returns_a_name(fn: cst.FunctionDef) -> bool:
    return any(
        isinstance(n, cst.Return) and isinstance(n.value, cst.Name) for n in iter_nodes(fn.body)
    )


def _option(call: cst.Call, ctx: Ctx, *, click: bool = False) -> Option | None:
    flags: list[str] = []
    kwargs: dict[str, cst.BaseExpression] = {}
    for arg in call.args:
        if arg.keyword is not None:
            kwargs[arg.keyword.value] = arg.value
        elif arg.star:
            return None
        else:
            value = literal(arg.value)
            if isinstance(value, str):
                flags.append(value)
    if not flags:
        return None
    dest_value = literal(kwargs["dest"]) if "dest" in kwargs else None
    named = [f for f in flags if not f.startswith("-")] if click else []
    if click and "is_flag" in kwargs and literal(kwargs["is_flag"]) is True:
        kwargs.setdefault("action", cst.SimpleString('"store_true"'))
    if named and any(f.startswith("-") for f in flags):
        dest_value = named[0]  # click: `@click.option('--trunc', 'truncation_psi', ...)`
    if isinstance(dest_value, str):
        dest = dest_value
    else:
        long = [f for f in flags if f.startswith("--")]
        first = long[0] if long else flags[0]
        dest = first.lstrip("-").replace("-", "_")
    if not dest.isidentifier():
        return None
    action = literal(kwargs["action"]) if "action" in kwargs else None
    type_ = ""
    if action in ("store_true", "store_false"):
        type_ = "bool"
    elif "type" in kwargs:
        t = dotted(kwargs["type"])
        type_ = {"int": "int", "float": "float", "str": "str", "bool": "bool"}.get(t, "")
        if t in ("str2bool", "strtobool", "boolean_string", "str_to_bool"):
            type_ = "bool"
    default_node = kwargs.get("default")
    default: Any = None
    has_default = default_node is not None
    default_code = ctx.expr(default_node) if default_node is not None else ""
    if default_node is not None:
        value = literal(default_node)
        default = None if is_missing(value) else value
        if is_missing(value):
            has_default = True
    elif action == "store_true":
        default, has_default, default_code = False, True, "False"
    elif action == "store_false":
        default, has_default, default_code = True, True, "True"
    if not type_ and default is not None:
        for t in (bool, int, float, str):
            if isinstance(default, t):
                type_ = t.__name__
                break
    computed_default = default_node is not None and is_missing(literal(default_node))
    if not type_ and "type" not in kwargs and not computed_default:
        type_ = "str"  # what argparse gives for an option without a type
    choices_value = literal(kwargs["choices"]) if "choices" in kwargs else None
    choices = (
        tuple(choices_value) if isinstance(choices_value, (list, tuple)) and choices_value else None
    )
    help_value = literal(kwargs["help"]) if "help" in kwargs else ""
    nargs = literal(kwargs["nargs"]) if "nargs" in kwargs else None
    many = nargs in ("+", "*") or (isinstance(nargs, int) and nargs > 1)
    required = literal(kwargs["required"]) is True if "required" in kwargs else False
    if not flags[0].startswith("-") and not has_default and nargs != "?":
        required = True
    return Option(
        dest=dest,
        flags=tuple(flags),
        type=type_,
        default=default,
        has_default=has_default,
        default_code=default_code,
        choices=choices,
        help=help_value if isinstance(help_value, str) else "",
        required=required,
        many=many,
        line=ctx.line(call),
    )


def config_keys(declared: dict[str, Option], names: list[str]) -> tuple[ConfigKey, ...]:
    """config.yml keys for the options `names`, with their defaults (an undeclared name, or a
    required option, has none: load() asks for it)."""
    keys = []
    for name in names:
        opt = declared.get(name)
        if opt is None:
            keys.append(ConfigKey(name, "None", False, 0))
        else:
            keys.append(
                ConfigKey(
                    name,
                    opt.default_code or "None",
                    opt.has_default and not opt.required,
                    opt.line,
                )
            )
    return tuple(keys)
