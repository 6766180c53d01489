"""The plan: the typed, immutable IR that analysis produces and the emitter reads.

Everything here is plain data (strings of source code, 1-based line numbers, 0-based columns as
libcst reports them), never libcst nodes, so a plan serialises to JSON and nothing downstream
can mutate what analysis decided. `Plan.to_json()` is the `reactorc explain --json` contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reactorc.diagnostics import Diagnostic

SymbolKind = Literal["method", "function", "generator", "step", "module"]
"""What the pipeline symbol is: a method of a class, a plain function, a generator (function or
method that already yields frames), a per-call `step()` API, or module-level script code."""

LoopKind = Literal["for-range", "for-iter", "while", "comprehension", "generator", "step"]
SinkKind = Literal["append", "index-write", "slice-write", "cat", "writer", "yield", "return"]
FramesPerIteration = Literal[1, "chunk"]
Liveness = Literal["live", "restart"]
Role = Literal["live", "restart", "input"]
"""What a parameter of the pipeline is to the stream: a field a client changes that applies
from the next frame (`live`) or the next clip (`restart`), or a value supplied once (`input`:
a model, a checkpoint path, a clip) that is not a client field."""
SourceKind = Literal[
    "state",
    "default",
    "call-site",
    "driver",
    "entry",
    "seed",
    "prompt",
    "config",
    "sidecar",
    "missing",
]
"""Where the wrapper gets a parameter's value: the client's state field, the parameter's own
default, a literal a call site in the file passes, the file's own driver (`main()`, the
`__main__` block, another method), a driver script (`--entry`), drawn from the `seed` field, built
from the `prompt` field, a config.yml key, the sidecar `reactorc.yaml` / `--arg`, or nowhere yet."""
LOADED_SOURCES: frozenset[str] = frozenset({"driver", "entry", "sidecar", "config"})
"""Sources whose value `load()` computes once and keeps in `self.arguments`."""
JSONValue = None | bool | int | float | str | list[Any] | dict[str, Any]


@dataclass(frozen=True)
class Span:
    """Where a node sits in the source: 1-based lines, 0-based columns (libcst's convention).

    The rewriter finds a node again by walking the libcst tree with PositionProvider and
    matching `start_line`/`start_col` (and the node type it expects)."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def to_json(self) -> dict[str, int]:
        return {
            "start_line": self.start_line,
            "start_col": self.start_col,
            "end_line": self.end_line,
            "end_col": self.end_col,
        }


@dataclass(frozen=True)
class Sink:
    """Where a frame leaves one iteration of the frame loop.

    `frame_expr` is the code of the value that is the frame (or chunk) this iteration: the
    argument of `frames.append(x)`, the right side of `out[i] = x`, the new part given to
    `torch.cat`, the image given to a writer, the value yielded or returned. `target` names what
    the original accumulates into (`frames`, `out`, `video`, the writer object), or "" for
    yield/return. `call` is the dotted name of the writer call (`writer.write`, `cv2.imwrite`,
    `save_image`) for sink kind "writer", else ""."""

    kind: SinkKind
    frame_expr: str
    target: str
    span: Span
    call: str = ""
    index_expr: str = ""
    """For index-write / slice-write: the subscript code (`i`, `:, a:b`); else ""."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "frame_expr": self.frame_expr,
            "target": self.target,
            "call": self.call,
            "index_expr": self.index_expr,
            "span": self.span.to_json(),
        }


@dataclass(frozen=True)
class CameraRead:
    """Where the frame loop reads its input clip one frame at a time, so the wrapper can read
    the client's camera there instead (and the clip while no client sends one).

    `kind` "iter": the loop iterates the clip and `expr` is its element's name (`frame` in
    `for frame in video`); "index": `expr` is the subscript read each iteration (`video[i]`);
    "read": `expr` is the frame a video capture's `read()` returns each iteration (`frame` in
    `ok, frame = cap.read()`, BGR as OpenCV reads it). `clip` is the clip's code (`video`,
    `cap`)."""

    kind: Literal["iter", "index", "read"]
    clip: str
    expr: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "clip": self.clip, "expr": self.expr}


@dataclass(frozen=True)
class FrameLoop:
    """The loop whose iterations are frames (or chunks of frames).

    `line` is the 1-based line of the loop header (`for`/`while` keyword, the comprehension's
    `for`, or for generator/step kinds the `def` line of the yielding/stepping function when no
    loop encloses the yield). `target` is the loop variable's code (`i`, `(i, pose)`), "" for
    while/step. `iterable` is the iterated expression with any progress wrapper (tqdm) removed;
    `progress_wrapper` is the dropped call's name ("" when none). `index_var` is the variable
    that counts frames (the range target, or the `i` of `enumerate`), "" when there is none."""

    line: int
    col: int
    kind: LoopKind
    target: str
    iterable: str
    frames_per_iteration: FramesPerIteration
    sink: Sink
    span: Span
    body_span: Span
    index_var: str = ""
    progress_wrapper: str = ""
    condition: str = ""
    """For while loops: the loop condition's code."""
    inner_loops: tuple[int, ...] = ()
    """Header lines of loops nested in this one that are not frames (denoising steps, tiles)."""
    is_async: bool = False
    camera: CameraRead | None = None
    """The input clip the loop reads frame by frame, when it reads one."""

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "col": self.col,
            "kind": self.kind,
            "target": self.target,
            "iterable": self.iterable,
            "frames_per_iteration": self.frames_per_iteration,
            "sink": self.sink.kind,
            "sink_detail": self.sink.to_json(),
            "index_var": self.index_var,
            "progress_wrapper": self.progress_wrapper,
            "condition": self.condition,
            "inner_loops": list(self.inner_loops),
            "is_async": self.is_async,
            "camera": self.camera.to_json() if self.camera is not None else None,
            "span": self.span.to_json(),
            "body_span": self.body_span.to_json(),
        }


