"""Checkpoint logs (JSON lines outside the database) and their comparison with the chain.

The chain check alone cannot see a truncation (the newest events deleted) or a chain
recomputed from an edited event onwards: both leave a self-consistent chain. A signed
checkpoint made earlier still says which head hash the chain had at its seq, so either
shows up as a contradiction with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agency.security.signing import Checkpoint

LOG_NAME = "checkpoints.jsonl"


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it: a checkpoint is only worth something once it is on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class CheckpointLog:
    """The parsed lines of a checkpoint log; lines that do not parse are kept as errors."""

    checkpoints: list[Checkpoint]
    malformed: list[int]  # 1-based line numbers

    @classmethod
    def read(cls, path: Path) -> CheckpointLog:
        found: list[Checkpoint] = []
        bad: list[int] = []
        if not path.exists():
            return cls(found, bad)
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                found.append(Checkpoint.parse(line))
            except ValueError:
                bad.append(number)
        return cls(found, bad)


@dataclass(frozen=True)
class CheckpointReport:
    """The chain compared with signed checkpoints; ``missing``/``rewritten`` are seq ranges."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    missing: tuple[int, int] | None = None
    rewritten: tuple[int, int] | None = None


def compare(
    log: CheckpointLog,
    trusted: list[Ed25519PublicKey],
    last_seq: int,
    hash_at: Mapping[int, str],
) -> CheckpointReport:
    """Check every checkpoint's signature, then that the chain still has its head.

    ``hash_at`` maps each checkpoint's seq that still exists to the event's stored hash.
    The earliest contradiction is reported: a rewrite lies between the last checkpoint that
    still matches and the first that does not; a truncation removed at least the events from
    ``last_seq + 1`` to the highest checkpointed seq.
    """
    if log.malformed:
        line = log.malformed[0]
        return CheckpointReport(False, 0, None, f"checkpoint log line {line} is not a checkpoint")
    checked, good_seq = 0, 0
    ordered = sorted(log.checkpoints, key=lambda c: c.seq)
    for cp in ordered:
        if not cp.verify(trusted):
            return CheckpointReport(
                False,
                checked,
                cp.seq,
                f"the checkpoint of seq {cp.seq} ({cp.time}) is not signed by a trusted key",
            )
        if cp.seq > last_seq:
            top = ordered[-1]
            return CheckpointReport(
                False,
                checked,
                last_seq + 1,
                f"events {last_seq + 1} to {top.seq} are missing: the checkpoint signed at "
                f"{top.time} says the chain reached seq {top.seq}, the database ends at {last_seq}",
                missing=(last_seq + 1, top.seq),
            )
        stored = hash_at.get(cp.seq)
        if stored != cp.hash:
            return CheckpointReport(
                False,
                checked,
                cp.seq,
                f"the chain was rewritten between seq {good_seq + 1} and {cp.seq}: event "
                f"{cp.seq} has hash {str(stored)[:16]}, the checkpoint signed at {cp.time} "
                f"says {cp.hash[:16]}",
                rewritten=(good_seq + 1, cp.seq),
            )
        checked, good_seq = checked + 1, cp.seq
    return CheckpointReport(True, checked)
