"""Where each parameter of the pipeline gets its value in the wrapper, in this order: its
default (or a literal a call site passes), the file's own driver or an `--entry` script (its
statements move into `load()`, argparse options into config.yml), its role (a prompt list built
from the `prompt` field, noise drawn from `seed`, a path read from config.yml), the user's
`reactorc.yaml` / `--arg`; what is still unknown is an error whose hint is a stanza to fill.

`prepare` runs before dependency tracking (it adds the wrapper's own statements that build
converted parameters from fields); `finish` names each parameter's role once liveness is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import libcst as cst

from reactorc.analysis import _cst, driver, epilogue, kept, options, usage
from reactorc.analysis._cst import Ctx, dotted, is_missing, iter_nodes, last_name, literal, names_of
from reactorc.analysis.context import Run
from reactorc.analysis.fields import Conversion, Fields, iterated_names
from reactorc.analysis.hints import Hints, stanza
from reactorc.analysis.index import FunctionInfo, ModuleIndex, build_index
from reactorc.analysis.loops import Candidate
from reactorc.diagnostics import diagnostic, shorten
from reactorc.parse import read_file
from reactorc.plan import (
    Argument,
    ConfigKey,
    EpilogueStatement,
    KeptWrapper,
    Role,
    Setup,
    SourceKind,
    Span,
)

WRAPPER_ARGUMENTS = "__wrapper_self__.arguments"
"""How the wrapper's own statements reach what `load()` computed (renamed to `self.arguments`)."""
NOISE_CALLS = frozenset(
    {"randn", "rand", "randn_like", "rand_like", "normal", "standard_normal", "randn_tensor"}
)
CLIP_WORDS = (
    "video",
    "frames",
    "clip",
    "images",
    "imgs",
    "driving",
    "vid",
    "source_video",
    "audio",
    "wav",
    "mel",
)


@dataclass
class Source:
    """One input's value: the code `load()` evaluates and where it came from."""

    code: str
    source: SourceKind
    detail: str
    config_key: str = ""


@dataclass
class Prepared:
    """What `prepare` decided before liveness is known."""

    synthetic: list[str] = field(default_factory=list)
    kept: list[KeptWrapper] = field(default_factory=list)
    """Grad modes the driver calls the pipeline under, kept around `inference()`."""
    inputs: dict[str, Source] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    setup: Setup | None = None
    conversions: dict[str, Conversion] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    after_call: list[EpilogueStatement] = field(default_factory=list)
    result_name: str = ""


