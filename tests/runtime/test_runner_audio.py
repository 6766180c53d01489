"""Audio tracks through the Runner: sample-clock pts, released with their video, audio-only pacing."""

from __future__ import annotations

from typing import Any

import numpy as np
from reactor import Audio, InputState, Output, ReactorPipeline, Video
from reactor._runner import PacedFrame, Runner


class Silent(InputState):
    level: int = 0


def frame_of(counter: int) -> np.ndarray:
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[0, 0, 0] = counter
    return frame


def counter_of(frame: PacedFrame) -> int:
    return int(frame.data[0, 0, 0])


async def _ignore(_: dict[str, Any]) -> None:
    return None


def make(model_cls, **kwargs) -> Runner:
    model = model_cls()
    model.load({})
    kwargs.setdefault("realtime", False)
    return Runner(model, **kwargs)


async def take(runner: Runner, n: int) -> list[PacedFrame]:
    out: list[PacedFrame] = []
    async for frame in runner.frames():
        out.append(frame)
        if len(out) == n:
            break
    return out


class Speech(Audio):
    sample_rate = 16000


class AudioVisual(Output):
    main_video: Video
    voice: Speech


class Talking(ReactorPipeline):
    """Each yield: a batch of 2 video frames and 1600 samples (0.1 s) of stereo audio."""

    state: Silent
    output: AudioVisual
    fps = 200

    def inference(self):
        i = 0
        while True:
            video = np.stack([frame_of(i), frame_of(i + 1)])
            audio = np.full((2, 1600), i, np.int16)
            yield AudioVisual(main_video=video, voice=audio)
            i += 2


async def test_audio_rides_with_video_on_its_own_sample_clock():
    runner = make(Talking)
    assert [(t.name, t.kind, t.sample_rate) for t in runner.tracks] == [
        ("main_video", "video", None),
        ("voice", "audio", 16000),
    ]
    await runner.start_session(_ignore)
    frames = await take(runner, 15)
    await runner.stop_session()
    video = [f for f in frames if f.kind == "video"]
    audio = [f for f in frames if f.kind == "audio"]
    assert [counter_of(f) for f in video] == list(range(len(video)))
    assert [f.index for f in audio] == list(range(len(audio)))
    assert [f.pts for f in audio] == [1600 * k for k in range(len(audio))]
    assert all(f.data.shape == (2, 1600) and f.data.dtype == np.int16 for f in audio)
    # Each chunk is released with the first video frame of its yield.
    order = [(f.kind, counter_of(f) if f.kind == "video" else int(f.data[0, 0])) for f in frames]
    assert order[:6] == [
        ("video", 0),
        ("audio", 0),
        ("video", 1),
        ("video", 2),
        ("audio", 2),
        ("video", 3),
    ]


class Sound(Output):
    tone: Audio


class Tone(ReactorPipeline):
    """Audio only: 480 samples (10 ms at 48 kHz) per yield."""

    state: Silent
    output: Sound

    def load(self, config: dict[str, Any]) -> None:
        self.made = 0

    def inference(self):
        while True:
            yield Sound(tone=np.full((1, 480), self.made, np.int16))
            self.made += 1


async def test_audio_only_model_is_paced_by_its_duration():
    runner = make(Tone, realtime=True)
    await runner.start_session(_ignore)
    frames = await take(runner, 20)
    await runner.stop_session()
    assert [int(f.data[0, 0]) for f in frames] == list(range(20))
    assert [f.pts for f in frames] == [480 * k for k in range(20)]
    dues = [f.due for f in frames]
    assert dues[-1] - dues[0] >= 19 * 0.01 - 1e-6
