"""A frame counter and a state value drawn into a frame as black/white blocks, so a client can
read them back after lossy video coding (tests and benchmarks/stream.py use the same layout)."""

from __future__ import annotations

import numpy as np

BLOCK = 16
COUNTER_BITS = 16
VALUE_BITS = 8


def draw(frame: np.ndarray, counter: int, value: int) -> np.ndarray:
    """Write `counter` (row 0) and `value` (row 1) as bits, most significant first."""
    for row, number, bits in ((0, counter, COUNTER_BITS), (1, value, VALUE_BITS)):
        for i in range(bits):
            on = (int(number) >> (bits - 1 - i)) & 1
            y, x = row * BLOCK, i * BLOCK
            frame[y : y + BLOCK, x : x + BLOCK] = 255 if on else 0
    return frame


def read(frame: np.ndarray) -> tuple[int, int]:
    """(counter, value) from an RGB frame drawn with `draw` (after coding)."""
    out = []
    for row, bits in ((0, COUNTER_BITS), (1, VALUE_BITS)):
        number = 0
        for i in range(bits):
            y, x = row * BLOCK + BLOCK // 4, i * BLOCK + BLOCK // 4
            patch = frame[y : y + BLOCK // 2, x : x + BLOCK // 2]
            number = (number << 1) | int(patch.mean() > 127)
        out.append(number)
    return out[0], out[1]


def picture(width: int, height: int, counter: int, value: int) -> np.ndarray:
    """A frame whose colour follows `value` (0-255), with the code drawn in its top rows."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[:, :, 0] = value
    frame[:, :, 1] = 80
    frame[:, :, 2] = 255 - value
    return draw(frame, counter, value)
