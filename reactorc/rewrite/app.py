"""Rewrite, step form: the generator-form `inference()` body -> the methods of a
reactor-runtime 3.x `ReactorApp`, driven one step per `generate()` call.

The generator form (what `rewrite()` makes) is prologue statements, one frame loop (`for` or
`while`, possibly inside `with` blocks) whose body yields, and optional statements after it.
Split at the loop, it becomes a state machine:

- `start_clip(state)`: the prologue, once per clip. Every variable a later step reads (latents,
  KV caches, context windows, the loop counter, a restart field's value, the iterator of a
  `for` loop) becomes an attribute of the clip object it returns;
- `step(state)`: one iteration of the loop body, its yields collected as a batch; the loop
  header (the `for`'s `next()`, the `while`'s test) decides whether the clip goes on;
- `finish_clip(...)`: the statements after the loop, once the loop has ended.

A step ends at the frame's yield. Statements of the iteration after it that read the live
state run, in the generator form, after the consumer took the frame (and any update since):
those move to the start of the next step (`_rotate_tail`).

Which variables are carried is a data-flow question, answered on the generator body with
libcst's scope analysis: a name bound before the loop and read in it, or bound in the loop and
possibly read before it is bound again (in the next iteration, the loop's test, or after the
loop). Where state lives where that analysis cannot follow it (`nonlocal`, a function made
before the loop that reads the live state, a `with ... as` around the loop) the step form is
refused (`StepFormError`, a diagnostic code and the variable's name).
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import libcst as cst
from libcst.metadata import (
    Assignment,
    ClassScope,
    ComprehensionScope,
    FunctionScope,
    MetadataWrapper,
    ParentNodeProvider,
    Scope,
    ScopeProvider,
)

from reactorc.diagnostics import Diagnostic, diagnostic
from reactorc.plan import Plan
from reactorc.rewrite.inference import Inference
from reactorc.rewrite.names import (
    bound_names,
    code_of,
    fresh_name,
    iter_nodes,
    parse_expr,
    parse_stmt,
    referenced_names,
)

STATE_CALLS = ("locals", "vars", "exec", "eval")
"""Calls that read or write the function's variables by name, out of the analysis' sight."""


class StepFormError(Exception):
    """The generator cannot be split into steps. `code` is the diagnostic (RC601: state the
    analysis cannot follow, naming `variable`; RC602: a shape with no frame loop to step)."""

    def __init__(self, code: str, message: str, hint: str, variable: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.variable = variable


@dataclass(frozen=True)
class StepForm:
    """The methods of the step form, as code: bodies indented by 8 spaces, without the def."""

    start_clip: str
    step: str
    finish_clip: str
    """"" when no statement follows the loop (its `else:` runs in `step`)."""
    carried: tuple[str, ...]
    """The clip's attributes (the carried variables, then the `for` loop's iterator)."""
    loop_header: str
    """The frame loop's header as the generator form writes it, e.g. `for i in range(n)`."""
    state_param: str
    clip_var: str
    frames_var: str
    prologue_can_return: bool
    decorators: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------------------------
# Where the frame loop is


@dataclass
class _Level:
    """One block on the way from the function body to the frame loop: the body itself, then
    each `with` the loop sits in; the statements before and after the way down."""

    with_node: cst.With | None
    before: list[cst.BaseStatement]
    after: list[cst.BaseStatement]


class _YieldFinder(cst.CSTVisitor):
    """Yields of this function (not of nested functions or lambdas)."""

    def __init__(self) -> None:
        self.found: list[cst.Yield] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Yield(self, node: cst.Yield) -> None:
        self.found.append(node)


def _yields(node: cst.CSTNode) -> list[cst.Yield]:
    finder = _YieldFinder()
    node.visit(finder)
    return finder.found


def _statement_kind(stmt: cst.BaseStatement) -> str:
    return {
        cst.If: "an `if` statement",
        cst.Try: "a `try` statement",
        cst.TryStar: "a `try` statement",
        cst.Match: "a `match` statement",
    }.get(type(stmt), "")


def _levels(fn: cst.FunctionDef) -> tuple[list[_Level], cst.For | cst.While]:
    stmts: Sequence[cst.BaseStatement] = fn.body.body  # type: ignore[assignment]
    with_node: cst.With | None = None
    levels: list[_Level] = []
    while True:
        index = next((i for i, s in enumerate(stmts) if _yields(s)), None)
        if index is None:
            raise StepFormError(
                "RC602",
                "the generator form yields nothing that a step could return",
                "convert with --target reactor (the generator form) instead",
            )
        stmt = stmts[index]
        levels.append(_Level(with_node, list(stmts[:index]), list(stmts[index + 1 :])))
        if isinstance(stmt, (cst.For, cst.While)):
            if isinstance(stmt, cst.For) and stmt.asynchronous is not None:
                raise StepFormError(
                    "RC602",
                    "the frame loop is an `async for`; generate() is synchronous",
                    "iterate synchronously, or convert with --target reactor-runtime",
                )
            return levels, stmt
        if isinstance(stmt, cst.With) and isinstance(stmt.body, cst.IndentedBlock):
            for item in stmt.items:
                if item.asname is not None:
                    name = code_of(item.asname.name).strip()
                    raise StepFormError(
                        "RC601",
                        f"the frame loop runs inside `with {code_of(item.item).strip()} as "
                        f"{name}`: `{name}` is open for the whole clip, but each step would "
                        "enter and leave it again",
                        f"open `{name}` before the `with` (or in the constructor) and close it "
                        "after the loop, or convert with --target reactor-runtime",
                        name,
                    )
            with_node = stmt
            stmts = stmt.body.body
            continue
        kind = _statement_kind(stmt)
        if kind:
            raise StepFormError(
                "RC602",
                f"the frame loop sits inside {kind}, which each step would enter and leave again",
                "move the loop out of it (release what it guards after the loop), or convert "
                "with --target reactor-runtime",
            )
        raise StepFormError(
            "RC602",
            "frames are made outside any loop, so there is no iteration for a step to take",
            "make the frames in one `for` or `while` loop, or convert with --target "
            "reactor-runtime",
        )


