"""Checking a client's SDP offer before any WebRTC object is built for it.

aiortc builds a transceiver (sender, receiver, transports) for every m-line of an offer before
it finds anything wrong, trusts some fields it never checks (a missing fingerprint fails later
in a background task), and reads others with bare `int()` and `assert`. So the server reads the
offer here first, as plain text: bounded in size, every line well-formed, one data channel, at
most one m-line per model track and each m-line matching one (by the client's track mapping or
by kind, in order), a codec we can use on each, ICE credentials, a DTLS fingerprint aiortc can
verify and a DTLS role. Anything else is an `OfferError` whose message says what and where,
and aiortc never sees the offer.

Tracks are listed with their direction from the client's side, as the session's capabilities
list them: `recvonly` for a track the model sends, `sendonly` for one the client sends.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

MAX_OFFER_BYTES = 64 * 1024
"""A browser's offer is 3-6 KB per media section; this leaves room for a dozen tracks."""

SENDABLE_CODECS: Mapping[str, frozenset[str]] = {
    "video": frozenset({"vp8", "h264"}),
    "audio": frozenset({"opus", "pcmu", "pcma"}),
}
"""Codecs (lower-case encoding names) aiortc encodes and decodes; an m-line needs one of them."""

STATIC_AUDIO = {0: "pcmu", 8: "pcma"}
"""RTP payload types that name their codec without an a=rtpmap line (RFC 3551)."""

FINGERPRINT_BYTES = {
    "sha-1": 20,
    "sha-224": 28,
    "sha-256": 32,
    "sha-384": 48,
    "sha-512": 64,
    "md5": 16,
    "md2": 16,
}
"""The hash functions a DTLS fingerprint may name (RFC 8122) and their digest sizes."""
VERIFIABLE = ("sha-256", "sha-384", "sha-512")
"""The ones aiortc can check a certificate against."""

RTP_PROTOCOLS = frozenset({"UDP/TLS/RTP/SAVPF", "RTP/SAVPF"})
DATA_PROTOCOLS = frozenset({"UDP/DTLS/SCTP", "DTLS/SCTP"})
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
LINE_TYPES = frozenset("vosiuepcbtrzkam")
"""SDP's line types (RFC 8866); a description with any other type letter is refused."""

_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,32}")
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")
_MEDIA_LINE = re.compile(r"(\S+) (\d+)(?:/\d+)? (\S+)((?: \S+)+)")
_RTPMAP = re.compile(r"(\d+) ([^/\s]+)/(\d+)(?:/(\d+))?")
_CANDIDATE = re.compile(r"\S+ \d+ \S+ \d+ \S+ \d+ typ \S+(?: \S+ \S+)*")
_CONNECTION = re.compile(r"IN IP[46] [^ ]+")
_FORBIDDEN_LINE_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (tab, CR and LF aside), and the separators Python's `splitlines()` would
split on and a person's eye would not."""
_FORBIDDEN_PAYLOAD_TYPES = range(72, 77)
"""RTP payload types that clash with RTCP packet types when multiplexed (aiortc refuses them)."""
_FMTP_INTEGERS = frozenset(
    {"apt", "max-fr", "max-fs", "maxplaybackrate", "minptime", "stereo", "useinbandfec"}
)
"""fmtp parameters aiortc reads as integers."""


class OfferError(ValueError):
    """An SDP offer or track mapping this server cannot answer; the message says why."""


@dataclass(frozen=True)
class OfferTrack:
    """A track of the model, as an offer may carry it."""

    name: str
    kind: Literal["video", "audio"]
    direction: Literal["recvonly", "sendonly"] = "recvonly"
    """From the client's side: `recvonly` for a track the model sends, `sendonly` for one the
    client sends to the model."""


@dataclass(frozen=True)
class MediaSection:
    """One m-line of an offer and the attributes of its section that the check reads."""

    number: int
    """1-based position among the offer's m-lines."""
    line: int
    """Line number of the m-line in the offer (1-based)."""
    kind: str
    protocol: str
    mid: str
    direction: str
    """The client's direction (`sendrecv` when the section names none)."""
    codecs: tuple[str, ...]
    """Lower-case encoding names of the payload types it offers (audio and video only)."""

    def describe(self) -> str:
        return f"m-line {self.number} ({self.kind}, mid {self.mid!r})"


