"""Refusal: blocking input inside the frame loop (`input()`, `cv2.waitKey`, `plt.show()`):
a stream cannot wait for a key press; what it reads must become state."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, iter_calls, last_name, literal

BLOCKING = {
    "input": "input()",
    "builtins.input": "input()",
    "cv2.waitKey": "cv2.waitKey()",
    "cv2.waitKeyEx": "cv2.waitKeyEx()",
    "getpass.getpass": "getpass()",
    "sys.stdin.read": "sys.stdin.read()",
    "sys.stdin.readline": "sys.stdin.readline()",
    "matplotlib.pyplot.show": "plt.show()",
    "matplotlib.pyplot.waitforbuttonpress": "plt.waitforbuttonpress()",
    "msvcrt.getch": "msvcrt.getch()",
    "keyboard.read_key": "keyboard.read_key()",
    "keyboard.wait": "keyboard.wait()",
}


def find(loop_body: cst.CSTNode, ctx: Ctx) -> list[tuple[cst.Call, str]]:
    """Each blocking call in the loop body (nested blocks included) with its display name."""
    found = []
    for call in iter_calls(loop_body):
        for name in ctx.call_names(call):
            if name in BLOCKING and not _polls(call):
                found.append((call, BLOCKING[name]))
                break
    return found


def _polls(call: cst.Call) -> bool:
    """`cv2.waitKey(1)` waits at most a millisecond to pump the window's events: it polls.
    `waitKey()` / `waitKey(0)` wait for a key press: they block."""
    if last_name(call.func) not in ("waitKey", "waitKeyEx") or not call.args:
        return False
    value = literal(call.args[0].value)
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
