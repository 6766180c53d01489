"""Render: the plan and the rewritten `inference()` -> the output folder's files, as text.

Templates (in `templates/`, shipped as `reactorc.templates`) only loop and branch over the
values built here. Python files are formatted with `ruff format`; every file starts with a
header naming the source and carrying two hashes: of the source and generator version (what
it was made from) and of the body below the header (so a hand edit can be told apart).
"""

from __future__ import annotations

import ast
import hashlib
import io
import keyword
import os
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml

from reactorc import __version__
from reactorc import templates as templates_package
from reactorc.analysis._cst import words
from reactorc.plan import Plan, Sink, StateField
from reactorc.rewrite import Inference, rewrite
from reactorc.rewrite.app import step_form
from reactorc.rewrite.setup import Load, SetupError, load_body

Target = Literal["reactor", "reactor-runtime", "reactor-app"]
TARGETS: tuple[str, ...] = ("reactor", "reactor-runtime", "reactor-app")
"""reactor: this project's runtime; reactor-runtime: the Reactor platform's generator form
(reactor-runtime 2.x and 3.x); reactor-app: its step form (a ReactorApp, reactor-runtime 3.x)."""
HASH_MARK = "reactorc-hash:"
HEADER_LINES = 3


class RenderError(Exception):
    """The output cannot be produced (formatting failed); one line for the user."""


@dataclass(frozen=True)
class Names:
    """The generated module and classes, named after the original."""

    module: str
    output: str
    state: str
    model: str
    clip: str = ""
    """The step form's per-clip class (target reactor-app)."""


@dataclass(frozen=True)
class FieldView:
    """A state field as the templates show it (Python code and README text)."""

    name: str
    annotation: str
    default: str
    ge: str | None
    le: str | None
    min_length: int | None
    max_length: int | None
    description: str
    live: bool
    type_text: str
    default_text: str
    bounds_text: str
    description_text: str
    example: str


@dataclass(frozen=True)
class ConfigEntry:
    key: str
    value: str
    comment: str = ""
    commented: bool = False


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(templates_package.__file__).resolve().parent)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr
    return env


def decode_source(source: bytes) -> str:
    """The text analysis parsed: decoded by the file's PEP 263 declaration, BOM dropped."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    return source.decode(encoding).removeprefix("\ufeff")


def source_hash(source: bytes) -> str:
    """What an output was made from: the source and the generator's version."""
    return hashlib.sha256(source + b"\0reactorc " + __version__.encode()).hexdigest()[:16]


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def names_for(plan: Plan, source_path: Path, target: Target = "reactor") -> Names:
    stem_base = _camel(source_path.stem)
    if plan.symbol_kind == "module":
        base = stem_base  # a script is named after its file
    else:
        base = plan.class_name or _camel(plan.function_name or source_path.stem)
    stem = re.sub(r"\W", "_", source_path.stem) or "pipeline"
    if stem[0].isdigit() or keyword.iskeyword(stem):
        stem = f"_{stem}"
    app = target == "reactor-app"
    return Names(
        module=f"{stem}_app" if app else f"{stem}_stream",
        output=f"{base}Output",
        state=f"{base}State",
        model=f"{base}App" if app else f"{base}Stream",
        clip=f"{base}Clip" if app else "",
    )


def _camel(name: str) -> str:
    """`render_path` -> `RenderPath`; a name that would start with a digit (a file called
    `1x_generate.py`) gets a `Pipeline` prefix, so every class name is an identifier."""
    camel = "".join(p[:1].upper() + p[1:] for p in re.split(r"[_\W]+", name) if p)
    if not camel or not camel.isidentifier():
        camel = f"Pipeline{camel}"
    return camel


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower().replace("_", "-")


