"""Per-call `step()` APIs (gym-style): the wrapper resets once per episode and steps per frame.

The body is built from the plan and the shape of what `step()` returns; `reset()` is called
only when the class has one, with `reset` options from config.yml.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from reactorc.plan import Plan
from reactorc.rewrite.names import code_of


def step_body(plan: Plan, module: cst.Module, output_class: str) -> str:
    """A per-call `step()` API: reset once per episode (when the class has `reset()`), step per
    frame, and end the clip when the episode ends (gym's terminated/truncated or done)."""
    method = plan.function_name
    value = _step_return_value(module, plan)
    args = ", ".join(f"{f.name}=self.state.{f.name}" for f in plan.state)
    lines = ["env = self.pipeline"]
    if _class_has_method(module, plan.class_name, "reset"):
        lines.append("env.reset(**self.reset_options)")
    lines.append("while True:")
    if isinstance(value, cst.Tuple) and len(value.elements) >= 2:
        n = len(value.elements)
        index = _frame_index(plan, value)
        names = {5: STEP_NAMES, 4: GYM_OLD_NAMES}.get(n) or tuple(
            "frame" if i == index else "_" for i in range(n)
        )
        frame = names[index]
        lines.append(f"    {', '.join(names)} = env.{method}({args})")
        lines.append(f"    yield {output_class}(main_video=to_video({frame}))")
        done = {5: "terminated or truncated", 4: "done"}.get(n)
        if done:
            lines += [f"    if {done}:", "        return"]
    else:
        lines.append(f"    frame = env.{method}({args})")
        lines.append(f"    yield {output_class}(main_video=to_video(frame))")
    return "\n".join(" " * 8 + line for line in lines) + "\n"


STEP_NAMES = ("observation", "reward", "terminated", "truncated", "info")
GYM_OLD_NAMES = ("observation", "reward", "done", "info")


def _class_has_method(module: cst.Module, class_name: str, name: str) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == class_name:
            return any(
                isinstance(s, cst.FunctionDef) and s.name.value == name for s in stmt.body.body
            )
    return False


def _frame_index(plan: Plan, value: cst.Tuple) -> int:
    """Which part of the returned tuple is the frame (the plan's frame expression)."""
    assert plan.frame_loop is not None
    for i, el in enumerate(value.elements):
        if code_of(el.value).strip() == plan.frame_loop.sink.frame_expr:
            return i
    return 0


def _step_return_value(module: cst.Module, plan: Plan) -> cst.BaseExpression | None:
    wrapper = MetadataWrapper(module)
    positions = wrapper.resolve(PositionProvider)
    assert plan.frame_loop is not None
    span = plan.frame_loop.sink.span
    for node, r in positions.items():
        if isinstance(node, cst.Return) and r.start.line <= span.start_line <= r.end.line:
            return node.value
    return None
