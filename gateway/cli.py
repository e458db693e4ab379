"""The ``gateway`` command: a thin layer over the library.

This is the one place where errors become messages and exit codes:
0 ok, 1 invalid data or a rejected file, 2 usage or configuration error.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from . import __version__, logs
from .config import Config, load
from .errors import ConfigError, GatewayError, Problem, UsageError
from .model import AckResult, Direction, ExchangeState, PublishMode
from .store.ledger import Exchange

app = typer.Typer(help="File-exchange gateway between legacy ERPs and e-commerce shops.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
rejected_app = typer.Typer(help="Files rejected for bad data: list, show, reprocess.",
                           no_args_is_help=True)
archive_app = typer.Typer(help="Every file exchanged, as archived.", no_args_is_help=True)
endpoints_app = typer.Typer(help="Places files are read from and written to.",
                            no_args_is_help=True)
deliveries_app = typer.Typer(help="Files the gateway produced, on their way to partners.",
                             no_args_is_help=True)
app.add_typer(rejected_app, name="rejected")
app.add_typer(archive_app, name="archive")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(endpoints_app, name="endpoints")
mappings_app = typer.Typer(help="Reader and writer mappings, and their tests as data.",
                           no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")
orders_app = typer.Typer(help="Shop orders the gateway has seen.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    config_path: Path = Path("gateway.toml")
    log_format: str = "text"


state = _State()


def _width(stream: Any) -> int | None:
    """Tables keep their columns when piped or captured: wide unless on a terminal."""
    return None if stream.isatty() else 240


def out() -> Console:
    return Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))


def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))


def handle_errors(fn: F) -> F:
    """The single error handler: a domain error becomes ``Error: …``, a hint, an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GatewayError as exc:
            console = err()
            console.print(f"Error: {exc}", markup=False)
            if exc.hint:
                console.print(f"Hint: {exc.hint}", markup=False)
            raise typer.Exit(exc.exit_code) from None
    return wrapper  # type: ignore[return-value]


def config() -> Config:
    return load(state.config_path)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gateway {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    config_path: Annotated[Path, typer.Option("--config", "-c", envvar="GATEWAY_CONFIG",
                                              help="Configuration file.")] = Path("gateway.toml"),
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    log_format: Annotated[str, typer.Option(help="text, or json for machines.")] = "text",
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version.")] = False,
) -> None:
    if log_format not in ("text", "json"):
        raise typer.BadParameter("text or json", param_hint="--log-format")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter("debug, info, warning or error", param_hint="--log-level")
    state.config_path = config_path
    state.log_format = log_format
    logs.setup(log_level, log_format)


