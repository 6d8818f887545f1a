"""``cloudbay users list|remove|rotate-secret``: the commands that manage registered users (``users add`` and
``token`` are in ``adapters.cli.main``). Removing a user or rotating their secret revokes their tokens: a
running node notices within ``CLOUDBAY_USER_CACHE_SECONDS`` (see ``adapters.current_users``)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from adapters.cli.common import fail, read_model_rows, settings
from adapters.oauth import hash_secret, new_client_secret
from adapters.wiring import build_platform
from projections.users import STATUSES, UserQueries
from services.users import UnknownUser, UserWasRemoved

commands = typer.Typer()  # its commands join the `cloudbay users` group (adapters.cli.main)
console = Console()


def _rows(status: str) -> list[dict[str, object]]:
    return read_model_rows(lambda db: UserQueries(db).list_users(status=status, after=None, limit=100_000))


@commands.command("list")
def users_list(
    status: Annotated[str, typer.Option(help=f"{' or '.join(STATUSES)}")] = "active",
) -> None:
    """List the users from the read model (as the running service last projected it)."""
    if status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}", 2)
    for row in _rows(status):
        typer.echo(f"{row['email']}\t{row['role']}\t{row['status']}\t{row['registered_at']}")  # tab-separated


@commands.command("remove")
def users_remove(email: Annotated[str, typer.Argument(help="the user's e-mail")]) -> None:
    """Remove a user: their secret grants no more tokens and the tokens they hold stop working."""
    s = settings()
    with build_platform(s) as platform:
        try:
            user = platform.users.remove(email)
        except (UnknownUser, UserWasRemoved) as e:
            raise fail(str(e)) from None
    console.print(f"removed {user.email}; their tokens stop working within {s.user_cache_seconds:g} s")


@commands.command("rotate-secret")
def users_rotate_secret(email: Annotated[str, typer.Argument(help="the user's e-mail")]) -> None:
    """Give a user a new client secret (printed once); the tokens issued before stop working."""
    secret = new_client_secret()
    with build_platform(settings()) as platform:
        try:
            user = platform.users.rotate_secret(email, hash_secret(secret))
        except (UnknownUser, UserWasRemoved) as e:
            raise fail(str(e)) from None
    console.print(f"rotated the client secret of {user.email}; tokens issued before are revoked")
    console.print(f"client id:     {user.email}\nclient secret: {secret}", highlight=False)
