"""What a candidate loop's output is made of, and what the code around it says: the facts that
rule a loop out (it collects numbers, strings or labels, not frames; it runs on a thread behind a
queue; one call per iteration makes a whole clip; it only decodes a clip its caller made) before
ranking decides among the rest. Nothing here edits or ranks."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import (
    Ctx,
    dotted,
    iter_calls,
    iter_nodes,
    last_name,
    names_of,
    own_statements,
    target_names,
    words,
)
from reactorc.analysis.index import FunctionInfo, ModuleIndex
from reactorc.analysis.loops import Candidate

NON_FRAME_CALLS = frozenset(
    {
        "int",
        "float",
        "str",
        "bool",
        "round",
        "len",
        "abs",
        "ord",
        "chr",
        "range",
        "list",
        "tuple",
        "dict",
        "set",
        "sorted",
        "reversed",
        "zip",
        "enumerate",
        "min",
        "max",
        "sum",
        "split",
        "strip",
        "rstrip",
        "lstrip",
        "join",
        "format",
        "replace",
        "lower",
        "upper",
        "match",
        "fullmatch",
        "group",
        "search",
        "findall",
        "compile",
        "get",
        "keys",
        "values",
        "items",
        "pop",
        "startswith",
        "endswith",
        "isinstance",
        "getattr",
        "hasattr",
        "basename",
        "dirname",
        "splitext",
        "exists",
        "listdir",
        "glob",
        "print",
        "choice",
        "randint",
        "uniform",
        "item",
        "tolist",
        "loads",
        "load_json",
        "safe_load",
        "dumps",
        "readlines",
        "splitlines",
    }
)
PLUMBING_CALLS = frozenset(
    {
        "numpy",
        "cpu",
        "cuda",
        "detach",
        "to",
        "fromarray",
        "astype",
        "transpose",
        "permute",
        "clamp",
        "clip",
        "squeeze",
        "unsqueeze",
        "reshape",
        "view",
        "float",
        "half",
        "byte",
        "mul",
        "add",
        "div",
        "concatenate",
        "stack",
        "cat",
        "array",
        "asarray",
        "from_numpy",
        "tensor",
        "contiguous",
        "round",
        "uint8",
        "rearrange",
        "save",
        "join",
        "zfill",
    }
)
"""Array plumbing: it moves, converts or packs frames others made; it makes none."""
NOT_FRAME_WORDS = frozenset(
    {
        "label",
        "labels",
        "seed",
        "seeds",
        "index",
        "indices",
        "path",
        "paths",
        "name",
        "names",
        "key",
        "keys",
        "id",
        "ids",
        "prompt",
        "prompts",
        "caption",
        "captions",
        "text",
        "parse",
        "range",
    }
)
UI_ROOTS = ("gr", "gradio", "st", "streamlit")
UI_REASON = "it hands user-interface updates to a web page"
READERS = frozenset(
    {"read", "imread", "VideoCapture", "open", "load_image", "imread_uint", "get_reader", "grab"}
)
IMAGE_EDITS = frozenset(
    {"resize", "cvtColor", "rotate", "crop", "flip", "convert", "copy", "astype", "transpose"}
)
THREAD_CALLS = frozenset({"Thread", "Process", "start_new_thread", "async_run", "submit"})
QUEUE_CALLS = frozenset({"Queue", "SimpleQueue", "LifoQueue", "JoinableQueue", "FIFOQueue"})
CLIP_KEYWORDS = frozenset(
    {"video_length", "num_frames", "n_frames", "num_video_frames", "frames_num", "clip_length"}
)
CLIP_ATTRIBUTES = frozenset({"videos", "frames", "video"})
DRIVER_DECORATORS = ("command", "main", "group", "cli")
DRIVER_NAMES = frozenset(
    {"main", "cli", "demo", "run_demo", "__main__", "test", "example", "run", "app"}
)
PARSE_CALLS = frozenset({"parse_args", "parse_known_args"})


def no_frames(c: Candidate, ctx: Ctx) -> str:
    """Why `c` collects something other than frames ("" when its output may be frames): no
    call but conversions, string and container helpers leads to what leaves an iteration, or it
    hands UI updates to a web page."""
    if c.header.kind in ("step", "generator") and c.sinks and c.sinks[0].kind == "return":
        return ""
    sink = c.sinks[0]
    frame = sink.frame
    if frame is None:
        return ""
    if isinstance(frame, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        return "what it collects is text"
    calls = _calls_feeding(frame, c, ctx)
    if any(dotted(call.func).split(".")[0] in UI_ROOTS for call in calls):
        return UI_REASON
    model_calls = [
        call
        for call in calls
        if last_name(call.func) not in NON_FRAME_CALLS | PLUMBING_CALLS
        and not words(last_name(call.func)) & NOT_FRAME_WORDS
    ]
    if not model_calls:
        if sink.kind == "writer":
            return "it only converts and saves frames made before the loop"
        return "no model, renderer or image operation makes what it collects"
    if all(last_name(call.func) in READERS | IMAGE_EDITS for call in model_calls) and any(
        last_name(call.func) in READERS for call in model_calls
    ):
        return "it only reads input frames (and resizes or crops them): a prologue, not frames"
    return ""


def _calls_feeding(frame: cst.CSTNode, c: Candidate, ctx: Ctx) -> list[cst.Call]:
    """Calls in the frame expression and in the loop body's statements that (transitively)
    bind the names it reads."""
    calls = list(iter_calls(frame))
    body = c.node.body if isinstance(c.node, (cst.For, cst.While)) else None
    if body is None:
        if isinstance(c.node, (cst.ListComp, cst.GeneratorExp)):
            return calls + [x for f in _for_ins(c.node) for x in iter_calls(f.iter)]
        return calls
    wanted = set(names_of(frame).reads)
    statements = [s for s in iter_nodes(body) if isinstance(s, cst.BaseSmallStatement)]
    for _ in range(4):
        grew = False
        for stmt in statements:
            n = names_of(stmt)
            if n.binds & wanted or n.mutates & wanted:
                for call in iter_calls(stmt):
                    if call not in calls:
                        calls.append(call)
                        grew = True
                new = n.reads - wanted
                if new:
                    wanted |= new
                    grew = True
        if not grew:
            break
    if isinstance(c.node, cst.For) and names_of(c.node.target).reads & wanted:
        calls += list(iter_calls(c.node.iter))
    return calls


def _for_ins(comp: cst.ListComp | cst.GeneratorExp) -> list[cst.CompFor]:
    out = []
    f: cst.CompFor | None = comp.for_in
    while f is not None:
        out.append(f)
        f = f.inner_for_in
    return out


# ---------------------------------------------------------------------------------------------
# threads and queues


def thread_targets(ctx: Ctx) -> set[str]:
    """Functions the file starts on another thread or process (`Thread(target=f)`,
    `_thread.start_new_thread(f, ...)`, `async_run(f, ...)`, `executor.submit(f, ...)`)."""
    out: set[str] = set()
    for call in _all_calls(ctx):
        name = last_name(call.func)
        if name not in THREAD_CALLS:
            continue
        target = next(
            (a.value for a in call.args if a.keyword and a.keyword.value == "target"), None
        )
        if target is None and call.args and call.args[0].keyword is None:
            target = call.args[0].value
        if target is not None and dotted(target):
            out.add(dotted(target).split(".")[-1])
    return out


def _all_calls(ctx: Ctx) -> list[cst.Call]:
    """Every call of the file, inside functions and classes too."""
    return [n for n in iter_nodes(ctx.source.module, into_scopes=True) if isinstance(n, cst.Call)]


def queues(ctx: Ctx) -> set[str]:
    """Names bound to a queue (`read_buffer = Queue(maxsize=500)`, `a, b = Queue(), Queue()`)."""
    out: set[str] = set()
    for node in iter_nodes(ctx.source.module, into_scopes=True):
        if not isinstance(node, cst.Assign):
            continue
        for t in node.targets:
            pairs: list[tuple[cst.BaseExpression, cst.BaseExpression]] = [(t.target, node.value)]
            if isinstance(t.target, cst.Tuple) and isinstance(node.value, cst.Tuple):
                pairs = [
                    (a.value, b.value)
                    for a, b in zip(t.target.elements, node.value.elements, strict=False)
                ]
            for target, value in pairs:
                if isinstance(value, cst.Call) and last_name(value.func) in QUEUE_CALLS:
                    key = dotted(target)
                    if key:
                        out.add(key.split(".")[-1])
    return out


def through_threads(c: Candidate, ctx: Ctx) -> str:
    """Why `c`'s frames cross threads ("" when they do not): the loop runs as a thread's target,
    or it takes its input from / puts its frames into a queue another thread serves."""
    targets = thread_targets(ctx)
    if not targets:
        return ""
    names = queues(ctx)
    if c.fn is not None and c.fn.name in targets:
        return f"`{c.fn.name}` runs on its own thread (started with {_starters(ctx)})"
    root = c.node if not isinstance(c.node, cst.FunctionDef) else c.node.body
    for call in iter_calls(root):
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in ("get", "put", "next"):
            owner = dotted(call.func.value).split(".")[-1]
            if owner in names or "queue" in owner.lower():
                return (
                    f"frames pass through the queue `{dotted(call.func.value)}` between threads "
                    f"({', '.join(sorted(targets))} run on their own)"
                )
    return ""


def _starters(ctx: Ctx) -> str:
    names = sorted({dotted(c.func) for c in _all_calls(ctx) if last_name(c.func) in THREAD_CALLS})
    return ", ".join(f"`{n}`" for n in names[:3])


# ---------------------------------------------------------------------------------------------
# a whole clip per call


def whole_clip_call(c: Candidate, ctx: Ctx) -> cst.Call | None:
    """The call that makes a whole clip per iteration (`pipe(prompt, video_length=16).videos`,
    `pipeline(..., num_frames=49).frames[0]`), when nothing the loop carries from one iteration
    to the next feeds it: then iterations are separate clips, not parts of one stream."""
    if not c.sinks or isinstance(c.node, cst.FunctionDef):
        return None
    frame = c.sinks[0].frame
    if frame is None:
        return None
    clip_call = None
    for call in _calls_feeding(frame, c, ctx):
        if any(a.keyword is not None and a.keyword.value in CLIP_KEYWORDS for a in call.args):
            clip_call = call
            break
        parent = ctx.parents.get(call)
        if isinstance(parent, cst.Attribute) and parent.attr.value in CLIP_ATTRIBUTES:
            clip_call = call
            break
    if clip_call is None:
        return None
    carried = _carried(c)
    if _feeds(clip_call, c) & carried:
        return None
    return clip_call


def _feeds(call: cst.Call, c: Candidate) -> set[str]:
    """Every name the loop body uses to build `call`'s arguments, transitively."""
    wanted = set(names_of(call).reads)
    body = c.node.body if isinstance(c.node, (cst.For, cst.While)) else None
    if body is None:
        return wanted
    statements = [s for s in own_statements(body) if isinstance(s, cst.BaseSmallStatement)]
    for _ in range(6):
        before = len(wanted)
        for stmt in statements:
            n = names_of(stmt)
            if n.binds & wanted:
                wanted |= n.reads
        if len(wanted) == before:
            break
    return wanted


