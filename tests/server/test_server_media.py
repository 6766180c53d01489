"""The media path with an aiortc client in the same process, over loopback."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from reactor._runner import Runner
from server_harness import serving
from server_models import Counter, WithSound, counter_at

pytestmark = pytest.mark.timeout(60)


async def test_client_receives_paced_frames_in_order(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect()
    try:
        await client.wait_frames(20, "main_video")
        counters = [f.counter for f in client.frames["main_video"]]
        assert counters[:20] == list(range(counters[0], counters[0] + 20))
        assert all(f.value == 10 for f in client.frames["main_video"])
    finally:
        await client.close()


async def test_audio_and_video_tracks_arrive_under_the_names_the_mapping_gives() -> None:
    runner = Runner(WithSound())
    assert [(t.name, t.kind) for t in runner.tracks] == [
        ("main_video", "video"),
        ("sound", "audio"),
    ]
    async with serving(runner) as running:
        client = running.client()
        body = await client.start()
        tracks = body["capabilities"]["tracks"]
        assert [t["name"] for t in tracks] == ["main_video", "sound"]
        await client.connect(tracks=list(reversed(tracks)))  # audio transceiver first
        try:
            await client.wait_frames(10, "main_video")
            counters = [f.counter for f in client.frames["main_video"]]
            assert counters == list(range(counters[0], counters[0] + len(counters)))
            for _ in range(100):
                if client.audio_frames.get("sound", 0) > 5:
                    break
                await asyncio.sleep(0.05)
            assert client.audio_frames["sound"] > 5
        finally:
            await client.close()


async def test_a_client_may_leave_out_a_track() -> None:
    async with serving(Runner(WithSound())) as running:
        client = running.client()
        body = await client.start()
        video_only = [t for t in body["capabilities"]["tracks"] if t["kind"] == "video"]
        await client.connect(tracks=video_only)
        try:
            await client.wait_frames(10, "main_video")
            assert "sound" not in client.audio_frames
        finally:
            await client.close()


async def test_batches_arrive_as_single_frames_in_order() -> None:
    async with serving(Runner(counter_at(40, batch=4))) as running:
        client = running.client()
        await client.start()
        await client.connect()
        try:
            await client.wait_frames(24, "main_video")
            counters = [f.counter for f in client.frames["main_video"]]
            assert counters == list(range(counters[0], counters[0] + len(counters)))
            pts = [f.pts for f in client.frames["main_video"]]
            assert pts == sorted(pts) and len(set(pts)) == len(pts)
        finally:
            await client.close()


async def test_video_timestamps_follow_the_pacer() -> None:
    async with serving(Runner(Counter())) as running:
        client = running.client()
        await client.start()
        await client.connect()
        try:
            await client.wait_frames(15, "main_video")
            frames = client.frames["main_video"]
            steps = {b.pts - a.pts for a, b in itertools.pairwise(frames)}
            assert steps <= {2999, 3000, 3001}  # 90 kHz / 30 fps: one interval each (rounded)
        finally:
            await client.close()


async def test_bitrate_option_reaches_our_encoder_only() -> None:
    """--bitrate changes the encoder of the server's peers; a peer made elsewhere in the same
    program keeps aiortc's defaults, and aiortc's module constants are untouched."""
    import aioice.ice
    from aiortc import RTCPeerConnection, rtcrtpsender
    from aiortc.codecs import vpx
    from reactor._transport import PeerSettings, _Vp8Encoder, peer_settings

    constants = (vpx.DEFAULT_BITRATE, vpx.MIN_BITRATE, vpx.MAX_BITRATE, vpx.MAX_FRAME_RATE)
    codec = next(
        c
        for c in RTCPeerConnection and __import__("aiortc").codecs.get_capabilities("video").codecs
        if c.mimeType == "video/VP8"
    )
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    params = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=codec.clockRate, payloadType=96)
    with peer_settings(PeerSettings(bitrate=3_000_000, ice_hosts=("127.0.0.1",))):
        ours = rtcrtpsender.get_encoder(params)
        hosts = aioice.ice.get_host_addresses(True, False)
    assert isinstance(ours, _Vp8Encoder) and ours.target_bitrate == 3_000_000
    ours.target_bitrate = 10_000_000  # a receiver's estimate cannot raise it past the option
    assert ours.target_bitrate == 3_000_000
    assert hosts == ["127.0.0.1"]
    theirs = rtcrtpsender.get_encoder(params)
    assert type(theirs) is vpx.Vp8Encoder and theirs.target_bitrate == vpx.DEFAULT_BITRATE
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)
    assert constants == (vpx.DEFAULT_BITRATE, vpx.MIN_BITRATE, vpx.MAX_BITRATE, vpx.MAX_FRAME_RATE)


async def test_streams_with_bitrate_and_h264_options() -> None:
    for options in ({"bitrate": 2_000_000}, {"codec": "h264", "bitrate": 800_000, "fps": 30}):
        async with serving(Runner(Counter()), **options) as running:
            client = running.client()
            await client.start()
            await client.connect()
            try:
                await client.wait_frames(10, "main_video")
                assert {f.value for f in client.frames["main_video"]} == {10}
            finally:
                await client.close()


@pytest.mark.parametrize("codec", ["vp8", "h264"])
async def test_the_codec_option_decides_what_is_sent(codec: str) -> None:
    async with serving(Runner(Counter()), codec=codec) as running:
        client = running.client()
        await client.start()
        await client.connect()
        try:
            await client.wait_frames(10, "main_video")
            # The answer's first video payload type is what the server sends.
            answer = running.server.session.answer.splitlines()
            first = next(line for line in answer if line.startswith("m=video")).split()[3]
            rtpmap = next(line for line in answer if line.startswith(f"a=rtpmap:{first} "))
            assert rtpmap.split()[1].lower().startswith(f"{codec}/")
            assert {f.value for f in client.frames["main_video"]} == {10}
        finally:
            await client.close()


async def test_finishing_a_track_frees_a_producer_waiting_for_room() -> None:
    from reactor._transport import TRACK_QUEUE_FRAMES, FrameTrack

    track = FrameTrack("main_video", "video")
    for i in range(TRACK_QUEUE_FRAMES):
        await track.put(i)
    waiting = asyncio.ensure_future(track.put("late"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the encoder is behind: the producer is held back
    track.finish()
    await asyncio.wait_for(waiting, 1)
    await asyncio.wait_for(track.put("after"), 1)  # a finished track never blocks


def test_a_machine_with_only_loopback_still_offers_a_candidate(monkeypatch) -> None:
    import aioice.ice
    import ifaddr
    from reactor._transport import PeerSettings, peer_settings

    lo = [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("::1", 0, 0), 128, "lo")]
    monkeypatch.setattr(ifaddr, "get_adapters", lambda: [ifaddr.Adapter("lo", "lo", lo)])
    with peer_settings(PeerSettings()):
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(True, True) == []  # others' peers: aioice as it is
