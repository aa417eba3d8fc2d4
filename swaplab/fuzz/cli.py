"""``swaplab fuzz`` and ``swaplab findings``.

Exit status: ``fuzz`` 0 when the campaign's variant has no finding in the
database, 1 when it has; ``findings`` 0; both 2 on bad input (a flag, a
findings directory that cannot be used, an unknown finding id), with a
message on stderr naming what was expected.

``fuzz`` prints, on stderr, a live display (programs/s, statement kinds and
modeled functions covered, findings) when stderr is a terminal, and one
line per finding as soon as it is recorded (committed to the database):
``recorded finding ID: KIND in FUNCTION (seed S, T s, N ops)``.  At the end
it prints a summary, or with ``--json`` one object on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, NoReturn

import click

from swaplab.errors import InvalidScenario

DEFAULT_DB = "swaplab-findings"


def _bad(e: InvalidScenario) -> NoReturn:
    click.echo(f"swaplab: {e}", err=True)
    sys.exit(2)


def _render(status: Any, total_functions: int) -> Any:
    from rich.table import Table

    from swaplab.fuzz.gen import STATEMENT_KINDS
    cfg = status.cfg
    table = Table(title=f"swaplab fuzz --variant {cfg.variant} --seed {cfg.seed} "
                        f"--jobs {cfg.jobs}", show_header=False, box=None)
    elapsed = time.monotonic() - status.started
    table.add_row("time", f"{elapsed:.1f} s" + (f" of {cfg.seconds:g}" if cfg.seconds else ""))
    table.add_row("programs", f"{status.total_programs} ({status.rate:.0f}/s, "
                              f"{sum(status.refused.values())} refused at run time)")
    table.add_row("statement kinds", f"{len(status.kinds)}/{len(STATEMENT_KINDS)}")
    table.add_row("modeled functions", f"{len(status.functions)}/{total_functions} "
                                       f"(sampled, 1 program in 32)")
    table.add_row("findings", str(len(status.findings)))
    for f in sorted(status.findings.values(), key=lambda f: f["id"]):
        table.add_row(f"  #{f['id']}", f"{f['kind']} in {f['function'] or '-'} "
                                         f"(first at {f['first_seen_s']:.2f} s, {f['ops']} ops)")
    for h in status.hunting:
        table.add_row("  shrinking", h)
    return table


@click.command()
@click.option("--variant", default="mainline", show_default=True, metavar="V",
              help="legacy, v5, mainline, linux-7.2, or FILE.py:Class.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              metavar="N", help="Stop after N seconds (default 10, or no limit with --programs).")
@click.option("--programs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run exactly the programs of seeds S .. S+N-1 (deterministic).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="S",
              help="First seed; job j runs seeds S+j, S+j+jobs, ...")
@click.option("--jobs", type=click.IntRange(min=1, max=256), default=1, show_default=True,
              metavar="N", help="Local processes.")
@click.option("--ops", "n_ops", type=click.IntRange(min=1, max=1000), default=30,
              show_default=True, metavar="N", help="Operations per program.")
@click.option("--db", "db_dir", default=DEFAULT_DB, show_default=True, metavar="DIR",
              help="The findings directory (SQLite).")
@click.option("--cluster", default=None, metavar="ADDRESS",
              help="Run the jobs on the Dask scheduler at ADDRESS (tcp://host:8786).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"programs", "seconds", "findings": [...]} at the end.')
def fuzz(variant: str, seconds: float | None, programs: int | None, seed: int, jobs: int,
         n_ops: int, db_dir: str, cluster: str | None, as_json: bool) -> None:
    """Generate random programs, run them with every check on, shrink and record findings.

    A restarted campaign (same variant, seed and jobs, same --db) resumes
    from its last checkpoint.
    """
    from rich.console import Console
    from rich.live import Live

    from swaplab.fuzz.campaign import CampaignConfig, modeled_functions
    from swaplab.fuzz.runner import CampaignStatus, run_campaign
    from swaplab.program.interp import using_variant
    if seconds is None and programs is None:
        seconds = 10.0
    try:
        with using_variant(variant):        # an unknown variant is bad input, before anything runs
            pass
    except InvalidScenario as e:
        _bad(e)
    cfg = CampaignConfig(db=db_dir, variant=variant, seed=seed, jobs=jobs, seconds=seconds,
                         programs=programs, n_ops=n_ops)
    console = Console(stderr=True)
    status = CampaignStatus(cfg)
    total_functions = len(modeled_functions())
    printed: set[int] = set()
    live: Live | None = None

    def on_event(st: CampaignStatus) -> None:
        for fid, f in sorted(st.findings.items()):
            if fid not in printed:
                printed.add(fid)
                msg = (f"recorded finding {fid}: {f['kind']} in {f['function'] or '-'} "
                       f"(seed {f['seed']}, {f['first_seen_s']:.2f} s, {f['ops']} ops)")
                if live is not None:
                    live.console.print(msg)
                else:
                    click.echo(msg, err=True)
                sys.stderr.flush()
        if live is not None:
            live.update(_render(st, total_functions), refresh=True)

    try:
        if console.is_terminal:
            with Live(_render(status, total_functions), console=console,
                      auto_refresh=False, transient=False) as live:
                result = run_campaign(cfg, cluster, on_event, status)
        else:
            result = run_campaign(cfg, cluster, on_event, status)
    except InvalidScenario as e:
        _bad(e)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        _summary(result)
    sys.exit(1 if result["findings"] else 0)


def _summary(result: dict[str, Any]) -> None:
    rate = result["programs"] / result["seconds"] if result["seconds"] else 0.0
    click.echo(f"variant {result['variant']}: {result['programs']} programs in "
               f"{result['seconds']:.1f} s ({rate:.0f}/s), statement kinds "
               f"{result['statement_kinds']}, {result['modeled_functions_hit']} modeled "
               f"functions hit (sampled), {len(result['findings'])} findings")
    for f in result["findings"]:
        click.echo(f"  {f['id']:>3}  {f['kind']} in {f['function'] or '-'}: first at "
                   f"{f['first_seen_s']:.2f} s, seed {f['seed']}, {f['ops']} ops, {f['hits']} hits")
    if result["findings"]:
        click.echo("show one with: swaplab findings show ID")


@click.group(invoke_without_command=True)
@click.option("--db", "db_dir", default=DEFAULT_DB, show_default=True, metavar="DIR",
              help="The findings directory.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def findings(ctx: click.Context, db_dir: str, as_json: bool) -> None:
    """List the findings stored by fuzz campaigns (``findings show ID`` prints one)."""
    ctx.obj = {"db": db_dir}
    if ctx.invoked_subcommand is not None:
        return
    rows = _load(db_dir)
    if as_json:
        click.echo(json.dumps([f.to_json() for f in rows], indent=2, sort_keys=True))
        return
    if not rows:
        click.echo(f"no findings in {db_dir}")
    for f in rows:
        click.echo(f"{f.id:>4}  {f.variant:<10} {f.kind} in {f.function or '-'}  "
                   f"({f.ops} ops, seed {f.seed}, first at {f.first_seen_s:.2f} s, {f.hits} hits)")


def _load(db_dir: str) -> list[Any]:
    from swaplab.fuzz.db import FindingsDB
    try:
        db = FindingsDB(db_dir, create=False)
    except InvalidScenario as e:
        _bad(e)
    try:
        return db.findings()
    finally:
        db.close()


@findings.command("show")
@click.argument("finding_id", metavar="ID", type=int)
@click.option("--db", "db_dir", default=None, metavar="DIR", help="The findings directory.")
@click.pass_context
def findings_show(ctx: click.Context, finding_id: int, db_dir: str | None) -> None:
    """Print finding ID's reproducer: a program that ``swaplab run --variant V`` runs."""
    db_dir = db_dir or ctx.obj["db"]
    rows = {f.id: f for f in _load(db_dir)}
    f = rows.get(finding_id)
    if f is None:
        known = ", ".join(str(i) for i in rows) or "none"
        _bad(InvalidScenario(f"no finding {finding_id} in {db_dir} (findings: {known})", "ID"))
    click.echo(f.program, nl=False)