def prepare(run: Run, fn: FunctionInfo, fields: Fields, best: Candidate, hints: Hints) -> Prepared:
    ctx = run.ctx
    out = Prepared(conversions={c.param: c for c in fields.conversions})
    field_names = {f.name for f in fields.fields}
    inputs = [
        p
        for p in fields.params
        if p.name not in field_names
        and p.name not in out.conversions
        and p.kind not in ("var_positional", "var_keyword")
    ]
    site, site_ctx, site_index, path = _call_site(run, fn, hints)
    options_by_dest = options.find_options(site_ctx) if site_ctx is not None else {}
    if site is not None and site_ctx is not None:
        out.kept = kept.at_call_site(site.call, site_ctx, kept.find(fn.node, best.node, ctx))
        out.result_name, out.after_call = _after_call(run, site, site_ctx)

    # defaults of fields the signature leaves without one: what the driver passes
    if site is not None:
        for draft in fields.fields:
            param = draft.param or draft.name
            if draft.has_default or param not in site.bound or draft.param:
                continue
            if draft.extras.get("per_step"):
                continue  # the driver passes the sequence, not one element: see below
            found = _static_value(site.bound[param], site, options_by_dest)
            if found is not None:
                value, how, help_text = found
                draft.default, draft.has_default = value, True
                draft.source = "call-site" if how == "literal" else "driver"
                draft.description = draft.description or help_text
    for draft in fields.fields:
        if not draft.has_default and not draft.param and draft.source == "default":
            draft.source = "neutral"

    # the wrapper's own statements for converted parameters
    needed_exprs: list[cst.BaseExpression] = []
    for c in fields.conversions:
        expr = site.bound.get(c.param) if site is not None else None
        if c.param in hints.arguments:
            expr = cst.parse_expression(hints.arguments[c.param])
        code, reads = _conversion_code(c, expr, site, options_by_dest, fields, ctx)
        if code is None:
            out.missing[c.param] = _example(c.param, c.annotation)
            continue
        out.synthetic.append(code)
        needed_exprs.extend(reads)

    # inputs: the driver's expression, else the default, else the user's, else a config key
    by_driver: dict[str, cst.BaseExpression] = {}
    for p in inputs:
        if p.name in hints.arguments:
            out.inputs[p.name] = Source(hints.arguments[p.name], "sidecar", _hint_origin(hints))
        elif p.default_code:
            out.inputs[p.name] = Source(p.default_code, "default", "its default")
        elif site is not None and p.name in site.bound:
            by_driver[p.name] = site.bound[p.name]
        elif usage.is_path(p.name):
            out.inputs[p.name] = Source(
                f'config["{p.name}"]', "config", "a path, read from config.yml", p.name
            )
        else:
            out.missing[p.name] = _example(p.name, p.annotation)

    # a per-step sequence with no default: the one the driver passes is followed while no
    # client sets the current element
    for draft in fields.fields:
        param = draft.param or draft.name
        if not draft.extras.get("per_step") or draft.has_default:
            continue
        if param in hints.arguments:
            out.inputs[param] = Source(hints.arguments[param], "sidecar", _hint_origin(hints))
        elif site is not None and param in site.bound:
            by_driver[param] = site.bound[param]
    if site is not None and site_ctx is not None and site_index is not None:
        _from_driver(run, out, fn, site, site_ctx, site_index, by_driver, needed_exprs, path)
    else:
        for name in by_driver:
            out.missing[name] = _example(name, "")

    body = best.node
    for p in fields.params:
        out.roles[p.name] = "live" if _per_frame_sequence(p.name, body, best) else "input"
    for name, example in out.missing.items():
        node = fields.nodes.get(name)
        run.add(
            "RC501",
            node,
            f"no value for parameter `{name}`: it has no default and nothing in the file passes it",
            "say what to pass in reactorc.yaml beside the pipeline (or --arg, or --entry "
            "with the script that calls it):\n"
            + _indent(stanza(Path(ctx.path).name, {name: example}), 8),
        )
    if hints.setup and out.setup is None:
        out.setup = Setup(origin=_hint_origin(hints), path="", statements=hints.setup)
    elif hints.setup and out.setup is not None:
        out.setup = Setup(
            origin=out.setup.origin,
            path=out.setup.path,
            statements=hints.setup + out.setup.statements,
            config=out.setup.config,
            namespace=out.setup.namespace,
            pipeline_expr=out.setup.pipeline_expr,
            names=out.setup.names,
            imports=out.setup.imports,
        )
    return out


def finish(prepared: Prepared, fields: Fields, live: dict[str, bool]) -> tuple[Argument, ...]:
    """Every parameter's role and source, in signature order."""
    by_param = {(f.param or f.name): f for f in fields.fields}
    out: list[Argument] = []
    for p in fields.params:
        if p.kind in ("var_positional", "var_keyword"):
            out.append(
                Argument(
                    p.name,
                    "input",
                    "default",
                    code="()" if p.kind == "var_positional" else "{}",
                    detail="empty",
                )
            )
            continue
        conv = prepared.conversions.get(p.name)
        if conv is not None:
            if p.name in prepared.missing:
                out.append(
                    Argument(
                        p.name,
                        "input",
                        "missing",
                        code=prepared.missing[p.name],
                        detail=_conv_detail(conv),
                    )
                )
                continue
            role: Role = "live" if live.get(conv.field) else "restart"
            out.append(
                Argument(
                    p.name,
                    role,
                    "seed" if conv.kind == "seed" else "prompt",
                    field=conv.field,
                    detail=_conv_detail(conv),
                )
            )
            continue
        draft = by_param.get(p.name)
        sequence = prepared.inputs.get(p.name)
        if draft is not None and draft.extras.get("per_step") and sequence is not None:
            out.append(
                Argument(
                    p.name,
                    "live",
                    sequence.source,
                    field=draft.name,
                    code=sequence.code,
                    config_key=sequence.config_key,
                    detail=f"{sequence.detail}; a client's `{draft.name}` replaces the "
                    "current element",
                )
            )
            continue
        if draft is not None:
            role = "live" if live.get(draft.name) else "restart"
            out.append(Argument(p.name, role, "state", field=draft.name, detail=draft.how))
            continue
        src = prepared.inputs.get(p.name)
        role = prepared.roles.get(p.name, "input")
        if src is None:
            example = prepared.missing.get(p.name, _example(p.name, p.annotation))
            out.append(Argument(p.name, role, "missing", code=example, detail="nothing passes it"))
            continue
        out.append(
            Argument(
                p.name,
                role,
                src.source,
                code=src.code,
                config_key=src.config_key,
                detail=src.detail,
            )
        )
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# the call site


