"""Rank the frame-loop candidates and say why: entry-point names, loops over the pipeline's
own parameters, frame-like accumulators, returning what the loop collects; helpers called once
per frame, denoising loops and loops over pieces of one frame rank lower."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import (
    Ctx,
    dotted,
    iter_calls,
    iter_nodes,
    last_name,
    names_of,
    param_list,
    target_names,
    words,
)
from reactorc.analysis.deps import statements_before, track
from reactorc.analysis.evidence import is_driver
from reactorc.analysis.index import FunctionInfo
from reactorc.analysis.loops import Candidate

ENTRY_NAMES = {
    "__call__",
    "run",
    "generate",
    "render",
    "sample",
    "rollout",
    "inference",
    "infer",
    "predict",
    "imagine",
    "render_path",
    "render_video",
    "generate_video",
    "stream",
    "main",
    "synthesize",
    "animate",
    "simulate",
    "play",
    "step",
}
FRAME_WORDS = frozenset(
    {
        "frame",
        "frames",
        "video",
        "videos",
        "image",
        "images",
        "img",
        "imgs",
        "rgb",
        "rgbs",
        "clip",
        "clips",
        "sample",
        "samples",
        "result",
        "results",
        "render",
        "renders",
        "out",
        "outs",
        "output",
        "outputs",
        "pred",
        "preds",
    }
)
PIECE_WORDS = frozenset(
    {
        "tile",
        "tiles",
        "ray",
        "rays",
        "patch",
        "patches",
        "ret",
        "part",
        "parts",
        "piece",
        "pieces",
        "cache",
        "kv",
        "context",
        "loss",
        "losses",
    }
)
DENOISE_WORDS = frozenset({"timestep", "timesteps", "sigma", "sigmas", "scheduler", "t_index"})


NETWORK_BASES = {"Module", "LightningModule", "Sequential", "ModuleList"}


def rank(
    cands: list[Candidate],
    functions: list[FunctionInfo],
    ctx: Ctx,
    every_loop: list[Candidate] | None = None,
) -> list[Candidate]:
    """Candidates with sinks, best first, each with its score and reasons filled in; a function
    called inside any loop of `every_loop` (the file's loops, frames or not) is a helper."""
    calls_in_loops, calls_anywhere = _call_sites(every_loop or cands, functions, ctx)
    for c in cands:
        c.score, c.reasons = _score(c, calls_in_loops, calls_anywhere, ctx)
    with_frames = {id(c.fn) for c in cands if c.fn is not None and not is_driver(c.fn)}
    for c in cands:
        if c.fn is not None and is_driver(c.fn) and with_frames - {id(c.fn)}:
            c.score -= 5
            c.reasons.append(
                f"the command-line entry point `{c.fn.name}`'s own loop, while the functions "
                "it runs make frames too"
            )
    for c in cands:
        later = _post_processes(c, cands, ctx)
        if later is not None:
            later.score -= 25
            later.reasons.append(
                f"only trims, joins, decodes or saves what the loop at line {_line(c, ctx)} made"
            )
            continue
        fed = _feeds_a_callee(c, cands, functions)
        if fed is not None:
            c.score -= 20
            c.reasons.append(
                f"what it returns is iterated by {fed.symbol} (line {_line(fed, ctx)}): "
                "a precomputed iterable"
            )
            continue
        consumer = _feeds_another(c, cands)
        if consumer is not None and decodes(consumer):
            consumer.score -= 25
            consumer.reasons.append(
                f"decodes what the loop at line {_line(c, ctx)} made: the decode after the "
                "frame loop, applied per element"
            )
        elif consumer is not None:
            c.score -= 20
            c.reasons.append(
                f"what it collects is iterated by the loop at line {_line(consumer, ctx)}: "
                "a precomputed iterable"
            )
    order = {id(c): i for i, c in enumerate(cands)}
    return sorted(cands, key=lambda c: (-c.score, order[id(c)]))


def _key(fn: FunctionInfo) -> tuple[str, str]:
    return (fn.class_name, fn.name)


def _call_sites(
    cands: list[Candidate], functions: list[FunctionInfo], ctx: Ctx
) -> tuple[dict[tuple[str, str], Candidate], dict[tuple[str, str], FunctionInfo]]:
    """Which functions are called inside a candidate's frame loop (module-level loops
    included), and which are called by another function of the file (command-line entry
    points aside: the function a click command or `main()` calls is what it runs)."""
    in_loops: dict[tuple[str, str], Candidate] = {}
    anywhere: dict[tuple[str, str], FunctionInfo] = {}
    for c in cands:
        if not isinstance(c.node, cst.FunctionDef):
            for key in _callees(c.node, c.fn):
                in_loops.setdefault(key, c)
    for fn in functions:
        if is_driver(fn):
            continue
        for key in _callees(fn.node.body, fn):
            anywhere.setdefault(key, fn)
    return in_loops, anywhere


def _line(c: Candidate, ctx: Ctx) -> int:
    node = c.node
    if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        return ctx.line(node.for_in)
    if isinstance(node, cst.FunctionDef):
        return ctx.line(node.name)
    return ctx.line(node)


DECODE_WORDS = frozenset({"decode", "decoder", "vae", "autoencoder", "detokenize", "postprocess"})


def decodes(c: Candidate) -> bool:
    """The loop's body decodes what it iterates (`vae.decode(latent)`, `decode_and_postprocess`)."""
    body = c.node.body if isinstance(c.node, (cst.For, cst.While)) else c.node
    return any(words(dotted(call.func) or "") & DECODE_WORDS for call in iter_calls(body))


def _feeds_another(c: Candidate, cands: list[Candidate]) -> Candidate | None:
    """Another candidate of the same function whose loop iterates what `c` collects."""
    target = c.sinks[0].target if c.sinks else ""
    if not target or c.fn is None:
        return None
    for d in cands:
        if d is c or d.fn is not c.fn or d.header.iter_node is None:
            continue
        if target in names_of(d.header.iter_node).reads:
            return d
    return None


def _callees(node: cst.CSTNode, fn: FunctionInfo | None) -> set[tuple[str, str]]:
    out = set()
    for call in iter_calls(node):
        f = call.func
        if isinstance(f, cst.Name):
            out.add(("", f.value))
        elif (
            isinstance(f, cst.Attribute)
            and isinstance(f.value, cst.Name)
            and f.value.value in ("self", "cls")
        ):
            if fn is not None:
                out.add((fn.class_name, f.attr.value))
        elif isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name):
            out.add((f.value.value, f.attr.value))
    return out


