"""Versions as the minimum-version rule orders them, and what an image record accepts."""

from __future__ import annotations

import pytest

from cloudbay_domain.firmware import InvalidFirmware
from cloudbay_domain.firmware_image import FirmwareImage, below_minimum, version_key


@pytest.mark.parametrize(
    "older, newer",
    [("1.9.2", "1.10.0"), ("1.0", "1.0.1"), ("2.4.1", "10.0.0"), ("1.0.0-beta", "1.0.0-rc"), ("v1", "v2")],
)
def test_versions_are_ordered_by_their_numbers(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)
    assert below_minimum(older, newer) and not below_minimum(newer, older)


def test_no_minimum_or_an_unknown_version_is_never_below() -> None:
    assert not below_minimum("0.1", None) and not below_minimum(None, "2.0") and not below_minimum("2.0", "2.0")


@pytest.mark.parametrize(
    "sha256, size, notes",
    [("A" * 64, 10, ""), ("ab" * 31, 10, ""), ("ab" * 32, 0, ""), ("ab" * 32, 10, "n" * 10_001)],
)
def test_an_image_record_refuses_a_bad_hash_an_empty_image_and_long_notes(sha256: str, size: int, notes: str) -> None:
    with pytest.raises(InvalidFirmware):
        FirmwareImage.upload("home-22kw", "2.0.0", sha256, size, None, notes, "sig", "cert", "platform", "op")
    image = FirmwareImage.upload("home-22kw", "2.0.0", "ab" * 32, 10, "1.0", "", "sig", "cert", "platform", "op")
    assert image.id == FirmwareImage.create_id("home-22kw", "2.0.0") and image.firmware_version == "2.0.0"