def _call_site(
    run: Run, fn: FunctionInfo, hints: Hints
) -> tuple[driver.CallSite | None, Ctx | None, ModuleIndex | None, str]:
    """The best call of the pipeline: in the `--entry` script when given, else in the file."""
    if hints.entry is not None:
        entry_ctx, entry_index = _entry(run, hints.entry)
        if entry_ctx is None or entry_index is None:
            return None, None, None, ""
        sites = driver.find_call_sites(fn, entry_index, entry_ctx)
        if not sites:
            run.add(
                "RC502",
                None,
                f"--entry {hints.entry}: the script never calls {fn.symbol}",
                "pass the script that builds the pipeline and calls it",
            )
            return None, None, None, ""
        return sites[0], entry_ctx, entry_index, str(hints.entry)
    sites = driver.find_call_sites(fn, run.index, run.ctx)
    if not sites:
        return None, None, None, ""
    return _simplest(sites, run.ctx), run.ctx, run.index, ""


def _simplest(sites: list[driver.CallSite], ctx: Ctx) -> driver.CallSite:
    """The first call whose result is used on its own: a call whose result is then joined with
    another call's (`backward[::-1] + forward[1:]`) is one half of a clip, not the clip."""
    results = {id(s): driver.after_call(s, ctx) for s in sites}
    names = {results[id(s)][0] for s in sites} - {""}

    def joined(site: driver.CallSite) -> bool:
        own, nodes = results[id(site)]
        return any(names_of(n).reads & (names - {own}) for n in nodes)

    return next((s for s in sites if not joined(s)), sites[0])


def _entry(run: Run, path: Path) -> tuple[Ctx | None, ModuleIndex | None]:
    result = read_file(path)
    if result.source is None:
        run.diags.extend(result.diagnostics)
        return None, None
    saved = _cst._CHILDREN.get()
    try:
        entry_ctx = Ctx.of(result.source)
        return entry_ctx, build_index(entry_ctx)
    finally:
        _cst._CHILDREN.set(saved)


def _from_driver(
    run: Run,
    out: Prepared,
    fn: FunctionInfo,
    site: driver.CallSite,
    site_ctx: Ctx,
    site_index: ModuleIndex,
    by_driver: dict[str, cst.BaseExpression],
    needed_exprs: list[cst.BaseExpression],
    path: str,
) -> None:
    """Inputs from the driver's expressions, and the statements `load()` runs for them."""
    usable: dict[str, cst.BaseExpression] = {}
    for name, expr in by_driver.items():
        probe = driver.resolve(site, [expr], fn, site_index, site_ctx)
        if probe.unresolved:
            out.missing[name] = _example(name, "")
            _at(
                run,
                site_ctx,
                "RC503",
                site.call,
                f"{site.origin} passes `{shorten(site_ctx.expr(expr), 40)}` as `{name}`, built "
                f"from names reactorc cannot find: {', '.join(sorted(probe.unresolved))}",
                "say what to pass for it in reactorc.yaml (see the stanza below)",
            )
            continue
        usable[name] = expr
    receiver = site.receiver
    exprs = list(usable.values()) + needed_exprs
    own_object = isinstance(receiver, cst.Name) and receiver.value in ("self", "cls")
    resolved = driver.resolve(
        site,
        exprs + ([receiver] if receiver is not None and not own_object else []),
        fn,
        site_index,
        site_ctx,
    )
    pipeline_expr = ""
    if receiver is not None and not own_object and fn.cls is not None:
        receiver_probe = driver.resolve(site, [receiver], fn, site_index, site_ctx)
        if not receiver_probe.unresolved:
            pipeline_expr = site_ctx.expr(receiver)
        else:
            resolved = driver.resolve(site, exprs, fn, site_index, site_ctx)
    if not usable and not needed_exprs and not pipeline_expr:
        return
    for name, expr in usable.items():
        out.inputs[name] = Source(
            site_ctx.expr(expr),
            "entry" if path else "driver",
            f"what {site.origin} passes: `{shorten(site_ctx.expr(expr), 50)}`",
        )
    config = _config_keys(resolved, site_ctx, exprs)
    names = tuple(sorted({n for e in needed_exprs for n in names_of(e).reads} & _bound(resolved)))
    out.setup = Setup(
        origin=" <- ".join(reversed(resolved.levels)) if resolved.levels else site.origin,
        path=path,
        statements=tuple(s.code for s in resolved.statements),
        config=config,
        namespace=resolved.namespace,
        pipeline_expr=pipeline_expr,
        names=names,
        imports=tuple(site_ctx.code(s) for s in site_index.imports) if path else (),
        rng=driver.seeded_generators([s.code for s in resolved.statements]),
    )
    _at(
        run,
        site_ctx,
        "RC504",
        site.call,
        f"arguments of {fn.symbol} come from {out.setup.origin}: load() runs its "
        f"{len(out.setup.statements)} statement(s) that build them",
        "nothing to do; the options it reads are in config.yml",
    )


