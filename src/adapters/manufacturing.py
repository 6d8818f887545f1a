"""The manufacturing keys (outside the event store) and the slow hash of the codes.

The key file (``CLOUDBAY_MANUFACTURING_KEY``, default ``$CLOUDBAY_DATA_DIR/manufacturing-key``, mode 0600)
holds one key a line, ``<key id> <64 hex digits>``, oldest first; the last line is the current key, which new
batches are made with. Rotating appends a key: the older ones stay, so labels of earlier batches can be printed
again (each device records the key id its codes derive from). The file is read at each use, so a rotation by
the CLI is seen by running servers at once. Every node and CLI of a deployment must find the same file.

Codes are hashed with argon2id (``argon2-cffi``) at a modest cost: they are random strings of 80 and 100
bits, out of reach of guessing whatever the hash costs, so the hash only has to make a stolen event log
useless, not to slow down guessing a weak password (docs/manufacturing.md has the figures).
"""

from __future__ import annotations

import os
import re
import secrets
import uuid
from contextlib import suppress
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

KEY_BYTES = 32
ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM = 1, 256, 1
_LINE = re.compile(r"^(k[0-9]+) ([0-9a-f]{64})$")


class ManufacturingKeyError(Exception):
    """The key file is missing a key, or is malformed."""


def write_private_file(path: Path, text: str, replace: bool) -> None:
    """Write ``text`` to ``path`` (mode 0600) whole: a new file, or (``replace``) one replacing the old."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write(text)
    if replace:
        os.replace(tmp, path)
        return
    with suppress(FileExistsError):  # another process created it first: theirs is the key
        os.link(tmp, path)
    tmp.unlink()


class ManufacturingKeys:
    """The key file: ``current()`` for new batches, ``key(id)`` for every key ever used."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def load_or_create(cls, path: Path) -> ManufacturingKeys:
        if not path.exists():
            write_private_file(path, f"k1 {secrets.token_hex(KEY_BYTES)}\n", replace=False)
        keys = cls(path)
        keys.read()  # a malformed file is an error at start, not at the first import
        return keys

    def read(self) -> dict[str, bytes]:
        try:
            lines = self.path.read_text(encoding="ascii").split()
        except (OSError, UnicodeDecodeError) as e:
            raise ManufacturingKeyError(f"cannot read the manufacturing key file {self.path}: {e}") from None
        keys = {}
        for key_id, hex_key in zip(lines[::2], lines[1::2], strict=False):
            if not _LINE.match(f"{key_id} {hex_key}"):
                raise ManufacturingKeyError(f"{self.path}: each line must be '<key id> <64 hex digits>'")
            keys[key_id] = bytes.fromhex(hex_key)
        if not keys or len(lines) % 2:
            raise ManufacturingKeyError(f"{self.path} holds no manufacturing key")
        return keys

    def current(self) -> tuple[str, bytes]:
        key_id, key = list(self.read().items())[-1]
        return key_id, key

    def key(self, key_id: str) -> bytes:
        keys = self.read()
        if key_id not in keys:
            raise ManufacturingKeyError(
                f"the manufacturing key {key_id} is not in {self.path}: restore it to print these labels again"
            )
        return keys[key_id]

    def ids(self) -> list[str]:
        return list(self.read())

    def rotate(self) -> str:
        """Append a new key, the current one from now on; returns its id."""
        keys = self.read()
        key_id = f"k{max(int(k[1:]) for k in keys) + 1}"
        text = "".join(f"{k} {v.hex()}\n" for k, v in keys.items()) + f"{key_id} {secrets.token_hex(KEY_BYTES)}\n"
        write_private_file(self.path, text, replace=True)
        return key_id


class CodeHashes:
    """argon2id hashes of codes (salted; the parameters are in each hash, so they may change later)."""

    def __init__(
        self, time_cost: int = ARGON2_TIME_COST, memory_kib: int = ARGON2_MEMORY_KIB, parallelism: int = 1
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, hash_len=16, salt_len=16, type=Type.ID
        )

    def hash(self, code: str) -> str:
        return self._hasher.hash(code)

    def verify(self, hashed: str, code: str) -> bool:
        """Constant-time in the code (argon2's own comparison)."""
        try:
            return self._hasher.verify(hashed, code)
        except (VerificationError, InvalidHashError):
            return False
