"""File uploads from the client: the two HTTP routes, one in-memory store per session, and
resolving the references commands carry into `UploadedFile`s.

The flow is Reactor's (its JS client's `uploadFile()` does it): `POST /sessions/{id}/uploads`
reserves a slot (`name`, `mime_type`, `size`) and answers where to `PUT` the bytes (this same
server); the client then sends a runtime `fileUploaded` message and a command whose `uploads`
section names the slot by `upload_id`, keyed by the parameter it fills. A command that arrives
before its bytes waits for them (`UploadLimits.wait`). Bytes live in memory for the session
only: the store is dropped when the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from reactor._inputs import UploadedFile
from reactor._protocol import Command, CommandError

MIB = 1024 * 1024
UPLOAD_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MIME_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
CHUNK = 256 * 1024


@dataclass(frozen=True)
class UploadLimits:
    """What a session may upload (`reactor run --max-upload-mb/--max-uploads/--upload-type`)."""

    max_bytes: int = 100 * MIB
    """Largest single file."""
    max_files: int = 16
    """Files one session may reserve."""
    max_session_bytes: int = 256 * MIB
    """All of one session's files together."""
    types: tuple[str, ...] = ()
    """Accepted content types, wildcards allowed (`image/*`); empty accepts any."""
    wait: float = 10.0
    """Seconds a command or `fileUploaded` naming an upload waits for its bytes."""

    def accepts(self, mime_type: str) -> bool:
        """Whether `mime_type` (parameters ignored) matches one of `types`."""
        bare = mime_type.split(";", 1)[0].strip().lower()
        return not self.types or any(fnmatch.fnmatchcase(bare, t.lower()) for t in self.types)


