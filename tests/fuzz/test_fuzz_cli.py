"""``swaplab fuzz`` and ``swaplab findings``: output shapes and exit codes."""

from __future__ import annotations

import json

from click.testing import CliRunner

from swaplab.cli.main import cli


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def test_fuzz_json_findings_list_and_show(tmp_path):
    db = str(tmp_path / "db")
    out = invoke("fuzz", "--variant", "v5", "--programs", "40", "--db", db, "--json")
    assert out.exit_code == 1, out.output
    result = json.loads(out.stdout)
    assert {"programs", "seconds", "findings"} <= set(result)
    assert result["programs"] == 40
    assert result["findings"]
    for f in result["findings"]:
        assert {"id", "kind", "function", "first_seen_s", "program"} <= set(f)
        assert f["program"].rstrip().splitlines()[-1].startswith(f"expect finding {f['kind']}")
    assert "recorded finding 1:" in out.stderr
    listed = invoke("findings", "--db", db)
    assert listed.exit_code == 0 and "lock-recursion in swap_entry_swapped" in listed.output
    as_json = json.loads(invoke("findings", "--db", db, "--json").output)
    assert [f["id"] for f in as_json] == [f["id"] for f in result["findings"]]
    shown = invoke("findings", "show", "1", "--db", db)
    assert shown.exit_code == 0 and shown.output == result["findings"][0]["program"]
    shown = invoke("findings", "--db", db, "show", "1")
    assert shown.exit_code == 0 and shown.output == result["findings"][0]["program"]


def test_fuzz_mainline_summary_exit_0(tmp_path):
    out = invoke("fuzz", "--programs", "20", "--db", str(tmp_path))
    assert out.exit_code == 0, out.output
    assert "variant mainline: 20 programs" in out.stdout and "0 findings" in out.stdout


def test_bad_input_exits_2(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("not a directory")
    cases = [
        ("fuzz", "--jobs", "0", "--db", str(tmp_path)),
        ("fuzz", "--seconds", "-1", "--db", str(tmp_path)),
        ("fuzz", "--variant", "nosuch", "--db", str(tmp_path)),
        ("fuzz", "--db", str(afile / "sub"), "--programs", "1"),
        ("fuzz", "--cluster", "tcp://127.0.0.1:1", "--programs", "1", "--db", str(tmp_path)),
        ("findings", "--db", str(tmp_path / "missing")),
        ("findings", "show", "999", "--db", str(tmp_path)),
        ("findings", "show", "x", "--db", str(tmp_path)),
    ]
    invoke("fuzz", "--programs", "1", "--db", str(tmp_path))        # makes the database
    for args in cases:
        out = invoke(*args)
        assert out.exit_code == 2, (args, out.output)
        assert out.stdout == "" or "Usage" in out.output, (args, out.stdout)
