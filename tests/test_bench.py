"""swaplab/bench.py: the pieces `make bench` relies on, checked without timing anything."""

from __future__ import annotations

import pytest

from swaplab import bench


def test_lock_findings_names_both_acquisition_sites() -> None:
    # The self-check a checked build must reproduce exactly (v5's recursive
    # cluster lock, spec §6.2): both sites are modeled functions, past the
    # lock API and the inline cluster-lock helpers.
    found = bench.lock_findings()
    recursion = [f for f in found if f[0] == "lock-recursion"]
    assert len(recursion) == 1
    kind, function, message = recursion[0]
    assert function == "swap_entry_swapped"
    assert "acquire lock &cluster_info[i].lock at swap_entry_swapped" in message
    assert "already holding lock &cluster_info[i].lock at swap_free_hibernation_slot" in message


def test_checks_on_falls_back_to_the_source_without_a_checked_build(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(bench, "CHECKS_BUILD", str(tmp_path / "none"))
    rate, build = bench.cycles_checks_on_built(200)
    assert build == "source"
    assert rate > 0


def test_the_cycle_refuses_to_time_a_run_with_findings(monkeypatch) -> None:
    from swaplab.check import findings
    from swaplab.sim.system import boot
    boot(checks=findings.RECORD)
    bench._swapon("/dev/vda", bench.GiB)
    findings.report("vm-warn", "planted")
    with pytest.raises(RuntimeError, match="benchmark cycle raised findings"):
        bench._cycle_rate(10, rounds=1)