@dataclass(frozen=True)
class StateField:
    """One parameter of the pipeline that a client may change while the stream runs.

    `type` is one of "int", "float", "str", "bool" or "choice" (Literal, Enum or a membership
    guard; `choices` then lists the allowed values, Enum member values for an Enum);
    `default` is the JSON value of the parameter's default (None with `has_default` False when it
    has none). `live` fields are read each iteration (directly or through a pre-loop statement
    that is recomputed); restart fields only shape the clip and apply at the next restart.
    `reason` says in words why the field is live or restart."""

    name: str
    type: str
    default: JSONValue
    has_default: bool
    annotation: str
    default_code: str
    ge: int | float | None = None
    le: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[JSONValue, ...] | None = None
    enum: str = ""
    """The Enum class name when the choices come from an Enum annotation, else ""."""
    live: bool = True
    reason: str = ""
    description: str = ""
    span: Span | None = None
    per_step: bool = False
    """True when the field is an element of a per-step sequence (see PerStepSequence)."""
    param: str = ""
    """The original parameter the field stands for ("" = the one of the same name); a list of
    prompts becomes a `prompt` field, a noise tensor a `seed` field."""
    source: str = "default"
    """Where its default comes from: `default` (the parameter's), `call-site`, `driver`,
    `entry`, `sidecar`, or `neutral` (none found: "", 0, False)."""

    @property
    def liveness(self) -> Liveness:
        return "live" if self.live else "restart"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "has_default": self.has_default,
            "annotation": self.annotation,
            "ge": self.ge,
            "le": self.le,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "choices": list(self.choices) if self.choices is not None else None,
            "enum": self.enum,
            "live": self.live,
            "reason": self.reason,
            "description": self.description,
            "per_step": self.per_step,
            "param": self.param or self.name,
            "source": self.source,
        }


