"""``cloudbay replay``'s work: drop each read model and rebuild it from the event log, showing progress."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.wiring import all_projections
from projections.db import ReadModelDB
from projections.follower import Projection, handled_topics, reset, tracked_position
from projections.together import catch_up_together
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
    """Rebuild every projection, all together: each window of the log is read and decoded once for all of them
    (``catch_up_together``). What each applied and where it stopped."""
    projections = all_projections(event_log)
    tasks = {p.name: progress.add_task(f"rebuilding {p.name}", total=head) for p in projections}
    for projection in projections:
        reset(db, projection)
    applied = dict.fromkeys(tasks, 0)
    read = dict.fromkeys(tasks, 0)  # the log's events each reads, up to ``seen``
    seen = 0
    while True:
        stop, window = catch_up_together(event_log, db, projections, until=head)
        if not stop:
            break
        seen = stop
        for name, (events, reads) in window.items():
            applied[name] += events
            read[name] += reads
            progress.update(tasks[name], completed=min(stop, head))
    summary: Summary = {}
    for projection in projections:
        position = _position(db, projection)
        progress.update(tasks[projection.name], completed=head)
        summary[projection.name] = {
            "position": position,
            "log_events": read[projection.name] + _log_events(event_log, projection, position, after=seen),
            "events": applied[projection.name],
            "skipped": _skipped(db, projection),
        }
    return summary


def _position(db: ReadModelDB, projection: Projection) -> int:
    with db.transaction() as tx:
        return tracked_position(tx, projection.name)


def _log_events(event_log: EventLog, projection: Projection, position: int, after: int = 0) -> int:
    """The events stored after ``after`` up to ``position`` that the projection reads, counted in the log itself."""
    count, start, topics = 0, after + 1, handled_topics(type(projection))
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
