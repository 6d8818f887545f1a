"""The base of every application-level refusal."""


class ServiceError(Exception):
    """An application-level refusal, raised before anything is written."""