@dataclass(frozen=True)
class CheckedOffer:
    """An offer that passed: its sections, the data channel's mid, and each media section's
    track (mid -> track name)."""

    sections: tuple[MediaSection, ...]
    data_mid: str
    tracks: dict[str, str]


def check_offer(
    sdp: Any,
    tracks: Sequence[OfferTrack],
    mapping: Any = None,
    *,
    max_bytes: int = MAX_OFFER_BYTES,
    codecs: Mapping[str, Collection[str]] = SENDABLE_CODECS,
) -> CheckedOffer:
    """Read `sdp` (the client's offer) against the model's `tracks` and the client's
    `track_mapping`; `OfferError` naming the first problem found, before anything is built."""
    if not isinstance(sdp, str):
        raise OfferError("sdp_offer must be the text of an SDP offer (starting with v=0)")
    size = len(sdp.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise OfferError(
            f"the SDP offer is {size} bytes; the limit is {max_bytes} bytes "
            f"(this model has {len(tracks)} track(s) and one data channel)"
        )
    lines = _lines(sdp)
    if not lines:
        raise OfferError("sdp_offer is empty; it must be the text of an SDP offer (v=0 ...)")
    first_number, first = lines[0]
    if first != "v=0":
        raise OfferError(
            f"an SDP offer starts with the line v=0; line {first_number} is {_q(first)}"
        )
    media_lines = [(n, text) for n, text in lines if text.startswith("m=")]
    if len(media_lines) > len(tracks) + 1:
        raise OfferError(
            f"the offer has {len(media_lines)} m-lines; this model has {_track_list(tracks)} "
            f"and one data channel, so at most {len(tracks) + 1}"
        )
    session, groups = _split(lines)
    session_attrs = _read_session(session)
    sections = [_read_section(number, group, session_attrs, codecs) for number, group in groups]
    _check_mids(sections)
    data = [s for s in sections if s.kind == "application"]
    if not data:
        raise OfferError(
            "the SDP offer has no data channel; create one labelled 'data' before the offer "
            "(commands and pings travel on it)"
        )
    if len(data) > 1:
        raise OfferError(
            f"the offer has {len(data)} data-channel sections (m=application); a client opens "
            "one data channel, labelled 'data'"
        )
    mids = {s.mid for s in sections}
    for mid in session_attrs.bundle:
        if mid not in mids:
            raise OfferError(f"a=group:BUNDLE names the mid {mid!r}, which no m-line has")
    media = [s for s in sections if s.kind != "application"]
    assigned = _assign(media, tracks, mapping)
    _parse_like_aiortc(sdp)
    return CheckedOffer(tuple(sections), data[0].mid, assigned)


# -------------------------------------------------------------------------------------------------
# Lines


def _q(text: str, limit: int = 60) -> str:
    """A piece of the offer, quoted for a one-line message."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _track_list(tracks: Sequence[OfferTrack]) -> str:
    if not tracks:
        return "no tracks"
    return f"{len(tracks)} track(s) (" + ", ".join(f"{t.name}: {t.kind}" for t in tracks) + ")"


def _lines(sdp: str) -> list[tuple[int, str]]:
    """The offer's non-blank lines with their line numbers; each `<type>=<value>`."""
    bad = _FORBIDDEN_LINE_CHARS.search(sdp)
    if bad:
        number = sdp.count("\n", 0, bad.start()) + 1
        raise OfferError(
            f"line {number} of the SDP offer holds the control character "
            f"U+{ord(bad.group()):04X}; an SDP offer is text"
        )
    out = []
    for number, line in enumerate(sdp.splitlines(), start=1):
        if not line.strip():
            continue
        if len(line) < 2 or line[1] != "=" or line[0] not in LINE_TYPES:
            raise OfferError(
                f"line {number} of the SDP offer is not an SDP line (<type>=<value>, type one "
                f"of {''.join(sorted(LINE_TYPES))}): {_q(line)}"
            )
        out.append((number, line))
    return out


def _split(lines: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], list[tuple[int, list]]]:
    """The session part and each m-line's section (numbered from 1)."""
    session: list[tuple[int, str]] = []
    groups: list[tuple[int, list[tuple[int, str]]]] = []
    for number, text in lines:
        if text.startswith("m="):
            groups.append((len(groups) + 1, [(number, text)]))
        elif groups:
            groups[-1][1].append((number, text))
        else:
            session.append((number, text))
    return session, groups


