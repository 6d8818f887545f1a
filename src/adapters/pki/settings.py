"""Where the certificate authority's files are, and how its private keys are unlocked.

- ``CLOUDBAY_CA_DIR``: the CA's directory (default ``$CLOUDBAY_DATA_DIR/ca``, mode 0700, every file 0600).
- ``CLOUDBAY_CA_PASSPHRASE``: the passphrase the root and issuing keys are encrypted with; else
- ``CLOUDBAY_CA_PASSPHRASE_FILE``: a file holding it (default ``<CA dir>/passphrase``, which ``cloudbay ca init``
  creates with a random passphrase when neither is set).
- ``CLOUDBAY_CA_ORGANISATION``: the O every charger's CSR must name, and the CAs' own O (default CloudBay).
- ``CLOUDBAY_CA_LEAF_DAYS``: how long a charger's certificate is valid (default 365 days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ORGANISATION = "CloudBay"
DEFAULT_LEAF_DAYS = 365


class CaSettingsError(ValueError):
    pass


@dataclass(frozen=True)
class CaSettings:
    directory: Path = Path("var/ca")
    passphrase: str | None = field(default=None, repr=False)
    passphrase_file: Path | None = None
    organisation: str = DEFAULT_ORGANISATION
    leaf_days: int = DEFAULT_LEAF_DAYS

    @property
    def passphrase_path(self) -> Path:
        return self.passphrase_file or self.directory / "passphrase"

    @classmethod
    def from_env(cls, env: dict[str, str], data_dir: Path) -> CaSettings:
        raw_days = env.get("CLOUDBAY_CA_LEAF_DAYS") or str(DEFAULT_LEAF_DAYS)
        try:
            days = int(raw_days)
        except ValueError:
            raise CaSettingsError(f"CLOUDBAY_CA_LEAF_DAYS must be a whole number, not {raw_days!r}") from None
        if not 1 <= days <= 3650:
            raise CaSettingsError("CLOUDBAY_CA_LEAF_DAYS must be between 1 and 3650")
        organisation = env.get("CLOUDBAY_CA_ORGANISATION") or DEFAULT_ORGANISATION
        passphrase_file = env.get("CLOUDBAY_CA_PASSPHRASE_FILE")
        return cls(
            directory=Path(env["CLOUDBAY_CA_DIR"]) if env.get("CLOUDBAY_CA_DIR") else data_dir / "ca",
            passphrase=env.get("CLOUDBAY_CA_PASSPHRASE") or None,
            passphrase_file=Path(passphrase_file) if passphrase_file else None,
            organisation=organisation,
            leaf_days=days,
        )