class UploadRefused(Exception):
    """A refused upload request: the HTTP status, an error code and a one-line reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class _Slot:
    upload_id: str
    name: str
    mime_type: str
    size: int
    data: bytes | None = None
    filled: asyncio.Event = field(default_factory=asyncio.Event)


class UploadStore:
    """One session's uploads, in memory: reserved slots and the bytes written to them."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self._slots: dict[str, _Slot] = {}
        self._cleared = False

    @property
    def reserved_bytes(self) -> int:
        """Bytes promised by every slot of the session."""
        return sum(s.size for s in self._slots.values())

    def create(self, name: str, mime_type: str, size: int, upload_id: str | None = None) -> str:
        """Reserve a slot; its upload id (minted unless the client chose one)."""
        limits = self.limits
        if not limits.accepts(mime_type):
            raise UploadRefused(
                415,
                "unsupported_type",
                f"{mime_type!r} is not accepted here; this server takes {', '.join(limits.types)} "
                "(reactor run --upload-type)",
            )
        if size > limits.max_bytes:
            raise UploadRefused(
                413,
                "file_too_large",
                f"{name!r} is {size} bytes; the limit is {limits.max_bytes} bytes per file "
                "(reactor run --max-upload-mb)",
            )
        if len(self._slots) >= limits.max_files:
            raise UploadRefused(
                429,
                "too_many_uploads",
                f"this session already has {len(self._slots)} uploads, the most it may have "
                "(reactor run --max-uploads)",
            )
        if self.reserved_bytes + size > limits.max_session_bytes:
            raise UploadRefused(
                413,
                "session_upload_limit",
                f"{name!r} would bring this session's uploads to {self.reserved_bytes + size} "
                f"bytes; a session may upload {limits.max_session_bytes} bytes in all",
            )
        if upload_id is None:
            upload_id = uuid.uuid4().hex
        elif upload_id in self._slots:
            raise UploadRefused(409, "upload_id_taken", f"upload id {upload_id!r} is taken")
        self._slots[upload_id] = _Slot(upload_id, name, mime_type, size)
        return upload_id

    def expected_size(self, upload_id: str) -> int:
        """The byte count a write to this slot must have."""
        slot = self._slots.get(upload_id)
        if slot is None:
            raise UploadRefused(404, "unknown_upload", f"no upload {upload_id!r} in this session")
        if slot.data is not None:
            raise UploadRefused(
                409, "upload_complete", f"upload {upload_id!r} already has its bytes"
            )
        return slot.size

    def put(self, upload_id: str, data: bytes) -> None:
        """Store a slot's bytes (exactly its size) and wake whoever waits for them."""
        expected = self.expected_size(upload_id)
        if len(data) != expected:
            raise UploadRefused(400, "size_mismatch", f"expected {expected} bytes, got {len(data)}")
        slot = self._slots[upload_id]
        slot.data = data
        slot.filled.set()

    async def fetch(self, upload_id: str, wait: float) -> UploadedFile:
        """The upload as the model gets it, waiting up to `wait` s for bytes still on their way;
        UploadRefused (404) naming what is missing."""
        slot = self._slots.get(upload_id)
        if slot is None:
            raise UploadRefused(
                404,
                "unknown_upload",
                f"no upload {upload_id!r} in this session; reserve it with "
                "POST /sessions/{id}/uploads first",
            )
        if slot.data is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slot.filled.wait(), wait)
        if self._cleared:
            raise UploadRefused(410, "session_ended", "the session ended")
        if slot.data is None:
            raise UploadRefused(
                404,
                "upload_incomplete",
                f"the bytes of upload {upload_id!r} ({slot.name}) did not arrive within "
                f"{wait:g} s of the command; PUT them to its presigned_url first",
            )
        return UploadedFile(slot.name, slot.mime_type, slot.data)

    def clear(self) -> None:
        """Drop every slot and its bytes (the session ended); waiting fetches give up now."""
        self._cleared = True
        slots, self._slots = self._slots, {}
        for slot in slots.values():
            slot.data = None
            slot.filled.set()


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def upload_fields(model_cls: type | None, command: str) -> frozenset[str]:
    """The parameters of `command` that take an `UploadedFile` (a `set_<field>` of an upload
    field, or an `@event`'s file parameters)."""
    if model_cls is None:
        return frozenset()
    if command.startswith("set_"):
        state_cls = model_cls.state_class()  # type: ignore[attr-defined]
        found = state_cls._fields.get(command[4:]) if state_cls is not None else None
        if found is not None and not found.private and found.kind == "upload":
            return frozenset({found.name})
        return frozenset()
    spec = model_cls.events().get(command)  # type: ignore[attr-defined]
    if spec is None:
        return frozenset()
    return frozenset(p.name for p in spec.params if p.kind == "upload")


Finder = Callable[[web.Request], Any]
"""The server's session lookup: the request's session, or the error response to send."""