def _attr(text: str) -> tuple[str, str | None]:
    name, colon, value = text[2:].partition(":")
    return name, value if colon else None


# -------------------------------------------------------------------------------------------------
# The session part


@dataclass
class _Shared:
    """Transport attributes a section inherits from the session part when it lacks its own."""

    ufrag: str | None = None
    pwd: str | None = None
    fingerprints: tuple[tuple[str, str], ...] = ()
    setup: str | None = None
    bundle: tuple[str, ...] = ()


def _read_session(session: list[tuple[int, str]]) -> _Shared:
    seen: dict[str, int] = {}
    shared = _Shared()
    fingerprints: list[tuple[str, str]] = []
    for number, text in session:
        kind = text[0]
        if kind in "vost":
            if kind in seen and kind != "t":
                raise OfferError(f"line {number} repeats the {kind}= line of line {seen[kind]}")
            seen.setdefault(kind, number)
        if kind == "c" and not _CONNECTION.fullmatch(text[2:]):
            raise OfferError(f"line {number}: a c= line is 'IN IP4|IP6 <address>', not {_q(text)}")
        if kind != "a":
            continue
        name, value = _attr(text)
        if name in ("ice-ufrag", "ice-pwd", "setup"):
            setattr(shared, {"ice-ufrag": "ufrag", "ice-pwd": "pwd"}.get(name, name), value)
        elif name == "fingerprint":
            fingerprints.append(_fingerprint(number, value))
        elif name == "group" and value is not None:
            bits = value.split()
            if bits and bits[0] == "BUNDLE":
                shared.bundle = tuple(bits[1:])
    for kind, what in (("o", "origin"), ("s", "session name"), ("t", "timing")):
        if kind not in seen:
            raise OfferError(
                f"the SDP offer has no {kind}= line ({what}) before its first m-line; it may "
                "have been cut short or reordered"
            )
    shared.fingerprints = tuple(fingerprints)
    return shared


def _fingerprint(number: int, value: str | None) -> tuple[str, str]:
    bits = (value or "").split()
    if len(bits) != 2:
        raise OfferError(
            f"line {number}: a=fingerprint takes '<hash> <hex bytes>', e.g. 'sha-256 AB:CD:...'"
        )
    algorithm, digest = bits[0].lower(), bits[1]
    if algorithm not in FINGERPRINT_BYTES:
        raise OfferError(
            f"line {number}: a=fingerprint names an unknown hash function {_q(bits[0])}; "
            f"known: {', '.join(FINGERPRINT_BYTES)}"
        )
    pairs = digest.split(":")
    if len(pairs) != FINGERPRINT_BYTES[algorithm] or not all(_HEX_PAIR.fullmatch(p) for p in pairs):
        raise OfferError(
            f"line {number}: the {algorithm} fingerprint must be {FINGERPRINT_BYTES[algorithm]} "
            f"hex bytes separated by colons, not {_q(digest, 40)}"
        )
    return algorithm, digest


# -------------------------------------------------------------------------------------------------
# Media sections


