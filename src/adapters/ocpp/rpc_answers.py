"""The charger's answers to our own CALLs: what makes one unusable, and reading a usable one.

An answer to the CALL we are waiting for that cannot be used — not JSON, over the frame limit, nested too
deep, not shaped like a CALLRESULT/CALLERROR, off the action's response schema, an integer outside 32 bits —
fails that CALL at once (``MalformedAnswer``, a FormatViolation to the caller), instead of leaving it to run
into its timeout. Answers to no CALL of ours are only logged.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ocpp.v201 import call_result as call_results

from adapters.ocpp.rpc_limits import integers, too_deep
from adapters.ocpp.rpc_schema import (
    CALLERROR,
    CALLRESULT,
    LOGGER,
    MAX_CAUSE,
    MAX_ID_LENGTH,
    RpcError,
    answerable_code,
    readable_id,
    snake_case,
    validate,
)
from adapters.ocpp.rpc_types import CallErrorReceived, MalformedAnswer

#: The start of a response frame, read without parsing it (for one that cannot be parsed): its type and id.
_RESPONSE_START = re.compile(rf'\s*\[\s*([34])\s*,\s*"([^"\\]{{1,{MAX_ID_LENGTH}}})"')


Pending = tuple[str, "asyncio.Future[list[Any]]"] | None  # our outstanding CALL: its message id, its answer


def route_answer(station_id: str, pending: Pending, frame: list[Any], max_depth: int) -> None:
    """Hand a response frame to our CALL waiting for it, or fail that CALL with why the frame is unusable;
    a response to no CALL of ours is logged and dropped."""
    uid, problem = readable_id(frame), unusable(frame, max_depth)
    waiting = _waiting(pending, uid)
    if waiting is None:
        LOGGER.warning("%s: dropping response %r: no CALL of ours is waiting for it", station_id, uid)
    elif problem is not None:
        LOGGER.warning("%s: malformed answer to message %r: %s", station_id, uid, problem)
        waiting.set_exception(MalformedAnswer(problem))
    else:
        waiting.set_result(frame)


def route_unparsed(station_id: str, pending: Pending, raw: str | bytes, problem: str) -> bool:
    """Fail our waiting CALL if ``raw``, a frame that could not be parsed, starts like the answer to it."""
    uid = peeked_response_id(raw)
    waiting = _waiting(pending, uid)
    if waiting is None:
        return False
    LOGGER.warning("%s: malformed answer to message %r: answer %s", station_id, uid, problem)
    waiting.set_exception(MalformedAnswer(f"answer {problem}"))
    return True


def _waiting(pending: Pending, uid: str | None) -> asyncio.Future[list[Any]] | None:
    if pending is None or uid is None or pending[0] != uid or pending[1].done():
        return None
    return pending[1]


def peeked_response_id(raw: str | bytes) -> str | None:
    """The message id of a frame that starts like a CALLRESULT or CALLERROR, else None (looks at its start only)."""
    head = raw[:128]
    text = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
    match = _RESPONSE_START.match(text)
    return match.group(2) if match else None


def unusable(frame: list[Any], max_depth: int) -> str | None:
    """Why a response frame cannot be read at all (its shape, its depth), or None."""
    if too_deep(frame, max_depth):
        return f"answer is nested deeper than {max_depth} levels"
    if frame[0] == CALLRESULT:
        return None if len(frame) == 3 and isinstance(frame[2], dict) else "CALLRESULT must be [3, id, {payload}]"
    fits = len(frame) == 5 and isinstance(frame[2], str) and isinstance(frame[3], str) and isinstance(frame[4], dict)
    return None if fits else "CALLERROR must be [4, id, code, description, {details}]"


def read_answer(station_id: str, action: str, frame: list[Any]) -> Any:
    """The ``call_result`` of the charger's answer to our CALL; ``CallErrorReceived`` or ``MalformedAnswer``."""
    if frame[0] == CALLERROR:  # a code that is none of the twelve is recorded as GenericError, not as sent
        raise CallErrorReceived(answerable_code(frame[2]), frame[3][:MAX_CAUSE], frame[4])
    try:
        validate(CALLRESULT, action, frame[2])
        return getattr(call_results, action)(**snake_case(integers(frame[2], action, answer=True)))
    except (RpcError, TypeError) as exc:
        raise _malformed(station_id, action, exc.cause if isinstance(exc, RpcError) else f"{exc}") from None


def _malformed(station_id: str, action: str, cause: str) -> MalformedAnswer:
    cause = f"answer to {action}: {cause}"[:MAX_CAUSE]
    LOGGER.warning("%s: malformed answer to %s: %r", station_id, action, cause)
    return MalformedAnswer(cause)
