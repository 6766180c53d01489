"""Malformed and adversarial SDP offers, each with a piece of the reason the server must give.

Built from real offers (aiortc's, and one each in Chrome's and Firefox's shape) by one change
each: every kind of offer seen on a public endpoint (truncated, no media, wrong codecs only,
binary garbage, duplicated m-lines, broken fingerprints, a NUL in a mid, ...), 200 in all.
`hostile_offers()` is what the server must refuse with a 400 (or a 413, for bodies over the
HTTP size limit); the valid ones must pass.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FINGERPRINT = "3F:48:8E:CD:37:AA:7E:CA:53:A2:48:81:62:05:D7:81:68:21:DD:A0:E6:B1:30:8B:DD:44:E8:82:54:06:D7:AB"

SESSION = [
    "v=0",
    "o=- 4005540389 4005540389 IN IP4 0.0.0.0",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0 1",
    "a=msid-semantic:WMS *",
]

TRANSPORT = [
    "a=candidate:16572de626da4e5384a0ce2d0d93678a 1 udp 2130706431 127.0.0.1 49340 typ host",
    "a=end-of-candidates",
    "a=ice-ufrag:Q1nQ",
    "a=ice-pwd:sldVlZGXZtVEcnf7NghKFE",
    f"a=fingerprint:sha-256 {FINGERPRINT}",
    "a=setup:actpass",
]

VIDEO = [
    "m=video 49340 UDP/TLS/RTP/SAVPF 97 98 99 100",
    "c=IN IP4 127.0.0.1",
    "a=recvonly",
    "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=mid:0",
    "a=msid:c4a1d20f-069b-434a-99ce-2f6cf860589d 6797eab5-fa3a-4f09-99ac-1e63ce3d8718",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=ssrc-group:FID 1712224480 789975817",
    "a=ssrc:1712224480 cname:0b1c4037-43be-4e8f-b1d8-1bb8e5d3efc0",
    "a=rtpmap:97 VP8/90000",
    "a=rtcp-fb:97 nack",
    "a=rtcp-fb:97 nack pli",
    "a=rtpmap:98 rtx/90000",
    "a=fmtp:98 apt=97",
    "a=rtpmap:99 H264/90000",
    "a=fmtp:99 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=rtpmap:100 rtx/90000",
    "a=fmtp:100 apt=99",
    *TRANSPORT,
]

AUDIO = [
    "m=audio 45882 UDP/TLS/RTP/SAVPF 96 9 0 8",
    "c=IN IP4 127.0.0.1",
    "a=recvonly",
    "a=mid:2",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=rtcp-mux",
    "a=rtpmap:96 opus/48000/2",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    *TRANSPORT,
]

DATA = [
    "m=application 51327 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 127.0.0.1",
    "a=mid:1",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
    *TRANSPORT,
]


def offer(*sections: list[str], session: list[str] | None = None) -> str:
    return "\r\n".join([*(session or SESSION), *(line for s in sections for line in s)]) + "\r\n"


VALID = offer(VIDEO, DATA)
"""aiortc's offer for one video track and the data channel (the Counter model's)."""
VALID_AV = offer(VIDEO, DATA, AUDIO, session=[*SESSION[:4], "a=group:BUNDLE 0 1 2"])

CHROME = """v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:kJ3e
a=ice-pwd:Qx4nXyoGm5d5z6nV1R0nWpHc
a=ice-options:trickle
a=fingerprint:sha-256 7B:8A:1E:0C:5D:44:9F:3B:21:6E:AA:02:C1:77:90:5F:E3:18:4D:B6:0A:9C:53:27:F8:61:2D:4E:B0:13:8E:C5
a=setup:actpass
a=mid:0
a=sctp-port:5000
a=max-message-size:262144
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:kJ3e
a=ice-pwd:Qx4nXyoGm5d5z6nV1R0nWpHc
a=ice-options:trickle
a=fingerprint:sha-256 7B:8A:1E:0C:5D:44:9F:3B:21:6E:AA:02:C1:77:90:5F:E3:18:4D:B6:0A:9C:53:27:F8:61:2D:4E:B0:13:8E:C5
a=setup:actpass
a=mid:1
a=extmap:1 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 urn:3gpp:video-orientation
a=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid
a=recvonly
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 H264/90000
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 H264/90000
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:127 H264/90000
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:125 rtx/90000
a=fmtp:125 apt=127
a=rtpmap:39 H264/90000
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:45 AV1/90000
a=fmtp:45 level-idx=5;profile=0;tier=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:98 VP9/90000
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:112 H264/90000
a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f
a=rtpmap:113 rtx/90000
a=fmtp:113 apt=112
a=rtpmap:116 red/90000
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:118 ulpfec/90000
""".replace("\n", "\r\n")
"""The shape of Chrome's offer from Reactor's JS client (data channel first, many codecs)."""

FIREFOX = """v=0
o=mozilla...THIS_IS_SDPARTA-99.0 5329573339211392104 0 IN IP4 0.0.0.0
s=-
t=0 0
a=fingerprint:sha-256 1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09:1A:2B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8:09
a=group:BUNDLE 0 1
a=ice-options:trickle
a=msid-semantic:WMS *
m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98
c=IN IP4 0.0.0.0
a=recvonly
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:4/recvonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1
a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1
a=fmtp:120 max-fs=12288;max-fr=60
a=fmtp:124 apt=120
a=fmtp:121 max-fs=12288;max-fr=60
a=fmtp:125 apt=121
a=fmtp:127 apt=126
a=fmtp:98 apt=97
a=ice-pwd:8e7f0a1b2c3d4e5f60718293a4b5c6d7
a=ice-ufrag:1a2b3c4d
a=mid:0
a=rtcp-fb:120 nack
a=rtcp-fb:120 nack pli
a=rtcp-fb:120 ccm fir
a=rtcp-fb:* transport-cc
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:120 VP8/90000
a=rtpmap:124 rtx/90000
a=rtpmap:121 VP9/90000
a=rtpmap:125 rtx/90000
a=rtpmap:126 H264/90000
a=rtpmap:127 rtx/90000
a=rtpmap:97 H264/90000
a=rtpmap:98 rtx/90000
a=setup:actpass
a=ssrc:2847281839 cname:{8a1a42bc-6b73-4c6e-9d4b-0f2c1d1e3f40}
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=sendrecv
a=ice-pwd:8e7f0a1b2c3d4e5f60718293a4b5c6d7
a=ice-ufrag:1a2b3c4d
a=mid:1
a=setup:actpass
a=sctp-port:5000
a=max-message-size:1073741823
""".replace("\n", "\r\n")
"""The shape of Firefox's offer: fingerprint at session level, extmap with a direction."""


