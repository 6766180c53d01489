"""Reading a client's SDP offer before anything is built for it (`reactor._sdp_check`): real
offers pass, each of 200 hostile ones is refused with its reason, m-lines match the model's
tracks by mapping or by kind and direction, and no input makes the check raise anything else."""

from __future__ import annotations

import pytest
from hostile_offers import (
    AUDIO,
    CHROME,
    DATA,
    FIREFOX,
    SESSION,
    VALID,
    VALID_AV,
    VIDEO,
    hostile_offers,
    offer,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reactor._sdp_check import OfferError, OfferTrack, check_offer

VIDEO_MODEL = [OfferTrack("main_video", "video")]
AV_MODEL = [OfferTrack("main_video", "video"), OfferTrack("sound", "audio")]
HOSTILE = hostile_offers()


def test_there_are_200_distinct_hostile_offers() -> None:
    assert len(HOSTILE) == 200
    assert len({h.id for h in HOSTILE}) == 200


@pytest.mark.parametrize(
    ("sdp", "tracks", "expected"),
    [
        (VALID, VIDEO_MODEL, {"0": "main_video"}),
        (CHROME, VIDEO_MODEL, {"1": "main_video"}),
        (FIREFOX, VIDEO_MODEL, {"0": "main_video"}),
        (VALID_AV, AV_MODEL, {"0": "main_video", "2": "sound"}),
        (offer(DATA, session=SESSION[:4]), VIDEO_MODEL, {}),  # commands only, no media
        (VALID.replace("\r\n", "\n"), VIDEO_MODEL, {"0": "main_video"}),  # bare LF lines
    ],
    ids=["aiortc", "chrome", "firefox", "audio-and-video", "data-only", "lf"],
)
def test_real_offers_pass_with_each_m_line_on_a_track(sdp, tracks, expected) -> None:
    checked = check_offer(sdp, tracks)
    assert checked.tracks == expected
    assert checked.data_mid in {s.mid for s in checked.sections if s.kind == "application"}


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.id for h in HOSTILE])
def test_each_hostile_offer_is_refused_with_its_reason(hostile) -> None:
    with pytest.raises(OfferError) as refused:
        check_offer(hostile.sdp, VIDEO_MODEL)
    message = str(refused.value)
    assert hostile.reason in message
    assert message and "\n" not in message and len(message) < 400


def _section(lines: list[str], mid: str, direction: str) -> list[str]:
    out = []
    for line in lines:
        if line.startswith("a=mid:"):
            line = f"a=mid:{mid}"
        elif line in ("a=recvonly", "a=sendonly", "a=sendrecv"):
            line = f"a={direction}"
        out.append(line)
    return out


CAMERA_MODEL = [
    OfferTrack("main_video", "video"),
    OfferTrack("camera", "video", "sendonly"),  # the client sends it (answered recvonly)
]


def test_a_track_the_client_sends_takes_the_m_line_it_sends_on() -> None:
    sdp = offer(_section(VIDEO, "0", "sendonly"), _section(VIDEO, "2", "recvonly"), DATA)
    assert check_offer(sdp, CAMERA_MODEL).tracks == {"0": "camera", "2": "main_video"}
    # sendrecv fits either; the model's order decides.
    sdp = offer(_section(VIDEO, "0", "sendrecv"), _section(VIDEO, "2", "sendrecv"), DATA)
    assert check_offer(sdp, CAMERA_MODEL).tracks == {"0": "main_video", "2": "camera"}
    mapping = [
        {"mid": "0", "name": "camera", "kind": "video", "direction": "sendonly"},
        {"mid": "2", "name": "main_video", "kind": "video", "direction": "recvonly"},
    ]
    assert check_offer(sdp, CAMERA_MODEL, mapping).tracks == {"0": "camera", "2": "main_video"}


@pytest.mark.parametrize("direction", ["recvonly", "inactive"])
def test_a_client_may_map_a_track_it_could_send_without_sending(direction: str) -> None:
    """A client that only watches maps the model's camera input recvonly (or inactive): it is
    answered, and the model reads no frames from it."""
    sdp = offer(_section(VIDEO, "0", "recvonly"), _section(VIDEO, "2", direction), DATA)
    mapping = [
        {"mid": "0", "name": "main_video", "kind": "video", "direction": "recvonly"},
        {"mid": "2", "name": "camera", "kind": "video", "direction": direction},
    ]
    assert check_offer(sdp, CAMERA_MODEL, mapping).tracks == {"0": "main_video", "2": "camera"}