def _literal(code: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(code)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _yaml_value(value: Any) -> str | None:
    import yaml

    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, (str, int, float, bool, list, dict, type(None))):
        return None
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def config_entries(plan: Plan) -> list[ConfigEntry]:
    """config.yml: the keys the constructor reads, each with its default (or a marked gap)."""
    cons = plan.constructor
    out: list[ConfigEntry] = []
    if cons.kind == "config":
        seen: set[str] = set()
        for key in cons.keys:
            if key.name in seen:
                continue
            seen.add(key.name)
            if not key.has_default:
                out.append(ConfigEntry(key.name, "null", "required: set it (no default)"))
                continue
            out.append(_entry(key.name, key.default_code))
    elif cons.kind == "kwargs":
        for p in cons.params:
            if p.kind in ("var_positional", "var_keyword"):
                continue
            if not p.default_code:
                out.append(ConfigEntry(p.name, "null", "required: set it (no default)"))
                continue
            out.append(_entry(p.name, p.default_code))
    if plan.symbol_kind == "step":
        out.append(
            ConfigEntry("reset", "{}", "keyword arguments of reset() at the start of each episode")
        )
    if plan.setup is not None and plan.setup.pipeline_expr:
        out = []  # the driver builds the pipeline: config.yml holds its options
    seen = {e.key for e in out}
    if plan.setup is not None:
        for key in plan.setup.config:
            if key.name in seen:
                continue
            seen.add(key.name)
            if not key.has_default:
                out.append(ConfigEntry(key.name, "null", "required: set it (no default)"))
            else:
                out.append(_entry(key.name, key.default_code))
    for arg in plan.arguments:
        if arg.source == "config" and arg.config_key not in seen:
            seen.add(arg.config_key)
            out.append(ConfigEntry(arg.config_key, "null", f"required: the `{arg.param}` argument"))
    return out


READ_WORDS = frozenset(
    {
        "ckpt",
        "checkpoint",
        "weights",
        "pretrained",
        "model",
        "image",
        "img",
        "audio",
        "wav",
        "video",
        "input",
        "source",
        "src",
        "data",
        "dataset",
        "config",
        "cfg",
    }
)
WRITE_WORDS = frozenset({"out", "output", "save", "result", "res", "dst", "dest", "log", "logs"})
PATH_NAMES = frozenset({"path", "dir", "file", "folder", "ckpt", "checkpoint", "root", "filename"})


def read_paths(plan: Plan) -> tuple[str, ...]:
    """Config keys that name a file or folder the pipeline reads (a checkpoint, an image, a
    dataset): load() warns, naming the key, when one that is written as a local file does not
    exist, before the original fails somewhere deeper. Where outputs go is not checked."""
    out = []
    for entry in config_entries(plan):
        w = words(entry.key)
        try:
            value = yaml.safe_load(entry.value)
        except yaml.YAMLError:
            value = None
        if not isinstance(value, (str, type(None))):
            continue  # `weights_seed: 0` is not a path
        reads = w & READ_WORDS or w <= PATH_NAMES  # `ckpt_path`, or just `path`
        if w & PATH_NAMES and reads and not w & WRITE_WORDS:
            out.append(entry.key)
    return tuple(out)


def required_config(plan: Plan) -> tuple[str, ...]:
    """Config keys that have no default (the constructor's, the driver's required options,
    paths given as arguments): load() names them if unset."""
    out: list[str] = []
    cons = plan.constructor
    driver_builds = plan.setup is not None and bool(plan.setup.pipeline_expr)
    if plan.class_name and plan.symbol_kind != "function" and not driver_builds:
        if cons.kind == "config":
            out += [k.name for k in cons.keys if not k.has_default]
        elif cons.kind == "kwargs":
            out += [
                p.name
                for p in cons.params
                if not p.default_code and p.kind not in ("var_positional", "var_keyword")
            ]
    if plan.setup is not None:
        out += [k.name for k in plan.setup.config if not k.has_default]
    out += [a.config_key for a in plan.arguments if a.source == "config"]
    return tuple(dict.fromkeys(out))