def _score(
    c: Candidate,
    calls_in_loops: dict[tuple[str, str], Candidate],
    calls_anywhere: dict[tuple[str, str], FunctionInfo],
    ctx: Ctx,
) -> tuple[int, list[str]]:
    score = 0
    reasons: list[str] = []
    sink = c.sinks[0]
    where = f" into `{sink.target}`" if sink.target else ""
    score += 20
    reasons.append(f"frames leave each iteration ({sink.kind}{where}, line {ctx.line(sink.node)})")
    kind = c.header.kind
    if kind == "generator":
        score += 10
        reasons.append("already a generator that yields frames")
    elif kind == "step":
        score += 5
        reasons.append("a per-call step() API")
    elif kind == "comprehension":
        score -= 5
        reasons.append("a comprehension (a plain loop outranks it)")
    target = words(sink.target.split(".")[-1]) if sink.kind != "writer" else set()
    iterable = words(c.header.iterable)
    if target & PIECE_WORDS:
        score -= 10
        reasons.append(f"collects `{sink.target}`, pieces of one frame or carried context")
    elif target & FRAME_WORDS:
        score += 5
        reasons.append(f"collects into `{sink.target}`, named like frames")
    if sink.kind == "writer" and sink.target not in ("print", "logger"):
        score += 10
        reasons.append(f"writes each frame out (`{sink.call or sink.target}`)")
    if iterable & DENOISE_WORDS:
        score -= 10
        reasons.append("iterates over denoising steps")
    elif iterable & PIECE_WORDS or {"chunk", "ray"} <= iterable:
        score -= 10
        reasons.append("iterates over pieces of one frame")
    if _seeds_each_iteration(c):
        score -= 15
        reasons.append("each iteration draws an independent sample from its own seed")
    if _reads_input_frames(c, ctx):
        score -= 15
        reasons.append("its frames are read from files or a capture, not made")
    if c.fn is None:
        return score, reasons
    fn = c.fn
    if fn.name in ENTRY_NAMES:
        score += 10
        reasons.append(f"`{fn.name}` is named like an entry point")
    elif fn.name.startswith("_") and not fn.name.startswith("__"):
        score -= 10
        reasons.append(f"`{fn.name}` is named like a private helper")
    params = {p.name.value for p, _ in param_list(fn.node)}
    iter_reads = names_of(c.header.iter_node).reads if c.header.iter_node is not None else set()
    if isinstance(c.node, cst.While):
        iter_reads = names_of(c.node.test).reads
    used = sorted(iter_reads & params - {"self", "cls"})
    if used:
        score += 10
        reasons.append(f"iterates over parameter `{used[0]}`")
    elif iter_reads and not isinstance(c.node, cst.FunctionDef):
        before, _ = statements_before(fn.node.body, _statement_of(c.node, ctx), ctx)
        flow = track(before, sorted(params - {"self", "cls"}), ctx)
        derived: set[str] = set()
        for name in iter_reads:
            derived |= flow.deps.get(name, set())
        if derived:
            score += 10
            reasons.append(f"iterates over values computed from parameter `{sorted(derived)[0]}`")
    if sink.target and not isinstance(c.node, cst.FunctionDef):
        _, after = statements_before(fn.node.body, _statement_of(c.node, ctx), ctx)
        derived = {sink.target}
        for stmt in after:
            n = names_of(stmt)
            if n.reads & derived:
                derived |= n.binds
                if isinstance(stmt, cst.Return):
                    score += 5
                    reasons.append("returns what the loop collects")
                    break
    if fn.cls is not None and any(
        dotted(b.value).rsplit(".", 1)[-1] in NETWORK_BASES for b in fn.cls.bases
    ):
        score -= 15
        reasons.append(f"a method of the network {fn.class_name}, called per forward pass")
    key = _key(fn)
    caller = calls_in_loops.get(key)
    if caller is not None and caller.fn is not fn:
        score -= 30
        reasons.append(
            f"called once per frame from {caller.symbol} (line {ctx.line(caller.node)}): a helper"
        )
    else:
        outer = calls_anywhere.get(key)
        if outer is not None and outer is not fn and not _dispatches(outer, ctx):
            score -= 15
            reasons.append(f"called by {outer.symbol}: a helper of the pipeline")
    return score, reasons