def _at(run: Run, ctx: Ctx, code: str, node: cst.CSTNode, message: str, hint: str) -> None:
    """A diagnostic at `node` of the file `ctx` reads (the pipeline's, or the --entry script)."""
    run.diags.append(diagnostic(code, ctx.path, ctx.line(node), ctx.col1(node), message, hint))


def _after_call(run: Run, site: driver.CallSite, ctx: Ctx) -> tuple[str, list[EpilogueStatement]]:
    """The driver's transforms of the result (applied per chunk); RC301 for one that looks at
    the whole clip."""
    result, nodes = driver.after_call(site, ctx)
    if not nodes:
        return "", []
    positioned = [n for n in nodes if n in ctx.positions]
    analysed, _ = epilogue.analyse(positioned, result, ctx) if positioned else ([], "")
    by_node = dict(zip(positioned, analysed, strict=True))
    out: list[EpilogueStatement] = []
    for node in nodes:
        st = by_node.get(node)
        if st is None:
            code = cst.Module(body=[]).code_for_node(node).strip()
            n = names_of(node)
            st = EpilogueStatement(
                code=code,
                span=Span(0, 0, 0, 0),
                defines=tuple(sorted(n.binds)),
                reads=tuple(sorted(n.reads)),
                role="transform",
            )
        elif st.reduces_across_frames:
            _at(
                run,
                ctx,
                "RC301",
                node,
                f"`{shorten(st.code, 60)}` after {site.origin}'s call reduces across all frames "
                "of the clip; per chunk it sees only that chunk's frames",
                "the stream uses per-chunk values; `reactorc validate` reports the difference",
            )
        out.append(st if st.role != "other" else replace(st, role="transform"))
    return result, out


def _bound(resolved: driver.Driver) -> set[str]:
    out: set[str] = set()
    for s in resolved.statements:
        out |= set(s.binds)
    return out


def _config_keys(
    resolved: driver.Driver, ctx: Ctx, exprs: list[cst.BaseExpression]
) -> tuple[ConfigKey, ...]:
    """The options the driver's statements read through the options namespace."""
    ns = resolved.namespace
    if not ns:
        return ()
    declared = options.find_options(ctx)
    whole = False
    used: list[str] = []
    nodes = [s.node for s in resolved.statements] + list(exprs)
    for node in nodes:
        for n in iter_nodes(node):
            if (
                isinstance(n, cst.Attribute)
                and isinstance(n.value, cst.Name)
                and n.value.value == ns
            ):
                if n.attr.value not in used:
                    used.append(n.attr.value)
            elif (
                isinstance(n, cst.Arg) and isinstance(n.value, cst.Name) and n.value.value == ns
            ) or (
                isinstance(n, cst.Call)
                and any(isinstance(a.value, cst.Name) and a.value.value == ns for a in n.args)
            ):
                whole = True
    return options.config_keys(declared, list(declared) if whole else used)


# ---------------------------------------------------------------------------------------------
# values known statically


def _static_value(
    expr: cst.BaseExpression, site: driver.CallSite, opts: dict[str, options.Option]
) -> tuple[Any, str, str] | None:
    """(value, "literal" | "option", help) when `expr` is a literal, an option with a literal
    default, or a name the driver binds to one of those."""
    value = literal(expr)
    if not is_missing(value) and value is not None:
        return value, "literal", ""
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        opt = opts.get(expr.attr.value)
        if opt is not None and opt.has_default and opt.default is not None:
            return opt.default, "option", opt.help
    if isinstance(expr, cst.Name):
        bound = _binding(expr.value, site.before)
        if bound is not None and bound is not expr:
            return _static_value(bound, site, opts)
    return None