def _entry(name: str, code: str) -> ConfigEntry:
    ok, value = _literal(code)
    text = _yaml_value(value) if ok else None
    if text is None:
        return ConfigEntry(
            name, code, f"not a plain value: the constructor's default `{code}` applies", True
        )
    return ConfigEntry(name, text)


def _field_view(f: StateField, plan: Plan) -> FieldView:
    per_step = f.per_step
    annotation = {"int": "int", "float": "float", "str": "str", "bool": "bool"}.get(f.type, "str")
    if f.type == "choice" and f.choices:
        annotation = f.enum or f"Literal[{', '.join(repr(c) for c in f.choices)}]"
    default = f.default
    if per_step or not f.has_default or default is None:
        default = _neutral(f)
    if f.enum and f.choices:
        default_code = f"{f.enum}({default!r})"
    elif f.type == "float" and isinstance(default, int) and not isinstance(default, bool):
        default_code = repr(float(default))
    else:
        default_code = repr(default)
    description = f.description or _reason_sentence(f)
    if per_step:
        description = (
            f"{description.rstrip('.')}. The value for the current step; "
            f"{'empty' if f.type == 'str' else 'unset'} follows the pipeline's own sequence."
        ).strip()
    bounds = []
    if f.ge is not None:
        bounds.append(f"≥ {f.ge}")
    if f.le is not None:
        bounds.append(f"≤ {f.le}")
    if f.min_length is not None:
        bounds.append(f"length ≥ {f.min_length}")
    if f.max_length is not None:
        bounds.append(f"length ≤ {f.max_length}")
    if f.choices:
        bounds.append("one of " + ", ".join(f"`{c}`" for c in f.choices))
    example = _example(f)
    return FieldView(
        name=f.name,
        annotation=annotation,
        default=default_code,
        ge=_num(f.ge, f.type),
        le=_num(f.le, f.type),
        min_length=f.min_length,
        max_length=f.max_length,
        description=description,
        live=f.live,
        type_text=f.type if f.type != "choice" else "choice",
        default_text=str(default) if not isinstance(default, str) else repr(default),
        bounds_text=", ".join(bounds) or "—",
        description_text=description.replace("|", "\\|").replace("\n", " "),
        example=example,
    )


def _num(value: int | float | None, type_: str) -> str | None:
    if value is None:
        return None
    if type_ == "float" and isinstance(value, int):
        return repr(float(value))
    return repr(value)


def _neutral(f: StateField) -> Any:
    """A default for a field whose parameter has none: the lowest allowed value or empty."""
    if f.choices:
        return f.choices[0]
    if f.type == "str":
        return ""
    if f.type == "bool":
        return False
    if f.type in ("int", "float"):
        low = f.ge if f.ge is not None else 0
        return float(low) if f.type == "float" else int(low)
    return ""


def _example(f: StateField) -> str:
    if f.choices and len(f.choices) > 1:
        return str(f.choices[1] if f.choices[0] == f.default else f.choices[0])
    if f.type == "str":
        return '"a new prompt"' if not f.per_step else "value"
    if f.type == "bool":
        return str(not f.default).lower()
    if f.type in ("int", "float") and isinstance(f.default, (int, float)):
        hi = f.le if f.le is not None else f.default * 2 + 1
        return str(type(f.default)(min(hi, f.default + 1)))
    return "1"


def _reason_sentence(f: StateField) -> str:
    return (f.reason[:1].upper() + f.reason[1:]).rstrip(".") + "." if f.reason else f.name


def _summary(plan: Plan) -> str:
    fl = plan.frame_loop
    assert fl is not None
    what = {
        "append": "each frame it appended is yielded",
        "index-write": "each frame it writes into its buffer is yielded",
        "slice-write": "each slice it writes is yielded",
        "cat": "each part it concatenates is yielded",
        "writer": f"each frame it wrote with `{fl.sink.call or fl.sink.target}` is yielded instead",
        "yield": "its own generator, each frame converted",
        "return": "`reset()` once per episode, one `step()` per frame",
    }[fl.sink.kind]
    if fl.frames_per_iteration == "chunk":
        what = what.replace("frame", "chunk")
    if plan.decode_after_loop:
        what += ", decoded per chunk"
    return what