def _progress_factory() -> Callable[[Exchange], Callable[[int], None] | None] | None:
    """A progress bar per large file, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    def factory(x: Exchange) -> Callable[[int], None] | None:
        if x.size < 5 * 1024 * 1024:
            return None
        progress = Progress("[progress.description]{task.description}", BarColumn(),
                            DownloadColumn(), TimeRemainingColumn(), console=err(),
                            transient=True)
        task = progress.add_task(x.file_name, total=x.size)
        progress.start()

        def update(position: int) -> None:
            progress.update(task, completed=position)
            if position >= x.size:
                progress.stop()
        return update
    return factory


@contextlib.contextmanager
def _count_progress(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar over a batch of files, only on a terminal and for more than one."""
    if total < 2 or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(console=err(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def _summary_exit(outcomes: list[Any]) -> int:
    bad = {AckResult.REJECTED, AckResult.PARTIAL}
    return 1 if any(o.result in bad for o in outcomes) else 0


# -- run ---------------------------------------------------------------------------------------
@app.command()
@handle_errors
def run(once: Annotated[bool, typer.Option("--once", help="Process what is ready, then exit.")]
        = False) -> None:
    """Watch the endpoints and process files until SIGINT or SIGTERM."""
    from .pipeline.runner import CycleSummary, Gateway

    cfg = config()
    with Gateway(cfg, progress_for=_progress_factory()) as gw:
        if once:
            s = gw.run_once()
            _print_cycle(s)
            for message in s.refused.values():  # an unchecked host key: the operator must act
                err().print(f"Error: {message}", markup=False)
            raise typer.Exit(2 if s.refused else _summary_exit(s.outcomes))
        stop = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            err().print(f"stopping after the current step ({signal.Signals(signum).name})")
            stop.set()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        def on_cycle(s: CycleSummary) -> None:
            _print_cycle(s)
        gw.serve(stop, on_cycle)


def _print_cycle(s: Any) -> None:
    console = out()
    for o in s.outcomes:
        console.print(f"exchange {o.exchange_id}: {o.result} ({o.accepted} accepted, "
                      f"{o.rejected} rejected)", markup=False)
    if s.endpoint:  # one endpoint's thread of `gateway run`
        done = [f"{n} {what}" for n, what in ((s.received, "received"),
                                              (s.delivered, "delivered")) if n]
        if done:
            console.print(f"{s.endpoint}: {', '.join(done)}", markup=False)
    elif not s.outcomes or s.received or s.delivered or s.failures:
        console.print(f"received {s.received}, processed {len(s.outcomes)}, "
                      f"rejected {s.count(AckResult.REJECTED)}, delivered {s.delivered}",
                      markup=False)
    if state.log_format == "json":
        return  # already logged as JSON where it happened; stderr stays one object a line
    for endpoint, error in s.failures.items():
        if endpoint not in s.refused:  # those are errors, printed as such by the caller
            err().print(f"warning: {endpoint}: {error}", markup=False)


# -- validate ----------------------------------------------------------------------------------
@app.command()
@handle_errors
def validate(file: Annotated[Path, typer.Argument(help="File to check.")],
             channel: Annotated[str, typer.Option("--channel", help="Input channel whose "
                                                  "mapping reads the file.")]) -> None:
    """Check a file with a channel's mapping and schema; no side effects."""
    from .validate.check import check_file

    report = check_file(config(), channel, file)
    console = out()
    for p in report.problems.sorted():
        console.print(_located(p, str(file)), markup=False)
    if report.problems.count > len(report.problems.items):
        console.print(f"… {report.problems.count - len(report.problems.items)} more errors")
    verdict = "valid" if report.ok else "invalid"
    console.print(f"{file}: {verdict}: {report.accepted} record(s) valid, "
                  f"{report.problems.count} error(s)", markup=False)
    raise typer.Exit(0 if report.ok else 1)


# -- diff --------------------------------------------------------------------------------------
@app.command()
@handle_errors
def diff(file: Annotated[Path, typer.Argument(help="File to compare.")],
         channel: Annotated[str, typer.Option("--channel", help="Input channel that would "
                                              "take the file.")],
         as_json: Annotated[bool, typer.Option("--json")] = False,
         limit: Annotated[int, typer.Option("--limit", help="Changes shown per output "
                                            "channel.")] = 50) -> None:
    """What this file would change in the shop (added, changed, withdrawn); no side effects."""
    from .model import ChangeKind
    from .pipeline.diff import diff_file

    report = diff_file(config(), channel, file, keep=max(limit, 0))
    o = report.outcome
    if as_json:
        typer.echo(json.dumps({
            "file": report.file, "channel": report.channel, "result": str(o.result),
            "accepted": o.accepted, "rejected": o.rejected, "ignored": o.ignored,
            "errors": [{"line": p.line, "field": p.field, "value": p.value,
                        "message": p.message} for p in o.problems.sorted()],
            "outputs": [{
                "channel": d.channel, "publish": str(d.mode), "records_sent": d.sent,
                "key": list(d.key),
                "counts": {str(k): v for k, v in d.counts.items()},
                "changes": [{"change": str(c.kind), "key": list(c.key),
                             "fields": _changed_columns(d.columns, c)} for c in d.changes]}
                for d in report.outputs]}, indent=2, ensure_ascii=False))
        return
    console = out()
    for p in o.problems.sorted():
        console.print(_located(p, str(file)), markup=False)
    console.print(f"{file}: {o.result}: {o.accepted} record(s) accepted, {o.rejected} "
                  f"rejected, {o.ignored} ignored", markup=False)
    for d in report.outputs:
        if d.mode is not PublishMode.DELTA:
            console.print(f"{d.channel} (full): would send {d.sent} record(s); a full channel "
                          "keeps no record of what it published", markup=False)
            continue
        c = d.counts
        console.print(f"{d.channel} (delta): {c.get(ChangeKind.NEW, 0)} new, "
                      f"{c.get(ChangeKind.CHANGED, 0)} changed, "
                      f"{c.get(ChangeKind.WITHDRAWN, 0)} withdrawn, "
                      f"{c.get(ChangeKind.UNCHANGED, 0)} unchanged", markup=False)
        if not d.changes:
            continue
        table = Table("change", "/".join(d.key), "field", "old", "new")
        for ch in d.changes:
            for col, old, new in _changed_columns(d.columns, ch) or [("", "", "")]:
                table.add_row(str(ch.kind), " / ".join(ch.key), col, old, new)
        console.print(table)
    raise typer.Exit(1 if o.result is AckResult.REJECTED else 0)


def _changed_columns(columns: tuple[str, ...], change: Any) -> list[tuple[str, str, str]]:
    """(column, old, new) for each column whose text differs."""
    old = change.old or ("",) * len(columns)
    new = change.new or ("",) * len(columns)
    return [(col, o, n) for col, o, n in zip(columns, old, new, strict=False) if o != n]


# -- mappings ----------------------------------------------------------------------------------
@mappings_app.command("test")
@handle_errors
def mappings_test(
    names: Annotated[list[str] | None, typer.Argument(metavar="[MAPPING...]")] = None,
    cases: Annotated[Path | None, typer.Option("--cases", help="Folder of cases, one "
                                               "sub-folder per mapping (default: "
                                               "tests/mappings beside the configuration)."
                                               )] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run every mapping's sample input and compare with its expected output."""
    from .pipeline.casetest import run_cases, untested

    cfg = config()
    folder = cases or cfg.path.parent / "tests" / "mappings"
    results = run_cases(cfg, folder, names)
    missing = [] if names else untested(cfg, folder)
    failed = [r for r in results if not r.ok]
    if as_json:
        typer.echo(json.dumps({"cases": [{"mapping": r.mapping, "ok": r.ok,
                                          "detail": r.detail} for r in results],
                               "untested": missing}, indent=2, ensure_ascii=False))
    else:
        console = out()
        for r in results:
            console.print(f"{'ok  ' if r.ok else 'FAIL'} {r.mapping}", markup=False)
            for line in r.detail:
                console.print(f"     {line}", markup=False)
        for name in missing:
            console.print(f"--   {name}: no case in {folder}", markup=False)
        console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed, "
                      f"{len(missing)} without a case", markup=False)
    raise typer.Exit(1 if failed or not results else 0)


# -- orders and stock --------------------------------------------------------------------------
@orders_app.command("changes")
@handle_errors
def orders_changes(as_json: Annotated[bool, typer.Option("--json")] = False,
                   limit: Annotated[int, typer.Option("--limit")] = 100) -> None:
    """Orders a shop exported again with other content after they were forwarded: the
    ERP was not sent them again; here is what changed."""
    rows = _ledger().order_changes(limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        out().print("no changed orders")
        return
    table = Table("at", "shop", "order", "file", "exchange", "what changed")
    for r in rows:
        table.add_row(r["at"][:19], r["shop"], r["number"], r["file_name"],
                      str(r["exchange_id"]), r["summary"])
    out().print(table)


@app.command("stock")
@handle_errors
def stock_explain(sku: Annotated[str, typer.Argument(metavar="SKU")],
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How the stock the shop is shown for a SKU is made: the ERP's quantity per
    warehouse, each order in flight, each stock channel's buffer."""
    from .flows.projection import Projector
    from .model import Direction as Dir

    cfg = config()
    ledger = _ledger()
    positions = ledger.stock_of(sku)
    projector = Projector(ledger, cfg.in_flight_horizon, [sku])
    [p] = list(projector.project_held([sku]))
    channels = [c for c in cfg.channels.values()
                if c.direction is Dir.OUT and c.document == "stock"]
    shown = {c.name: str(max(p.available - c.safety_buffer, 0)) for c in channels}
    if as_json:
        typer.echo(json.dumps({
            "sku": sku, "erp_quantity": str(p.erp_quantity), "as_of": p.as_of,
            "warehouses": [{"warehouse": w, "quantity": str(q), "as_of": at, "exchange": x}
                           for w, q, at, x in positions],
            "in_flight": [_line_json(ln) for ln in p.in_flight],
            "reflected": [_line_json(ln) for ln in p.reflected],
            "available": str(p.available),
            "channels": {c.name: {"safety_buffer": str(c.safety_buffer),
                                  "shown": shown[c.name]} for c in channels}},
            indent=2, ensure_ascii=False))
        return
    console = out()
    if not positions and not p.in_flight:
        console.print(f"{sku}: the ERP never sent a quantity and no order is in flight",
                      markup=False)
    console.print(f"{sku}: ERP quantity {p.erp_quantity} (as of {p.as_of or '-'})",
                  markup=False)
    for w, q, at, x in positions:
        console.print(f"  warehouse {w}: {q} as of {at} (exchange {x})", markup=False)
    for ln in p.in_flight:
        console.print(f"  - {ln['quantity']} order {ln['number']} line {ln['line_number']} "
                      f"(shop {ln['shop']}), forwarded {ln['forwarded_at'][:19]}, "
                      f"{_line_state(ln)}", markup=False)
    for ln in p.reflected:
        console.print(f"  (order {ln['number']} line {ln['line_number']}: confirmed "
                      f"{ln['status_at'][:19]}, already in the ERP's figure)", markup=False)
    console.print(f"  = {p.available} available", markup=False)
    for c in channels:
        console.print(f"  {c.name}: − buffer {c.safety_buffer} → shop shown "
                      f"{shown[c.name]}", markup=False)


def _line_state(ln: dict[str, Any]) -> str:
    if ln.get("status"):
        return f"ERP status {ln['status']} at {ln['status_at'][:19]}, after the stock's as-of"
    return "not yet confirmed by the ERP"


def _line_json(ln: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k.startswith("quantity") and v is not None else v)
            for k, v in ln.items()}


def _located(p: Problem, file: str) -> str:
    """``FILE:LINE: FIELD: message`` — the format editors and CI logs understand."""
    text = file
    if p.line is not None:
        text += f":{p.line}"
    text += ": "
    if p.field:
        text += f"{p.field}: "
    text += p.message
    if p.value is not None:
        text += f" (value {p.value!r})"
    return text


# -- rejected ----------------------------------------------------------------------------------
def _ledger() -> Any:
    from .pipeline.context import ledger_path
    from .store.ledger import Ledger

    cfg = config()
    path = ledger_path(cfg)
    if not path.exists():
        raise UsageError(f"no ledger yet at {path}", hint="run 'gateway run --once' first")
    return Ledger(path)


def _problems_json(ledger: Any, xid: int) -> list[dict[str, Any]]:
    return [{"line": p.line, "field": p.field, "value": p.value, "message": p.message}
            for p in ledger.problems(xid)]


@rejected_app.command("list")
@handle_errors
def rejected_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Files rejected and waiting for an operator."""
    ledger = _ledger()
    rows = ledger.list_exchanges(state=str(ExchangeState.REJECTED), direction=Direction.IN)
    if as_json:
        typer.echo(json.dumps([{
            "id": x.id, "channel": x.channel, "file": x.file_name, "state": str(x.state),
            "received": x.created_at, "sha256": x.sha256,
            "errors": _problems_json(ledger, x.id)} for x in rows], indent=2,
            ensure_ascii=False))
        return
    if not rows:
        out().print("no rejected files")
        return
    table = Table("id", "channel", "file", "received", "errors", "first error")
    for x in rows:
        first = ledger.problems(x.id, limit=1)
        table.add_row(str(x.id), x.channel, x.file_name, x.created_at[:19],
                      str(ledger.problem_count(x.id)),
                      _located(first[0], x.file_name) if first else "")
    out().print(table)


@rejected_app.command("show")
@handle_errors
def rejected_show(xid: Annotated[int, typer.Argument(metavar="ID")],
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The error report of one exchange, every error located."""
    from .pipeline.acknowledge import render_report

    ledger = _ledger()
    x = _get(ledger, xid)
    problems = ledger.problems(xid)
    if as_json:
        typer.echo(json.dumps({**x.to_dict(), "errors": _problems_json(ledger, xid)},
                              indent=2, ensure_ascii=False))
        return
    out().print(render_report(x, problems, ledger.problem_count(xid)), markup=False, end="")


@rejected_app.command("reprocess")
@handle_errors
def rejected_reprocess(ids: Annotated[list[int], typer.Argument(metavar="ID...")],
                       dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would "
                                                             "be produced; change nothing.")]
                       = False) -> None:
    """Process rejected files again from the archive, with the current mappings."""
    from .pipeline.reprocess import reprocess
    from .pipeline.runner import Gateway

    with Gateway(config(), progress_for=_progress_factory()) as gw, \
            _count_progress("reprocessing", len(ids)) as progress:
        outcomes = reprocess(gw, ids, dry_run=dry_run, progress=progress)
    console = out()
    for xid, o in zip(ids, outcomes, strict=False):
        verb = "would be" if dry_run else "is"
        console.print(f"exchange {xid}: {verb} {o.result}: {o.accepted} record(s) accepted, "
                      f"{o.rejected} rejected", markup=False)
        for p in o.problems.sorted()[:20]:
            console.print("  " + p.render(), markup=False)
        for channel, name, blob in o.outputs:
            console.print(f"  {'would write' if dry_run else 'wrote'} {name} for {channel} "
                          f"({blob.size} bytes)", markup=False)
    raise typer.Exit(_summary_exit(outcomes))


def _get(ledger: Any, xid: int) -> Exchange:
    x = ledger.get(xid)
    if x is None:
        raise UsageError(f"no exchange with id {xid}", hint="'gateway archive list' shows ids")
    return x


# -- archive -----------------------------------------------------------------------------------
@archive_app.command("list")
@handle_errors
def archive_list(channel: Annotated[str | None, typer.Option(help="Only this channel.")] = None,
                 since: Annotated[str | None, typer.Option(help="ISO date or time, UTC.")] = None,
                 state_: Annotated[str | None, typer.Option("--state", help="Only this state."
                                                            )] = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every exchange, in and out."""
    if state_ is not None:
        try:
            state_ = str(ExchangeState(state_.upper()))
        except ValueError:
            raise UsageError(f"unknown state {state_!r}", hint="states: " + ", ".join(
                s.value for s in ExchangeState)) from None
    rows = _ledger().list_exchanges(channel=channel, since=since, state=state_)
    if as_json:
        typer.echo(json.dumps([x.to_dict() for x in rows], indent=2, ensure_ascii=False))
        return
    table = Table("id", "dir", "channel", "file", "state", "size", "time", "from")
    for x in rows:
        table.add_row(str(x.id), str(x.direction), x.channel, x.file_name, str(x.state),
                      str(x.size), x.created_at[:19], str(x.source_id or ""))
    out().print(table)


@archive_app.command("show")
@handle_errors
def archive_show(xid: Annotated[int, typer.Argument(metavar="ID")],
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One exchange: metadata, every transition, linked outputs and acks."""
    ledger = _ledger()
    x = _get(ledger, xid)
    transitions = ledger.transitions(xid)
    outputs = ledger.outputs_of(xid)
    attempts = ledger.attempts_of(xid)
    if as_json:
        typer.echo(json.dumps({
            **x.to_dict(),
            "transitions": [{"from": t.from_state, "to": t.to_state, "at": t.at,
                             "reason": t.reason} for t in transitions],
            "outputs": [o.to_dict() for o in outputs],
            "reprocessed_as": [a.id for a in attempts],  # "attempts" is the retry count
            "errors": _problems_json(ledger, xid)}, indent=2, ensure_ascii=False))
        return
    console = out()
    for key, value in x.to_dict().items():
        if value is not None:
            console.print(f"{key + ':':18}{value}", markup=False)
    console.print("transitions:")
    for t in transitions:
        console.print(f"  {t.at}  {t.from_state or '-':>11} -> {t.to_state:<11} {t.reason}",
                      markup=False)
    if outputs:
        console.print("outputs:")
        for o in outputs:
            console.print(f"  {o.id}  {o.kind:<8} {o.channel:<20} {o.file_name}  {o.state}",
                          markup=False)
    if attempts:
        console.print("reprocessed as: " + ", ".join(str(a.id) for a in attempts))
    n = ledger.problem_count(xid)
    if n:
        console.print(f"errors: {n} (gateway rejected show {xid})")


@archive_app.command("cat")
@handle_errors
def archive_cat(xid: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Write the archived bytes of an exchange to standard output."""
    from .store.archive import Archive

    ledger = _ledger()
    x = _get(ledger, xid)
    if not x.sha256:
        raise UsageError(f"exchange {xid} was refused before reading; nothing was archived")
    archive = Archive.in_workspace(config().workspace)
    stream = sys.stdout.buffer
    with archive.open(x.sha256) as fh:
        while chunk := fh.read(1 << 20):
            stream.write(chunk)
    stream.flush()


@archive_app.command("verify")
@handle_errors
def archive_verify() -> None:
    """Re-hash every archived file; exit 1 on any mismatch or missing file."""
    from .store.archive import Archive

    ledger = _ledger()
    archive = Archive.in_workspace(config().workspace)
    problems = archive.verify(s for s in ledger.all_sha256() if s)
    count = sum(1 for _ in archive.iter_blobs())
    console = out()
    for p in problems:
        console.print(p, markup=False)
    console.print(f"{count} archived file(s) checked, {len(problems)} problem(s)")
    raise typer.Exit(1 if problems else 0)


# -- endpoints ---------------------------------------------------------------------------------
@endpoints_app.command("check")
@handle_errors
def endpoints_check(name: Annotated[str | None, typer.Argument(metavar="[NAME]",
                                                               help="One endpoint; all by "
                                                               "default.")] = None) -> None:
    """Connect, list, write, read back and remove a probe file; say what failed."""
    from .pipeline.context import Context
    from .pipeline.probe import check_endpoint

    cfg = config()
    names = [name] if name else list(cfg.endpoints)
    if name and name not in cfg.endpoints:
        raise UsageError(f"no endpoint named {name!r}",
                         hint="endpoints: " + ", ".join(cfg.endpoints))
    ctx = Context.open(cfg)
    failed = False
    try:
        console = out()
        for endpoint in names:
            steps = check_endpoint(ctx, endpoint)
            ok = all(st.ok for st in steps)
            failed |= not ok
            console.print(f"{endpoint}: {'ok' if ok else 'FAILED'}", markup=False)
            for st in steps:
                console.print(f"  {'ok' if st.ok else 'FAILED':6} {st.name}: {st.detail}",
                              markup=False)
    finally:
        ctx.close()
    raise typer.Exit(1 if failed else 0)


# -- deliveries --------------------------------------------------------------------------------
@deliveries_app.command("list")
@handle_errors
def deliveries_list(waiting: Annotated[bool, typer.Option("--waiting", help="Only outputs not "
                                                          "delivered yet.")] = False,
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Outputs with their state, attempts and last error, oldest first."""
    rows = _ledger().list_exchanges(direction=Direction.OUT)
    if waiting:
        rows = [x for x in rows if x.state is not ExchangeState.DELIVERED]
    if as_json:
        typer.echo(json.dumps([x.to_dict() for x in rows], indent=2, ensure_ascii=False))
        return
    table = Table("id", "channel", "endpoint", "file", "state", "attempts", "from",
                  "last error")
    for x in rows:
        table.add_row(str(x.id), x.channel, x.endpoint, x.file_name, str(x.state),
                      str(x.attempts), str(x.source_id or ""), x.last_error or "")
    out().print(table)


@deliveries_app.command("retry")
@handle_errors
def deliveries_retry(xid: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Deliver a waiting output now."""
    from .pipeline.deliver import retry
    from .pipeline.runner import Gateway

    with Gateway(config()) as gw:
        report = retry(gw.ctx, xid)
        x = gw.ctx.ledger.get(xid)
    assert x is not None
    out().print(f"output {xid} ({x.file_name}): {x.state}", markup=False)
    for endpoint, error in report.failed.items():
        err().print(f"warning: {endpoint}: {error}", markup=False)
    raise typer.Exit(0 if x.state is ExchangeState.DELIVERED else 1)


@deliveries_app.command("resend")
@handle_errors
def deliveries_resend(xid: Annotated[int, typer.Argument(metavar="EXCHANGE")]) -> None:
    """Send delivered outputs again: one output, or every output of an input exchange."""
    from .pipeline.deliver import resend
    from .pipeline.runner import Gateway

    with Gateway(config()) as gw:
        new, report = resend(gw.ctx, xid)
        sent = [gw.ctx.ledger.get(n) for n in new]
    for x in sent:
        assert x is not None
        out().print(f"output {x.id} ({x.file_name}, resend of {x.parent_id}): {x.state}",
                    markup=False)
    for endpoint, error in report.failed.items():
        err().print(f"warning: {endpoint}: {error}", markup=False)
    raise typer.Exit(0 if all(x and x.state is ExchangeState.DELIVERED for x in sent) else 1)


# -- status ------------------------------------------------------------------------------------
@app.command()
@handle_errors
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per channel: last file, backlog, rejected count, undelivered outputs."""
    from .status import channel_status

    report = channel_status(config())
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table("channel", "dir", "endpoint", "endpoint state", "last file", "last state",
                  "waiting", "rejected", "undelivered", "last error")
    for name, s in report.items():
        up = {True: "up", False: "DOWN", None: "-"}[s["endpoint_up"]]
        if s["endpoint_since"]:
            up += f" since {s['endpoint_since'][:19]}"
        table.add_row(name, s["direction"], s["endpoint"], up, s["last_file"] or "-",
                      s["last_state"] or "-", str(s["backlog"]), str(s["rejected"]),
                      str(s["undelivered"]), s["last_error"] or "")
    out().print(table)
    failing = next((s for s in report.values() if s["processing_error"]), None)
    if failing:
        out().print(f"processing RETRYING since {failing['processing_since'][:19]}: "
                    f"{failing['processing_error']}")


# -- demo --------------------------------------------------------------------------------------
@app.command()
@handle_errors
def demo(directory: Annotated[Path, typer.Argument(metavar="[DIR]", help="Workspace to create."
                                                   )] = Path("gateway-demo")) -> None:
    """Create a demo workspace with sample files, run the whole cycle once, summarise."""
    from .demo import run_demo
    from .pipeline.context import Context

    run = run_demo(directory)
    ctx = Context.open(run.config)
    try:
        console = out()
        table = Table("id", "file received", "result", "accepted", "rejected", "produced",
                      "ack", title=f"gateway demo in {run.workspace}")
        ins = ctx.ledger.list_exchanges(direction=Direction.IN)
        for x in ins:
            outs = ctx.ledger.outputs_of(x.id)
            docs = [o.file_name for o in outs if o.kind == "document"]
            acks = [o.file_name for o in outs if o.kind == "ack"]
            table.add_row(str(x.id), x.file_name, x.result or str(x.state),
                          str(x.records_accepted or 0), str(x.records_rejected or 0),
                          ", ".join(docs) or "-", ", ".join(acks) or "-")
        console.print(table)
        s = run.summary
        produced = sum(len([o for o in ctx.ledger.outputs_of(x.id) if o.kind == "document"])
                       for x in ins)
        acked = sum(len([o for o in ctx.ledger.outputs_of(x.id) if o.kind == "ack"])
                    for x in ins)
        console.print(f"received {s.received}, produced {produced}, "
                      f"rejected {s.count(AckResult.REJECTED)}, "
                      f"duplicates {s.count(AckResult.DUPLICATE)}, acknowledged {acked}, "
                      f"delivered {s.delivered}", markup=False)
        console.print(f"next: cd {run.workspace} && gateway rejected list && gateway status",
                      markup=False)
    finally:
        ctx.close()


def main() -> None:
    try:
        app()
    except ConfigError as exc:  # raised before a command's own handler could see it
        err().print(f"Error: {exc}", markup=False)
        sys.exit(2)
