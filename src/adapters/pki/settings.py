"""Where the certificate authority's files are, and how its private keys are unlocked.

- ``CLOUDBAY_CA_DIR``: the CA's directory (default ``$CLOUDBAY_DATA_DIR/ca``, mode 0700, every file 0600).
- ``CLOUDBAY_CA_PASSPHRASE``: the passphrase the root and issuing keys are encrypted with; else
- ``CLOUDBAY_CA_PASSPHRASE_FILE``: a file holding it (default ``<CA dir>/passphrase``, which ``cloudbay ca init``
  creates with a random passphrase when neither is set).
- ``CLOUDBAY_CA_ORGANISATION``: the O every charger's CSR must name, and the CAs' own O (default CloudBay).
- ``CLOUDBAY_CA_LEAF_DAYS``: how long a charger's certificate is valid (default 365 days).
- ``CLOUDBAY_CA_RENEW_DAYS``: a charger whose certificate expires within this many days is asked to renew it
  when it boots (default 30).
- ``CLOUDBAY_CA_GUEST_HOURS``: how long a guest's certificate for a charger is valid (default 24 hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ORGANISATION = "CloudBay"
DEFAULT_LEAF_DAYS = 365
DEFAULT_RENEW_DAYS = 30
DEFAULT_GUEST_HOURS = 24


class CaSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class CaSettings:
    directory: Path = Path("var/ca")
    passphrase: str | None = field(default=None, repr=False)
    passphrase_file: Path | None = None
    organisation: str = DEFAULT_ORGANISATION
    leaf_days: int = DEFAULT_LEAF_DAYS
    renew_days: int = DEFAULT_RENEW_DAYS
    guest_hours: int = DEFAULT_GUEST_HOURS

    @property
    def passphrase_path(self) -> Path:
        return self.passphrase_file or self.directory / "passphrase"

    @classmethod
    def from_env(cls, env: dict[str, str], data_dir: Path) -> CaSettings:
        days = _days(env, "CLOUDBAY_CA_LEAF_DAYS", DEFAULT_LEAF_DAYS, 1)
        renew_days = _days(env, "CLOUDBAY_CA_RENEW_DAYS", DEFAULT_RENEW_DAYS, 0)
        guest_hours = _days(env, "CLOUDBAY_CA_GUEST_HOURS", DEFAULT_GUEST_HOURS, 1)
        organisation = env.get("CLOUDBAY_CA_ORGANISATION") or DEFAULT_ORGANISATION
        passphrase_file = env.get("CLOUDBAY_CA_PASSPHRASE_FILE")
        return cls(
            directory=Path(env["CLOUDBAY_CA_DIR"]) if env.get("CLOUDBAY_CA_DIR") else data_dir / "ca",
            passphrase=env.get("CLOUDBAY_CA_PASSPHRASE") or None,
            passphrase_file=Path(passphrase_file) if passphrase_file else None,
            organisation=organisation,
            leaf_days=days,
            renew_days=renew_days,
            guest_hours=guest_hours,
        )


def _days(env: dict[str, str], name: str, default: int, least: int) -> int:
    raw = env.get(name) or str(default)
    try:
        days = int(raw)
    except ValueError:
        raise CaSettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if not least <= days <= 3650:
        raise CaSettingsError(f"{name} must be between {least} and 3650")
    return days
