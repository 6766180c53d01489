"""How the pipeline object is constructed: a config dict whose keys are read as
`config["k"]` / `config.get("k", d)` (in `__init__` or through `self.config` elsewhere), or
keyword parameters with defaults."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, iter_nodes, literal, param_list
from reactorc.analysis.state import params_of
from reactorc.plan import ConfigKey, Constructor

CONFIG_NAMES = {"config", "cfg", "conf", "opt", "opts", "args", "hparams", "params", "options"}
CONFIG_TYPES = ("dict", "Dict", "Mapping", "DictConfig", "MutableMapping")


def find(class_name: str, cls: cst.ClassDef | None, ctx: Ctx) -> Constructor:
    if cls is None:
        return Constructor(kind="none", class_name="")
    init = next(
        (
            s
            for s in (cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ())
            if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"
        ),
        None,
    )
    if init is None:
        return Constructor(kind="none", class_name=class_name)
    params = [p for p, _ in params_of(init, ctx, skip_self=True)]
    config_param = _config_param(init)
    if config_param:
        aliases = {config_param} | _stored_as(init, config_param)
        keys = _keys_read(cls, aliases, ctx)
        return Constructor(
            kind="config",
            class_name=class_name,
            config_param=config_param,
            keys=tuple(keys),
            params=tuple(params),
            span=ctx.span(init),
        )
    return Constructor(
        kind="kwargs" if params else "none",
        class_name=class_name,
        params=tuple(params),
        span=ctx.span(init),
    )


def _config_param(init: cst.FunctionDef) -> str:
    for i, (p, kind) in enumerate(param_list(init)):
        if i == 0 or kind != "positional":
            continue
        ann = dotted(p.annotation.annotation) if p.annotation else ""
        if isinstance(p.annotation.annotation if p.annotation else None, cst.Subscript):
            ann = dotted(p.annotation.annotation.value)  # type: ignore[union-attr]
        if p.name.value in CONFIG_NAMES or ann.rsplit(".", 1)[-1] in CONFIG_TYPES:
            return p.name.value
    return ""


def _stored_as(init: cst.FunctionDef, name: str) -> set[str]:
    """`self.config = config` -> {"self.config"}."""
    out = set()
    for node in iter_nodes(init.body):
        if isinstance(node, cst.Assign) and dotted(node.value) == name:
            for t in node.targets:
                d = dotted(t.target)
                if d:
                    out.add(d)
    return out


def _keys_read(cls: cst.ClassDef, aliases: set[str], ctx: Ctx) -> list[ConfigKey]:
    keys: dict[str, ConfigKey] = {}
    for node in iter_nodes(cls, into_scopes=True):
        if isinstance(node, cst.Subscript) and dotted(node.value) in aliases and node.slice:
            el = node.slice[0].slice
            if isinstance(el, cst.Index):
                k = literal(el.value)
                if isinstance(k, str):
                    line = keys[k].line if k in keys else ctx.line(node)
                    keys[k] = ConfigKey(k, "", False, line)
        elif (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute)
            and node.func.attr.value in ("get", "setdefault")
            and dotted(node.func.value) in aliases
            and node.args
        ):
            k = literal(node.args[0].value)
            if not isinstance(k, str):
                continue
            default = ctx.expr(node.args[1].value) if len(node.args) > 1 else "None"
            if k not in keys:
                keys[k] = ConfigKey(k, default, True, ctx.line(node))
    return sorted(keys.values(), key=lambda k: k.line)
