"""``cloudbay replay``'s work: drop each read model and rebuild it from the event log, showing progress."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.wiring import all_projections
from projections.db import ReadModelDB
from projections.follower import Projection, catch_up, handled_topics, reset, tracked_position
from services.store import EventLog

Summary = dict[str, dict[str, int]]
"""Projection name -> ``position``: where the rebuilt model stands; ``log_events``: the events of the log up to
that position the projection reads (all of them are applied, by this process or by a follower running
meanwhile); ``events``: how many of them this process applied; ``skipped``: events recorded as skipped."""

COUNT_PAGE = 10_000


def replay_progress(console: Console, *, disable: bool) -> Progress:
    """One bar per projection, up to the head of the log; nothing shown when ``disable`` (JSON output)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
    )


def rebuild_all(event_log: EventLog, db: ReadModelDB, head: int, progress: Progress) -> Summary:
    """Rebuild every projection, in the order they are kept; what each applied and where it stopped."""
    summary: Summary = {}
    for projection in all_projections(event_log):
        summary[projection.name] = rebuild(event_log, db, projection, head, progress)
    return summary


def rebuild(
    event_log: EventLog, db: ReadModelDB, projection: Projection, head: int, progress: Progress
) -> dict[str, int]:
    """Reset one projection and catch it up batch by batch to the end of the log."""
    task = progress.add_task(f"rebuilding {projection.name}", total=head)
    reset(db, projection)
    applied = 0
    while True:
        events: list[tuple[int, object]] = []
        if not catch_up(event_log, db, projection, applied=events):
            break
        applied += len(events)
        progress.update(task, completed=min(_position(db, projection), head))
    position = _position(db, projection)
    progress.update(task, completed=head)
    return {
        "position": position,
        "log_events": _log_events(event_log, projection, position),
        "events": applied,
        "skipped": _skipped(db, projection),
    }


def _position(db: ReadModelDB, projection: Projection) -> int:
    with db.transaction() as tx:
        return tracked_position(tx, projection.name)


def _log_events(event_log: EventLog, projection: Projection, position: int) -> int:
    """The events stored up to ``position`` that the projection reads, counted in the log itself."""
    count, start, topics = 0, 1, handled_topics(type(projection))
    while start <= position:
        page = event_log.recorder.select_notifications(start=start, limit=COUNT_PAGE, stop=position, topics=topics)
        count += len(page)
        if len(page) < COUNT_PAGE:
            break
        start = page[-1].id + 1
    return count


def _skipped(db: ReadModelDB, projection: Projection) -> int:
    rows = db.query("SELECT COUNT(*) AS n FROM rm_skipped WHERE projection = %s", (projection.name,))
    return int(rows[0]["n"])
