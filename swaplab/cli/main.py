"""The ``swaplab`` command.

Exit status: 0 success / no finding, 1 findings, 2 bad input (click's usage
errors exit 2 as well).
"""

from __future__ import annotations

import json
import sys

import click

from swaplab.errors import InvalidScenario


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """swaplab: an executable model of the Linux swap entry lifecycle."""


@cli.command()
def demo() -> None:
    """A guided run: swapon, swap-out, fork, swap-in, teardown, with every slot shown."""
    from swaplab.cli.demo import demo as run_demo
    sys.exit(run_demo())


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quick", is_flag=True, help="Smaller sizes (for tests); numbers are not the targets'.")
def bench(as_json: bool, quick: bool) -> None:
    """Measure the model's speed and memory (the issue targets)."""
    from swaplab.bench import run_bench
    result = run_bench(quick=quick)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        for key, value in sorted(result.items()):
            click.echo(f"{key:36} {value}")


from swaplab.cli.run import replay, run  # noqa: E402

cli.add_command(run)
cli.add_command(replay)

from swaplab.fuzz.cli import findings, fuzz  # noqa: E402

cli.add_command(fuzz)
cli.add_command(findings)


@cli.command("diff")
@click.argument("program", type=click.Path(exists=True, dir_okay=False))
@click.option("--variants", required=True, metavar="A,B", help="The two variants, e.g. legacy,mainline.")
@click.option("--swapdev", type=click.Choice(["virtio", "virtio-ssd", "brd"]), default="virtio",
              show_default=True, help="For an .ops file: the oracle's device kind.")
@click.option("--swap-mb", type=click.IntRange(min=1), default=None, metavar="N", help="For an .ops file.")
@click.option("--swap2-mb", type=click.IntRange(min=1), default=None, metavar="N", help="For an .ops file.")
@click.option("--json", "as_json", is_flag=True, help='Print {"divergences": [...], "steps": N}.')
def diff_cmd(program: str, variants: str, swapdev: str, swap_mb: int | None, swap2_mb: int | None,
             as_json: bool) -> None:
    """Run PROGRAM (a program or an .ops file) on two variants; report the first divergence."""
    from swaplab.check.diff import diff_file, format_result
    try:
        result = diff_file(program, variants, swapdev, swap_mb, swap2_mb)
    except InvalidScenario as e:
        click.echo(f"swaplab: {e}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        for line in format_result(result):
            click.echo(line)
    sys.exit(1 if result.divergences else 0)


@cli.command("variants")
def variants_cmd() -> None:
    """List the variants: name, summary, number of overrides (see docs/variants.md)."""
    from swaplab.variants import list_variants
    for v in list_variants():
        n = len(v.overrides())
        click.echo(f"{v.name:<10} {v.summary} ({n} override{'' if n == 1 else 's'})")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except InvalidScenario as e:
        click.echo(f"swaplab: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
