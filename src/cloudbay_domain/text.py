"""What text the platform accepts, decided once: no control characters in identifiers and labels.

Identifiers (station ids, transaction ids, id tokens, e-mails) and labels (names, models, families, card
labels) never hold a C0 or C1 control character (U+0000-U+001F, U+007F-U+009F): OCPP's identifier strings
are printable, PostgreSQL text refuses NUL, and a control character in a name is a mistake or an attack.
Free text a charger may send (vendor data kept as JSON) is stored as JSON text, whose escapes keep every
control character out of the stored string (see :func:`storable_json_text`).
"""

from __future__ import annotations

import json
import re
from typing import Any

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class InvalidText(ValueError):
    """A value holds characters the platform does not accept there."""


def has_control_characters(value: str) -> bool:
    return CONTROL.search(value) is not None


def check_text(value: str, what: str = "text") -> str:
    """``value`` unchanged, or :class:`InvalidText` when it holds a control character."""
    if has_control_characters(value):
        raise InvalidText(f"{what} must not contain control characters")
    return value


def clean_text(value: str) -> str:
    """``value`` with every control character replaced by U+FFFD: for text a charger sent that must be kept."""
    return CONTROL.sub("\ufffd", value)


def storable_json_text(value: Any) -> str:
    """``value`` as JSON text every store accepts: ASCII-escaped, so NUL is ``\\u0000``, never a NUL byte."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
