"""``mss xdm`` (IHE XDM archives) and ``mss dmp`` (the embedded DMP)."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import click

from directory.ins import validate_ins
from dmp_bridge.errors import DocumentError
from dmp_bridge.xdm import read_xdm
from dmp_bridge.xdm_build import build_xdm
from mss.app import Operator
from mss.cli.base import CliError, asynchronous, config_option, main, with_operator
from mss.dmp import report as dmp_report
from mss.dmp.bridge import DmpBridge


@main.group()
def xdm() -> None:
    """IHE XDM archives (IHE_XDM.ZIP, DMP-XDM-1)."""


@xdm.command("build")
@click.argument("cda", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
def xdm_build(cda: tuple[Path, ...], output: Path) -> None:
    """Wrap CDA R2 documents (one patient, MSS-MSG-4) into an IHE_XDM.ZIP."""
    try:
        archive = build_xdm([path.read_bytes() for path in cda])
    except DocumentError as error:
        raise CliError(f"{error} (code {int(error.code)})") from None
    output.write_bytes(archive)
    click.echo(f"{output}: {len(cda)} document(s), {len(archive)} bytes")


@xdm.command("inspect")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
def xdm_inspect(file: Path, as_json: bool) -> None:
    """List the documents of an IHE_XDM.ZIP: INS, type, class, rubric, uniqueId, CDA check."""
    try:
        rows = dmp_report.archive_rows(read_xdm(file.read_bytes()))
    except DocumentError as error:
        raise CliError(f"{error} (code {int(error.code)})") from None
    columns = dmp_report.ENTRY_COLUMNS
    click.echo(dmp_report.as_json(rows) if as_json else dmp_report.as_lines(rows, columns))


@main.group()
def dmp() -> None:
    """The embedded DMP: patients' records, documents and traces."""


def _dmp_of(op: Operator) -> DmpBridge:
    if op.dmp is None:
        raise CliError("this operator has no DMP bridge")
    return op.dmp


@dmp.command("list")
@config_option
@click.argument("ins")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@asynchronous
async def dmp_list(config_path: Path, ins: str, as_json: bool) -> None:
    """The documents of a patient's record (replaced versions included, deleted ones not)."""
    normalised = validate_ins(ins)
    found = await with_operator(
        config_path, lambda op: _dmp_of(op).store.list_documents(normalised, True)
    )
    rows = [dmp_report.document_row(document) for document in found]
    columns = dmp_report.DOCUMENT_COLUMNS
    click.echo(dmp_report.as_json(rows) if as_json else dmp_report.as_lines(rows, columns))


@dmp.command("show")
@config_option
@click.argument("doc")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@asynchronous
async def dmp_show(config_path: Path, doc: str, as_json: bool) -> None:
    """One document by its entry id (from ``mss dmp list``): metadata only, never content."""
    try:
        entry_id = UUID(doc)
    except ValueError:
        raise CliError(f"{doc!r} is not a document entry id (see mss dmp list)") from None

    async def show(op: Operator) -> dict[str, object]:
        try:
            found = await _dmp_of(op).store.get(entry_id)
        except DocumentError:
            raise CliError(f"no DMP document {entry_id}") from None
        return dmp_report.document_row(found, detailed=True)

    row = await with_operator(config_path, show)
    click.echo(dmp_report.as_json(row) if as_json else dmp_report.as_fields(row))


@dmp.command("traces")
@config_option
@click.argument("ins")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts.")
@asynchronous
async def dmp_traces(config_path: Path, ins: str, as_json: bool) -> None:
    """Every trace of a patient's record, oldest first (DMP-AUD-1)."""
    normalised = validate_ins(ins)
    traces = await with_operator(config_path, lambda op: _dmp_of(op).store.traces(normalised))
    rows = [dmp_report.trace_row(trace) for trace in traces]
    columns = dmp_report.TRACE_COLUMNS
    click.echo(dmp_report.as_json(rows) if as_json else dmp_report.as_lines(rows, columns))
