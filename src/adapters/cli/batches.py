"""``cloudbay batches import|list`` and ``cloudbay manufacturing-key list|rotate``: the production line's commands.

``batches import`` works on the store directly, as ``cloudbay chargers add`` does: the same service, the same
one-save import, the same refusals as ``POST /api/v1/production-batches`` (every bad row listed, nothing
written). The manufacturing key file and ``CLOUDBAY_MAC_BLOCK`` must be those the servers use.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.batch_files import MAX_BATCH_BYTES, read_csv
from adapters.cli.common import fail, read_model_rows, settings
from adapters.manufacturing import ManufacturingKeyError, ManufacturingKeys
from adapters.wiring import build_log, build_manufacturing
from cloudbay_domain.batch import BatchConflict, BatchRefused, BatchSpec
from cloudbay_domain.mac import MacError
from projections.production import ProductionQueries
from services.batches import Batches, Imported

batches = typer.Typer(help="Import and list production batches.", no_args_is_help=True)
keys = typer.Typer(help="The manufacturing keys the device codes derive from.", no_args_is_help=True)
console, err = Console(), Console(stderr=True, highlight=False)


def read_batch(path: Path, batch_id: str | None, family: str, model: str) -> BatchSpec:
    """The batch in a CSV file; its refusal printed row by row (the first 100)."""
    try:
        if path.stat().st_size > MAX_BATCH_BYTES:
            raise fail(f"{path} is larger than {MAX_BATCH_BYTES // (1024 * 1024)} MiB; split the batch")
        return read_csv(path.read_bytes(), batch_id, family, model)
    except OSError as e:
        raise fail(f"cannot read {path}: {e.strerror}") from None
    except BatchRefused as e:
        err.print(f"[red]error:[/red] {e}")
        for row in e.rows:
            err.print(f"  row {row.row}: {row.message}" + (f" ({row.serial_number})" if row.serial_number else ""))
        raise typer.Exit(1) from None


@contextmanager
def import_progress(total: int) -> Iterator[Progress]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err) as progress:
        yield progress


def run_import(batches_service: Batches, spec: BatchSpec, by: str) -> Imported:
    with import_progress(len(spec.devices)) as progress:
        task = progress.add_task("hashing the codes", total=len(spec.devices))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, description="hashing the codes" if done < total else "saving")

        return batches_service.import_batch(spec, by, progress=advance)


@batches.command("import")
def batches_import(
    file: Annotated[Path, typer.Argument(help="CSV: serial_number[,model,hardware_family], one device a row")],
    family: Annotated[str, typer.Option(help="the batch's hardware family")],
    model: Annotated[str, typer.Option(help="the batch's model")],
    batch_id: Annotated[str | None, typer.Option(help="the line's name for the batch [default: a digest]")] = None,
    by: Annotated[str | None, typer.Option(help="who imports, as recorded [default: cli:<login>]")] = None,
) -> None:
    """Import a production batch: each device a whitelisted charger in state manufactured, with a MAC address."""
    spec, s = read_batch(file, batch_id, family, model), settings()
    log = build_log(s)
    try:
        imported = run_import(build_manufacturing(s, log)[0], spec, by or f"cli:{getpass.getuser()}")
    except (BatchRefused, BatchConflict, MacError, ManufacturingKeyError) as e:
        raise fail(str(e)) from None
    finally:
        log.close()
    b, verb = imported.batch, "imported" if imported.created else "already imported (nothing written):"
    console.print(f"{verb} batch {b.batch_id}: {len(b.devices)} devices, key {b.key_id}", highlight=False)


@batches.command("list")
def batches_list() -> None:
    """List the batches from the read model: id, family, model, devices, then devices per state."""
    rows = read_model_rows(lambda db: ProductionQueries(db).list_batches(after=None, limit=100_000))
    for r in rows:
        states = " ".join(f"{state}={n}" for state, n in r["states"].items())
        typer.echo(f"{r['batch_id']}\t{r['hardware_family']}\t{r['model']}\t{r['devices']}\t{states}")


@keys.command("list")
def keys_list() -> None:
    """The key ids in the key file, oldest first (the last one makes new batches); never the keys."""
    path = settings().manufacturing_key_path
    try:
        ids = ManufacturingKeys.load_or_create(path).ids()
    except ManufacturingKeyError as e:
        raise fail(str(e)) from None
    typer.echo("\n".join(f"{key_id}{'  (current)' if key_id == ids[-1] else ''}" for key_id in ids))


@keys.command("rotate")
def keys_rotate() -> None:
    """Add a new manufacturing key: batches imported from now on use it; older keys stay for their labels."""
    path = settings().manufacturing_key_path
    try:
        key_id = ManufacturingKeys.load_or_create(path).rotate()
    except ManufacturingKeyError as e:
        raise fail(str(e)) from None
    console.print(f"new manufacturing key {key_id} in {path}; copy the file to every node", highlight=False)
