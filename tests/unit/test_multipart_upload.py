"""The streaming multipart reader: whatever the chunks the body arrives in, the file part comes out whole and
the fields as sent; a malformed body or an oversized field is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.http.multipart_upload import MAX_FIELD, read_multipart
from adapters.http.problems import Problem

BOUNDARY = b"----cloudbay7f3a"


def body(fields: dict[str, str], image: bytes) -> bytes:
    parts = [
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + k.encode() + b'"\r\n\r\n' + v.encode()
        for k, v in fields.items()
    ]
    parts.append(b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; filename="fw.bin"; name="image"\r\n'
                 b"Content-Type: application/octet-stream\r\n\r\n" + image)  # fmt: skip
    return b"\r\n".join(parts) + b"\r\n--" + BOUNDARY + b"--\r\n"


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(data: bytes, size: int) -> tuple[dict[str, str], bytes]:
    out = bytearray()
    fields = asyncio.run(read_multipart(chunked(data, size), BOUNDARY, "image", out.extend))
    return fields, bytes(out)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.integers(1, 200), st.text(max_size=40))
def test_any_chunking_gives_the_file_whole_and_the_fields(image: bytes, size: int, notes: str) -> None:
    image = image.replace(b"\r\n--" + BOUNDARY, b"")  # a part never holds its own delimiter
    fields, out = read(body({"family": "home-22kw", "release_notes": notes}, image + b"\r\n--" + BOUNDARY[:5]), size)
    assert out == image + b"\r\n--" + BOUNDARY[:5]
    assert fields == {"family": "home-22kw", "release_notes": notes}


@pytest.mark.parametrize(
    "data",
    [
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="image"\r\n\r\nabc',  # no end
        b"--" + BOUNDARY + b"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--" + BOUNDARY + b"--",  # no name
        b"no boundary at all",
    ],
)
def test_malformed_bodies_are_refused(data: bytes) -> None:
    with pytest.raises(Problem) as refused:
        read(data, 7)
    assert refused.value.status == 400


def test_an_oversized_field_is_refused() -> None:
    with pytest.raises(Problem) as refused:
        read(body({"release_notes": "x" * (MAX_FIELD + 1)}, b"image"), 1000)
    assert refused.value.status == 413
