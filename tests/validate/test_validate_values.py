"""The values validate picks on its own to change a field: valid for the field, different from
its default, and for restart counts smaller (so the next clip is short)."""

from __future__ import annotations

import enum
from typing import Literal

import pytest
from reactor import InputField, InputState
from reactor._state import check_value

from reactorc.validate.run import pick_value


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


class State(InputState):
    scale: float = InputField(default=7.5)
    zero: float = InputField(default=0.0)
    psi: float = InputField(default=0.7, ge=0.0, le=1.0)
    throttle: float = InputField(default=1.0, ge=0.0, le=1.0)
    step: int = InputField(default=3, ge=1, le=8)
    top: int = InputField(default=8, ge=1, le=8)
    frames: int = InputField(default=16)
    seed: int = InputField(default=0)
    one: int = InputField(default=1, ge=1)
    prompt: str = InputField(default="a sunny meadow")
    empty: str = InputField(default="")
    level: str = InputField(default="aa")
    short: str = InputField(default="abc", max_length=3)
    flag: bool = InputField(default=False)
    action: Literal[0, 1, 2] = InputField(default=0)
    mode: Mode = InputField(default=Mode.SLOW)


FIELDS = {f.name: f for f in State.public_fields()}

CASES = [
    ("scale", True, 15.0),
    ("zero", True, 1.0),
    ("psi", True, 0.0),
    ("throttle", True, 0.0),
    ("step", True, 4),
    ("top", True, 7),
    ("frames", False, 8),
    ("frames", True, 17),
    ("seed", False, 1),
    ("one", False, 2),
    ("prompt", True, "wodaem ynnus a"),
    ("empty", True, "changed"),
    ("level", True, "aa (changed)"),
    ("short", True, "cba"),
    ("flag", True, True),
    ("action", True, 1),
    ("mode", True, "fast"),
]


@pytest.mark.parametrize(("name", "live", "expected"), CASES)
def test_picked_value(name: str, live: bool, expected) -> None:
    field = FIELDS[name]
    value = pick_value(field, live)
    assert value == expected and type(value) is type(expected)
    _, reason = check_value(field, value)
    assert reason is None, reason
