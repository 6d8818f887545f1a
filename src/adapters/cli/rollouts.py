"""``cloudbay rollouts status ID [--follow]``: a campaign's progress, one bar per group, from the read model."""

from __future__ import annotations

import time
from typing import Annotated, Any
from uuid import UUID

import typer

from adapters.cli.common import fail, read_model_rows
from projections.rollout_queries import RolloutQueries

rollouts = typer.Typer(help="Firmware rollout campaigns (docs/firmware.md).", no_args_is_help=True)
BAR = 30
FINAL = ("halted", "aborted", "completed", "rolled-back")


def bar(done: int, failed: int, size: int) -> str:
    """``[####xx....]``: succeeded ``#``, failed ``x``, the rest ``.``, in ``BAR`` characters."""
    if not size:
        return "[" + " " * BAR + "]"
    ok, bad = round(BAR * done / size), round(BAR * failed / size)
    return "[" + "#" * ok + "x" * min(bad, BAR - ok) + "." * max(0, BAR - ok - bad) + "]"


def render(progress: dict[str, Any]) -> str:
    eta = progress["eta_seconds"]
    lines = [
        f"campaign {progress['campaign_id']}  {progress['state']}  {progress['image']['version']}"
        f"  {progress['settled']}/{progress['targets']} settled"
        + (f"  {progress['throughput']:.1f}/s  ETA {eta:.0f} s" if eta is not None else "")
        + (f"  ({progress['reason']})" if progress["reason"] else "")
    ]
    for group in progress["groups"]:
        stages = group["stages"]
        in_flight = sum(n for s, n in stages.items() if s not in ("pending", "succeeded", "failed", "cancelled"))
        opened = "open" if group["group"] < progress["open_groups"] else "waiting"
        lines.append(
            f"group {group['group']} {bar(stages['succeeded'], stages['failed'], group['size'])}"
            f" {stages['succeeded']}/{group['size']} ok, {stages['failed']} failed, {in_flight} in flight,"
            f" {stages['pending']} pending ({opened})"
            + "".join(f"\n    {reason}: {n}" for reason, n in sorted(group["failures"].items()))
        )
    return "\n".join(lines)


@rollouts.command("status")
def status(
    campaign_id: Annotated[str, typer.Argument(help="the campaign's id")],
    follow: Annotated[bool, typer.Option(help="print again every --interval seconds until it ends")] = False,
    interval: Annotated[float, typer.Option(help="seconds between prints with --follow")] = 2.0,
) -> None:
    """Print the campaign's progress per group (chargers per stage, failures by reason, throughput, ETA)."""
    try:
        wanted = UUID(campaign_id)
    except ValueError:
        raise fail(f"no rollout campaign {campaign_id}") from None
    while True:
        rows = read_model_rows(lambda db: [p] if (p := RolloutQueries(db).progress(wanted)) else [])
        if not rows:
            raise fail(f"no rollout campaign {campaign_id}")
        typer.echo(render(rows[0]))
        if not follow or rows[0]["state"] in FINAL:
            return
        time.sleep(interval)