@dataclass(frozen=True)
class Param:
    """A parameter of the pipeline symbol or its constructor, as written in the source."""

    name: str
    annotation: str
    default_code: str
    kind: Literal["positional", "keyword", "var_positional", "var_keyword"] = "positional"
    span: Span | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "annotation": self.annotation,
            "default": self.default_code,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class NonStateParam:
    """A parameter that is not plain data (tensor, module, callable, array, unknown type): it
    is not client state; the wrapper supplies it from `load()` / the config."""

    param: Param
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {**self.param.to_json(), "reason": self.reason}


@dataclass(frozen=True)
class ConfigKey:
    """A key the constructor reads from its config dict: `config["k"]` (required) or
    `config.get("k", d)` (with a default)."""

    name: str
    default_code: str
    has_default: bool
    line: int

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "default": self.default_code,
            "has_default": self.has_default,
            "line": self.line,
        }


@dataclass(frozen=True)
class Constructor:
    """How the pipeline object is built, so the wrapper's `load(config)` can build it.

    kind "config": `__init__(self, config)` reading keys; "kwargs": keyword parameters with
    defaults; "none": no `__init__` (or a plain function pipeline)."""

    kind: Literal["config", "kwargs", "none"]
    class_name: str
    config_param: str = ""
    keys: tuple[ConfigKey, ...] = ()
    params: tuple[Param, ...] = ()
    span: Span | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "class_name": self.class_name,
            "config_param": self.config_param,
            "keys": [k.to_json() for k in self.keys],
            "params": [p.to_json() for p in self.params],
        }


@dataclass(frozen=True)
class PreLoopStatement:
    """A statement of the pipeline body before the frame loop. `depends_on` lists the state
    fields it reads (directly or through earlier statements): when one changes, the wrapper
    recomputes this statement. `defines` lists the names it binds."""

    code: str
    span: Span
    depends_on: tuple[str, ...]
    defines: tuple[str, ...]
    reads: tuple[str, ...] = ()
    synthetic: bool = False
    """Not in the source: the wrapper's own statement that builds a parameter from a field
    (`text_prompts = [prompt]`, noise drawn from `seed`); its span's lines are <= 0."""

    @property
    def recompute_on_change(self) -> bool:
        return bool(self.depends_on)

    def to_json(self) -> dict[str, Any]:
        return {
            "line": None if self.synthetic else self.span.start_line,
            "end_line": None if self.synthetic else self.span.end_line,
            "code": self.code,
            "depends_on": list(self.depends_on),
            "defines": list(self.defines),
            "synthetic": self.synthetic,
        }


@dataclass(frozen=True)
class EpilogueStatement:
    """A statement after the frame loop. Per-frame transforms (decode, permute, clamp, *255,
    `.cpu().numpy()`) become the per-chunk epilogue; `reduces_across_frames` marks statements
    that look at the whole clip (min/max/mean over it) — applied per chunk they change meaning,
    and a warning says so. `is_decode` marks the decode of a latent-space loop."""

    code: str
    span: Span
    defines: tuple[str, ...]
    reads: tuple[str, ...]
    reduces_across_frames: bool = False
    is_decode: bool = False
    is_return: bool = False
    role: Literal["collect", "decode", "transform", "return", "other"] = "other"
    """collect: stacks/concatenates the frames; decode: the post-loop decode; transform:
    per-frame post-processing; return: the return statement; other: does not touch frames."""

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.span.start_line,
            "end_line": self.span.end_line,
            "code": self.code,
            "defines": list(self.defines),
            "reads": list(self.reads),
            "reduces_across_frames": self.reduces_across_frames,
            "is_decode": self.is_decode,
            "is_return": self.is_return,
            "role": self.role,
        }


@dataclass(frozen=True)
class PerStepSequence:
    """A parameter holding one value per step, read as `seq[i]` with the frame index: the
    wrapper turns it into a live field read each step instead of the list. The field keeps the
    parameter's name (`element_field` == `param`); its StateField has `per_step=True` and the
    element's type."""

    param: str
    element_field: str
    index_expr: str
    span: Span
    element_type: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "element_field": self.element_field,
            "index_expr": self.index_expr,
            "line": self.span.start_line,
            "element_type": self.element_type,
        }


