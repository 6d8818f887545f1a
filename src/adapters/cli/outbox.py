"""``cloudbay outbox``: the mail the platform sent while no SMTP server is configured (``CLOUDBAY_SMTP_URL``
unset), one file per message in ``$CLOUDBAY_DATA_DIR/outbox``: listed oldest first, or one shown whole."""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.cli.common import fail, settings
from adapters.mail import Outbox


def outbox(
    number: Annotated[int | None, typer.Argument(help="show message NUMBER whole (1 = the oldest)")] = None,
    last: Annotated[bool, typer.Option("--last", help="show the newest message whole")] = False,
) -> None:
    """List the outbox (number, date, recipient, subject), or show one message."""
    s = settings()
    box = Outbox(s.data_dir / "outbox", s.mail_from)
    files = box.files()
    if number is None and not last:
        for n, path in enumerate(files, 1):
            msg = box.read(path)
            typer.echo(f"{n:>4}  {msg['Date']}  {msg['To']}  {msg['Subject']}")
        if not files:
            typer.echo(f"the outbox {box.directory} is empty")
        return
    index = len(files) if last else number or 0
    if not 1 <= index <= len(files):
        raise fail(f"no message {index}: the outbox holds {len(files)}")
    msg = box.read(files[index - 1])
    for header in ("Date", "From", "To", "Subject"):
        typer.echo(f"{header}: {msg[header]}")
    body = msg.get_body(("plain",))
    typer.echo("\n" + (body.get_content() if body is not None else ""))