def _dispatches(fn: FunctionInfo, ctx: Ctx) -> bool:
    """A function with no loop of its own, called only from command-line entry points (or not
    at all), that passes on to the one that loops (an `interpolate()` that builds the points and
    calls `images()`): it runs the pipeline, it is not served by a helper."""
    if any(isinstance(n, (cst.For, cst.While)) for n in iter_nodes(fn.node.body)):
        return False
    for node in iter_nodes(ctx.source.module, into_scopes=True):
        if not isinstance(node, cst.FunctionDef) or node is fn.node:
            continue
        calls = any(last_name(c.func) == fn.name for c in iter_calls(node.body))
        if calls and not _is_driver_node(node):
            return False
    return True


def _is_driver_node(node: cst.FunctionDef) -> bool:
    name = node.name.value
    if name in ("main", "cli", "demo") or any(
        dotted(d.decorator).split(".")[0] in ("click", "typer", "fire", "hydra")
        or last_name(d.decorator) in ("command", "main")
        for d in node.decorators
    ):
        return True
    return any(
        last_name(c.func) in ("parse_args", "parse_known_args") for c in iter_calls(node.body)
    )


def _seeds_each_iteration(c: Candidate) -> bool:
    """`for seed in seeds: z = RandomState(seed).randn(...)`: separate samples, not a stream."""
    if not isinstance(c.node, cst.For):
        return False
    targets = target_names(c.node.target)
    if not targets & {"seed", "seed_idx", "s"} and "seed" not in c.header.iterable:
        return False
    seeders = ("RandomState", "default_rng", "manual_seed", "seed", "Generator")
    return any(
        last_name(call.func) in seeders
        and any(names_of(a.value).reads & targets for a in call.args)
        for call in iter_calls(c.node.body)
    )


READERS = frozenset(
    {"imread", "read", "VideoCapture", "load_image", "imread_uint", "read_image", "load_img"}
)
ENCODERS = frozenset({"encode", "encode_imgs", "encode_image", "encode_video", "encode_frames"})
DOTTED_READERS = ("Image.open", "PIL.Image.open", "imageio.imread", "iio.imread", "cv2.imread")


def _reader(call: cst.Call) -> bool:
    name = dotted(call.func)
    return last_name(call.func) in READERS or name.endswith(DOTTED_READERS)


def _reads_input_frames(c: Candidate, ctx: Ctx) -> bool:
    """The frames come out of an image reader, a capture or an encoder (`cv2.imread(path)`,
    `cap.read()`, `vae.encode(imgs)`) with no model producing them on the way."""
    frame = c.sinks[0].frame if c.sinks else None
    if frame is None or isinstance(c.node, cst.FunctionDef):
        return False
    body = c.node.body if isinstance(c.node, (cst.For, cst.While)) else c.node
    wanted = set(names_of(frame).reads)
    calls = list(iter_calls(frame))
    for _ in range(4):
        for stmt in iter_nodes(body):
            if isinstance(stmt, cst.BaseSmallStatement) and names_of(stmt).binds & wanted:
                wanted |= names_of(stmt).reads
                calls += [x for x in iter_calls(stmt) if x not in calls]
    if isinstance(c.node, (cst.ListComp, cst.GeneratorExp)):
        calls += list(iter_calls(c.node.for_in.iter))
    inputs = [x for x in calls if _reader(x) or last_name(x.func) in ENCODERS]
    if not inputs:
        return False
    makers = [
        x
        for x in calls
        if not _reader(x)
        and last_name(x.func) not in ENCODERS | PLUMBING | IMAGE_EDITS
        and not words(last_name(x.func))
        & {"crop", "radius", "resize", "norm", "transform", "transforms"}
    ]
    return not makers or any(last_name(x.func) in ENCODERS for x in inputs)