@dataclass(frozen=True)
class Argument:
    """Where the wrapper gets one parameter of the pipeline, and what it is to the stream.

    `field` names the state field that gives its value (live/restart roles; "" for inputs).
    `code` is the expression the wrapper evaluates: for inputs once in `load()` after the setup
    statements, for converted fields (a prompt list, noise from a seed) each clip and when the
    field changes; "" when the value is the field itself. `detail` says in words where it came
    from (`main() line 120: args.prompt`)."""

    param: str
    role: Role
    source: SourceKind
    field: str = ""
    code: str = ""
    config_key: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "role": self.role,
            "source": self.source,
            "field": self.field,
            "code": self.code,
            "config_key": self.config_key,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Setup:
    """What the wrapper's `load()` runs before it can call the pipeline: the statements of a
    driver (the file's `main()`/`__main__` block/another method, or an `--entry` script) that
    build the pipeline object and its inputs, in order, as code of that driver's file.

    `config` lists the options those statements read (argparse defaults become config.yml keys);
    `namespace` is the variable the options are read through (`args`), built in `load()` from
    config.yml; `pipeline_expr` builds the pipeline object ("" = the constructor from config);
    `names` are the variables `inference()` takes from what `load()` computed."""

    origin: str
    path: str
    statements: tuple[str, ...]
    config: tuple[ConfigKey, ...] = ()
    namespace: str = ""
    pipeline_expr: str = ""
    names: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    """Top-level imports of the driver's file (for an `--entry` script or a module script)."""
    rng: tuple[str, ...] = ()
    """Random generators the setup seeds ("torch", "numpy", "random"): their state after
    `load()` is restored at the start of every clip, so each clip draws what the original's
    run drew after the same setup."""

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "path": self.path,
            "statements": list(self.statements),
            "config": [k.to_json() for k in self.config],
            "namespace": self.namespace,
            "pipeline_expr": self.pipeline_expr,
            "names": list(self.names),
            "rng": list(self.rng),
        }


@dataclass(frozen=True)
class KeptWrapper:
    """A decorator or context manager around the pipeline or its loop that the wrapper keeps
    (`@torch.no_grad()`, `torch.inference_mode()`, autocast); kind "call" is the grad mode the
    driver calls the pipeline under, which decorates `inference()` too."""

    kind: Literal["decorator", "with", "call"]
    code: str
    span: Span

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "code": self.code, "line": self.span.start_line}


@dataclass(frozen=True)
class Candidate:
    """A (symbol, loop) pair analysis considered, with its score and the reasons for it."""

    symbol: str
    line: int
    score: int
    reasons: tuple[str, ...]
    chosen: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "line": self.line,
            "score": self.score,
            "reasons": list(self.reasons),
            "chosen": self.chosen,
        }


@dataclass(frozen=True)
class FileInput:
    """A picture or a sound the setup reads once from a path (`source_image =
    imageio.imread(opt.source_image)`), which a client may replace with a file it uploads: an
    `UploadedFile` field `field` that applies at the next clip.

    `statement` is the index in `Setup.statements` of the read; `path` the code of the path it
    reads; `call` the reading call's dotted name; `names` the values `inference()` takes from
    `load()` that are rebuilt from the upload (the read and the setup statements after it that
    depend on it run again, with the upload's bytes in a file of the same suffix where the path
    was)."""

    field: str
    kind: Literal["image", "audio"]
    statement: int
    path: str
    call: str
    names: tuple[str, ...]
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "statement": self.statement,
            "path": self.path,
            "call": self.call,
            "names": list(self.names),
            "description": self.description,
        }


