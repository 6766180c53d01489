"""reactor: the runtime that serves streaming models.

The model API, with the same names and meaning as the Reactor platform's model interface.
"""

from reactor._inputs import (
    BufferClosed,
    InputBuffer,
    InputFrame,
    MediaInput,
    ReadMode,
    UploadedFile,
)
from reactor._model import (
    ModelMessage,
    ReactorModel,
    ReactorPipeline,
    connected,
    disconnected,
    event,
    file_uploaded,
)
from reactor._output import Audio, Output, Video
from reactor._state import InputField, InputState, Rejection

__all__ = [
    "Audio",
    "BufferClosed",
    "InputBuffer",
    "InputField",
    "InputFrame",
    "InputState",
    "MediaInput",
    "ModelMessage",
    "Output",
    "ReactorModel",
    "ReactorPipeline",
    "ReadMode",
    "Rejection",
    "UploadedFile",
    "Video",
    "connected",
    "disconnected",
    "event",
    "file_uploaded",
]
