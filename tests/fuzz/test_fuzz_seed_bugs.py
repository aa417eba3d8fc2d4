"""The three seed bugs (spec §6) on v5: found within a bounded number of programs, shrunk
within the op limits, reproduced by ``swaplab run``; nothing on mainline."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from swaplab.cli.main import cli
from swaplab.fuzz.campaign import SEED_BUGS, CampaignConfig
from swaplab.fuzz.runner import run_campaign

LIMITS = {"seed_bug_leak": 8, "seed_bug_recursion": 8, "seed_bug_ksm": 12}


@pytest.fixture(scope="module")
def v5_campaign(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("v5"))
    # seeds 0..599: the KSM bug first shows at seed 384, the two others in the first 10
    return db, run_campaign(CampaignConfig(db=db, variant="v5", seed=0, seconds=None,
                                           programs=600))


@pytest.mark.parametrize("bug", sorted(SEED_BUGS))
def test_seed_bug_found_shrunk_and_reproduced(v5_campaign, bug, tmp_path):
    _db, result = v5_campaign
    found = [f for f in result["findings"] if (f["kind"], f["function"]) in SEED_BUGS[bug]]
    assert found, f"{bug} not found in 600 programs: {[(f['kind'], f['function']) for f in result['findings']]}"
    f = min(found, key=lambda f: f["ops"])
    assert f["ops"] <= LIMITS[bug], f["program"]
    path = tmp_path / "repro.swp"
    path.write_text(f["program"])
    out = CliRunner().invoke(cli, ["run", str(path), "--variant", "v5", "--json"])
    import json
    run = json.loads(out.output)
    assert run["unmet"] == [] and len(run["expects"]) == 1      # the expect line holds
    assert any((x["kind"], x["function"]) == (f["kind"], f["function"]) for x in run["findings"])
    # and the fixed tree does not show it
    out = CliRunner().invoke(cli, ["run", str(path), "--variant", "mainline", "--json"])
    assert json.loads(out.output)["unmet"]


def test_mainline_has_no_finding_on_a_fixed_seed_set(tmp_path):
    result = run_campaign(CampaignConfig(db=str(tmp_path), variant="mainline", seed=1000,
                                         seconds=None, programs=300))
    assert result["programs"] == 300
    assert result["findings"] == []
