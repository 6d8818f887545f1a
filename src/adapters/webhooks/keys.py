"""The webhook master key: 32 random bytes in ``CLOUDBAY_DATA_DIR/webhook-key`` (mode 0600), created once.

Every subscription's signing secret is derived from it (``cloudbay_domain.webhook.derive_secret``), so it
must be the same file for every process that serves or delivers (like ``signing-key.pem``); losing it changes
every secret.
"""

from __future__ import annotations

import os
import secrets
import uuid
from contextlib import suppress
from pathlib import Path
from uuid import UUID

from cloudbay_domain.webhook import derive_secret

KEY_BYTES = 32


def key_path(data_dir: Path) -> Path:
    return data_dir / "webhook-key"


class WebhookKey:
    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the webhook master key must be at least {KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def load_or_create(cls, path: Path) -> WebhookKey:
        """Load the key at ``path``, creating it if missing (atomically: two processes agree on one key)."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(secrets.token_bytes(KEY_BYTES))
            with suppress(FileExistsError):  # lost a creation race: use the winner's key
                os.link(tmp, path)
            tmp.unlink()
        return cls(path.read_bytes())

    def secret_for(self, subscription_id: UUID | str) -> str:
        return derive_secret(self._key, UUID(str(subscription_id)))