def _carried(c: Candidate) -> set[str]:
    """Names an iteration reads before it binds them (values from the previous iteration), and
    accumulators the body reads back; counters (`i += 1`) aside."""
    if not isinstance(c.node, (cst.For, cst.While)):
        return set()
    bound: set[str] = target_names(c.node.target) if isinstance(c.node, cst.For) else set()
    carried: set[str] = set()
    for stmt in own_statements(c.node.body):
        if not isinstance(stmt, cst.BaseSmallStatement):
            continue
        n = names_of(stmt)
        if isinstance(stmt, cst.AugAssign):
            continue
        carried |= n.reads & (n.mutates | _later_binds(c.node.body, stmt)) - bound
        bound |= n.binds
    return carried


def _later_binds(body: cst.BaseSuite, stmt: cst.CSTNode) -> set[str]:
    out: set[str] = set()
    seen = False
    for s in own_statements(body):
        if s is stmt:
            seen = True
        if seen and isinstance(s, cst.BaseSmallStatement):
            out |= names_of(s).binds | names_of(s).mutates
    return out


# ---------------------------------------------------------------------------------------------
# drivers and helpers


def is_driver(fn: FunctionInfo) -> bool:
    """A command-line entry point: decorated as a click/typer/hydra command, parses the command
    line itself, or is named like one (`main`, `cli`, `demo`)."""
    if fn.cls is None and (fn.name in DRIVER_NAMES or fn.name.startswith("test_")):
        return True
    for d in fn.node.decorators:
        name = last_name(d.decorator)
        root = dotted(d.decorator).split(".")[0]
        if name in DRIVER_DECORATORS or root in ("click", "typer", "fire", "hydra"):
            return True
    return any(last_name(call.func) in PARSE_CALLS for call in iter_calls(fn.node.body))


