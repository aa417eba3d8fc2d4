"""``swaplab run`` and ``swaplab replay`` through click's CliRunner: output, JSON, exit codes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from swaplab.cli.main import cli
from swaplab.oracle.results import ALL_KEYS, compare_reports, load_runs


def _shared() -> Path | None:
    """The shared folder, found as tests/oracle/conftest.py finds it."""
    spec = importlib.util.spec_from_file_location(
        "oracle_conftest", Path(__file__).resolve().parents[1] / "oracle" / "conftest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SHARED  # type: ignore[no-any-return]


SHARED = _shared()

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def write(tmp_path: Path, text: str, name: str = "p.swp") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_run_example_exit_0() -> None:
    r = invoke("run", str(EXAMPLES / "demo.swp"))
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "variant mainline" in r.stdout and "0 findings" in r.stdout


def test_run_json_shape() -> None:
    r = invoke("run", str(EXAMPLES / "demo.swp"), "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert {"variant", "steps", "findings", "swaps", "vmstat"} <= set(out)
    assert out["variant"] == "mainline" and isinstance(out["steps"], int)
    assert out["swaps"] == [{"name": "/dev/ram0", "type": "partition", "size_kb": 1020,
                             "used_kb": 0, "priority": -1}]
    for key in ("pswpin", "pswpout", "ksm_swpin_copy", "swpout", "swpout_fallback"):
        assert key in out["vmstat"]


def test_run_unmet_expect_exit_1(tmp_path: Path) -> None:
    path = write(tmp_path, "device d 1M sync\nswapon d\nexpect used d=4\n")
    r = invoke("run", path)
    assert r.exit_code == 1
    assert f"{path}:3:1: expect not met: expect used d=4 (found: used 0 kB)" in r.stdout


def test_run_findings_exit_1_and_json(tmp_path: Path, oops_variant: str) -> None:
    path = write(tmp_path, "device d 1M sync\nswapon d\nprocess p\np map 2\np write\np pageout\n")
    r = invoke("run", path, "--variant", oops_variant, "--json")
    assert r.exit_code == 1
    out = json.loads(r.stdout)
    assert out["variant"] == "oops"
    f = out["findings"][0]
    assert (f["kind"], f["function"], f["step"], f["line"]) == ("vm-warn", "folio_alloc_swap", 6, 6)
    assert {"kind", "message", "step", "function", "entry"} <= set(f)


@pytest.mark.parametrize("text,message", [
    ("device d 1M sync\nswapon e\n", ":2:8: expected a device declared by 'device', got 'e'"),
    ("process p\np map 2\np write 0..3\n", ":3:9: range 0..3 goes past the end"),
])
def test_run_bad_program_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    r = invoke("run", path, "--json")
    assert r.exit_code == 2
    assert r.stdout == ""                       # nothing half-done on stdout
    assert r.stderr.startswith(f"swaplab: {path}{message}")


def test_run_bad_flags_exit_2(tmp_path: Path) -> None:
    assert invoke("run", str(tmp_path / "missing.swp")).exit_code == 2
    r = invoke("run", str(EXAMPLES / "demo.swp"), "--variant", "nope")
    assert r.exit_code == 2 and r.stderr.startswith("swaplab: --variant: unknown variant 'nope'")
    assert invoke("run", str(EXAMPLES / "demo.swp"), "--bogus").exit_code == 2


def test_replay_matches_recorded_a_brd() -> None:
    assert SHARED is not None, "the shared folder was not found"
    r = invoke("replay", str(SHARED / "oracle/scenarios/a.ops"), "--swapdev", "brd", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"reports", "snap", "ops", "findings"}
    expected = load_runs(SHARED / "oracle/linux-7.2.13/a-brd.json")[0]
    result = compare_reports(expected, out, keys=ALL_KEYS)
    assert result.ok, result.summary()
    assert out["ops"] == expected["ops"] and out["findings"] == []


def test_replay_text_prints_report_lines() -> None:
    assert SHARED is not None
    r = invoke("replay", str(SHARED / "oracle/scenarios/a.ops"), "--swapdev", "brd")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("REPORT a0_written who=parent swaps=1 ")
    assert sum(line.startswith("REPORT ") for line in lines) == 5
    assert lines[-1] == "OP sysctl vm/page-cluster=0 -> 0" or lines[-1].startswith("OP ")


def test_replay_bad_ops_file_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "swapon @swapdev\nmap x\n", "bad.ops")
    r = invoke("replay", path, "--json")
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"swaplab: {path}:2:5: expected a page count after 'map', got 'x'")


def test_replay_bad_flags_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "swapon @swapdev\n", "ok.ops")
    assert invoke("replay", path, "--swapdev", "nvme").exit_code == 2
    assert invoke("replay", path, "--swap-mb", "0").exit_code == 2
    assert invoke("replay", path, "--variant", "nope").exit_code == 2
    assert invoke("replay", path).exit_code == 0


def test_demo_runs_the_demo_program() -> None:
    r = invoke("demo")
    assert r.exit_code == 0, r.stdout
    assert "parent fork child" in r.stdout and "/dev/ram0" in r.stdout
    assert "0 findings" in r.stdout