def _read_section(
    number: int,
    group: list[tuple[int, str]],
    shared: _Shared,
    codecs: Mapping[str, Collection[str]],
) -> MediaSection:
    line_number, m_line = group[0]
    match = _MEDIA_LINE.fullmatch(m_line[2:])
    if match is None:
        raise OfferError(
            f"line {line_number}: an m-line is 'm=<media> <port> <protocol> <formats>', "
            f"not {_q(m_line)}"
        )
    kind, port, protocol = match.group(1), int(match.group(2)), match.group(3)
    formats = match.group(4).split()
    where = f"m-line {number} (line {line_number})"
    if kind not in ("audio", "video", "application"):
        raise OfferError(
            f"{where} is for {_q(kind)} media; this server streams audio and video and takes "
            "commands over one data channel (application)"
        )
    if port > 65535:
        raise OfferError(f"{where}: port {port} is not a UDP port")
    allowed = DATA_PROTOCOLS if kind == "application" else RTP_PROTOCOLS
    if protocol not in allowed:
        raise OfferError(
            f"{where} uses the protocol {_q(protocol)}; a WebRTC {kind} section uses "
            f"{' or '.join(sorted(allowed))}"
        )
    payload_types: list[int] = []
    if kind == "application":
        wanted = "webrtc-datachannel" if protocol == "UDP/DTLS/SCTP" else None
        if (wanted and formats != [wanted]) or (not wanted and not formats[0].isdigit()):
            raise OfferError(f"{where}: the data channel's format must be {wanted or 'a port'}")
    else:
        for fmt in formats:
            if not fmt.isdigit() or int(fmt) > 127 or int(fmt) in _FORBIDDEN_PAYLOAD_TYPES:
                raise OfferError(f"{where}: {_q(fmt)} is not an RTP payload type (0-127)")
            payload_types.append(int(fmt))

    mid: str | None = None
    direction: str | None = None
    rtcp_mux = False
    sctp_port = False
    ufrag, pwd, setup = shared.ufrag, shared.pwd, shared.setup
    fingerprints = list(shared.fingerprints)  # aiortc adds a section's own to these
    names: dict[int, str] = {}
    referenced: list[tuple[int, int, str]] = []
    for line, text in group[1:]:
        if text[0] == "c":
            if not _CONNECTION.fullmatch(text[2:]):
                raise OfferError(
                    f"line {line}: a c= line is 'IN IP4|IP6 <address>', not {_q(text)}"
                )
            continue
        if text[0] != "a":
            continue
        name, value = _attr(text)
        if name == "mid":
            if mid is not None:
                raise OfferError(f"line {line}: {where} has a second a=mid")
            if value is None or not _TOKEN.fullmatch(value):
                raise OfferError(
                    f"line {line}: a=mid must be a short token (letters, digits, -._~ ...; at "
                    f"most 32), not {_q(value or '')}"
                )
            mid = value
        elif name in DIRECTIONS:
            if direction is not None:
                raise OfferError(f"line {line}: {where} has two directions ({direction}, {name})")
            direction = name
        elif name == "rtcp-mux":
            rtcp_mux = True
        elif name == "ice-ufrag":
            ufrag = value
        elif name == "ice-pwd":
            pwd = value
        elif name == "setup":
            setup = value
        elif name == "fingerprint":
            fingerprints.append(_fingerprint(line, value))
        elif name == "rtpmap":
            parsed = _RTPMAP.fullmatch(value or "")
            if parsed is None:
                raise OfferError(
                    f"line {line}: a=rtpmap is '<payload type> <codec>/<clock rate>', not "
                    f"{_q(text)}"
                )
            names[int(parsed.group(1))] = parsed.group(2).lower()
        elif name in ("fmtp", "rtcp-fb"):
            target = (value or "").split(" ", 1)
            if name == "fmtp" and len(target) < 2:
                raise OfferError(f"line {line}: a=fmtp is '<payload type> <parameters>'")
            if not (target[0] == "*" and name == "rtcp-fb"):
                if not target[0].isdigit():
                    raise OfferError(f"line {line}: {_q(target[0])} is not a payload type")
                referenced.append((line, int(target[0]), name))
            if name == "fmtp":
                _check_fmtp(line, target[1])
        elif name == "candidate":
            if not _CANDIDATE.fullmatch((value or "").strip()):
                raise OfferError(
                    f"line {line}: not an ICE candidate ('<foundation> <component> <transport> "
                    f"<priority> <address> <port> typ <type> ...'): {_q(text)}"
                )
        elif name == "sctp-port":
            if value is None or not value.isdigit() or int(value) > 65535:
                raise OfferError(f"line {line}: a=sctp-port must be a port number")
            sctp_port = True
        elif name == "max-message-size":
            if value is None or not value.isdigit():
                raise OfferError(f"line {line}: a=max-message-size must be a whole number")
        elif name in ("extmap", "ssrc", "ssrc-group", "rtcp"):
            _check_numbered(line, name, value)

    if mid is None:
        raise OfferError(
            f"{where} has no a=mid; each m-line needs one (BUNDLE and the track mapping name sections by it)"
        )
    _check_transport(where, ufrag, pwd, setup, fingerprints)
    if kind == "application":
        if protocol == "UDP/DTLS/SCTP" and not sctp_port:
            raise OfferError(f"{where}: the data channel section needs a=sctp-port")
        return MediaSection(number, line_number, kind, protocol, mid, direction or "sendrecv", ())
    if not rtcp_mux:
        raise OfferError(f"{where} lacks a=rtcp-mux; WebRTC multiplexes RTP and RTCP")
    for line, pt, attribute in referenced:
        if pt not in names and pt not in STATIC_AUDIO:
            raise OfferError(
                f"line {line}: a={attribute} names payload type {pt}, which no a=rtpmap defines"
            )
    offered = tuple(names.get(pt) or STATIC_AUDIO.get(pt, "") for pt in payload_types)
    usable = set(codecs.get(kind, ()))
    if not usable & set(offered):
        listed = ", ".join(sorted({c for c in offered if c})) or "none"
        raise OfferError(
            f"{where} offers no codec this server can use (offered: {listed}; it uses "
            f"{', '.join(sorted(usable))})"
        )
    return MediaSection(number, line_number, kind, protocol, mid, direction or "sendrecv", offered)


