"""``agency runbook``: every runbook headless through the CLI against a live control plane,
recorded with its actor; failing cells, hung kernels and bad input end as failed runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest

from agency.models import Role
from agency.testing import ADMIN, free_port
from tests.e2e.runbooks.conftest import Live

# extra parameters per runbook; stuck_task_triage looks at every unfinished task but must not touch it
RUNBOOKS = {
    "fleet_health": [],
    "audit_review": [],
    "saved_queries": [],
    "task_replay": [],
    "incident_report": ["-p", "hours=1"],
    "stuck_task_triage": ["-p", "older_than_minutes=0"],
    "schedule_review": ["-p", "hours=1"],
    "workflows": ["-p", "hours=1"],
}


def _outputs(path: Path) -> tuple[list[str], list[str]]:
    """The stdout text and the error names of an executed notebook."""
    nb = nbformat.read(path, as_version=4)
    text, errors = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                text.append(out["text"])
            elif out["output_type"] == "error":
                errors.append(out["ename"])
    return text, errors


def _runs(live: Live, name: str) -> list[dict[str, object]]:
    with live.stack.http() as http:
        runs: list[dict[str, object]] = http.get(
            "/api/v1/runbooks/runs", params={"name": name}
        ).json()
        return runs


def _write(folder: Path, name: str, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {name}\n\nA test runbook."))
    for i, src in enumerate(sources):
        cell = nbformat.v4.new_code_cell(src)
        if i == 0:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{name}.ipynb")


def test_list_shows_the_eight_runbooks(live: Live) -> None:
    p = live.agency_process("runbook", "list", "--json")
    assert p.returncode == 0, p.stderr
    books = {b["name"]: b for b in json.loads(p.stdout)}
    assert set(books) == set(RUNBOOKS)
    assert "confirm" in books["stuck_task_triage"]["parameters"]
    assert all("url" not in b["parameters"] and b["purpose"] for b in books.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RUNBOOKS))
def test_every_runbook_runs_headless_and_is_recorded(live: Live, name: str) -> None:
    p = live.agency("runbook", "run", name, *RUNBOOKS[name], "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    run = json.loads(p.stdout)
    assert run["status"] == "succeeded" and run["error"] is None and run["actor"] == "admin"
    out = Path(run["output_path"])
    assert out.parent == live.data_dir / "runbooks" and out.name.startswith(f"{name}-")
    text, errors = _outputs(out)
    assert errors == [] and text, f"{name}: {errors}"
    assert ADMIN not in out.read_text(), "the token must never be written into an executed notebook"
    assert run["id"] in [r["id"] for r in _runs(live, name)]
    if name == "stuck_task_triage":
        assert "tasks changed by this run: 0\n" in text and any("1 stuck" in t for t in text)
        assert live.client().task(live.seeded.stuck).task.state.value == "running"
    if name == "schedule_review":
        assert "{'missed': True, 'overlap': True, 'failed': True}\n" in text


@pytest.mark.slow
def test_stuck_triage_cancels_in_bulk_only_when_confirmed(live: Live) -> None:
    p = live.agency(
        "runbook",
        "run",
        "stuck_task_triage",
        "-p",
        "older_than_minutes=0",
        "-p",
        "confirm=true",
        "-p",
        "reason=cleared by the runbook test",
        "--json",
    )
    assert p.returncode == 0, p.stdout + p.stderr
    run = json.loads(p.stdout)
    assert run["parameters"] == {
        "older_than_minutes": 0.0,
        "confirm": True,
        "reason": "cleared by the runbook test",
    }
    text, _ = _outputs(Path(run["output_path"]))
    assert "tasks changed by this run: 1\n" in text
    with live.client() as client:
        task = client.wait(live.seeded.stuck, timeout=60)
        assert task.state.value == "canceled"
        reasons = [d.get("reason") for d in client.timeline(task.id)["details"]]
    assert "canceled by admin: cleared by the runbook test" in reasons


def test_an_unknown_runbook_is_refused_listed_and_recorded(live: Live) -> None:
    p = live.agency("runbook", "run", "no_such_book", "-p", "x=1")
    assert p.returncode == 1
    assert (
        "no runbook 'no_such_book'; known runbooks: audit_review, fleet_health, incident_report"
        in p.stderr
    )
    assert "recorded as a failed run" in p.stderr
    [run] = _runs(live, "no_such_book")
    assert (
        run["status"] == "failed" and run["parameters"] == {"x": "1"} and run["output_path"] is None
    )


def test_wrong_and_unknown_parameters_are_refused_before_anything_runs(live: Live) -> None:
    before = (
        len(list((live.data_dir / "runbooks").glob("fleet_health-*")))
        if (live.data_dir / "runbooks").exists()
        else 0
    )
    p = live.agency("runbook", "run", "fleet_health", "-p", "hours=soon", "-p", "colour=red")
    assert p.returncode == 1
    assert "parameter 'hours' must be float, got 'soon'" in p.stderr
    assert "has no parameter 'colour' (its parameters: hours, stale_after_s)" in p.stderr
    assert any(
        r["status"] == "failed" and r["parameters"] == {"hours": "soon", "colour": "red"}
        for r in _runs(live, "fleet_health")
    )
    after = (
        len(list((live.data_dir / "runbooks").glob("fleet_health-*")))
        if (live.data_dir / "runbooks").exists()
        else 0
    )
    assert after == before, "a refused run executes nothing"
    token = live.agency("runbook", "run", "fleet_health", "-p", "token=abc")
    assert token.returncode == 1 and "give --url/--token" in token.stderr
    malformed = live.agency("runbook", "run", "fleet_health", "-p", "hours")
    assert malformed.returncode == 2 and "name=value" in malformed.stderr


def test_a_control_plane_that_is_down_is_a_clear_message(live: Live) -> None:
    recorded = len(_runs(live, "fleet_health"))
    p = live.agency("runbook", "run", "fleet_health", "--url", f"http://127.0.0.1:{free_port()}")
    assert p.returncode == 1
    assert (
        "cannot reach the control plane" in p.stderr
        and "nothing ran and nothing was recorded" in p.stderr
    )
    assert len(_runs(live, "fleet_health")) == recorded


def test_a_failing_cell_fails_the_run_and_keeps_the_notebook(live: Live, tmp_path: Path) -> None:
    _write(tmp_path, "boom", "divisor: int = 0", "print('before')", "1 / divisor", "print('never')")
    token = live.stack.token("rita", Role.OPERATOR)
    p = live.agency(
        "runbook", "run", "boom", "--json", token=token, AGENCY_RUNBOOK_DIR=str(tmp_path)
    )
    assert p.returncode == 1
    run = json.loads(p.stdout)
    assert run["status"] == "failed" and run["actor"] == "rita"
    assert run["error"].startswith("ZeroDivisionError: division by zero")
    text, errors = _outputs(Path(run["output_path"]))
    assert text == ["before\n"] and errors == ["ZeroDivisionError"]
    ok = live.agency(
        "runbook", "run", "boom", "-p", "divisor=4", token=token, AGENCY_RUNBOOK_DIR=str(tmp_path)
    )
    assert ok.returncode == 0, ok.stderr
    assert "boom: succeeded" in ok.stdout


def test_a_hung_kernel_ends_the_run_as_failed_at_the_timeout(live: Live, tmp_path: Path) -> None:
    _write(
        tmp_path,
        "hang",
        "seconds: float = 600",
        "import time\nprint('sleeping', flush=True)\ntime.sleep(seconds)",
    )
    started = time.monotonic()
    p = live.agency(
        "runbook", "run", "hang", "--timeout", "4", "--json", AGENCY_RUNBOOK_DIR=str(tmp_path)
    )
    elapsed = time.monotonic() - started
    assert p.returncode == 1, p.stdout + p.stderr
    run = json.loads(p.stdout)
    assert run["status"] == "failed" and "timed out" in run["error"].lower()
    assert elapsed < 90, f"the run took {elapsed:.0f} s despite a 4 s timeout"
    assert Path(run["output_path"]).is_file()


def test_a_kernel_that_dies_fails_the_run(live: Live, tmp_path: Path) -> None:
    _write(tmp_path, "crash", "code: int = 9", "import os\nos._exit(code)", "print('never')")
    p = live.agency("runbook", "run", "crash", "--json", AGENCY_RUNBOOK_DIR=str(tmp_path))
    assert p.returncode == 1, p.stdout + p.stderr
    run = json.loads(p.stdout)
    assert run["status"] == "failed" and "DeadKernelError" in run["error"]
    assert Path(run["output_path"]).is_file()


def test_show_runs_and_a_broken_notebook(live: Live, tmp_path: Path) -> None:
    shown = live.agency("runbook", "show", "task_replay")
    assert shown.returncode == 0 and 'task_id: str = ""' in shown.stdout
    runs = live.agency("runbook", "runs", "--name", "no_such_book", "--json")
    assert runs.returncode == 0 and all(
        r["name"] == "no_such_book" for r in json.loads(runs.stdout)
    )
    (tmp_path / "broken.ipynb").write_text("{not json")
    _write(tmp_path, "fine", "n: int = 1")
    listed = live.agency("runbook", "list", AGENCY_RUNBOOK_DIR=str(tmp_path))
    assert listed.returncode == 0 and "unreadable" in listed.stdout and "fine" in listed.stdout
    broken = live.agency("runbook", "run", "broken", AGENCY_RUNBOOK_DIR=str(tmp_path))
    assert broken.returncode == 1 and "not a readable notebook" in broken.stderr