def _notes(plan: Plan, inference: Inference) -> list[str]:
    notes = []
    required = required_config(plan)
    if required:
        keys = ", ".join(f"`{k}`" for k in required)
        notes.append(
            f"Set {keys} in config.yml before running: the original reads "
            f"{'it' if len(required) == 1 else 'them'} and has no default."
        )
    if inference.recomputed:
        fields = ", ".join(f"`{f}`" for f in inference.recomputed)
        notes.append(
            f"Statements before the loop that read {fields} run again when that field changes."
        )
    for ns in plan.non_state:
        default = ns.param.default_code or "nothing"
        notes.append(
            f"`{ns.param.name}` is not state ({ns.reason}); the wrapper passes `{default}`."
        )
    for s in plan.per_step:
        notes.append(
            f"`{s.param}` was one value per step (`{s.param}[{s.index_expr}]`); clients now send "
            "the current value."
        )
    if plan.frame_loop is not None and plan.frame_loop.sink.kind == "writer":
        notes.append(_writer_note(plan.frame_loop.sink, inference))
    notes.append(
        "uint8 frames pass through unchanged; float frames are taken to span 0 to 1 "
        "(`FLOAT_RANGE` in the wrapper) and scaled to 0..255."
    )
    return notes


def _writer_note(sink: Sink, inference: Inference) -> str:
    """What became of the original's writer, as the rewrite left it (`Inference.writer`)."""
    if inference.writer == "removed":
        return "Frames are streamed instead of written; the original's writer is not opened."
    if inference.writer == "kept":
        return (
            f"Frames are streamed instead of written, but the original's writer `{sink.target}` "
            "is still opened, as the original opens it (it is used for more than the frames); "
            "no frame is written to it."
        )
    return f"Frames are streamed instead of written: the wrapper yields what went to `{sink.call}`."


def _load_kind(plan: Plan) -> str:
    if plan.symbol_kind == "function" or not plan.class_name:
        return "none"
    if plan.symbol_kind == "step":
        return "step"
    if plan.constructor.kind == "config":
        return "config"
    if plan.constructor.kind == "kwargs":
        return "kwargs"
    return "plain"


def _load(plan: Plan, text: str, source_path: Path) -> Load | None:
    """`load()`'s statements from the plan's driver (the entry script read again)."""
    import libcst as cst

    entry = None
    if plan.setup is not None and plan.setup.path:
        try:
            entry = cst.parse_module(decode_source(Path(plan.setup.path).read_bytes()))
        except (OSError, cst.ParserSyntaxError) as exc:
            raise RenderError(f"cannot read the --entry script {plan.setup.path}: {exc}") from None
    try:
        return load_body(plan, cst.parse_module(text), entry)
    except SetupError as exc:
        raise RenderError(str(exc)) from None


def _entry_rel(plan: Plan, out_dir: Path) -> str:
    if plan.setup is None or not plan.setup.path:
        return ""
    return Path(os.path.relpath(Path(plan.setup.path).resolve(), out_dir.resolve())).as_posix()


def _load_doc(plan: Plan, load: Load | None) -> str:
    if load is None or plan.setup is None:
        if load is not None:
            return "Build the original pipeline and its arguments once, before any client."
        return "Build the original pipeline once, before any client, from config.yml."
    return f"Build the pipeline and its arguments once, as {plan.setup.origin} does."


def _constructor_keys(plan: Plan, load: Load | None) -> tuple[str, ...]:
    """With the driver's options also in config.yml, the constructor takes only its own keys."""
    if load is None or not load.options or plan.constructor.kind != "kwargs":
        return ()
    return tuple(
        p.name for p in plan.constructor.params if p.kind not in ("var_positional", "var_keyword")
    )


