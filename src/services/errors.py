"""The base of every application-level refusal."""

from __future__ import annotations

from collections.abc import Collection


class ServiceError(Exception):
    """An application-level refusal, raised before anything is written."""


class ConcurrentUpdate(ServiceError):
    """Lost the optimistic-concurrency race too many times in a row: nothing was written."""


class VersionMismatch(ServiceError):
    """A conditional change named versions of the aggregate it is not at (HTTP If-Match): nothing was written."""

    def __init__(self, what: str, version: int) -> None:
        super().__init__(f"{what} is at version {version}")
        self.version = version


def check_version(what: str, version: int, expected: Collection[int] | None) -> None:
    """Refuse a change made against other versions; ``expected`` None means unconditional."""
    if expected is not None and version not in expected:
        raise VersionMismatch(what, version)
