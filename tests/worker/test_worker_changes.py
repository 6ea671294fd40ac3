"""``GET /task/{id}/changes`` through a real worker: a plain workspace (before/after walk), a
git repository (its working tree diffed, its index and objects untouched), and the cap."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agency.models import WorkspaceChanges
from agency.testing import WorkerProc, start_worker, wait_state

CAP = 4096


@pytest.fixture(scope="module", params=["auto", "off"])
def worker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[WorkerProc]:
    """With bubblewrap where it works (git then runs in the task's sandbox) and without."""
    w = start_worker(
        tmp_path_factory.mktemp("changes"),
        capacity=2,
        sandbox=request.param,
        env={"AGENCY_CHANGES_MAX_BYTES": str(CAP)},
    )
    yield w
    w.stop()


@pytest.fixture
def client(worker: WorkerProc) -> Iterator[httpx.Client]:
    with worker.client() as c:
        yield c


def tid() -> str:
    return uuid.uuid4().hex[:12]


def changes_of(client: httpx.Client, argv: list[str], **spec: Any) -> WorkspaceChanges:
    t = tid()
    resp = client.post(
        "/task", json={"task_id": t, "kind": "shell", "spec": {"argv": argv, **spec}}
    )
    assert resp.status_code == 201, resp.text
    assert wait_state(client, t)["state"] == "succeeded"
    answer = client.get(f"/task/{t}/changes")
    assert answer.status_code == 200, answer.text
    return WorkspaceChanges.model_validate(answer.json())


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_a_plain_workspace_lists_added_files_with_their_diff(client: httpx.Client) -> None:
    script = (
        "printf 'alpha\\nbeta\\n' > notes.txt; mkdir -p sub; printf 'x' > sub/no-newline.txt; "
        "printf '\\000\\001\\002' > blob.bin; ln -s /etc/passwd link; mkfifo pipe"
    )
    got = changes_of(client, ["sh", "-c", script])
    assert got.method == "snapshot" and got.error is None and not got.truncated
    assert got.cap_bytes == CAP
    assert [(f.path, f.status) for f in got.files] == [
        ("blob.bin", "added"),
        ("link", "added"),
        ("notes.txt", "added"),
        ("sub/no-newline.txt", "added"),
    ]
    assert (
        "diff --git a/notes.txt b/notes.txt\nnew file\n--- /dev/null\n+++ b/notes.txt" in got.diff
    )
    assert "+alpha\n+beta\n" in got.diff
    assert "+x\n\\ No newline at end of file\n" in got.diff
    assert "Binary files a/blob.bin and b/blob.bin differ" in got.diff
    # a symlink is its target, never the file it points to
    assert "+symlink -> /etc/passwd" in got.diff and "root:" not in got.diff


def test_a_git_repository_is_diffed_and_left_as_it_was(
    client: httpx.Client, worker: WorkerProc
) -> None:
    name = f"repo-{tid()}"
    repo = worker.data_dir / "workspaces" / name
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / ".gitignore").write_text("*.log\n")
    for f in ("a.txt", "b.txt", "c.txt"):
        (repo / f).write_text(f"{f} line 1\n{f} line 2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    (repo / "untracked-before.txt").write_text("was here before the task\n")
    index = hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest()
    objects = sorted(p.name for p in (repo / ".git" / "objects").rglob("*"))
    head = git(repo, "rev-parse", "HEAD")

    script = (
        "printf 'a.txt line 1\\nchanged\\n' > a.txt; rm b.txt; echo new > n.txt; "
        "echo noise > debug.log; printf '\\000\\001' > bin.dat"
    )
    got = changes_of(client, ["sh", "-c", script], cwd=f"../{name}", files=[f"../{name}"])
    assert got.method == "git" and got.error is None, got.error
    assert got.root == str(repo.resolve())
    assert [(f.path, f.status) for f in got.files] == [
        ("a.txt", "modified"),
        ("b.txt", "deleted"),
        ("bin.dat", "added"),
        ("n.txt", "added"),
    ]
    assert "diff --git a/a.txt b/a.txt" in got.diff
    assert "-a.txt line 2\n+changed\n" in got.diff
    assert "deleted file mode" in got.diff and "+new\n" in got.diff
    assert "Binary files /dev/null and b/bin.dat differ" in got.diff
    assert "debug.log" not in got.diff and "untracked-before" not in got.diff
    # the user's index, objects and HEAD are untouched: the tracker used its own
    assert hashlib.sha256((repo / ".git" / "index").read_bytes()).hexdigest() == index
    assert sorted(p.name for p in (repo / ".git" / "objects").rglob("*")) == objects
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_repository_made_by_the_task_is_a_plain_workspace_without_its_git_dir(
    client: httpx.Client,
) -> None:
    script = (
        "git init -q . && echo hi > f.txt && git -c user.name=t -c user.email=t@e add f.txt && "
        "git -c user.name=t -c user.email=t@e commit -q -m one"
    )
    got = changes_of(client, ["sh", "-c", script])
    assert got.method == "snapshot" and [f.path for f in got.files] == ["f.txt"]


def test_the_diff_is_cut_at_the_cap_and_says_so(client: httpx.Client) -> None:
    got = changes_of(client, ["sh", "-c", "seq 1 5000 > big.txt; echo small > z.txt"])
    assert got.truncated and got.cap_bytes == CAP
    assert len(got.diff.encode()) <= CAP and got.diff.startswith("diff --git a/big.txt")
    assert [f.path for f in got.files] == ["big.txt", "z.txt"]  # every file is still listed


def test_changes_of_unknown_and_processless_tasks(client: httpx.Client) -> None:
    missing = client.get("/task/nope/changes")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    t = tid()
    client.post("/task", json={"task_id": t, "kind": "noop", "spec": {}})
    none = client.get(f"/task/{t}/changes")
    assert none.status_code == 404 and "no changes recorded" in none.json()["error"]["message"]
    page = client.get(f"/task/{t}/transcript").json()
    assert page["items"] == [] and page["eof"] is True