class Uploads:
    """The server's upload side: the routes, a store per live session, and resolving the
    references in commands and `fileUploaded` messages."""

    def __init__(self, limits: UploadLimits, find_session: Finder) -> None:
        self.limits = limits
        self._find = find_session
        self._stores: dict[str, UploadStore] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sessions/{session_id}/uploads", self._reserve)
        app.router.add_put("/sessions/{session_id}/uploads/{upload_id}", self._write)

    def store(self, session_id: str) -> UploadStore:
        """The session's store (made on first use)."""
        found = self._stores.get(session_id)
        if found is None:
            found = self._stores[session_id] = UploadStore(self.limits)
        return found

    def drop(self, session_id: str) -> None:
        """The session ended: forget its uploads and their bytes."""
        found = self._stores.pop(session_id, None)
        if found is not None:
            found.clear()

    # -- HTTP ---------------------------------------------------------------------------------

    async def _reserve(self, request: web.Request) -> web.Response:
        """`{name, mime_type, size[, upload_id]}` → 201 `{presigned_id, presigned_url, path}`."""
        session = self._find(request)
        if isinstance(session, web.Response):
            return session
        try:
            body = await request.json()
        except Exception:
            return _error(400, "bad_json", "the body must be JSON {name, mime_type, size}")
        problem = _check_reservation(body)
        if problem is not None:
            return _error(400, "bad_request", problem)
        try:
            upload_id = self.store(session.id).create(
                body["name"], body["mime_type"], body["size"], body.get("upload_id")
            )
        except UploadRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        host = request.headers.get("X-Forwarded-Host") or request.host
        scheme = request.headers.get("X-Forwarded-Proto") or request.scheme
        return web.json_response(
            {
                "presigned_id": upload_id,
                "presigned_url": f"{scheme}://{host}/sessions/{session.id}/uploads/{upload_id}",
                "path": f"sessions/{session.id}/uploads/{upload_id}/{body['name']}",
            },
            status=201,
        )

    async def _write(self, request: web.Request) -> web.Response:
        """The raw bytes of a reserved slot → 200, empty. The length is checked before reading
        (Content-Length) and while reading (a body longer than promised stops there)."""
        session = self._find(request)
        if isinstance(session, web.Response):
            return session
        store = self.store(session.id)
        upload_id = request.match_info["upload_id"]
        try:
            expected = store.expected_size(upload_id)
        except UploadRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        declared = request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) != expected:
            return _error(400, "size_mismatch", f"expected {expected} bytes, got {declared}")
        body = bytearray()
        async for chunk in request.content.iter_chunked(CHUNK):
            body.extend(chunk)
            if len(body) > expected:
                return _error(400, "size_mismatch", f"expected {expected} bytes, got more")
        try:
            store.put(upload_id, bytes(body))
        except UploadRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        return web.Response(status=200)

    # -- the data channel ---------------------------------------------------------------------

    async def command_data(
        self, session_id: str, command: Command, model_cls: type | None
    ) -> dict[str, Any] | CommandError:
        """The command's arguments with each upload it names (in `uploads`, or inline as
        `{"upload_id": ...}` under a file parameter) replaced by its `UploadedFile`."""
        fields = upload_fields(model_cls, command.name)
        data = dict(command.data)
        references: dict[str, str] = {}
        for key, ref in command.uploads.items():
            if key not in fields:
                where = f"its file fields are {sorted(fields)}" if fields else "it takes no file"
                return CommandError(
                    command.name, key, f"uploads names {key!r}, which is not a file field; {where}"
                )
            references[key] = ref["upload_id"]
        for key in fields & data.keys():
            inline = data[key]
            if isinstance(inline, dict) and isinstance(inline.get("upload_id"), str):
                references.setdefault(key, inline["upload_id"])
        for key, upload_id in references.items():
            try:
                data[key] = await self.store(session_id).fetch(upload_id, self.limits.wait)
            except UploadRefused as refused:
                return CommandError(command.name, key, refused.message, upload_id)
        return data

    async def announced(self, session_id: str, data: dict[str, Any]) -> UploadedFile | CommandError:
        """A runtime `fileUploaded` message `{upload_id, ...}`: the file it announces."""
        upload_id = data.get("upload_id")
        if not isinstance(upload_id, str) or not upload_id:
            return CommandError(
                "fileUploaded", "upload_id", "expected the upload_id the upload route returned"
            )
        try:
            return await self.store(session_id).fetch(upload_id, self.limits.wait)
        except UploadRefused as refused:
            return CommandError("fileUploaded", "upload_id", refused.message, upload_id)


def _check_reservation(body: Any) -> str | None:
    """What is wrong with a slot request, in one line; None when it is well formed."""
    if not isinstance(body, dict):
        return "the body must be a JSON object {name, mime_type, size}"
    name, mime, size = body.get("name"), body.get("mime_type"), body.get("size")
    if not isinstance(name, str) or not name.strip():
        return "name must be the file's name (a non-empty string)"
    if len(name) > 255 or any(c in name for c in "/\\\0"):
        return "name must be a plain file name of at most 255 characters (no / or \\)"
    if not isinstance(mime, str) or not MIME_TYPE.match(mime.split(";", 1)[0].strip()):
        return "mime_type must be a content type such as image/png"
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        return "size must be the file's length in bytes (a positive integer)"
    upload_id = body.get("upload_id")
    if upload_id is not None and (not isinstance(upload_id, str) or not UPLOAD_ID.match(upload_id)):
        return "upload_id, when given, must be 1-128 letters, digits, '.', '_' or '-'"
    return None
