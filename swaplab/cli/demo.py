"""``swaplab demo``: ``examples/demo.swp`` run step by step, with every slot shown.

After each operation the demo prints the comment written above it in the
program, every process's pages (``P`` present, ``C`` present and in the swap
cache, ``S`` swap pte, ``-`` none), every used slot (its swap_map byte,
count, cache state and swap table word), the clusters, and /proc/swaps.
``expect`` lines print whether they held.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from swaplab.mm import swapfile
from swaplab.oracle.encode import encode_map, encode_slots
from swaplab.program.ast import Stmt
from swaplab.sim import inspect
from swaplab.sim.world import Process, World

DEMO_PROGRAM = Path(__file__).resolve().parents[2] / "examples" / "demo.swp"


def show_slots(console: Console) -> None:
    """Every used slot of every device, then /proc/swaps."""
    for si in inspect.for_each_swap_info():
        if not inspect.inuse(si):
            console.print(f"type {si.type}: no slot in use", highlight=False)
            continue
        table = Table(title=f"type {si.type}: inuse_pages={inspect.inuse(si)} "
                      f"clusters {' '.join(inspect.cluster_summary(si))}")
        for col in ("offset", "swap_map", "count", "cache", "swap table"):
            table.add_column(col)
        for off in inspect.used_offsets(si):
            st = inspect.slot_state(si, off)
            table.add_row(str(off), f"{st['byte']:#04x}", str(st["count"]),
                          "cached" if st["cached"] else "", st["table"])
        console.print(table)
    console.print(swapfile.proc_swaps(), highlight=False, soft_wrap=True)


def show_pages(console: Console, world: World, procs: dict[str, Process]) -> None:
    for name, proc in procs.items():
        if proc.alive and proc.anon is not None:
            states, entries = world.page_states(proc)
            console.print(f"{name}: pages {''.join(states)}  map {encode_map(states)}  "
                          f"slots {encode_slots(entries)}", highlight=False)


def _notes(text: str) -> dict[int, str]:
    """Line number of each statement -> the comment lines right above it."""
    notes: dict[int, str] = {}
    block: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            block.append(stripped.lstrip("#").strip())
        elif stripped:
            notes[number] = " ".join(block)
            block = []
        else:
            block = []
    return notes


def demo(console: Console | None = None, path: Path = DEMO_PROGRAM) -> int:
    """Run the demo program; return 0 (no finding, every expectation met) or 1."""
    from swaplab.program import exit_status, parse_program, run_program
    console = console or Console()
    text = path.read_text(encoding="utf-8")
    program = parse_program(text, str(path))
    notes = _notes(text)
    checked: list[int] = []

    def on_step(step: int, stmt: Stmt, world: World, procs: dict[str, Process]) -> None:
        if stmt.text().startswith("expect "):
            checked.append(stmt.line)
            return
        console.rule(f"[bold]{stmt.text()}")
        if notes.get(stmt.line):
            console.print(notes[stmt.line], highlight=False)
        show_pages(console, world, procs)
        show_slots(console)

    result = run_program(program, on_step=on_step)
    met = len(result["expects"]) - len(result["unmet"])
    console.rule("[bold]result")
    console.print(f"{len(result['findings'])} findings, {met} of {len(result['expects'])} "
                  "expectations met", highlight=False)
    for f in result["findings"]:
        console.print(f"line {f['line']}: {f['kind']}: {f['message']}", highlight=False)
    for e in result["unmet"]:
        console.print(f"line {e['line']}: expect not met: {e['text']} ({e['detail']})",
                      highlight=False)
    return exit_status(result)
