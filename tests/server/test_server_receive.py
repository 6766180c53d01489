"""Releasing a received video frame on its RTP marker bit: a complete frame goes to the decoder
when its last packet arrives, not when the next frame starts (one frame interval later)."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from reactor._receive import MarkerJitterBuffer, release_on_marker


def packet(seq: int, timestamp: int, marker: bool, data: bytes) -> RtpPacket:
    p = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=timestamp)
    p._data = data  # type: ignore[attr-defined]  # what the receiver's depayloader leaves
    return p


def released(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, bytes] | None]:
    out = []
    for p in packets:
        _, frame = buffer.add(p)
        out.append(None if frame is None else (frame.timestamp, frame.data))
    return out


def test_a_frame_is_released_by_its_last_packet() -> None:
    frames = [
        packet(10, 3000, False, b"a"),
        packet(11, 3000, False, b"b"),
        packet(12, 3000, True, b"c"),
    ]
    frames += [packet(13, 6000, True, b"d")]
    assert released(MarkerJitterBuffer(128, is_video=True), frames) == [
        None,
        None,
        (3000, b"abc"),
        (6000, b"d"),
    ]
    # aiortc's own buffer waits for the next frame's first packet.
    assert released(JitterBuffer(128, is_video=True), frames)[2] is None


def test_a_frame_missing_a_packet_waits_for_it() -> None:
    buffer = MarkerJitterBuffer(128, is_video=True)
    assert released(buffer, [packet(0, 90, False, b"x"), packet(2, 90, True, b"z")]) == [None, None]
    # The retransmitted packet completes it.
    assert released(buffer, [packet(1, 90, False, b"y")]) == [(90, b"xyz")]


def test_a_late_copy_of_a_released_packet_is_ignored() -> None:
    buffer = MarkerJitterBuffer(128, is_video=True)
    assert released(buffer, [packet(5, 90, True, b"one")]) == [(90, b"one")]
    assert released(buffer, [packet(5, 90, True, b"one"), packet(6, 180, True, b"two")]) == [
        None,
        (180, b"two"),
    ]


def test_frames_without_a_marker_still_come_out_as_before() -> None:
    buffer = MarkerJitterBuffer(128, is_video=True)
    got = released(buffer, [packet(0, 90, False, b"p"), packet(1, 180, False, b"q")])
    assert got == [None, (90, b"p")]


async def test_a_video_receiver_gets_the_marker_buffer_once() -> None:
    pc = RTCPeerConnection()
    try:
        video = pc.addTransceiver("video", direction="recvonly").receiver
        audio = pc.addTransceiver("audio", direction="recvonly").receiver
        assert release_on_marker(video) is True
        assert isinstance(video._RTCRtpReceiver__jitter_buffer, MarkerJitterBuffer)
        assert release_on_marker(video) is True  # already done: left as it is
        assert not isinstance(audio._RTCRtpReceiver__jitter_buffer, MarkerJitterBuffer)
        assert release_on_marker(object()) is False  # an aiortc without that buffer
    finally:
        await pc.close()
