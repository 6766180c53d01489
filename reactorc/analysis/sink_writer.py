"""Sink: a frame handed to a writer, file or window inside the loop (`writer.write(f)`,
`cv2.imwrite(path, f)`, `save_image(f, path)`, `imshow`, `append_data`): the wrapper yields
the frame instead of writing it."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, iter_calls, last_name
from reactorc.analysis.loops import SinkMatch

# last name of the call -> index of the positional argument that is the frame
FRAME_ARG = {
    "write": 0,
    "write_frame": 0,
    "writeFrame": 0,
    "append_data": 0,
    "save_image": 0,
    "write_png": 0,
    "write_jpeg": 0,
    "imwrite": 1,
    "imsave": 1,
    "add_image": 1,
    "imshow": 1,
}
_MATPLOTLIB = ("plt", "matplotlib", "ax", "axes")
_NOT_FRAMES = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)
_TEXT_CALLS = ("dumps", "format", "join")


CLIP_WRITERS = frozenset(
    {
        "mimsave",
        "mimwrite",
        "write_video",
        "export_to_video",
        "save_videos_grid",
        "save_video",
        "tensor_to_video",
        "save_video_frames_as_mp4",
        "save_as_mp4",
        "write_gif",
    }
)
"""Calls that save a whole clip at once: a loop around one goes clip by clip."""


def clip_writer(call_name: str) -> bool:
    last = call_name.split(".")[-1]
    return last in CLIP_WRITERS or (last.startswith("save_video") and last != "save_video_frame")


def find(stmt: cst.CSTNode, ctx: Ctx) -> SinkMatch | None:
    if not isinstance(stmt, cst.BaseSmallStatement):
        return None
    for call in iter_calls(stmt):
        match = _match_call(call, ctx)
        if match is not None:
            return SinkMatch(
                kind="writer",
                node=stmt,
                frame=match[0],
                target=match[1],
                call=dotted(call.func) or last_name(call.func),
            )
    return None


def _match_call(call: cst.Call, ctx: Ctx) -> tuple[cst.BaseExpression, str] | None:
    name = last_name(call.func)
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    receiver = dotted(call.func.value) if isinstance(call.func, cst.Attribute) else ""
    if clip_writer(name) and positional:
        frames = next(
            (
                p
                for p in positional
                if not isinstance(p, (*_NOT_FRAMES, cst.Name)) or _named_frames(p)
            ),
            positional[0],
        )
        return frames, dotted(call.func) or name
    if name == "save" and isinstance(call.func, cst.Attribute):
        inner = call.func.value
        if isinstance(inner, cst.Call) and last_name(inner.func) == "fromarray" and inner.args:
            return inner.args[0].value, dotted(inner.func)
        return None
    if name == "save" and ctx.qualname(call.func) == "numpy.save" and len(positional) >= 2:
        return positional[1], "numpy"
    if name == "put" and positional and _queue_like(receiver):
        return positional[0], receiver  # handed to a writer thread through a queue
    if name not in FRAME_ARG or not positional:
        return None
    index = FRAME_ARG[name]
    if name == "imshow" and (
        receiver.split(".")[0] in _MATPLOTLIB or ctx.qualname(call.func).startswith("matplotlib")
    ):
        index = 0
    if name in ("imwrite", "imsave", "imshow") and len(positional) < 2:
        index = 0
    if index >= len(positional):
        return None
    frame = positional[index]
    if _is_serialised_text(frame, ctx):
        return None
    return frame, receiver or ctx.qualname(call.func)


def _is_serialised_text(value: cst.BaseExpression, ctx: Ctx) -> bool:
    """Text or packed numbers written beside the frames (a PPM header `f"P6 {w} {h} 255\\n".encode()`,
    `struct.pack("<I", n)`, `json.dumps(meta)`): never the frame, so the frame write is the sink."""
    if isinstance(value, _NOT_FRAMES):
        return True
    if not isinstance(value, cst.Call):
        return False
    if last_name(value) in _TEXT_CALLS or ctx.qualname(value.func) == "struct.pack":
        return True
    # str.encode(encoding="utf-8", errors="strict") takes only strings; an encoder given a
    # frame (`codec.encode(frame)`) takes more and is not text
    return (
        isinstance(value.func, cst.Attribute)
        and value.func.attr.value == "encode"
        and all(isinstance(a.value, _NOT_FRAMES) for a in value.args)
    )


def _queue_like(receiver: str) -> bool:
    last = receiver.split(".")[-1].lower()
    return "queue" in last or last.endswith(("_q", "buffer")) or last in ("q", "out_q")


def _named_frames(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and any(
        w in node.value.lower() for w in ("video", "frame", "sample", "clip", "img", "image")
    )