def _post_processes(c: Candidate, cands: list[Candidate], ctx: Ctx) -> Candidate | None:
    """A later loop of the same function that reads what `c` collects and calls nothing but
    array plumbing, savers or decoders: the trim/join/save after the frame loop."""
    target = c.sinks[0].target.split(".")[0] if c.sinks and c.sinks[0].kind != "writer" else ""
    if not target or c.fn is None or isinstance(c.node, cst.FunctionDef):
        return None
    end = ctx.range(c.node).end.line
    for d in cands:
        if d is c or d.fn is not c.fn or isinstance(d.node, cst.FunctionDef):
            continue
        if ctx.line(d.node) <= end or c.node in d.outer:
            continue
        if not _derived_after(c, ctx, target) & names_of(d.node).reads:
            continue
        calls = {last_name(call.func) for call in iter_calls(d.node) if not _in_slice(call, ctx)}
        if calls <= PLUMBING | {"range", "len", "enumerate", "zip"} or decodes(d):
            return d
    return None


def _in_slice(node: cst.CSTNode, ctx: Ctx) -> bool:
    """Inside a subscript's brackets: it computes an index, not what is stored."""
    cur = ctx.parents.get(node)
    while cur is not None and not isinstance(cur, cst.BaseStatement):
        if isinstance(cur, cst.SubscriptElement):
            return True
        cur = ctx.parents.get(cur)
    return False


def _feeds_a_callee(
    c: Candidate, cands: list[Candidate], functions: list[FunctionInfo]
) -> Candidate | None:
    """A loop whose function's result its caller hands to another function whose own loop
    iterates it (`points = slerp_interpolate(...)`, then `images(inputs=points)`)."""
    fn = c.fn
    if fn is None or fn.cls is not None:
        return None
    by_function = {
        d.fn.name: d
        for d in cands
        if d is not c and d.fn is not None and d.fn.cls is None and d.header.iter_node is not None
    }
    for caller in functions:
        derived: set[str] = set()
        for stmt in iter_nodes(caller.node.body):
            if not isinstance(stmt, cst.BaseSmallStatement):
                continue
            n = names_of(stmt)
            if (
                any(
                    isinstance(x.func, cst.Name) and x.func.value == fn.name
                    for x in iter_calls(stmt)
                )
                or n.reads & derived
            ):
                derived |= n.binds
            for call in iter_calls(stmt):
                if not isinstance(call.func, cst.Name) or call.func.value not in by_function:
                    continue
                d = by_function[call.func.value]
                iterated = names_of(d.header.iter_node).reads
                params = [p.name.value for p, _ in param_list(d.fn.node)]  # type: ignore[union-attr]
                for i, arg in enumerate(call.args):
                    name = (
                        arg.keyword.value if arg.keyword else (params[i] if i < len(params) else "")
                    )
                    if name in iterated and names_of(arg.value).reads & derived:
                        return d
    return None


IMAGE_EDITS = frozenset(
    {"resize", "cvtColor", "rotate", "crop", "flip", "convert", "copy", "astype", "transpose"}
)


def _derived_after(c: Candidate, ctx: Ctx, target: str) -> set[str]:
    """Names bound after `c`'s loop from what it collected (`video = [clips[i] for i ...]`)."""
    assert c.fn is not None
    end = ctx.range(c.node).end.line
    derived = {target}
    for stmt in iter_nodes(c.fn.node.body):
        if isinstance(stmt, cst.BaseSmallStatement) and ctx.line(stmt) > end:
            n = names_of(stmt)
            if n.reads & derived:
                derived |= n.binds
    return derived


PLUMBING = frozenset(
    {
        "cat",
        "concatenate",
        "stack",
        "append",
        "extend",
        "save",
        "imwrite",
        "write",
        "numpy",
        "cpu",
        "permute",
        "clamp",
        "to",
        "float",
        "squeeze",
        "unsqueeze",
        "clone",
        "append_data",
        "save_image",
        "save_sample",
    }
)


def _statement_of(node: cst.CSTNode, ctx: Ctx) -> cst.CSTNode:
    """The statement holding `node` (a comprehension's Assign/Return, or the loop itself)."""
    if isinstance(node, (cst.For, cst.While)):
        return node
    cur = node
    while cur is not None and not isinstance(
        cur, (cst.BaseSmallStatement, cst.BaseCompoundStatement)
    ):
        cur = ctx.parents.get(cur)
    return cur if cur is not None else node
