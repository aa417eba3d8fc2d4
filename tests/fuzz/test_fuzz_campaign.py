"""Campaigns: deterministic findings (run after run, 1 or 2 jobs, Dask), crash safety, resume."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from swaplab.fuzz.campaign import CampaignConfig
from swaplab.fuzz.db import FindingsDB
from swaplab.fuzz.runner import run_campaign


def _signature(result):  # type: ignore[no-untyped-def]
    return sorted((f["kind"], f["function"], f["seed"], f["program"]) for f in result["findings"])


def test_same_seed_same_findings_and_programs_with_1_or_2_jobs(tmp_path):
    cfg = {"variant": "v5", "seed": 7, "seconds": None, "programs": 250}
    one = run_campaign(CampaignConfig(db=str(tmp_path / "a"), **cfg))
    again = run_campaign(CampaignConfig(db=str(tmp_path / "b"), **cfg))
    two = run_campaign(CampaignConfig(db=str(tmp_path / "c"), jobs=2, **cfg))
    assert one["programs"] == again["programs"] == two["programs"] == 250
    assert one["findings"] and _signature(one) == _signature(again) == _signature(two)


def test_restart_resumes_from_the_checkpoint(tmp_path):
    cfg = CampaignConfig(db=str(tmp_path), variant="mainline", seed=3, seconds=None,
                         programs=40)
    first = run_campaign(cfg)
    assert first["programs"] == 40
    db = FindingsDB(str(tmp_path))
    assert db.progress("mainline", 3, 1, 0)[:2] == (40, 40)
    db.close()
    # all 40 seeds done: a restart runs nothing more
    t = time.monotonic()
    assert run_campaign(cfg)["programs"] == 40
    assert time.monotonic() - t < 2
    # a longer campaign of the same seeds goes on from seed 43
    more = run_campaign(CampaignConfig(db=str(tmp_path), variant="mainline", seed=3,
                                       seconds=None, programs=60))
    assert more["programs"] == 60


RECORDED = re.compile(r"recorded finding (\d+): (\S+) in (\S+)")


def test_sigkill_loses_no_recorded_finding_and_restart_resumes(tmp_path, swaplab_env):
    db = str(tmp_path / "db")
    cmd = [sys.executable, "-m", "swaplab", "fuzz", "--variant", "v5", "--seed", "100",
           "--seconds", "60", "--db", db]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=swaplab_env)
    recorded = []
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while len(recorded) < 3 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = RECORDED.search(line)
        if m:
            recorded.append((int(m.group(1)), m.group(2), m.group(3)))
    time.sleep(0.7)                     # past a checkpoint, in the middle of whatever runs
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(recorded) >= 3
    store = FindingsDB(db)
    stored = {(f.id, f.kind, f.function or "-") for f in store.findings("v5")}
    assert set(recorded) <= stored
    before = store.progress("v5", 100, 1, 0)
    store.close()
    assert before is not None and before[0] > 0
    # the restart goes on from the checkpoint: it does not start at seed 100 again
    out = subprocess.run(cmd[:-4] + ["--seconds", "1", "--db", db, "--json"], env=swaplab_env,
                         capture_output=True, text=True, timeout=120, check=False)
    import json
    result = json.loads(out.stdout)
    assert result["programs"] > before[1]
    store = FindingsDB(db)
    after = store.progress("v5", 100, 1, 0)
    store.close()
    assert after is not None and after[0] > before[0]


def test_dask_local_cluster_campaign(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        cfg = {"variant": "v5", "seed": 7, "seconds": None, "programs": 120}
        on_dask = run_campaign(CampaignConfig(db=str(tmp_path / "dask"), jobs=2, **cfg),
                               cluster=cluster.scheduler_address)
    local = run_campaign(CampaignConfig(db=str(tmp_path / "local"), jobs=2, **cfg))
    assert on_dask["programs"] == 120
    assert on_dask["findings"] and _signature(on_dask) == _signature(local)


def test_coverage_sampling_backs_off_once_no_new_function_is_hit():
    from swaplab.fuzz.campaign import PROFILE_EVERY, PROFILE_EVERY_MAX, next_profiled_program
    ran, gap, gaps = 0, PROFILE_EVERY, []
    for found in (True, False, False, True, False, False, False, False, False, False):
        ran, gap = next_profiled_program(ran, gap, found)
        gaps.append(gap)
    assert gaps == [32, 64, 128, 32, 64, 128, 256, 512, 512, 512]
    assert (PROFILE_EVERY, PROFILE_EVERY_MAX) == (32, 512)
    assert ran == sum(gaps)


def test_campaign_reports_the_modeled_functions_it_hit(tmp_path):
    from swaplab.fuzz.campaign import modeled_functions, run_job
    cfg = CampaignConfig(db=str(tmp_path / "a"), variant="mainline", seed=0, seconds=None,
                         programs=100)
    hit = []
    for db in ("a", "b"):
        hit.append(set())
        run_job(dataclasses.replace(cfg, db=str(tmp_path / db)), 0,
                lambda e: hit[-1].update(e.get("functions", ())))
    assert hit[0] == hit[1]                  # the same programs are profiled, run after run
    assert hit[0] <= modeled_functions()
    # program 0 is profiled: its swapon, page-out and swapoff paths are there
    assert {"sys_swapon", "folio_alloc_swap", "sys_swapoff", "try_to_unuse"} <= hit[0]
    assert len(hit[0]) > 150