def _binding(name: str, before: list[cst.CSTNode]) -> cst.BaseExpression | None:
    """The value of the last `name = ...` among `before`."""
    for stmt in reversed(before):
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0].target
            if isinstance(target, cst.Name) and target.value == name:
                return stmt.value
    return None


# ---------------------------------------------------------------------------------------------
# converted parameters


def _conversion_code(
    c: Conversion,
    expr: cst.BaseExpression | None,
    site: driver.CallSite | None,
    opts: dict[str, options.Option],
    fields: Fields,
    ctx: Ctx,
) -> tuple[str | None, list[cst.BaseExpression]]:
    """The wrapper's statement that builds `c.param` from its field, and the driver expressions
    it reads (which `load()` computes); None when it cannot be built."""
    value = expr
    if isinstance(value, cst.Name) and site is not None:
        value = _binding(value.value, site.before) or value
    if c.kind == "prompt":
        _set_prompt_default(c, value, site, opts, fields)
        return _prompt_list(c, value), []
    return _seeded(c, value, site, opts, fields)


def _set_prompt_default(
    c: Conversion,
    value: cst.BaseExpression | None,
    site: driver.CallSite | None,
    opts: dict[str, options.Option],
    fields: Fields,
) -> None:
    draft = next(f for f in fields.fields if f.name == c.field)
    if draft.has_default or site is None or value is None:
        if not draft.has_default:
            draft.source = "neutral"
        return
    element: cst.BaseExpression | None = None
    if isinstance(value, (cst.List, cst.Tuple)) and value.elements:
        element = value.elements[0].value
    elif isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.List):
        element = value.left.elements[0].value if value.left.elements else None
    found = _static_value(element, site, opts) if element is not None else None
    if found is not None and isinstance(found[0], str):
        draft.default, draft.has_default = found[0], True
        draft.source = "call-site" if found[1] == "literal" else "driver"
        draft.description = draft.description or found[2]
    else:
        draft.source = "neutral"


def _prompt_list(c: Conversion, value: cst.BaseExpression | None) -> str:
    """`[prompt]`, or the driver's own shape of list (`[args.prompt] * n` -> `[prompt] * n`)."""
    if (
        isinstance(value, cst.BinaryOperation)
        and isinstance(value.operator, cst.Multiply)
        and isinstance(value.left, cst.List)
        and len(value.left.elements) == 1
        and isinstance(value.right, cst.Integer)
    ):
        return f"{c.param} = [{c.field}] * {value.right.value}"
    if isinstance(value, (cst.List, cst.Tuple)) and 1 < len(value.elements) <= 16:
        return f"{c.param} = [{c.field}] * {len(value.elements)}"
    return f"{c.param} = [{c.field}]"


def _seeded(
    c: Conversion,
    value: cst.BaseExpression | None,
    site: driver.CallSite | None,
    opts: dict[str, options.Option],
    fields: Fields,
) -> tuple[str | None, list[cst.BaseExpression]]:
    draft = next(f for f in fields.fields if f.name == c.field)
    if site is not None and draft.param == c.param:  # the field this conversion made
        seed = _driver_seed(site, opts)
        if seed is not None:
            draft.default, draft.source = seed, "driver"
    if usage.is_generator(c.param, c.annotation):
        return _generator(c, value), []
    if not isinstance(value, cst.Call) or last_name(value.func) not in NOISE_CALLS:
        return None, []
    code = _seeded_noise(c, value)
    if code is None:
        return None, []
    reads = [a.value for a in value.args if not (a.keyword and a.keyword.value == "generator")]
    return code, reads


def _driver_seed(site: driver.CallSite, opts: dict[str, options.Option]) -> int | None:
    """The seed the driver sets with `torch.manual_seed(...)`/`seed_everything(...)`."""
    for stmt in site.before:
        if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
            call = stmt.value
            if last_name(call.func) in driver.SEED_CALLS and call.args:
                found = _static_value(call.args[0].value, site, opts)
                if found is not None and isinstance(found[0], int):
                    return found[0]
    seed = opts.get("seed")
    if seed is not None and isinstance(seed.default, int):
        return seed.default
    return None