def _check_fmtp(line: int, parameters: str) -> None:
    for parameter in parameters.split(";"):
        key, equals, value = parameter.partition("=")
        if equals and key.strip() in _FMTP_INTEGERS and not value.strip().isdigit():
            raise OfferError(f"line {line}: fmtp parameter {key.strip()} must be a whole number")


def _check_numbered(line: int, name: str, value: str | None) -> None:
    """The attributes aiortc reads numbers from: each starts with the number it expects."""
    bits = (value or "").split()
    ok = bool(bits)
    if ok and name == "extmap":
        ok = len(bits) >= 2 and bits[0].split("/")[0].isdigit()
    elif ok and name == "ssrc":
        ok = len(bits) >= 2 and bits[0].isdigit() and ":" in bits[1]
    elif ok and name == "ssrc-group":
        ok = all(b.isdigit() for b in bits[1:])
    elif ok and name == "rtcp":
        ok = bits[0].isdigit() and (len(bits) == 1 or _CONNECTION.fullmatch(" ".join(bits[1:])))
    if not ok:
        raise OfferError(f"line {line}: malformed a={name}: {_q(value or '')}")


def _check_transport(
    where: str,
    ufrag: str | None,
    pwd: str | None,
    setup: str | None,
    fingerprints: list[tuple[str, str]],
) -> None:
    """ICE credentials, DTLS role and fingerprint: without them aiortc fails later, in a
    background task, after the answer has gone out."""
    if not ufrag or not pwd:
        raise OfferError(f"{where} has no ICE credentials (a=ice-ufrag and a=ice-pwd)")
    if not (4 <= len(ufrag) <= 256 and _ICE_CHARS.fullmatch(ufrag)):
        raise OfferError(f"{where}: a=ice-ufrag must be 4-256 letters, digits, + or /")
    if not (22 <= len(pwd) <= 256 and _ICE_CHARS.fullmatch(pwd)):
        raise OfferError(f"{where}: a=ice-pwd must be 22-256 letters, digits, + or /")
    if setup not in ("actpass", "active", "passive"):
        raise OfferError(
            f"{where}: a=setup must be actpass, active or passive (the DTLS role), not "
            f"{_q(setup or 'missing')}"
        )
    if not fingerprints:
        raise OfferError(f"{where} has no a=fingerprint (the client's DTLS certificate)")
    if not any(algorithm in VERIFIABLE for algorithm, _ in fingerprints):
        used = ", ".join(sorted({a for a, _ in fingerprints}))
        raise OfferError(
            f"{where}: its fingerprint uses {used}; this server checks {', '.join(VERIFIABLE)}"
        )