@dataclass(frozen=True)
class Plan:
    """What to stream, what a client may change, what must be recomputed.

    `symbol` is "Class.method", "function" or "<module>". `function_span` locates the pipeline
    `def` (or the module for "<module>"). `return_expr` is the code the original returns (e.g.
    `np.stack(frames)`), "" when none. `frame_loop` is None only when analysis refused, in which
    case `diagnostics` holds at least one error."""

    source_path: str
    source_sha256: str
    symbol: str
    symbol_kind: SymbolKind
    class_name: str
    function_name: str
    function_span: Span | None
    is_async: bool
    frame_loop: FrameLoop | None
    decode_after_loop: bool
    constructor: Constructor
    params: tuple[Param, ...]
    state: tuple[StateField, ...]
    non_state: tuple[NonStateParam, ...]
    pre_loop: tuple[PreLoopStatement, ...]
    epilogue: tuple[EpilogueStatement, ...]
    per_step: tuple[PerStepSequence, ...]
    kept: tuple[KeptWrapper, ...]
    candidates: tuple[Candidate, ...]
    diagnostics: tuple[Diagnostic, ...]
    return_expr: str = ""
    docstring: str = ""
    imports: tuple[str, ...] = ()
    """The module's top-level import statements as code, for the wrapper to repeat."""
    reset_method: str = ""
    """For a step API: the name of the class's episode-reset method ("reset"), "" when it has
    none (the wrapper then only calls step())."""
    arguments: tuple[Argument, ...] = ()
    """Every parameter of the pipeline with its role and where its value comes from."""
    setup: Setup | None = None
    """The driver statements `load()` runs, when a driver supplies arguments or the object."""
    after_call: tuple[EpilogueStatement, ...] = ()
    """What the driver does to the pipeline's result before saving it (`video[0].permute(...)`),
    applied to each chunk after the pipeline's own epilogue; the driver's code."""
    result_name: str = ""
    """The name `after_call` reads the pipeline's result as."""
    lowered_source: str = ""
    """For a module script: the file with its script code laid out as the function
    `__reactorc_script__` (same line numbers), which rewrite reads instead of the file."""
    file_inputs: tuple[FileInput, ...] = ()
    """Pictures and sounds the setup reads once that clients may upload instead."""

    @property
    def ok(self) -> bool:
        """True when there is a frame loop and no error: the emitter can generate a wrapper."""
        return self.frame_loop is not None and not any(
            d.severity == "error" for d in self.diagnostics
        )

    def state_field(self, name: str) -> StateField:
        """The state field called `name` (KeyError when there is none)."""
        for f in self.state:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The `reactorc explain --json` document (a superset of the documented contract)."""
        return {
            "source": self.source_path,
            "sha256": self.source_sha256,
            "symbol": self.symbol,
            "symbol_kind": self.symbol_kind,
            "class_name": self.class_name,
            "function_name": self.function_name,
            "is_async": self.is_async,
            "frame_loop": self.frame_loop.to_json() if self.frame_loop else None,
            "decode_after_loop": self.decode_after_loop,
            "return_expr": self.return_expr,
            "constructor": self.constructor.to_json(),
            "params": [p.to_json() for p in self.params],
            "state": [f.to_json() for f in self.state],
            "non_state": [p.to_json() for p in self.non_state],
            "pre_loop": [s.to_json() for s in self.pre_loop],
            "epilogue": [s.to_json() for s in self.epilogue],
            "per_step": [s.to_json() for s in self.per_step],
            "kept": [k.to_json() for k in self.kept],
            "candidates": [c.to_json() for c in self.candidates],
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "reset_method": self.reset_method,
            "arguments": [a.to_json() for a in self.arguments],
            "setup": self.setup.to_json() if self.setup else None,
            "after_call": [s.to_json() for s in self.after_call],
            "lowered": bool(self.lowered_source),
            "result_name": self.result_name,
            "file_inputs": [f.to_json() for f in self.file_inputs],
        }

    def argument(self, param: str) -> Argument | None:
        """The argument for parameter `param`, None when the plan has none for it."""
        return next((a for a in self.arguments if a.param == param), None)