def render(
    plan: Plan,
    source: bytes,
    source_path: Path,
    out_dir: Path,
    target: Target = "reactor",
) -> dict[str, str]:
    """The output folder's files for `plan`, as {file name: text}; nothing is written."""
    text = plan.lowered_source or decode_source(source)
    names = names_for(plan, source_path, target)
    inference = rewrite(plan, text, names.output)
    app = step_form(inference) if target == "reactor-app" else None
    load = _load(plan, text, source_path)
    rel = Path(os.path.relpath(source_path.resolve(), out_dir.resolve())).as_posix()
    imports = [g.import_code for g in inference.globals if g.import_code]
    if app is not None:
        imports.append("import copy")  # process_input() copies the state for the step
    module_names = [g.name for g in inference.globals if not g.import_code and not g.alias]
    if load is not None:
        imports += [code for _, code in load.globals if code]
        imports += ["import argparse"] if load.options else []
        imports += ["from types import SimpleNamespace"] if load.arguments else []
        module_names += [n for n, code in load.globals if not code and n not in module_names]
    script = plan.symbol_kind == "module"
    imports += ["import ast"] if script or (plan.setup is not None and plan.setup.path) else []
    imports += ["import builtins"] if script else []
    imports += ["import sys", "from pathlib import Path", "import numpy"]
    if plan.file_inputs:
        imports += ["import os", "import tempfile"]
        imports += (
            [] if load is not None and load.arguments else ["from types import SimpleNamespace"]
        )
    imports += [] if script else ["import importlib.util"]
    if any(f.type == "choice" and f.choices and not f.enum for f in plan.state):
        imports.append("from typing import Literal")
    rng = plan.setup.rng if plan.setup is not None else ()
    imports += ["import torch"] if "torch" in rng else []
    imports += ["import random"] if "random" in rng else []
    aliased = [(g.alias, g.name) for g in inference.globals if g.alias]
    cls = plan.constructor.class_name or plan.class_name
    if cls and plan.symbol_kind != "function" and cls not in module_names:
        module_names.insert(0, cls)
    for f in plan.state:
        if f.enum and f.enum not in module_names:
            module_names.append(f.enum)
    taken = {g.name for g in inference.globals} | set(module_names)
    original_var = "original" if "original" not in taken else "original_module"
    fields = [_field_view(f, plan) for f in plan.state]
    example = next(
        (v for v in fields if v.live and v.type_text in ("float", "int", "choice", "bool")),
        next((v for v in fields if v.live), None),
    )
    fl = plan.frame_loop
    assert fl is not None
    context = {
        "plan": plan,
        "target": target,
        "names": names,
        "module": names.module,
        "model_name": _kebab(names.model.removesuffix("App" if app else "Stream")),
        "source_name": source_path.name,
        "source_rel": rel,
        "module_name": f"_reactorc_original_{plan.source_sha256[:12] or 'source'}",
        "stdlib_imports": sorted(
            {line for line in imports if _top_module(line) in sys.stdlib_module_names},
            key=_import_order,
        ),
        "import_lines": sorted(
            {line for line in imports if _top_module(line) not in sys.stdlib_module_names},
            key=_import_order,
        ),
        "module_names": module_names,
        "aliased_names": aliased,
        "original_var": original_var,
        "needs_literal": any(f.type == "choice" and f.choices and not f.enum for f in plan.state),
        "fields": fields,
        "example": example,
        "restart_fields": [f.name for f in plan.state if not f.live],
        "chunked": fl.frames_per_iteration == "chunk",
        "camera": fl.camera is not None,
        "file_inputs": plan.file_inputs if target == "reactor" else (),
        "inference": inference,
        "summary": _summary(plan),
        "load_kind": _load_kind(plan),
        "load": load,
        "script": script,
        "rng": plan.setup.rng if plan.setup is not None else (),
        "entry_rel": _entry_rel(plan, out_dir),
        "load_doc": _load_doc(plan, load),
        "constructor_keys": _constructor_keys(plan, load),
        "load_target": f"`{cls}`" if _load_kind(plan) != "none" else "nothing (a plain function)",
        "config_entries": config_entries(plan),
        "required_config": required_config(plan),
        "read_paths": read_paths(plan),
        "notes": _notes(plan, inference),
        "app": app,
        "read_config": target != "reactor",
    }
    env = _env()
    files = {
        f"{names.module}.py": env.get_template(
            "app.py.jinja" if app is not None else "wrapper.py.jinja"
        ).render(context),
        "reactor.yaml": env.get_template("reactor.yaml.jinja").render(context),
        "config.yml": env.get_template("config.yml.jinja").render(context),
        "server.py": env.get_template("server.py.jinja").render(context),
        "README.md": env.get_template("README.md.jinja").render(context),
    }
    src_hash = source_hash(source)
    out: dict[str, str] = {}
    for name, body in files.items():
        if name.endswith(".py"):
            body = format_python(body, out_dir / name)
        body = body.rstrip("\n") + "\n"
        out[name] = header(name, rel, plan.symbol, src_hash, body_hash(body)) + body
    return out