def _generator(c: Conversion, value: cst.BaseExpression | None) -> str:
    """A generator seeded from the field, made as the driver makes it
    (`torch.Generator(device)`, numpy's `default_rng`/`RandomState`)."""
    module = cst.Module(body=[])
    base = value
    if (
        isinstance(base, cst.Call)
        and isinstance(base.func, cst.Attribute)
        and base.func.attr.value == "manual_seed"
    ):
        base = base.func.value
    if isinstance(base, cst.Call):
        name = last_name(base.func)
        if name == "Generator":
            return f"{c.param} = {module.code_for_node(base).strip()}.manual_seed({c.field})"
        if name in ("default_rng", "RandomState"):
            return f"{c.param} = {module.code_for_node(base.func).strip()}({c.field})"
    return f"{c.param} = torch.Generator().manual_seed({c.field})"


def _seeded_noise(c: Conversion, call: cst.Call) -> str | None:
    """The driver's own noise call with a generator seeded from the field: torch draws take
    `generator=`; numpy's global draws become draws from `default_rng(seed)`."""
    module = cst.Module(body=[])
    func = dotted(call.func)
    name = last_name(call.func)
    args = [a for a in call.args if not (a.keyword and a.keyword.value == "generator")]
    arg_code = [_arg(module, a) for a in args]
    root = func.split(".")[0]
    if ".random." in f".{func}." and root in ("np", "numpy"):
        shaped = [module.code_for_node(a.value).strip() for a in args if a.keyword is None]
        size = "(" + ", ".join(shaped) + ("," if len(shaped) == 1 else "") + ")"
        if name == "randn":
            return f"{c.param} = {root}.random.default_rng({c.field}).standard_normal({size})"
        if name == "rand":
            return f"{c.param} = {root}.random.default_rng({c.field}).random({size})"
        if name in ("normal", "standard_normal"):
            return f"{c.param} = {root}.random.default_rng({c.field}).{name}({', '.join(arg_code)})"
        return None
    device = next((a for a in args if a.keyword and a.keyword.value == "device"), None)
    gen_device = f"device={module.code_for_node(device.value).strip()}" if device else ""
    generator = f"torch.Generator({gen_device}).manual_seed({c.field})"
    if name in ("randn_like", "rand_like"):
        like = module.code_for_node(args[0].value).strip() if args else ""
        if not like:
            return None
        draw = "randn" if name == "randn_like" else "rand"
        return (
            f"{c.param} = torch.{draw}({like}.shape, generator={generator}, "
            f"dtype={like}.dtype, device={like}.device)"
        )
    callee = module.code_for_node(call.func).strip()
    return f"{c.param} = {callee}({', '.join([*arg_code, f'generator={generator}'])})"


def _arg(module: cst.Module, arg: cst.Arg) -> str:
    value = module.code_for_node(arg.value).strip()
    star = arg.star if isinstance(arg.star, str) else ""
    if arg.keyword is not None:
        return f"{arg.keyword.value}={value}"
    return f"{star}{value}"


# ---------------------------------------------------------------------------------------------
# roles and examples


def _per_frame_sequence(name: str, loop: cst.CSTNode, best: Candidate) -> bool:
    """Iterated by the frame loop, or indexed by its counter: one element per frame (a camera
    path, actions). An input clip read per frame is an input, not a live sequence."""
    if any(w in name.lower() for w in CLIP_WORDS):
        return False
    if name in iterated_names(best.header.iter_node):
        return True
    index = best.header.index_var
    if not index:
        return False
    body = loop.body if isinstance(loop, (cst.For, cst.While)) else loop
    for node in iter_nodes(body):
        if (
            isinstance(node, cst.Subscript)
            and isinstance(node.value, cst.Name)
            and node.value.value == name
            and any(index in names_of(el).reads for el in node.slice)
        ):
            return True
    return False


def _example(name: str, annotation: str) -> str:
    """What a user might write for `name` in the stanza, as a hint of the form."""
    if usage.is_noise(name, annotation):
        return "torch.randn(1, 4, 16, 64, 64)  # the noise's shape"
    if usage.is_path(name):
        return '"path/to/file"'
    if "Tensor" in annotation or "ndarray" in annotation:
        return "torch.zeros(1, 3, 64, 64)  # an expression that builds it"
    return "...  # a Python expression; names of the pipeline file can be used"


def _hint_origin(hints: Hints) -> str:
    return hints.sidecar or "--arg"


def _conv_detail(c: Conversion) -> str:
    if c.kind == "prompt":
        return f"a list of prompts, built from the `{c.field}` field"
    return f"drawn from the `{c.field}` field at the start of each clip"


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