@pytest.mark.parametrize(
    ("tracks", "sections", "mapping", "reason"),
    [
        (VIDEO_MODEL, [_section(VIDEO, "0", "sendonly")], None, "matches no track"),
        (
            CAMERA_MODEL,
            [_section(VIDEO, "0", "recvonly"), _section(VIDEO, "2", "recvonly")],
            None,
            "m-line 2 .* recvonly, matches no track",
        ),
        (
            CAMERA_MODEL,
            [_section(VIDEO, "0", "sendonly")],
            [{"mid": "0", "name": "main_video", "kind": "video"}],
            "the client's side must be recvonly",
        ),
        (
            CAMERA_MODEL,
            [_section(VIDEO, "0", "sendrecv")],
            [{"mid": "0", "name": "main_video", "direction": "sendonly"}],
            "the client's side of 'main_video' is sendonly; it is recvonly",
        ),
    ],
    ids=["sendonly-without-inbound", "two-recvonly", "mapped-wrong-way", "mapping-direction"],
)
def test_directions_must_fit_the_track(tracks, sections, mapping, reason) -> None:
    with pytest.raises(OfferError, match=reason):
        check_offer(offer(*sections, DATA), tracks, mapping)


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        ({"mid": "0"}, "must be a list"),
        (["x"], "must be objects"),
        (
            [{"mid": "0", "name": "nope"}],
            "names track 'nope'; this model has ['main_video', 'sound']",
        ),
        ([{"mid": "0", "name": "main_video", "kind": "audio"}], "it is video"),
        ([{"mid": "9", "name": "main_video"}], "mid '9', which the offer lacks"),
        ([{"mid": "2", "name": "main_video"}], "mid '2' is a audio section"),
        (
            [{"mid": "0", "name": "main_video"}, {"mid": "0", "name": "sound"}],
            "names mid '0' twice",
        ),
        (
            [{"mid": "0", "name": "main_video"}, {"mid": "2", "name": "main_video"}],
            "names track 'main_video' twice",
        ),
        ([{"mid": 0, "name": "main_video"}], "mid 0, which the offer lacks"),
    ],
)
def test_track_mapping_mistakes_are_refused(mapping, reason) -> None:
    with pytest.raises(OfferError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        check_offer(VALID_AV, AV_MODEL, mapping)


def test_a_mapping_names_which_section_carries_which_track() -> None:
    two = [OfferTrack("left", "video"), OfferTrack("right", "video")]
    sdp = offer(_section(VIDEO, "0", "recvonly"), _section(VIDEO, "2", "recvonly"), DATA)
    assert check_offer(sdp, two).tracks == {"0": "left", "2": "right"}
    mapping = [{"mid": "0", "name": "right", "kind": "video"}]
    assert check_offer(sdp, two, mapping).tracks == {"0": "right", "2": "left"}
    # A model's tracks need not all be offered: the client takes the ones it wants.
    audio_first = [*SESSION[:4], "a=group:BUNDLE 2 1"]
    assert check_offer(offer(AUDIO, DATA, session=audio_first), AV_MODEL).tracks == {"2": "sound"}


def test_the_size_limit_is_the_callers() -> None:
    with pytest.raises(OfferError, match="the limit is 1000 bytes"):
        check_offer(VALID, VIDEO_MODEL, max_bytes=1000)
    assert check_offer(VALID, VIDEO_MODEL, max_bytes=len(VALID)).tracks == {"0": "main_video"}


def test_codecs_are_the_callers_too() -> None:
    with pytest.raises(OfferError, match=r"offered: h264, rtx, vp8; it uses av1"):
        check_offer(VALID, VIDEO_MODEL, codecs={"video": {"av1"}})


LINES = VALID.split("\r\n")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """The valid offer with a few lines dropped, repeated, swapped, cut or given odd text."""
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "swap", "cut", "text", "insert"]))
        if action == "drop" and len(lines) > 1:
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif action == "text":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.text(max_size=8)) + lines[i][at:]
        else:
            lines.insert(
                i, draw(st.sampled_from(["m=", "a=", "c=", "v="])) + draw(st.text(max_size=20))
            )
    return "\r\n".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_mutation_of_a_real_offer_passes_or_is_refused_never_raises(sdp: str) -> None:
    try:
        checked = check_offer(sdp, AV_MODEL)
    except OfferError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    # What passes is answerable: aiortc reads it, and every media m-line has its own track.
    from aiortc.sdp import SessionDescription

    parsed = SessionDescription.parse(sdp)
    media = [m for m in parsed.media if m.kind != "application"]
    assert len(checked.tracks) == len(media) == len(set(checked.tracks.values()))
    assert all(m.dtls is not None and m.dtls.fingerprints for m in parsed.media)
    assert all(m.ice.usernameFragment and m.ice.password for m in parsed.media)