def _import_order(line: str) -> tuple[int, str, str]:
    """isort's order within a block (as ruff applies it): `import x` lines, then `from x import
    y` lines, each by module."""
    return (0 if line.startswith("import ") else 1, line.split()[1], line)


def _top_module(line: str) -> str:
    return line.split()[1].split(".")[0]


def header(name: str, source_rel: str, symbol: str, src_hash: str, b_hash: str) -> str:
    """The three header lines: what made the file, how to remake it, and the two hashes."""
    lines = [
        f"Generated by reactorc {__version__} from {source_rel} ({symbol}).",
        "Do not edit: change the original and run `reactorc convert` again (--force to overwrite).",
        f"{HASH_MARK} source={src_hash} body={b_hash}",
    ]
    if name.endswith(".md"):
        return "".join(f"<!-- {line} -->\n" for line in lines)
    return "".join(f"# {line}\n" for line in lines)


def split_header(text: str) -> tuple[str | None, str | None, str]:
    """(source hash, body hash, body) of a generated file; (None, None, text) without a header."""
    lines = text.splitlines(keepends=True)
    if len(lines) < HEADER_LINES:
        return None, None, text
    mark = lines[HEADER_LINES - 1]
    m = re.search(rf"{HASH_MARK} source=([0-9a-f]+) body=([0-9a-f]+)", mark)
    if m is None:
        return None, None, text
    return m.group(1), m.group(2), "".join(lines[HEADER_LINES:])


def _ruff() -> list[str] | None:
    exe = shutil.which("ruff")
    if exe:
        return [exe]
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-not-found]

        return [str(find_ruff_bin())]
    except Exception:
        return None


def format_python(code: str, path: Path) -> str:
    """`code` formatted by `ruff format` as it would format a file at `path`: with the ruff
    settings of the project that folder is in (ruff's defaults when none), so the output is
    `ruff format --check` clean where it lands. Unchanged when ruff is not installed."""
    ruff = _ruff()
    if ruff is None:
        return code
    first = ""
    for isolated in ([], ["--isolated"]):  # a broken project config falls back to defaults
        try:
            done = subprocess.run(
                [*ruff, "format", *isolated, "--stdin-filename", str(path.absolute()), "-"],
                input=code,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RenderError(f"ruff format could not run: {exc}") from None
        if done.returncode == 0:
            return done.stdout
        first = first or (done.stderr.strip().splitlines() or ["unknown error"])[0]
    raise RenderError(f"ruff format failed on the generated {path.name} ({first})")


def generated_files(
    plan: Plan, source_path: Path, out_dir: Path, target: Target = "reactor"
) -> dict[str, str]:
    """Read the source again (the bytes the plan hashed) and render the output's files."""
    return render(plan, source_path.read_bytes(), source_path, out_dir, target)


__all__ = [
    "TARGETS",
    "RenderError",
    "body_hash",
    "format_python",
    "generated_files",
    "header",
    "render",
    "source_hash",
    "split_header",
]
