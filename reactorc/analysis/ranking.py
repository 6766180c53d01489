"""Rank the frame-loop candidates and say why: entry-point names, loops over the pipeline's
own parameters, frame-like accumulators, returning what the loop collects; helpers called once
per frame, denoising loops and loops over pieces of one frame rank lower."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, iter_calls, names_of, param_list
from reactorc.analysis.deps import statements_before, track
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
FRAME_WORDS = ("frame", "video", "image", "img", "rgb", "clip", "sample", "result", "render", "out")
PIECE_WORDS = ("tile", "ray", "patch", "ret", "part", "piece", "cache", "kv", "context", "loss")
DENOISE_WORDS = ("timestep", "sigma", "noise_level", "scheduler")
NETWORK_BASES = {"Module", "LightningModule", "Sequential", "ModuleList"}


def rank(cands: list[Candidate], functions: list[FunctionInfo], ctx: Ctx) -> list[Candidate]:
    """Candidates with sinks, best first, each with its score and reasons filled in."""
    calls_in_loops, calls_anywhere = _call_sites(cands, functions, ctx)
    for c in cands:
        c.score, c.reasons = _score(c, calls_in_loops, calls_anywhere, ctx)
        feeder = _feeds_another(c, cands)
        if feeder is not None:
            c.score -= 20
            c.reasons.append(
                f"what it collects is iterated by the loop at line {_line(feeder, ctx)}: "
                "a precomputed iterable"
            )
    order = {id(c): i for i, c in enumerate(cands)}
    return sorted(cands, key=lambda c: (-c.score, order[id(c)]))


def _key(fn: FunctionInfo) -> tuple[str, str]:
    return (fn.class_name, fn.name)


DRIVERS = {"main", "cli", "demo", "run_demo", "__main__", "test", "example"}


def _call_sites(
    cands: list[Candidate], functions: list[FunctionInfo], ctx: Ctx
) -> tuple[dict[tuple[str, str], Candidate], dict[tuple[str, str], FunctionInfo]]:
    """Which functions are called inside a candidate's frame loop, and which are called by
    another function of the file (drivers such as `main` aside)."""
    in_loops: dict[tuple[str, str], Candidate] = {}
    anywhere: dict[tuple[str, str], FunctionInfo] = {}
    for c in cands:
        if c.fn is not None and not isinstance(c.node, cst.FunctionDef):
            for key in _callees(c.node, c.fn):
                in_loops.setdefault(key, c)
    for fn in functions:
        if fn.name in DRIVERS or fn.name.startswith("test_"):
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


def _callees(node: cst.CSTNode, fn: FunctionInfo) -> set[tuple[str, str]]:
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
    target = sink.target.split(".")[-1].lower()
    iterable = c.header.iterable.lower()
    if target and any(w in target for w in PIECE_WORDS):
        score -= 10
        reasons.append(f"collects `{sink.target}`, pieces of one frame or carried context")
    elif target and any(w in target for w in FRAME_WORDS):
        score += 5
        reasons.append(f"collects into `{sink.target}`, named like frames")
    if any(w in iterable for w in DENOISE_WORDS):
        score -= 10
        reasons.append("iterates over denoising steps")
    elif any(w in iterable for w in PIECE_WORDS) or ("chunk" in iterable and "ray" in iterable):
        score -= 10
        reasons.append("iterates over pieces of one frame")
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
        if outer is not None and outer is not fn:
            score -= 15
            reasons.append(f"called by {outer.symbol}: a helper of the pipeline")
    return score, reasons


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
