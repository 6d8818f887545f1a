"""``cloudbay signing-key``: create (or show) the deployment's token-signing key, explicitly.

The key is a file at ``CLOUDBAY_SIGNING_KEY`` (default ``$CLOUDBAY_DATA_DIR/signing-key.pem``) that every node
and every CLI of one deployment must read: `cloudbay serve` creates it on its first start, and this command
creates it ahead of that (for a CLI that issues tokens before any server ran). `cloudbay token` never creates one:
a key minted by a CLI run from the wrong directory would sign tokens that the servers reject.
"""

from __future__ import annotations

import typer

from adapters.auth import SigningKey
from adapters.settings import Settings


def signing_key() -> None:
    """Create the deployment's token-signing key if it has none; print its path and key id."""
    path = Settings.from_env().signing_key_path
    existed = path.exists()
    key = SigningKey.load_or_create(path)
    typer.echo(f"{'found' if existed else 'created'} {path.resolve()} (kid {key.kid})")
