"""Pictures and sounds the setup reads once from a path (a talking head's source portrait, a
first frame, a driving voice): a client may upload its own instead. The read and the setup
statements that depend on it run again on the uploaded file, decoded by the same call, when the
next clip starts (docs/inputs.md).

Only reads in the setup `load()` runs (a driver, an `--entry` script, a script's setup) are
found: one decoding call of a path the user chose (an option, a variable, a literal), whose
result reaches what `inference()` takes from `load()`."""

from __future__ import annotations

import keyword

import libcst as cst

from reactorc.analysis._cst import dotted, iter_nodes, names_of
from reactorc.plan import LOADED_SOURCES, FileInput, Plan

IMAGE_READS = frozenset(
    {
        "imread",  # imageio, cv2, skimage.io, matplotlib
        "load_image",  # diffusers.utils
        "read_image",  # torchvision.io
        "Image.open",
    }
)
AUDIO_READS = frozenset(
    {
        "librosa.load",
        "torchaudio.load",
        "soundfile.read",
        "sf.read",
        "wavfile.read",
        "load_wav",
        "audio.load_wav",
    }
)
PATH_KEYWORDS = ("path", "fp", "filename", "uri", "image", "file", "im", "fname")


def find(plan: Plan) -> tuple[FileInput, ...]:
    """The file inputs of `plan`'s setup, in the order the setup reads them."""
    setup = plan.setup
    if setup is None or not plan.ok:
        return ()
    statements: list[cst.BaseStatement | None] = []
    for code in setup.statements:
        try:
            statements.append(cst.parse_statement(code + "\n"))
        except cst.ParserSyntaxError:
            statements.append(None)
    kept = set(setup.names) | {a.param for a in plan.arguments if a.source in LOADED_SOURCES}
    taken = {f.name for f in plan.state}
    out: list[FileInput] = []
    for index, stmt in enumerate(statements):
        found = _read(stmt)
        if found is None:
            continue
        call, kind, path = found
        tainted = set(names_of(stmt).binds)  # type: ignore[arg-type]
        for later in statements[index + 1 :]:
            if later is not None and names_of(later).reads & tainted:
                tainted |= names_of(later).binds
        values = _values(plan, kept)
        names = tuple(name for name, reads in values if name in tainted or reads & tainted)
        if not names:
            continue  # the file does not reach the stream
        field = _field_name(path, stmt, taken)  # type: ignore[arg-type]
        taken.add(field)
        what = "picture" if kind == "image" else "sound"
        head, _, key = path.rpartition(".")
        named = (
            f"the one config.yml's `{key}` names"
            if setup.namespace and head == setup.namespace and key.isidentifier()
            else path
        )
        out.append(
            FileInput(
                field=field,
                kind=kind,
                statement=index,
                path=path,
                call=call,
                names=names,
                description=f"A {what} to use instead of {named} (read with {call}); "
                "applies when the next clip starts",
            )
        )
    return tuple(out)


def _values(plan: Plan, kept: set[str]) -> list[tuple[str, set[str]]]:
    """What `load()` keeps for `inference()`: each name with the setup names its value reads."""
    out: list[tuple[str, set[str]]] = []
    codes = {a.param: a.code for a in plan.arguments if a.source in LOADED_SOURCES}
    for name in sorted(kept):
        code = codes.get(name) or name
        try:
            reads = names_of(cst.parse_expression(code)).reads
        except cst.ParserSyntaxError:
            reads = set()
        out.append((name, reads))
    return out


def _read(stmt: cst.BaseStatement | None) -> tuple[str, str, str] | None:
    """(call, kind, path code) when `stmt` is `x = read(path, ...)` (possibly followed by
    `.convert("RGB")`, a subscript or another method): one file read at the statement's top."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    if not isinstance(small, cst.Assign) or not names_of(small).binds:
        return None
    reads = [
        n
        for n in iter_nodes(small.value)
        if isinstance(n, cst.Call) and _kind(dotted(n.func)) and n.args
    ]
    inner = [n for n in iter_nodes(small.value) if isinstance(n, (cst.ListComp, cst.GeneratorExp))]
    if len(reads) != 1 or inner:  # several files, or one per element of a list: frames
        return None
    call = reads[0]
    path = _path_arg(call)
    if path is None or not _chosen_path(path):
        return None
    name = dotted(call.func)
    return name, _kind(name), cst.Module(body=[]).code_for_node(path).strip()


def _kind(name: str) -> str:
    if not name:
        return ""
    last = name.split(".")[-1]
    two = ".".join(name.split(".")[-2:])
    if last in IMAGE_READS or two in IMAGE_READS:
        return "image"
    if two in AUDIO_READS or last in AUDIO_READS:
        return "audio"
    return ""


def _path_arg(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and arg.star == "":
            return arg.value
        if arg.keyword is not None and arg.keyword.value in PATH_KEYWORDS:
            return arg.value
    return None


def _chosen_path(node: cst.BaseExpression) -> bool:
    """A path the user chose: an option (`opt.source_image`), a variable, a string literal,
    an f-string or `os.path.join(...)` of those — not a value from a loop."""
    if isinstance(node, (cst.Name, cst.SimpleString, cst.FormattedString, cst.Attribute)):
        return True
    if isinstance(node, cst.Call):
        return dotted(node.func).split(".")[-1] in ("join", "Path", "expanduser", "str")
    return False


def _field_name(path: str, stmt: cst.SimpleStatementLine, taken: set[str]) -> str:
    """The option's name (`opt.source_image` -> `source_image`), else the variable's."""
    words = [w for w in path.replace("(", ".").replace(")", ".").split(".") if w.isidentifier()]
    base = words[-1] if path.split(".")[-1].isidentifier() and words else ""
    if not base or base in ("path", "file", "filename"):
        binds = sorted(names_of(stmt).binds)
        base = binds[0] if binds else "file"
    name = base if base not in taken and not keyword.iskeyword(base) else f"{base}_file"
    while name in taken:
        name += "_"
    return name
