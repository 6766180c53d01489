"""Where the frame loop reads an input clip one frame at a time (`for frame in video`,
`stream(video[i])`): there the wrapper reads the client's camera instead, and the clip itself
while no client sends one (the inputs of docs/inputs.md). A clip is recognised by its name
(`video`, `frames`, `reader`, `driving`...) or by the file read that made it (`read_video`,
`VideoReader`, `imageio.get_reader`)."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis import deps
from reactorc.analysis._cst import Ctx, iter_nodes, last_name, names_of, words
from reactorc.analysis.loops import Candidate
from reactorc.plan import CameraRead

CLIP_WORDS = frozenset(
    {"video", "videos", "clip", "vid", "frames", "reader", "driving", "source", "src", "cap"}
)
VIDEO_READERS = frozenset(
    {
        "read_video",
        "VideoReader",
        "VideoCapture",
        "VideoFileClip",
        "get_reader",
        "load_video",
        "mimread",
        "vread",
        "read_frames",
    }
)


def find(
    best: Candidate,
    before: list[cst.CSTNode],
    ctx: Ctx,
    *,
    exclude: set[str],
    chunk: bool,
) -> CameraRead | None:
    """The clip the frame loop reads frame by frame, or None. `exclude`: names that are not a
    clip whatever they are called (fields, per-step sequences, the loop's own accumulator);
    `chunk`: the loop makes several frames an iteration (one camera frame cannot stand for
    several)."""
    node = best.node
    if chunk or not isinstance(node, cst.For) or node.asynchronous is not None:
        return None
    read_from_files = _read_videos(before)

    def is_clip(name: str) -> bool:
        if not name or name in exclude:
            return False
        return name in read_from_files or bool(words(name) & CLIP_WORDS)

    header = best.header
    iterable = header.iter_node
    if header.kind == "for-iter" and iterable is not None:
        clip, element = _iterated(iterable, node.target)
        if clip and element and is_clip(clip):
            return CameraRead("iter", clip, element)
    index = header.index_var
    if not index:
        return None
    for n in iter_nodes(node.body):
        if (
            isinstance(n, cst.Subscript)
            and isinstance(n.value, cst.Name)
            and is_clip(n.value.value)
            and len(n.slice) == 1
            and isinstance(n.slice[0].slice, cst.Index)
            and isinstance(n.slice[0].slice.value, cst.Name)
            and n.slice[0].slice.value.value == index
        ):
            return CameraRead("index", n.value.value, ctx.expr(n))
    return None


def _iterated(iterable: cst.BaseExpression, target: cst.BaseExpression) -> tuple[str, str]:
    """(clip name, element name) for `for x in clip` and `for i, x in enumerate(clip)`."""
    if isinstance(iterable, cst.Name) and isinstance(target, cst.Name):
        return iterable.value, target.value
    if (
        isinstance(iterable, cst.Call)
        and last_name(iterable.func) == "enumerate"
        and iterable.args
        and isinstance(iterable.args[0].value, cst.Name)
        and isinstance(target, cst.Tuple)
        and len(target.elements) == 2
        and isinstance(target.elements[1].value, cst.Name)
    ):
        return iterable.args[0].value.value, target.elements[1].value.value
    return "", ""


def _read_videos(before: list[cst.CSTNode]) -> set[str]:
    """Names bound before the loop from a video read (`video = read_video(path)[0]`), and what
    is derived from them by slicing or moving (`video = video[a:b].to(device)`)."""
    out: set[str] = set()
    for stmt in before:
        n = names_of(stmt)
        calls = {last_name(c.func) for c in iter_nodes(stmt) if isinstance(c, cst.Call)}
        if calls & VIDEO_READERS or (n.reads & out and calls <= deps.PASSTHROUGH | {"unsqueeze"}):
            out |= n.binds
    return out
