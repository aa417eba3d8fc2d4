"""``swaplab run`` and ``swaplab replay``.

Exit status: 0 no finding (and, for ``run``, every ``expect`` met), 1
findings or unmet expectations, 2 bad input (a program, ops file, flag or
variant; the message names file:line:col and what was expected, and
nothing is printed on stdout).
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click

from swaplab.errors import InvalidScenario

RUN_DEFAULT_VARIANT = "mainline"
REPLAY_DEFAULT_VARIANT = "linux-7.2"


def _bad_input(e: InvalidScenario) -> NoReturn:
    click.echo(f"swaplab: {e}", err=True)
    sys.exit(2)


def _note_variant(wanted: str | None, default: str, ran: str) -> None:
    if wanted is None and ran != default:
        click.echo(f"swaplab: note: variant '{default}' is not available (no swaplab.variants); "
                   f"ran the built-in model, '{ran}'", err=True)


@click.command()
@click.argument("program", type=click.Path(exists=True, dir_okay=False))
@click.option("--variant", default=None, metavar="V",
              help="legacy, v5, mainline (default), linux-7.2, or FILE.py:Class.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def run(program: str, variant: str | None, as_json: bool) -> None:
    """Run a program (docs/programs.md) with checks in record mode."""
    from swaplab.program import check_supported, exit_status, load_program, run_program
    from swaplab.program.interp import using_variant
    try:
        prog = load_program(program)
        check_supported(prog)
        with using_variant(variant, RUN_DEFAULT_VARIANT) as name:
            result = run_program(prog, variant=name)
    except InvalidScenario as e:
        _bad_input(e)
    _note_variant(variant, RUN_DEFAULT_VARIANT, result["variant"])
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print_run(result)
    sys.exit(exit_status(result))


def _print_run(result: dict[str, Any]) -> None:
    file = result["program"]
    for f in result["findings"]:
        where = f" in {f['function']}" if f["function"] else ""
        slot = f" slot [{f['entry'][0]}, {f['entry'][1]}]" if f["entry"] else ""
        click.echo(f"{file}:{f['line']}: step {f['step']}: {f['kind']}{where}{slot}: "
                   f"{f['message']}")
    for o in result["oopses"]:
        click.echo(f"{file}:{o['line']}: step {o['step']}: oops: {o['message']}")
    for e in result["unmet"]:
        click.echo(f"{file}:{e['line']}:{e['col']}: expect not met: {e['text']} "
                   f"(found: {e['detail']})")
    met = len(result["expects"]) - len(result["unmet"])
    click.echo(f"{file}: variant {result['variant']}, {result['steps']} steps, "
               f"{len(result['findings'])} findings, {met} of {len(result['expects'])} "
               f"expectations met")


@click.command()
@click.argument("ops_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--swapdev", type=click.Choice(["virtio", "virtio-ssd", "brd"]), default="virtio",
              show_default=True, help="The oracle's device kind.")
@click.option("--swap-mb", type=click.IntRange(min=1), default=None, metavar="N",
              help="First device size in MB (default: the script's '#%' line, else 64).")
@click.option("--swap2-mb", type=click.IntRange(min=1), default=None, metavar="N",
              help="Second device size in MB.")
@click.option("--variant", default=None, metavar="V",
              help="legacy, v5, mainline, linux-7.2 (default), or FILE.py:Class.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"reports", "snap", "ops", "findings"}.')
def replay(ops_file: str, swapdev: str, swap_mb: int | None, swap2_mb: int | None,
           variant: str | None, as_json: bool) -> None:
    """Run a kernel-oracle ops scenario on the model and print its REPORT lines.

    REPORT and SNAP lines come in the order the scenario ran them, then the
    OP lines, then any findings.
    """
    from swaplab.check import findings
    from swaplab.oracle.ops import parse_ops
    from swaplab.oracle.replay import replay as replay_script
    from swaplab.program.interp import using_variant
    try:
        with open(ops_file, encoding="utf-8") as stream:
            text = stream.read()
    except (OSError, UnicodeDecodeError) as e:
        _bad_input(InvalidScenario(f"cannot read the ops file: {e}", ops_file))
    try:
        script = parse_ops(text, ops_file)
        with using_variant(variant, REPLAY_DEFAULT_VARIANT) as name:
            result = replay_script(script, swapdev, swap_mb, swap2_mb)
            found = [f.to_json() for f in findings.log.findings]
    except InvalidScenario as e:
        if e.file is None:
            e = InvalidScenario(e.msg, ops_file, e.line, e.col)
        _bad_input(e)
    _note_variant(variant, REPLAY_DEFAULT_VARIANT, name)
    if as_json:
        out = {"reports": result["reports"], "snap": result["snap"], "ops": result["ops"],
               "findings": found}
        click.echo(json.dumps(out, indent=2, sort_keys=True))
    else:
        for line in replay_lines(result):
            click.echo(line)
        for f in found:
            click.echo(f"FINDING step {f['step']}: {f['kind']}"
                       + (f" in {f['function']}" if f["function"] else "")
                       + (f" slot [{f['entry'][0]}, {f['entry'][1]}]" if f["entry"] else "")
                       + f": {f['message']}")
    sys.exit(1 if found else 0)


def replay_lines(result: dict[str, Any]) -> list[str]:
    """The REPORT and SNAP lines in run order (a SNAP follows the report it came after), then OPs."""
    from swaplab.oracle.encode import format_report_line, format_snap_line
    snaps = list(result["snap"])
    out = [format_snap_line(s) for s in snaps if s.get("after") is None]
    for report in result["reports"]:
        out.append(format_report_line(report))
        out += [format_snap_line(s) for s in snaps if s.get("after") == report["label"]]
    out += [f"OP {op}" for op in result["ops"]]
    return out
