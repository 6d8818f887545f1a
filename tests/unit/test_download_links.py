"""Download links and byte ranges: a link is good for its image until it expires, and never after or for
another; every satisfiable range is served exactly, every other one refused or served whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.http.firmware_download import byte_range
from adapters.http.problems import Problem
from services.download_links import DownloadLinks

SHA = "ab" * 32


def links(now: float) -> DownloadLinks:
    return DownloadLinks(lambda: b"secret", "https://csms.example.com/", 600, clock=lambda: now)


def parts(url: str) -> tuple[str, str, str]:
    path, query = url.split("?")
    expires, sig = (p.split("=")[1] for p in query.split("&"))
    return path.rsplit("/", 1)[1], expires, sig


def test_a_link_is_good_for_its_image_until_it_expires() -> None:
    url = links(1_000).url(SHA)
    assert url.startswith("https://csms.example.com/firmware/" + SHA + "?expires=1600&sig=")
    sha, expires, sig = parts(url)
    assert links(1_600).valid(sha, expires, sig) and not links(1_601).valid(sha, expires, sig)
    assert not links(1_000).valid("cd" * 32, expires, sig)  # another image
    assert not links(1_000).valid(sha, "1700", sig)  # a later expiry, same signature
    assert not links(1_000).valid(sha, expires, sig[:-1] + ("0" if sig[-1] != "0" else "1"))
    assert not links(1_000).valid(sha, expires, "é" * 64)  # not hexadecimal: refused, not an error
    assert not links(1_000).valid(sha, None, sig) and not links(1_000).valid(sha, expires, None)
    other = DownloadLinks(lambda: b"another", "https://csms.example.com", 600, clock=lambda: 1_000)
    assert not other.valid(sha, expires, sig)  # another deployment's secret


@given(st.integers(1, 10_000), st.integers(0, 12_000), st.integers(0, 12_000))
def test_a_range_is_served_exactly_or_refused(size: int, first: int, last: int) -> None:
    header = f"bytes={first}-{last}"
    if first >= size or last < first:
        with pytest.raises(Problem) as refused:
            byte_range(header, size)
        assert refused.value.status == 416
    else:
        assert byte_range(header, size) == (first, min(last, size - 1))


@pytest.mark.parametrize(
    "header, expected",
    [(None, None), ("bytes=10-", (10, 99)), ("bytes=-10", (90, 99)), ("bytes=-1000", (0, 99)),
     ("bytes=0-1,5-6", None), ("items=0-1", None), ("bytes=-", None), ("bytes=abc", None)],
)  # fmt: skip
def test_suffixes_open_ends_and_ranges_served_whole(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected
