"""A streaming reader of ``multipart/form-data`` uploads: the file part goes to a sink chunk by chunk as it
arrives (never held whole), the other parts are small text fields (at most ``MAX_FIELD`` bytes each).

Only what an image upload needs: parts named by ``Content-Disposition: form-data; name="..."``, one of them
the file (``file_field``); no nested multipart, no transfer encodings of parts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

from adapters.http.problems import Problem

MAX_FIELD = 16 * 1024
MAX_HEADERS = 8 * 1024
MAX_FIELDS = 16
BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)
NAME = re.compile(rb'(?:^|[;\s])name="([^"]{1,100})"', re.IGNORECASE)


def boundary_of(content_type: str) -> bytes:
    match = BOUNDARY.search(content_type)
    if match is None:
        raise Problem(400, "Bad Request", "a multipart body names its boundary")
    return match.group(1).encode("latin-1")


def malformed(why: str) -> Problem:
    return Problem(400, "Bad Request", f"the multipart body is malformed: {why}")


async def read_multipart(
    stream: AsyncIterator[bytes], boundary: bytes, file_field: str, write: Callable[[bytes], None]
) -> dict[str, str]:
    """Read the body: the ``file_field`` part's bytes to ``write``, the other fields returned by name."""
    delimiter = b"\r\n--" + boundary
    buffer, fields = bytearray(b"\r\n"), dict[str, str]()
    name: str | None = None  # the part being read (None: before the first)
    field = bytearray()
    chunks = stream.__aiter__()

    async def more() -> bool:
        try:
            buffer.extend(await chunks.__anext__())
        except StopAsyncIteration:
            return False
        return True

    def emit(data: bytes) -> None:
        if name == file_field:
            write(data)
        elif name is not None:
            if len(field) + len(data) > MAX_FIELD:
                raise Problem(413, "Content Too Large", f"a form field has at most {MAX_FIELD} bytes")
            field.extend(data)

    while True:
        at = buffer.find(delimiter)
        if at < 0:
            keep = len(delimiter) - 1
            if len(buffer) > keep:
                emit(bytes(buffer[: len(buffer) - keep]))
                del buffer[: len(buffer) - keep]
            if not await more():
                raise malformed("it ends inside a part")
            continue
        emit(bytes(buffer[:at]))
        if name is not None and name != file_field:
            fields[name] = field.decode("utf-8", "replace")
        del buffer[: at + len(delimiter)]
        while len(buffer) < 2:
            if not await more():
                raise malformed("it ends after a boundary")
        if buffer[:2] == b"--":
            return fields
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > MAX_HEADERS or not await more():
                raise malformed("a part's headers do not end")
        end = buffer.index(b"\r\n\r\n")
        found = NAME.search(bytes(buffer[:end]))
        if found is None or len(fields) >= MAX_FIELDS:
            raise malformed("a part without a name, or too many parts")
        name, field = found.group(1).decode("utf-8", "replace"), bytearray()
        del buffer[: end + 4]