# --------------------------------------------------------------------------------------------
# Names: what each statement reads and binds, resolved by libcst's scope analysis


@dataclass
class _Names:
    """Facts about the function's own variables (its scope), by CST node identity."""

    scope: Scope
    assigned: dict[int, str]
    """Name (or def, import alias) nodes that bind a variable of the function -> its name."""
    accessed: dict[int, tuple[str, bool]]
    """Name nodes that read a variable of the function -> (name, late): late when the read is
    inside a nested function or lambda, so it happens whenever that is called."""
    counts: dict[str, int]
    """How many bindings each variable has."""

    def reads(self, node: cst.CSTNode) -> tuple[set[str], set[str]]:
        """(now, late): the function's variables `node` reads, at once and from nested code."""
        now: set[str] = set()
        late: set[str] = set()
        for n in iter_nodes(node):
            hit = self.accessed.get(id(n))
            if hit is not None:
                (late if hit[1] else now).add(hit[0])
        return now, late

    def writes(self, node: cst.CSTNode) -> set[str]:
        return {self.assigned[id(n)] for n in iter_nodes(node) if id(n) in self.assigned}


def _names(wrapper: MetadataWrapper, fn: cst.FunctionDef) -> _Names:
    scopes = wrapper.resolve(ScopeProvider)
    scope = scopes[fn.body.body[0]]
    assert isinstance(scope, FunctionScope)
    assigned: dict[int, str] = {}
    counts: dict[str, int] = {}
    for a in scope.assignments:
        if not isinstance(a, Assignment) or a.name == "self":
            continue
        counts[a.name] = counts.get(a.name, 0) + 1
        assigned[id(a.node)] = a.name
    accessed: dict[int, tuple[str, bool]] = {}
    for s in {s for s in scopes.values() if s is not None}:
        for access in s.accesses:
            if not isinstance(access.node, cst.Name) or access.node.value == "self":
                continue
            if any(isinstance(r, Assignment) and r.scope is scope for r in access.referents):
                accessed[id(access.node)] = (access.node.value, _is_late(s, scope))
    return _Names(scope, assigned, accessed, counts)


def _is_late(scope: Scope, function: Scope) -> bool:
    """A read in `scope` happens later than its statement runs: inside a nested function or
    lambda (a comprehension runs at once)."""
    while scope is not function:
        if isinstance(scope, (FunctionScope, ClassScope)):
            return True
        if not isinstance(scope, ComprehensionScope):
            return False
        scope = scope.parent
    return False


def _exposed(stmts: Iterable[cst.BaseStatement], defined: set[str], names: _Names) -> set[str]:
    """Variables that `stmts` may read before they bind them, given `defined` on entry (which
    is updated with what they surely bind). A read from nested code counts as exposed."""
    out: set[str] = set()
    for stmt in stmts:
        out |= _exposed_stmt(stmt, defined, names)
    return out


def _exposed_stmt(stmt: cst.BaseStatement, defined: set[str], names: _Names) -> set[str]:
    def reads(node: cst.CSTNode | None) -> set[str]:
        if node is None:
            return set()
        now, late = names.reads(node)
        return (now - defined) | late

    def block(body: cst.BaseSuite | None, inner: set[str]) -> set[str]:
        if body is None:
            return set()
        return _exposed(body.body, inner, names)  # type: ignore[arg-type]

    out: set[str] = set()
    if isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if (
                isinstance(small, cst.AugAssign)
                and isinstance(small.target, cst.Name)
                and small.target.value in names.counts
                and small.target.value not in defined
            ):
                out.add(small.target.value)
            out |= reads(small)
            defined |= names.writes(small)
        return out
    if isinstance(stmt, cst.If):
        out |= reads(stmt.test)
        body_defined = set(defined)
        out |= block(stmt.body, body_defined)
        else_defined = set(defined)
        if stmt.orelse is not None:
            out |= _exposed_stmt(
                stmt.orelse if isinstance(stmt.orelse, cst.If) else _as_block(stmt.orelse),
                else_defined,
                names,
            )
        defined |= body_defined & else_defined
        return out
    if isinstance(stmt, cst.For):
        out |= reads(stmt.iter)
        out |= block(stmt.body, set(defined) | names.writes(stmt.target))
        out |= block(stmt.orelse.body if stmt.orelse else None, set(defined))  # type: ignore[arg-type]
        return out
    if isinstance(stmt, cst.While):
        out |= reads(stmt.test)
        out |= block(stmt.body, set(defined))
        out |= block(stmt.orelse.body if stmt.orelse else None, set(defined))  # type: ignore[arg-type]
        return out
    if isinstance(stmt, cst.With):
        for item in stmt.items:
            out |= reads(item.item)
            if item.asname is not None:
                defined |= names.writes(item.asname)
        return out | block(stmt.body, defined)
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        out |= reads(stmt)  # decorators and defaults now, the body whenever it is called
        defined.add(stmt.name.value)
        return out
    # try, match, class bodies and the rest: every read counts, nothing is surely bound
    return reads(stmt)


