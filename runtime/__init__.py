"""reactor: the runtime that serves streaming models.

The model API, with the same names and meaning as the Reactor platform's model interface.
"""

from reactor._model import (
    ModelMessage,
    ReactorModel,
    ReactorPipeline,
    connected,
    disconnected,
    event,
)
from reactor._output import Audio, Output, Video
from reactor._state import InputField, InputState, Rejection

__all__ = [
    "Audio",
    "InputField",
    "InputState",
    "ModelMessage",
    "Output",
    "ReactorModel",
    "ReactorPipeline",
    "Rejection",
    "Video",
    "connected",
    "disconnected",
    "event",
]
