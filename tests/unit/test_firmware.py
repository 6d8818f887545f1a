"""A hardware family's stable firmware record: what versions and image locations it accepts."""

from __future__ import annotations

import pytest

from cloudbay_domain.firmware import HardwareFamily, InvalidFirmware, check_family
from cloudbay_domain.text import InvalidText

GOOD_URL = "https://firmware.example.com/home-22kw/2.4.1.bin"


def test_setting_the_stable_firmware_records_who_and_what() -> None:
    family = HardwareFamily("home-22kw")
    family.set_stable("2.4.1", GOOD_URL, "operator@example.com")
    family.set_stable("2.4.2", "http://10.0.0.5:8080/fw/2.4.2.bin", "operator@example.com")
    assert (family.stable_version, family.stable_location) == ("2.4.2", "http://10.0.0.5:8080/fw/2.4.2.bin")
    assert family.set_by == "operator@example.com" and family.signature is None
    assert HardwareFamily.create_id("home-22kw") == family.id != HardwareFamily.create_id("pro")


@pytest.mark.parametrize(
    "version, location, error",
    [
        ("", GOOD_URL, InvalidFirmware),
        ("  ", GOOD_URL, InvalidFirmware),
        ("v" * 51, GOOD_URL, InvalidFirmware),
        ("2.4\x001", GOOD_URL, InvalidText),
        ("2.4.1\x85", GOOD_URL, InvalidText),
        ("2.4.1", "ftp://firmware.example.com/a.bin", InvalidFirmware),
        ("2.4.1", "javascript:alert(1)", InvalidFirmware),
        ("2.4.1", "https:///no-host", InvalidFirmware),
        ("2.4.1", "https://example.com/a b.bin", InvalidFirmware),
        ("2.4.1", "https://example.com/\n", InvalidText),
        ("2.4.1", "https://example.com/" + "a" * 2000, InvalidFirmware),
    ],
)
def test_bad_versions_and_locations_are_refused_and_nothing_changes(
    version: str, location: str, error: type[Exception]
) -> None:
    family = HardwareFamily("home-22kw")
    with pytest.raises(error):
        family.set_stable(version, location, "operator@example.com")
    assert family.stable_version is None and family.version == 1


@pytest.mark.parametrize("family", ["", "f" * 65, "home\x0722kw"])
def test_a_family_is_named_as_in_production_batches(family: str) -> None:
    with pytest.raises(InvalidFirmware):
        check_family(family)
    assert check_family("home-22kw") == "home-22kw"