def _as_block(orelse: cst.Else) -> cst.If:
    """`else:` as an always-true `if`, to reuse the statement walk."""
    return cst.If(test=cst.Name("True"), body=orelse.body)


# --------------------------------------------------------------------------------------------
# The transformer: carried names -> clip attributes, `self.state` -> the step's state,
# yields -> frames, loop control -> the end of a step or of the clip


class _ToStep(cst.CSTTransformer):
    def __init__(
        self,
        carried_nodes: dict[int, str],
        state_nodes: set[int],
        form: _FormNames,
        mode: Literal["prologue", "loop", "after"],
    ) -> None:
        self.carried_nodes = carried_nodes
        self.state_nodes = state_nodes
        self.form = form
        self.mode = mode
        self.loops = 0
        self.scopes = 0

    # scopes and loops that control flow statements belong to
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes += 1

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        self.scopes -= 1
        return self._rebind(original, updated)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self.scopes += 1

    def leave_Lambda(self, original: cst.Lambda, updated: cst.Lambda) -> cst.BaseExpression:
        self.scopes -= 1
        return updated

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes += 1

    def leave_ClassDef(
        self, original: cst.ClassDef, updated: cst.ClassDef
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        self.scopes -= 1
        return self._rebind(original, updated)

    def _rebind(
        self, original: cst.FunctionDef | cst.ClassDef, updated: cst.BaseStatement
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        """A def or class the clip carries: bound as written, then kept on the clip."""
        name = self.carried_nodes.get(id(original))
        if self.scopes or name is None:
            return updated
        return cst.FlattenSentinel([updated, parse_stmt(self.form.keep(name))])

    def leave_Import(
        self, original: cst.Import, updated: cst.Import
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        return self._rebind_import(original, updated)

    def leave_ImportFrom(
        self, original: cst.ImportFrom, updated: cst.ImportFrom
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        return self._rebind_import(original, updated)

    def _rebind_import(
        self, original: cst.Import | cst.ImportFrom, updated: cst.BaseSmallStatement
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        if self.scopes or isinstance(original.names, cst.ImportStar):
            return updated
        kept = [
            _small(self.form.keep(self.carried_nodes[id(alias)]))
            for alias in original.names
            if id(alias) in self.carried_nodes
        ]
        return cst.FlattenSentinel([updated, *kept]) if kept else updated

    def visit_For(self, node: cst.For) -> None:
        self.loops += 1

    def leave_For(self, original: cst.For, updated: cst.For) -> cst.For:
        self.loops -= 1
        return updated

    def visit_While(self, node: cst.While) -> None:
        self.loops += 1

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.While:
        self.loops -= 1
        return updated

    # names
    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        name = self.carried_nodes.get(id(original))
        if name is None:
            return updated
        return cst.Attribute(value=cst.Name(self.form.clip), attr=cst.Name(self.form.attrs[name]))

    def leave_Attribute(
        self, original: cst.Attribute, updated: cst.Attribute
    ) -> cst.BaseExpression:
        if id(original) in self.state_nodes:
            return cst.Name(self.form.state)
        return updated

    # frames
    def leave_Expr(
        self, original: cst.Expr, updated: cst.Expr
    ) -> cst.BaseSmallStatement | cst.RemovalSentinel:
        if self.scopes or not isinstance(updated.value, cst.Yield):
            return updated
        value = updated.value.value
        if value is None:  # a bare `yield`: a turn without a frame
            return cst.Pass()
        assert not isinstance(value, cst.From)
        frames = _frames_of(value)
        return cst.Expr(
            cst.Call(
                func=cst.Attribute(value=cst.Name(self.form.frames), attr=cst.Name("append")),
                args=[cst.Arg(frames)],
            )
        )

    # control flow
    def leave_Continue(
        self, original: cst.Continue, updated: cst.Continue
    ) -> cst.BaseSmallStatement:
        if self.mode != "loop" or self.scopes or self.loops:
            return updated
        return cst.Return(cst.Name(self.form.frames))

    def leave_Break(
        self, original: cst.Break, updated: cst.Break
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        if self.mode != "loop" or self.scopes or self.loops:
            return updated
        return cst.FlattenSentinel(self.form.end_of_clip())

    def leave_Return(
        self, original: cst.Return, updated: cst.Return
    ) -> cst.BaseSmallStatement | cst.FlattenSentinel[cst.BaseSmallStatement]:
        if self.scopes:
            return updated
        if self.mode == "prologue":
            return cst.Return(cst.Name("None"))
        if self.mode == "after":
            return cst.Return()
        return cst.FlattenSentinel(
            [_small("self.clip = None"), cst.Return(cst.Name(self.form.frames))]
        )


def _frames_of(value: cst.BaseExpression) -> cst.BaseExpression:
    """`Output(main_video=to_video(x))` -> `to_video(x)`; any other output -> its `.main_video`."""
    if (
        isinstance(value, cst.Call)
        and len(value.args) == 1
        and value.args[0].keyword is not None
        and value.args[0].keyword.value == "main_video"
    ):
        return value.args[0].value
    return cst.Attribute(value=value, attr=cst.Name("main_video"))


def _small(code: str) -> cst.BaseSmallStatement:
    stmt = parse_stmt(code)
    assert isinstance(stmt, cst.SimpleStatementLine)
    return stmt.body[0]


@dataclass
class _FormNames:
    """The names the step form's methods use, fresh against the original's."""

    clip: str
    state: str
    frames: str
    iterator: str
    attrs: dict[str, str]
    has_finish: bool = False

    def keep(self, name: str) -> str:
        return f"{self.clip}.{self.attrs[name]} = {name}"

    def end_of_clip(self) -> list[cst.BaseSmallStatement]:
        out = [_small("self.clip = None")]
        if self.has_finish:
            out.append(
                _small(f"self.finish_clip({self.clip}, {self.state}, {self.frames})"),
            )
        out.append(cst.Return(cst.Name(self.frames)))
        return out


# --------------------------------------------------------------------------------------------
# Refusals: state the analysis cannot follow (RC601), shapes with nothing to step (RC602)


def _refuse_hidden_state(fn: cst.FunctionDef) -> None:
    for node in iter_nodes(fn.body):
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            name = node.names[0].name.value
            keyword = "global" if isinstance(node, cst.Global) else "nonlocal"
            raise StepFormError(
                "RC601",
                f"`{keyword} {name}`: `{name}` is changed where the step form cannot follow it "
                "from one step to the next",
                f"pass `{name}` in and return it instead of declaring it {keyword}, or convert "
                "with --target reactor-runtime",
                name,
            )
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value in STATE_CALLS
            and (node.func.value != "vars" or not node.args)
        ):
            call = f"{node.func.value}()"
            raise StepFormError(
                "RC601",
                f"`{call}` reads or writes the pipeline's variables by name, which the step "
                "form cannot follow from one step to the next",
                "name the variables directly, or convert with --target reactor-runtime",
                call,
            )


def _refuse_yield_values(wrapper: MetadataWrapper, fn: cst.FunctionDef) -> None:
    parents = wrapper.resolve(ParentNodeProvider)
    for y in _yields(fn.body):
        if isinstance(y.value, cst.From):
            raise StepFormError(
                "RC602",
                "`yield from` hands the clip to another generator, whose loop a step cannot "
                "take one iteration of",
                "loop over that generator and yield each frame, or convert with --target "
                "reactor-runtime",
            )
        if not isinstance(parents.get(y), cst.Expr):
            raise StepFormError(
                "RC602",
                "the pipeline uses the value of a `yield` (a generator driven with send()), "
                "which a step cannot reproduce",
                "convert with --target reactor-runtime",
            )


def _refuse_carried_bindings(fn: cst.FunctionDef, carried: set[str]) -> None:
    """Carried variables must be bindable as clip attributes."""
    for node in iter_nodes(fn.body):
        name = ""
        how = ""
        if isinstance(node, cst.NamedExpr) and isinstance(node.target, cst.Name):
            name, how = node.target.value, "with `:=`"
        elif (
            isinstance(node, cst.ExceptHandler)
            and node.name is not None
            and isinstance(node.name.name, cst.Name)
        ):
            name, how = node.name.name.value, "by `except ... as`"
        if name in carried:
            raise StepFormError(
                "RC601",
                f"`{name}` is bound {how} and read in a later step, which the step form cannot "
                "keep on the clip",
                f"give `{name}` its value with `=` on a line of its own, or convert with "
                "--target reactor-runtime",
                name,
            )


def _state_nodes(node: cst.CSTNode) -> set[int]:
    """`self.state` attribute nodes in `node`: the live state, the step's input in the step
    form."""
    return {
        id(n)
        for n in iter_nodes(node)
        if isinstance(n, cst.Attribute)
        and isinstance(n.value, cst.Name)
        and n.value.value == "self"
        and n.attr.value == "state"
    }


def _refuse_stale_state(
    wrapper: MetadataWrapper,
    fn: cst.FunctionDef,
    before: list[cst.BaseStatement],
    carried: set[str],
    names: _Names,
    state_nodes: set[int],
) -> None:
    """The live state read later through something made earlier: the step form would read the
    state as it was when that was made."""
    parents = wrapper.resolve(ParentNodeProvider)
    prologue = {id(n) for s in before for n in iter_nodes(s)}

    def statement_of(node: cst.CSTNode) -> cst.CSTNode:
        while not isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            node = parents[node]
        return node

    for node in iter_nodes(fn.body):
        if id(node) in state_nodes:
            parent = parents.get(node)
            if isinstance(parent, cst.Attribute) and parent.value is node:
                continue  # `self.state.field`: a value, read when the statement runs
            stmt = statement_of(node)
            bound = sorted(names.writes(stmt) & carried)
            if bound or id(stmt) in prologue:
                name = bound[0] if bound else "self.state"
                raise StepFormError(
                    "RC601",
                    f"`{name}` holds the live state object (`self.state`), read in later steps; "
                    "the step form passes each step its own copy of the state",
                    "read the fields where they are used (`self.state.<field>`), or convert "
                    "with --target reactor-runtime",
                    name,
                )
        if isinstance(node, (cst.Lambda, cst.FunctionDef, cst.ClassDef)) and any(
            id(n) in state_nodes for n in iter_nodes(node)
        ):
            stmt = statement_of(node) if not isinstance(node, cst.FunctionDef) else node
            bound = sorted(names.writes(stmt) & carried)
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                bound = [node.name.value] if node.name.value in carried else []
            if bound:
                raise StepFormError(
                    "RC601",
                    f"`{bound[0]}` is a function that reads the live state, made in one step and "
                    "called in later ones; it would see the state of the step that made it",
                    f"define `{bound[0]}` before the loop as a `def`, or convert with --target "
                    "reactor-runtime",
                    bound[0],
                )


# --------------------------------------------------------------------------------------------
# Assembling the methods


def _aliases(stmts: Sequence[cst.BaseStatement], names: _Names) -> dict[str, str]:
    """`pipeline = self.pipeline` before the loop, never rebound: each method binds it itself
    instead of carrying it on the clip."""
    out: dict[str, str] = {}
    for stmt in stmts:
        if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1):
            continue
        small = stmt.body[0]
        if (
            isinstance(small, cst.Assign)
            and len(small.targets) == 1
            and isinstance(small.targets[0].target, cst.Name)
            and isinstance(small.value, cst.Attribute)
            and isinstance(small.value.value, cst.Name)
            and small.value.value.value == "self"
            and small.value.attr.value != "state"
            and names.counts.get(small.targets[0].target.value) == 1
        ):
            out[small.targets[0].target.value] = code_of(stmt).strip()
    return out


def _binding_order(fn: cst.FunctionDef, names: _Names) -> list[str]:
    seen: dict[str, None] = {}
    for n in iter_nodes(fn.body):
        name = names.assigned.get(id(n))
        if name is not None:
            seen.setdefault(name)
    return list(seen)


def _attr_name(name: str, taken: set[str]) -> str:
    """A clip attribute for a variable: `__x` would be name-mangled inside the app class."""
    if not name.startswith("__"):
        return name
    return fresh_name(name.lstrip("_") or "value", taken)


def _always_true(test: cst.BaseExpression | None) -> bool:
    return (isinstance(test, cst.Name) and test.value == "True") or (
        isinstance(test, cst.Integer) and test.evaluated_value != 0
    )


def _header_code(loop: cst.For | cst.While) -> str:
    empty = loop.with_changes(body=cst.IndentedBlock(body=[parse_stmt("pass")]), orelse=None)
    return code_of(empty).strip().splitlines()[0].rstrip(":").strip()


def _returns(stmts: Iterable[cst.BaseStatement]) -> bool:
    """A `return` of this function (not of a nested one) among `stmts`."""

    class Finder(_YieldFinder):
        def visit_Return(self, node: cst.Return) -> None:
            self.found.append(node)  # type: ignore[arg-type]

    finder = Finder()
    for s in stmts:
        s.visit(finder)
    return bool(finder.found)


def _drop_unused(stmts: list[cst.BaseStatement], names: set[str]) -> list[cst.BaseStatement]:
    """The prologue's functions that only later steps call, and aliases (`pipeline =
    self.pipeline`) nothing in start_clip reads, stay out of it."""
    out = []
    for s in stmts:
        bound = _binds(s)
        if bound in names:
            rest = [x for x in stmts if x is not s]
            if not rest or bound not in referenced_names(cst.IndentedBlock(body=rest)):
                continue
        out.append(s)
    return out


def _binds(stmt: cst.BaseStatement) -> str:
    """The name a `def` or a one-name `x = ...` line binds ("" for anything else)."""
    if isinstance(stmt, cst.FunctionDef):
        return stmt.name.value
    if (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Assign)
        and len(stmt.body[0].targets) == 1
        and isinstance(stmt.body[0].targets[0].target, cst.Name)
    ):
        return stmt.body[0].targets[0].target.value
    return ""


def _code(stmts: list[cst.BaseStatement]) -> str:
    """Statements as a method body indented by 8 spaces."""
    fn = cst.FunctionDef(
        name=cst.Name("f"), params=cst.Parameters(), body=cst.IndentedBlock(body=stmts)
    )
    inner = cst.Module(body=[fn]).code.split("\n", 1)[1]
    out = []
    for line in inner.splitlines():
        out.append("    " + line if line.strip() else line)
    return "\n".join(out).rstrip()


def step_form(inference: Inference) -> StepForm:
    """Split the generator form `inference` into the step form's methods, or refuse."""
    if inference.is_async:
        raise StepFormError(
            "RC602",
            "the pipeline is asynchronous (`async def`); reactor-runtime's generate() is "
            "synchronous",
            "convert with --target reactor-runtime (its generator form runs async generators)",
        )
    parsed, header_code = _rotate_tail(cst.parse_module("def inference(self):\n" + inference.body))
    wrapper = MetadataWrapper(parsed)
    fn = wrapper.module.body[0]
    assert isinstance(fn, cst.FunctionDef)
    _refuse_hidden_state(fn)
    levels, loop = _levels(fn)
    _refuse_yield_values(wrapper, fn)
    names = _names(wrapper, fn)

    before = [s for lvl in levels for s in lvl.before]
    after = [s for lvl in levels for s in lvl.after]
    orelse = list(loop.orelse.body.body) if loop.orelse is not None else []  # type: ignore[attr-defined]
    aliases = _aliases(levels[0].before, names)
    defs = {
        s.name.value
        for s in before
        if isinstance(s, cst.FunctionDef) and names.counts.get(s.name.value) == 1
    }
    carried = _carried(loop, before, [*after, *orelse], names) - set(aliases) - defs
    order = {name: i for i, name in enumerate(_binding_order(fn, names))}
    carried_names = sorted(carried, key=lambda n: order.get(n, len(order)))
    _refuse_carried_bindings(fn, carried)
    state_nodes = _state_nodes(fn.body)
    _refuse_stale_state(wrapper, fn, before, carried, names, state_nodes)

    mentioned = referenced_names(fn.body) | set(names.counts)  # the original's names, globals too
    attrs: dict[str, str] = {}
    for name in carried_names:
        attrs[name] = _attr_name(name, set(carried_names) | set(attrs.values()))
    form = _FormNames(
        clip=fresh_name("clip", mentioned),
        state=fresh_name("state", mentioned),
        frames=fresh_name("frames", mentioned),
        iterator=fresh_name("iterator", set(attrs.values())),
        attrs=attrs,
        has_finish=bool(after),
    )
    carried_nodes = {i: n for i, n in names.assigned.items() if n in carried}
    carried_nodes.update({i: n for i, (n, _) in names.accessed.items() if n in carried})

    Mode = Literal["prologue", "loop", "after"]

    def transform(stmts: Sequence[cst.BaseStatement], mode: Mode) -> list[cst.BaseStatement]:
        if not stmts:
            return []
        block = cst.IndentedBlock(body=list(stmts))
        done = block.visit(_ToStep(carried_nodes, state_nodes, form, mode))
        return list(done.body)  # type: ignore[attr-defined]

    def expr(node: cst.BaseExpression, mode: Mode) -> str:
        done = cst.Expr(node).visit(_ToStep(carried_nodes, state_nodes, form, mode))
        return code_of(done).strip()  # type: ignore[arg-type]

    def nest(per_level: list[list[cst.BaseStatement]], inner: list[cst.BaseStatement], mode: Mode):
        """The statements of each level, each `with` re-entered around the next level."""
        body = [*per_level[-1], *inner]
        for k in range(len(levels) - 1, 0, -1):
            w = levels[k].with_node
            assert w is not None
            head = w.with_changes(body=cst.IndentedBlock(body=[parse_stmt("pass")]))
            head = head.visit(_ToStep(carried_nodes, state_nodes, form, mode))
            body = [*per_level[k - 1], head.with_changes(body=cst.IndentedBlock(body=body))]
        return body

    def head(block: list[cst.BaseStatement], mode: Mode) -> list[cst.BaseStatement]:
        """Aliases and the prologue's functions a method's code uses, bound at its start."""
        refs = referenced_names(cst.IndentedBlock(body=block)) if block else set()
        wanted: set[str] = set()
        pending = [d for d in defs if d in refs]
        while pending:  # a function the code calls may call another
            d = pending.pop()
            if d in wanted:
                continue
            wanted.add(d)
            node = next(s for s in before if isinstance(s, cst.FunctionDef) and s.name.value == d)
            inner = referenced_names(node)
            refs |= inner  # the aliases it uses too
            pending += [x for x in inner if x in defs]
        functions = transform(
            [s for s in before if isinstance(s, cst.FunctionDef) and s.name.value in wanted],
            mode,
        )
        return [*(parse_stmt(aliases[a]) for a in aliases if a in refs), *functions]

    # start_clip: the prologue level by level; a `for` loop's iterator made where it started
    start_inner: list[cst.BaseStatement] = []
    if isinstance(loop, cst.For):
        start_inner.append(
            parse_stmt(f"{form.clip}.{form.iterator} = iter({expr(loop.iter, 'prologue')})")
        )
    start = nest([transform(lvl.before, "prologue") for lvl in levels], start_inner, "prologue")
    start = _drop_unused(start, defs | set(aliases))

    # one iteration: the loop's header decides whether the clip goes on, then its body
    ending = [
        *transform(orelse, "after"),
        cst.SimpleStatementLine(body=form.end_of_clip()),
    ]
    header: list[cst.BaseStatement] = []
    if isinstance(loop, cst.For):
        target = cst.Expr(loop.target).visit(_ToStep(carried_nodes, state_nodes, form, "loop"))
        fetch = cst.SimpleStatementLine(
            body=[
                cst.Assign(
                    targets=[cst.AssignTarget(target.value)],  # type: ignore[attr-defined]
                    value=parse_expr(f"next({form.clip}.{form.iterator})"),
                )
            ]
        )
        header.append(
            cst.Try(
                body=cst.IndentedBlock(body=[fetch]),
                handlers=[
                    cst.ExceptHandler(
                        type=cst.Name("StopIteration"), body=cst.IndentedBlock(body=ending)
                    )
                ],
            )
        )
    elif not _always_true(loop.test):
        header.append(
            cst.If(
                test=parse_expr(f"not ({expr(loop.test, 'loop')})"),
                body=cst.IndentedBlock(body=ending),
            )
        )
    iteration = nest(
        [[] for _ in levels],
        [*header, *transform(loop.body.body, "loop")],
        "loop",  # type: ignore[arg-type]
    )
    starting = [
        parse_stmt(f"{form.frames} = []"),
        cst.If(
            test=parse_expr("self.clip is None"),
            body=cst.IndentedBlock(
                body=[
                    parse_stmt(f"self.clip = self.start_clip({form.state})"),
                    *(
                        [parse_stmt(f"if self.clip is None:\n    return {form.frames}\n")]
                        if _returns(before)
                        else []
                    ),
                ]
            ),
        ),
    ]
    body = [*head(iteration, "loop"), *iteration]
    if form.clip in referenced_names(cst.IndentedBlock(body=body)):
        starting.append(parse_stmt(f"{form.clip} = self.clip"))
    step = [*starting, *body, parse_stmt(f"return {form.frames}")]

    # after the loop
    finish: list[cst.BaseStatement] = []
    if after:
        finish = [transform(lvl.after, "after") for lvl in levels][-1]
        for k in range(len(levels) - 1, 0, -1):
            w = levels[k].with_node
            assert w is not None
            outer = transform(levels[k - 1].after, "after")
            if finish:
                shell = w.with_changes(body=cst.IndentedBlock(body=[parse_stmt("pass")]))
                shell = shell.visit(_ToStep(carried_nodes, state_nodes, form, "after"))
                finish = [shell.with_changes(body=cst.IndentedBlock(body=finish)), *outer]
            else:
                finish = outer
        finish = [*head(finish, "after"), *finish]

    return StepForm(
        start_clip=_code(start),
        step=_code(step),
        finish_clip=_code(finish) if finish else "",
        carried=tuple(attrs[n] for n in carried_names)
        + ((form.iterator,) if isinstance(loop, cst.For) else ()),
        loop_header=header_code or _header_code(loop),
        state_param=form.state,
        clip_var=form.clip,
        frames_var=form.frames,
        prologue_can_return=_returns(before),
        decorators=inference.decorators,
    )


# --------------------------------------------------------------------------------------------
# Statements after the frame's yield that read the live state


def _rotate_tail(module: cst.Module) -> tuple[cst.Module, str]:
    """Statements of the frame loop's body after its yield run, in the generator form, once
    the consumer has taken the frame, so they see the updates applied at the yield. A step
    ends at the yield: when such a tail reads the live state, it moves to the start of the next
    step (a `pending` flag set where the frame is yielded), and the loop becomes the equivalent
    `while True` whose header fetch follows it; with it, the original loop's header. Everything
    else is returned unchanged (and "")."""
    fn = module.body[0]
    assert isinstance(fn, cst.FunctionDef)
    try:
        _, loop = _levels(fn)
    except StepFormError:
        return module, ""  # refused later, with the same error
    body = list(loop.body.body)  # type: ignore[attr-defined]
    last = max((i for i, stmt in enumerate(body) if _yields(stmt)), default=None)
    if last is None or loop.orelse is not None:
        return module, ""
    tail = body[last + 1 :]
    if not tail or not any(_state_nodes(stmt) for stmt in tail):
        return module, ""
    if not _yields_last(body[last]):
        return module, ""  # a yield in the middle of a block: the tail stays in its step
    taken = referenced_names(fn) | bound_names(fn)
    pending = fresh_name("pending", taken)
    marked = body[last].visit(_MarkYields(pending))
    head: list[cst.BaseStatement] = []
    if isinstance(loop, cst.For):
        iterator = fresh_name("frame_iterator", taken | {pending})
        head.append(parse_stmt(f"{iterator} = iter({code_of(loop.iter).strip()})\n"))
        fetch = cst.Try(
            body=cst.IndentedBlock(
                body=[
                    cst.SimpleStatementLine(
                        body=[
                            cst.Assign(
                                targets=[cst.AssignTarget(loop.target)],
                                value=parse_expr(f"next({iterator})"),
                            )
                        ]
                    )
                ]
            ),
            handlers=[
                cst.ExceptHandler(
                    type=cst.Name("StopIteration"),
                    body=cst.IndentedBlock(body=[parse_stmt("break\n")]),
                )
            ],
        )
    else:
        fetch = cst.If(
            test=parse_expr(f"not ({code_of(loop.test).strip()})"),
            body=cst.IndentedBlock(body=[parse_stmt("break\n")]),
        )
    head.append(parse_stmt(f"{pending} = False\n"))
    # what the tail reads from its iteration is read a step later: bound before the loop too,
    # so the analysis sees it carried (it is only read once the iteration has bound it)
    made = bound_names(cst.IndentedBlock(body=body[: last + 1]))
    if isinstance(loop, cst.For):
        made |= referenced_names(loop.target)
    later = referenced_names(cst.IndentedBlock(body=tail)) & made
    head += [parse_stmt(f"{name} = None\n") for name in sorted(later)]
    resume = cst.If(
        test=cst.Name(pending),
        body=cst.IndentedBlock(
            body=[parse_stmt(f"{pending} = False\n"), *(t.deep_clone() for t in tail)]
        ),
    )
    same_step = cst.If(test=parse_expr(f"not {pending}"), body=cst.IndentedBlock(body=list(tail)))
    rotated = cst.While(
        test=cst.Name("True"),
        body=cst.IndentedBlock(body=[resume, fetch, *body[:last], marked, same_step]),
        leading_lines=loop.leading_lines,
    )
    head[0] = head[0].with_changes(leading_lines=loop.leading_lines)
    done = module.deep_replace(loop, cst.FlattenSentinel([*head, rotated]))
    return done, _header_code(loop)  # type: ignore[return-value]


def _yields_last(stmt: cst.BaseStatement) -> bool:
    """`yield x`, or an `if` each of whose branches yields nothing or yields as its last
    statement (and nowhere else): after the yield, nothing of the statement is left to run."""
    if isinstance(stmt, cst.SimpleStatementLine):
        found = _yields(stmt)
        last = stmt.body[-1]
        return (
            len(found) == 1
            and isinstance(last, cst.Expr)
            and isinstance(last.value, cst.Yield)
            and found[0] is last.value
        )
    if isinstance(stmt, cst.If):
        branches: list[Sequence[cst.BaseStatement]] = [stmt.body.body]  # type: ignore[list-item]
        other = stmt.orelse
        while other is not None:
            if isinstance(other, cst.If):
                branches.append(other.body.body)  # type: ignore[arg-type]
                other = other.orelse
            else:
                branches.append(other.body.body)  # type: ignore[arg-type]
                other = None
        if _yields(stmt.test):
            return False
        for block in branches:
            if not any(_yields(b) for b in block):
                continue
            if any(_yields(b) for b in block[:-1]) or not _yields_last(block[-1]):
                return False
        return True
    return False


class _MarkYields(cst.CSTTransformer):
    """`yield x` -> `pending = True; yield x`: the rest of the iteration waits for the next
    step."""

    def __init__(self, pending: str) -> None:
        self.pending = pending

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        if not _yields(original):
            return updated
        flag = cst.Assign(
            targets=[cst.AssignTarget(cst.Name(self.pending))], value=cst.Name("True")
        )
        return updated.with_changes(body=[flag, *updated.body])


def _carried(
    loop: cst.For | cst.While,
    before: list[cst.BaseStatement],
    after: list[cst.BaseStatement],
    names: _Names,
) -> set[str]:
    """Variables a later step reads: bound before the loop and read in it or after it, or bound
    in the loop and possibly read before they are bound again (the next iteration, the loop's
    test, after the loop), or read by a function whenever it is called."""
    target = names.writes(loop.target) if isinstance(loop, cst.For) else set()
    test_now, test_late = names.reads(loop.test) if isinstance(loop, cst.While) else (set(), set())
    body_now, body_late = names.reads(loop.body)
    after_now: set[str] = set()
    late = body_late | test_late
    for s in after:
        now, later = names.reads(s)
        after_now |= now
        late |= later
    for s in before:
        late |= names.reads(s)[1]
    bound_before: set[str] = set()
    for s in before:
        bound_before |= names.writes(s)
    bound_loop = names.writes(loop.body) | target
    exposed = _exposed(loop.body.body, set(target), names)  # type: ignore[arg-type]
    read_later = body_now | test_now | after_now | late
    return (bound_before & read_later) | (bound_loop & (exposed | test_now | after_now | late))


def refusal_diagnostic(error: StepFormError, plan: Plan, source_text: str, path: str) -> Diagnostic:
    """The refusal as a diagnostic in the original file: where the pipeline first names the
    variable (a name token, not text in a string or comment), else at the frame loop."""
    line, col = 1, 1
    if plan.frame_loop is not None:
        line, col = plan.frame_loop.span.start_line, plan.frame_loop.span.start_col + 1
    span = plan.function_span
    words = error.variable.removesuffix("()").split(".") if error.variable else []
    if words and span is not None:
        found = _first_mention(source_text, words, span.start_line, span.end_line)
        if found is not None:
            line, col = found
    return diagnostic(error.code, path, line, col, error.message, error.hint)


def _first_mention(source: str, words: list[str], first: int, last: int) -> tuple[int, int] | None:
    """(line, 1-based column) of the first `a.b` name tokens in lines first..last."""
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type in (tokenize.NAME, tokenize.OP)
        ]
    except (tokenize.TokenError, SyntaxError):
        return None
    pattern = [w for word in words for w in (word, ".")][:-1]
    for i, tok in enumerate(tokens):
        if not first <= tok.start[0] <= last:
            continue
        if [t.string for t in tokens[i : i + len(pattern)]] == pattern:
            return tok.start[0], tok.start[1] + 1
    return None
