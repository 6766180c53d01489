"""Reading a class's annotations, postponed ones (`from __future__ import annotations`) too."""

from __future__ import annotations

import inspect
import sys
from typing import Any


def resolve_annotation(cls: type, name: str) -> Any:
    """The class's annotation `name`, evaluated if it is a string (postponed annotations)."""
    for klass in cls.__mro__:
        own = inspect.get_annotations(klass)
        if name in own:
            annotation = own[name]
            if isinstance(annotation, str):
                module = sys.modules.get(klass.__module__)
                namespace = dict(vars(module)) if module is not None else {}
                try:
                    return eval(annotation, namespace, dict(vars(klass)))
                except NameError as exc:
                    raise TypeError(
                        f"{cls.__qualname__}.{name}: cannot resolve its type ({exc})"
                    ) from None
            return annotation
    return None