def _check_mids(sections: list[MediaSection]) -> None:
    seen: dict[str, MediaSection] = {}
    for section in sections:
        if section.mid in seen:
            raise OfferError(
                f"m-lines {seen[section.mid].number} and {section.number} share the mid "
                f"{section.mid!r}; each m-line needs its own"
            )
        seen[section.mid] = section


# -------------------------------------------------------------------------------------------------
# Tracks


def _accepts(section: MediaSection, track: OfferTrack) -> bool:
    return section.kind == track.kind and section.direction in ("sendrecv", track.direction)


def _assign(
    media: list[MediaSection], tracks: Sequence[OfferTrack], mapping: Any
) -> dict[str, str]:
    """Each media section's track: the one the mapping names for its mid, else the next
    unclaimed track of its kind and direction, in the model's order."""
    by_name = {t.name: t for t in tracks}
    by_mid = {s.mid: s for s in media}
    assigned: dict[str, str] = {}
    if mapping is not None and not isinstance(mapping, list):
        raise OfferError("track_mapping must be a list of {mid, name, kind}")
    for entry in mapping or []:
        if not isinstance(entry, dict):
            raise OfferError("track_mapping entries must be objects {mid, name, kind}")
        name, mid, kind = entry.get("name"), entry.get("mid"), entry.get("kind")
        if not isinstance(name, str) or name not in by_name:
            raise OfferError(
                f"track_mapping names track {name!r}; this model has "
                f"{sorted(by_name) or 'no tracks'}"
            )
        track = by_name[name]
        if kind is not None and kind != track.kind:
            raise OfferError(f"track_mapping says {name!r} is {kind}; it is {track.kind}")
        wanted = entry.get("direction")
        # a track the client may send can be mapped recvonly/inactive: it just sends nothing
        receives_only = track.direction == "sendonly"
        if wanted is not None and not receives_only and wanted not in ("sendrecv", track.direction):
            raise OfferError(
                f"track_mapping says the client's side of {name!r} is {wanted}; it is "
                f"{track.direction}"
            )
        if not isinstance(mid, str) or mid not in by_mid:
            raise OfferError(f"track_mapping names mid {mid!r}, which the offer lacks")
        if mid in assigned:
            raise OfferError(f"track_mapping names mid {mid!r} twice")
        if name in assigned.values():
            raise OfferError(f"track_mapping names track {name!r} twice")
        section = by_mid[mid]
        if section.kind != track.kind:
            raise OfferError(f"mid {mid!r} is a {section.kind} section; {name!r} is {track.kind}")
        if not receives_only and not _accepts(section, track):
            raise OfferError(
                f"{section.describe()} is {section.direction}; for {name!r} the client's side "
                f"must be {track.direction} or sendrecv"
            )
        assigned[mid] = name
    free = [t for t in tracks if t.name not in assigned.values()]
    for section in media:
        if section.mid in assigned:
            continue
        track = next((t for t in free if _accepts(section, t)), None)
        if track is None:
            raise OfferError(
                f"{section.describe()}, {section.direction}, matches no track of this model "
                f"(it has {_track_list(tracks)}, each carried by one m-line)"
            )
        free.remove(track)
        assigned[section.mid] = track.name
    return assigned


def _parse_like_aiortc(sdp: str) -> None:
    """The last gate: aiortc's own reading of the text (no transceiver, no socket), so that
    nothing it reads with `int()` or `assert` can fail once it builds the peer."""
    from aiortc.sdp import SessionDescription

    try:
        SessionDescription.parse(sdp)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise OfferError(
            f"the SDP offer cannot be read: {text[0] if text else type(exc).__name__}"
        ) from None