def setup_only(fn: FunctionInfo, index: ModuleIndex) -> bool:
    """`__init__`, or a method only `__init__` calls: it builds the object, it makes no frame."""
    if fn.name == "__init__":
        return True
    if fn.cls is None:
        return False
    callers = [
        m
        for m in index.methods_of(fn.class_name)
        if any(
            isinstance(call.func, cst.Attribute)
            and dotted(call.func.value) == "self"
            and call.func.attr.value == fn.name
            for call in iter_calls(m.node.body)
        )
    ]
    return bool(callers) and all(m.name == "__init__" for m in callers)


def clip_maker(c: Candidate, index: ModuleIndex, ctx: Ctx) -> tuple[FunctionInfo, int] | None:
    """(caller, line of its loop) when `c`'s function only turns a clip its caller made into
    frames: a function of the file (not a driver) calls it after a loop of its own whose result
    it is given (`decoded = self.decode_latents(x)` after the denoising loop)."""
    fn = c.fn
    if fn is None:
        return None
    for caller in index.functions:
        if caller is fn or is_driver(caller):
            continue
        for call in iter_calls(caller.node.body):
            if not _calls_function(call, fn, caller):
                continue
            loops = [
                n
                for n in iter_nodes(caller.node.body)
                if isinstance(n, (cst.For, cst.While))
                and ctx.range(n).end.line < ctx.line(call)
                and not _inside_loop(call, caller, ctx)
            ]
            if not loops:
                continue
            fed = names_of(call).reads
            for loop in reversed(loops):
                if names_of(loop).binds & fed or names_of(loop).mutates & fed:
                    return caller, ctx.line(loop)
    return None


def _calls_function(call: cst.Call, fn: FunctionInfo, caller: FunctionInfo) -> bool:
    func = call.func
    if fn.cls is None:
        return isinstance(func, cst.Name) and func.value == fn.name
    return (
        isinstance(func, cst.Attribute)
        and func.attr.value == fn.name
        and dotted(func.value) == "self"
        and caller.class_name == fn.class_name
    )


def _inside_loop(node: cst.CSTNode, fn: FunctionInfo, ctx: Ctx) -> bool:
    cur = ctx.parents.get(node)
    while cur is not None and cur is not fn.node:
        if isinstance(cur, (cst.For, cst.While)):
            return True
        cur = ctx.parents.get(cur)
    return False