@dataclass(frozen=True)
class Hostile:
    """One bad offer: what it is, its text, and a piece of the reason the server must give."""

    id: str
    sdp: object
    reason: str
    status: int = 400


def _swap(lines: list[str], old: str, new: str | None) -> list[str]:
    """`lines` with every line starting with `old` replaced by `new` (dropped when None)."""
    return [
        (new if line.startswith(old) else line)
        for line in lines
        if new is not None or not line.startswith(old)
    ]


def _cut(text: str, at: int) -> str:
    return text[:at]


def hostile_offers() -> list[Hostile]:
    """Exactly 200 offers the server must refuse, for a model with one video track."""
    out: list[Hostile] = []

    def add(id_: str, sdp: object, reason: str, status: int = 400) -> None:
        out.append(Hostile(id_, sdp, reason, status))

    # What was seen answered with an SDP answer (or a hang) instead of a 400.
    dup_app = offer(DATA, DATA, session=[*SESSION[:4], "a=group:BUNDLE 1"])
    add("two-data-channels-one-mid", dup_app, "share the mid")
    add("two-data-channels-and-video", offer(VIDEO, DATA, DATA), "at most 2")
    for proto in ("RTP/AVP", "FOO/BAR", "UDP/TLS/RTP/SAVP", "TCP/TLS/RTP/SAVPF"):
        video = _swap(VIDEO, "m=video", f"m=video 49340 {proto} 97 98 99 100")
        add(f"protocol-{proto}", offer(video, DATA), "uses the protocol")
    for proto in ("TCP/DTLS/SCTP", "UDP/DTLS/RTP"):
        data = _swap(DATA, "m=application", f"m=application 51327 {proto} webrtc-datachannel")
        add(f"data-protocol-{proto}", offer(VIDEO, data), "uses the protocol")
    for version in ("v=1", "v=", "v=00", "v=0 "):
        add(f"version-{version}", offer(VIDEO, DATA, session=[version, *SESSION[1:]]), "v=0")
    add(
        "m-lines-before-v",
        "\r\n".join([*VIDEO, *SESSION, *DATA]) + "\r\n",
        "starts with the line v=0",
    )
    no_fp = [line for line in offer(VIDEO, DATA).split("\r\n") if "fingerprint" not in line]
    add("no-fingerprint", "\r\n".join(no_fp), "no a=fingerprint")
    for bad in (
        "ZZ" + FINGERPRINT[2:],
        FINGERPRINT.replace(":", ""),
        FINGERPRINT[:-3],
        FINGERPRINT + ":00",
        FINGERPRINT.replace(":", "-"),
        "",
    ):
        fp = f"a=fingerprint:sha-256 {bad}".rstrip()
        reason = "hex bytes" if bad else "takes '<hash> <hex bytes>'"
        add(f"fingerprint-{len(out)}", offer(_swap(VIDEO, "a=fingerprint", fp), DATA), reason)
    for algorithm in ("sha-999", "blake3", "SHA256", "sha256"):
        fp = f"a=fingerprint:{algorithm} {FINGERPRINT}"
        add(
            f"fingerprint-alg-{algorithm}",
            offer(_swap(VIDEO, "a=fingerprint", fp), DATA),
            "unknown hash function",
        )
    sha1 = "a=fingerprint:sha-1 " + ":".join(["AB"] * 20)
    add(
        "fingerprint-only-sha1",
        offer(_swap(VIDEO, "a=fingerprint", sha1), _swap(DATA, "a=fingerprint", sha1)),
        "this server checks sha-256",
    )
    for mid in ("0\x00", "\x00", "0\x00\x00evil"):
        add(
            f"nul-in-mid-{len(out)}",
            offer(_swap(VIDEO, "a=mid", f"a=mid:{mid}"), DATA),
            "control character U+0000",
        )
    huge = offer(VIDEO, DATA) + "a=x-padding:" + "A" * (2 * 1024 * 1024) + "\r\n"
    add("2MB-offer", huge, "the limit is", status=413)
    add(
        "2MB-of-m-lines",
        offer(VIDEO, DATA) + "m=video 9 UDP/TLS/RTP/SAVPF 97\r\n" * 70_000,
        "the limit is",
        status=413,
    )
    add(
        "100KB-offer",
        offer(VIDEO, DATA) + "a=x-padding:" + "B" * 100_000 + "\r\n",
        "the limit is 65536 bytes",
    )
    for count in (2, 20):
        add(f"{count}-video-m-lines", offer(*([VIDEO] * count), DATA), "at most 2")
    add("200-video-m-lines", offer(*([VIDEO] * 200), DATA), "the limit is 65536 bytes")
    add("2000-video-m-lines", offer(*([VIDEO] * 2000), DATA), "the limit is", status=413)
    add(
        "1500-bare-m-lines",
        offer(VIDEO, DATA) + "m=video 9 UDP/TLS/RTP/SAVPF 97\r\n" * 1500,
        "at most 2",
    )

    # Cut short: every cut before the data channel's last line loses something it needs.
    full = offer(VIDEO, DATA)
    last = len(full) - len(DATA[-1]) - 2
    for i in range(1, 41):
        add(f"truncated-{i}", _cut(full, last * i // 41), "")

    # No media, wrong codecs only, no data channel.
    add("no-media", offer(), "no data channel")
    add("session-only-no-t", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\n", "no t= line")
    add("video-without-data-channel", offer(VIDEO), "no data channel")
    for codecs in (("VP9", "AV1"), ("H265",), ("rtx",), ("red", "ulpfec")):
        video = [line for line in VIDEO if not line.startswith(("a=rtpmap", "a=fmtp", "a=rtcp-fb"))]
        video = _swap(
            video,
            "m=video",
            "m=video 49340 UDP/TLS/RTP/SAVPF " + " ".join(str(96 + i) for i in range(len(codecs))),
        )
        video += [f"a=rtpmap:{96 + i} {c}/90000" for i, c in enumerate(codecs)]
        add(f"codecs-only-{'-'.join(codecs)}", offer(video, DATA), "no codec this server can use")

    # Garbage.
    rng = random.Random(15)
    for i in range(12):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 4000)))
        add(f"binary-garbage-{i}", raw.decode("latin-1"), "")
    for i in range(6):
        text = "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz =:/0123456789\r\n") for _ in range(600)
        )
        add(f"text-garbage-{i}", text, "")
    add("empty", "", "empty")
    add("whitespace", " \r\n\r\n ", "empty")
    add("json-not-sdp", '{"type": "offer", "sdp": "v=0"}', "v=0")
    add("unicode-separators", VALID.replace("\r\n", "\u2028"), "control character")
    add("not-text-number", 12345, "sdp_offer")
    add("not-text-list", ["v=0"], "sdp_offer")
    add("not-text-null", None, "sdp_offer")

    # Lines that are not SDP.
    for line, reason in (
        ("x=unknown", "not an SDP line"),
        ("nonsense", "not an SDP line"),
        ("a", "not an SDP line"),
        ("A=mid:0", "not an SDP line"),
        ("=0", "not an SDP line"),
    ):
        add(f"line-{line}", offer([*VIDEO, line], DATA), reason)
    for kind in ("o", "s", "t"):
        session = [line for line in SESSION if not line.startswith(f"{kind}=")]
        add(f"no-{kind}-line", offer(VIDEO, DATA, session=session), f"no {kind}= line")
    add(
        "two-o-lines",
        offer(VIDEO, DATA, session=[*SESSION[:2], SESSION[1], *SESSION[2:]]),
        "repeats the o= line",
    )
    add("bad-session-c-line", offer(VIDEO, DATA, session=[*SESSION, "c=IN IP4"]), "a c= line is")
    add("bad-media-c-line", offer(_swap(VIDEO, "c=", "c=XX IP4 1.2.3.4"), DATA), "a c= line is")
    add(
        "bundle-unknown-mid",
        offer(VIDEO, DATA, session=[*SESSION[:4], "a=group:BUNDLE 0 1 7"]),
        "BUNDLE names the mid '7'",
    )

    # m-lines.
    for m_line, reason in (
        ("m=video", "an m-line is"),
        ("m=video x UDP/TLS/RTP/SAVPF 97", "an m-line is"),
        ("m=video 9 UDP/TLS/RTP/SAVPF", "an m-line is"),
        ("m=video 70000 UDP/TLS/RTP/SAVPF 97", "not a UDP port"),
        ("m=video 9 UDP/TLS/RTP/SAVPF 200", "not an RTP payload type"),
        ("m=video 9 UDP/TLS/RTP/SAVPF abc", "not an RTP payload type"),
        ("m=video 9 UDP/TLS/RTP/SAVPF 72", "not an RTP payload type"),
        ("m=video 9 UDP/TLS/RTP/SAVPF -1", "not an RTP payload type"),
        ("m=text 9 UDP/TLS/RTP/SAVPF 97", "is for 'text' media"),
        ("m=image 9 udptl t38", "is for 'image' media"),
        ("m=message 9 TCP/MSRP *", "is for 'message' media"),
    ):
        add(f"m-line-{len(out)}", offer(_swap(VIDEO, "m=video", m_line), DATA), reason)
    add(
        "data-format-port",
        offer(VIDEO, _swap(DATA, "m=application", "m=application 9 UDP/DTLS/SCTP 5000")),
        "format must be webrtc-datachannel",
    )
    add("data-no-sctp-port", offer(VIDEO, _swap(DATA, "a=sctp-port", None)), "needs a=sctp-port")
    add(
        "data-bad-sctp-port",
        offer(VIDEO, _swap(DATA, "a=sctp-port", "a=sctp-port:99999")),
        "a=sctp-port must be",
    )
    add(
        "data-bad-max-message",
        offer(VIDEO, _swap(DATA, "a=max-message-size", "a=max-message-size:lots")),
        "max-message-size",
    )

    # ICE credentials and DTLS role.
    for old, new, reason in (
        ("a=ice-ufrag", None, "no ICE credentials"),
        ("a=ice-pwd", None, "no ICE credentials"),
        ("a=ice-ufrag", "a=ice-ufrag:ab", "a=ice-ufrag must be"),
        ("a=ice-ufrag", "a=ice-ufrag:ab cd", "a=ice-ufrag must be"),
        ("a=ice-ufrag", "a=ice-ufrag:" + "u" * 300, "a=ice-ufrag must be"),
        ("a=ice-pwd", "a=ice-pwd:short", "a=ice-pwd must be"),
        ("a=ice-pwd", "a=ice-pwd:" + "p" * 21, "a=ice-pwd must be"),
        ("a=ice-pwd", "a=ice-pwd:" + "p;" * 12, "a=ice-pwd must be"),
        ("a=setup", None, "a=setup must be"),
        ("a=setup", "a=setup:holdconn", "a=setup must be"),
        ("a=setup", "a=setup:", "a=setup must be"),
        ("a=setup", "a=setup:ACTPASS", "a=setup must be"),
    ):
        add(f"transport-{len(out)}", offer(_swap(VIDEO, old, new), DATA), reason)

    # Mids and directions.
    add("no-mid", offer(_swap(VIDEO, "a=mid", None), DATA), "has no a=mid")
    add("data-no-mid", offer(VIDEO, _swap(DATA, "a=mid", None)), "has no a=mid")
    add("two-mids", offer([*VIDEO, "a=mid:9"], DATA), "second a=mid")
    add("mid-too-long", offer(_swap(VIDEO, "a=mid", "a=mid:" + "m" * 40), DATA), "short token")
    add("mid-with-space", offer(_swap(VIDEO, "a=mid", "a=mid:0 1"), DATA), "short token")
    add("mid-empty", offer(_swap(VIDEO, "a=mid", "a=mid:"), DATA), "short token")
    add(
        "duplicate-mid",
        offer(VIDEO, _swap(DATA, "a=mid", "a=mid:0"), session=[*SESSION[:4], "a=group:BUNDLE 0"]),
        "share the mid",
    )
    add("video-sendonly", offer(_swap(VIDEO, "a=recvonly", "a=sendonly"), DATA), "matches no track")
    add("video-inactive", offer(_swap(VIDEO, "a=recvonly", "a=inactive"), DATA), "matches no track")
    add("two-directions", offer([*VIDEO, "a=sendrecv"], DATA), "two directions")
    audio_only = [*SESSION[:4], "a=group:BUNDLE 2 1"]
    add("audio-for-a-video-model", offer(AUDIO, DATA, session=audio_only), "matches no track")
    add("no-rtcp-mux", offer(_swap(VIDEO, "a=rtcp-mux", None), DATA), "a=rtcp-mux")

    # Attributes aiortc reads numbers from.
    for old, new, reason in (
        ("a=rtpmap:97", "a=rtpmap:97 VP8", "a=rtpmap is"),
        ("a=rtpmap:97", "a=rtpmap:x VP8/90000", "a=rtpmap is"),
        ("a=rtpmap:97", "a=rtpmap:97 VP8/fast", "a=rtpmap is"),
        ("a=fmtp:98", "a=fmtp:98 apt=abc", "apt must be a whole number"),
        ("a=fmtp:98", "a=fmtp:55 apt=97", "payload type 55, which no a=rtpmap defines"),
        ("a=fmtp:98", "a=fmtp:98", "a=fmtp is"),
        ("a=fmtp:98", "a=fmtp:xx apt=97", "is not a payload type"),
        ("a=rtcp-fb:97 nack pli", "a=rtcp-fb:66 nack", "payload type 66"),
        ("a=candidate", "a=candidate:1 1 udp", "not an ICE candidate"),
        ("a=candidate", "a=candidate:1 x udp 1 127.0.0.1 9 typ host", "not an ICE candidate"),
        ("a=candidate", "a=candidate:1 1 udp 1 127.0.0.1 port typ host", "not an ICE candidate"),
        ("a=extmap", "a=extmap:one urn:x", "malformed a=extmap"),
        ("a=extmap", "a=extmap:1", "malformed a=extmap"),
        ("a=ssrc:", "a=ssrc:abc cname:x", "malformed a=ssrc"),
        ("a=ssrc:", "a=ssrc:1 cname", "malformed a=ssrc"),
        ("a=ssrc-group", "a=ssrc-group:FID one two", "malformed a=ssrc-group"),
        ("a=rtcp:", "a=rtcp:nine IN IP4 0.0.0.0", "malformed a=rtcp"),
        ("a=rtcp:", "a=rtcp:9 IN IP9 x", "malformed a=rtcp"),
    ):
        add(f"attribute-{len(out)}", offer(_swap(VIDEO, old, new), DATA), reason)

    # Fill up to 200 with more cuts of other offers and more garbage.
    # (Chrome's video section is last: a cut before its a=setup leaves it without one.)
    end = CHROME.index("a=setup:actpass\r\na=mid:1")
    i = 0
    while len(out) < 200:
        i += 1
        add(f"chrome-truncated-{i}", _cut(CHROME, end - (i * 37) % (end - 1)), "")
    return out
