"""The base of every application-level refusal."""


class ServiceError(Exception):
    """An application-level refusal, raised before anything is written."""


class ConcurrentUpdate(ServiceError):
    """Lost the optimistic-concurrency race too many times in a row: nothing was written."""
