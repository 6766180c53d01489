"""`reactor.yaml` (and the `config.yml` it names) → `Manifest`; resolving `module:Class`.

Two forms are read, the short one and Reactor's:

    model: pipeline_wrapper:MyModel        model: {name: seed}
    name: seed                             runtime:
    config: config.yml                       import: pipeline_wrapper:MyModel
                                             config: config.yml

The module is imported from the manifest's folder, whatever the working directory.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from reactor._model import ReactorModel, ReactorPipeline
from reactor._output import tracks_for_model

MANIFEST = "reactor.yaml"


class ManifestError(Exception):
    """Something wrong in reactor.yaml, config.yml or the model they name; one line for a user."""


class ModelLoadError(Exception):
    """The model's own `load()` raised; the cause carries the user's traceback."""


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file; {what}") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a folder, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read it ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{where}: invalid YAML: {problem}") from None


@dataclass(frozen=True)
class Manifest:
    """A model to serve: its name, where its class lives, and the config its `load()` gets."""

    name: str
    model_ref: str
    """`module:Class`, the module importable from `root`."""
    config: dict[str, Any] = field(hash=False)
    """config.yml parsed (or the manifest's inline `config:` mapping); {} when none."""
    root: Path
    """The manifest's folder: the model's module is imported from here."""
    path: Path
    """The reactor.yaml file itself."""

    def model_class(self) -> type[ReactorPipeline] | type[ReactorModel]:
        """Import the model class; ManifestError when it cannot be found or is not a model."""
        module_name, _, class_name = self.model_ref.partition(":")
        root = str(self.root)
        if root not in sys.path:
            sys.path.insert(0, root)
        _forget_if_elsewhere(module_name, self.root)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise ManifestError(
                    f"{self.path}: model {self.model_ref!r}: no module named {module_name!r} "
                    f"in {self.root}"
                ) from None
            raise ManifestError(
                f"{self.path}: model {self.model_ref!r}: importing it failed: {exc}"
            ) from None
        except Exception as exc:
            raise ManifestError(
                f"{self.path}: model {self.model_ref!r}: importing it failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        cls = getattr(module, class_name, None)
        if cls is None:
            raise ManifestError(
                f"{self.path}: model {self.model_ref!r}: module {module_name!r} has no "
                f"{class_name!r}"
            )
        if not (isinstance(cls, type) and issubclass(cls, ReactorPipeline | ReactorModel)):
            what = f"class {cls.__name__}" if isinstance(cls, type) else type(cls).__name__
            raise ManifestError(
                f"{self.path}: model {self.model_ref!r} is neither a ReactorPipeline nor a "
                f"ReactorModel (it is a {what}); subclass one of them"
            )
        try:
            tracks_for_model(cls)  # Output classes that disagree on a track: the user's to fix
        except TypeError as exc:
            raise ManifestError(f"{self.path}: model {self.model_ref!r}: {exc}") from None
        return cls

    def load_model(self) -> ReactorPipeline | ReactorModel:
        """Import, instantiate and `load(config)` the model, ready for a Runner."""
        cls = self.model_class()
        try:
            model = cls()
            model.load(dict(self.config))
        except Exception as exc:
            raise ModelLoadError(
                f"{cls.__name__}.load() raised {type(exc).__name__}: {exc}"
            ) from exc
        return model


def _forget_if_elsewhere(module_name: str, root: Path) -> None:
    """Drop a same-named module imported from another folder, so this manifest's one loads."""
    top = module_name.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    origin = getattr(loaded, "__file__", None)
    if origin is None:
        return
    try:
        Path(origin).resolve().relative_to(root.resolve())
    except ValueError:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


def _check_ref(path: Path, key: str, ref: Any) -> str:
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ManifestError(
            f"{path}: {key} must be 'module:Class' (e.g. pipeline_wrapper:MyModel), got {ref!r}"
        )
    module_name, class_name = ref.split(":")
    if not all(part.isidentifier() for part in module_name.split(".")) or not (
        class_name.isidentifier()
    ):
        raise ManifestError(f"{path}: {key} must be 'module:Class', got {ref!r}")
    return ref


def _config(path: Path, root: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if not isinstance(value, str) or not value:
        raise ManifestError(f"{path}: {key} must be a path to config.yml or a mapping")
    config_path = Path(value)
    if not config_path.is_absolute():
        config_path = root / config_path
    data = _read_yaml(config_path, f"{key} in {path.name} names it")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ManifestError(
            f"{config_path}: expected a mapping of settings (key: value), got {type(data).__name__}"
        )
    return data


def read_manifest(path: str | Path = MANIFEST) -> Manifest:
    """Read reactor.yaml (either form) and its config; ManifestError for anything wrong."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    data = _read_yaml(path, "pass --manifest PATH to the reactor.yaml of the model to run")
    if not isinstance(data, dict):
        raise ManifestError(
            f"{path}: expected a mapping with 'model:' (e.g. model: module:Class), "
            f"got {type(data).__name__}"
        )
    root = path.resolve().parent
    model = data.get("model")
    runtime = data.get("runtime")
    if isinstance(model, dict) or runtime is not None:
        if not isinstance(runtime, dict):
            raise ManifestError(f"{path}: 'runtime:' must be a mapping with 'import: module:Class'")
        if "import" not in runtime:
            raise ManifestError(f"{path}: runtime.import is missing (the model's 'module:Class')")
        ref = _check_ref(path, "runtime.import", runtime["import"])
        name = model.get("name") if isinstance(model, dict) else None
        config = _config(path, root, "runtime.config", runtime.get("config"))
    else:
        if model is None:
            raise ManifestError(f"{path}: 'model:' is missing (e.g. model: pipeline:MyModel)")
        ref = _check_ref(path, "model", model)
        name = data.get("name")
        config = _config(path, root, "config", data.get("config"))
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ManifestError(f"{path}: name must be a non-empty string, got {name!r}")
    return Manifest(
        name=name or ref.split(":")[1],
        model_ref=ref,
        config=config,
        root=root,
        path=path.resolve(),
    )
