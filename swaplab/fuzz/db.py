"""The findings database of fuzz campaigns: SQLite, crash-safe, resumable.

One file ``findings.sqlite3`` in a directory the user names.  A finding is
identified by its signature (kind, function): the campaign stores it with
the shrunk program that reproduces it, the seed and variant, and the
campaign time at which it was first hit.  Each finding is committed in its
own transaction, in WAL mode with ``synchronous=FULL``, before the campaign
reports it as recorded: a SIGKILL at any moment loses nothing that was
reported.  The campaign's progress (the next seed of each job, programs
run, seconds spent) is checkpointed the same way, so a restarted campaign
resumes where the killed one stopped.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS findings (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    function      TEXT NOT NULL,
    variant       TEXT NOT NULL,
    message       TEXT NOT NULL,
    entry         TEXT,
    program       TEXT NOT NULL,
    ops           INTEGER NOT NULL,
    seed          INTEGER NOT NULL,
    first_seen_s  REAL NOT NULL,
    hits          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (variant, kind, function)
);
CREATE TABLE IF NOT EXISTS campaign (
    variant       TEXT NOT NULL,
    job           INTEGER NOT NULL,
    next_seed     INTEGER NOT NULL,
    programs      INTEGER NOT NULL,
    seconds       REAL NOT NULL,
    PRIMARY KEY (variant, job)
);
"""


@dataclass(frozen=True)
class StoredFinding:
    id: int
    kind: str
    function: str
    variant: str
    message: str
    entry: str | None
    program: str
    ops: int
    seed: int
    first_seen_s: float
    hits: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "function": self.function,
                "variant": self.variant, "message": self.message, "entry": self.entry,
                "first_seen_s": round(self.first_seen_s, 3), "program": self.program,
                "ops": self.ops, "seed": self.seed, "hits": self.hits}


class FindingsDB:
    """A findings directory.  Safe to open from several processes (WAL)."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "findings.sqlite3")
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # --- findings ------------------------------------------------------------
    def known(self, variant: str) -> set[tuple[str, str]]:
        rows = self.conn.execute("SELECT kind, function FROM findings WHERE variant = ?",
                                 (variant,))
        return {(k, f) for k, f in rows}

    def record(self, variant: str, kind: str, function: str, message: str,
               entry: str | None, program: str, ops: int, seed: int,
               first_seen_s: float) -> tuple[int, bool]:
        """Store a finding (or count another hit).  Return: (id, new)."""
        with self._txn():
            row = self.conn.execute(
                "SELECT id FROM findings WHERE variant = ? AND kind = ? AND function = ?",
                (variant, kind, function)).fetchone()
            if row is not None:
                self.conn.execute("UPDATE findings SET hits = hits + 1 WHERE id = ?", (row[0],))
                return int(row[0]), False
            cur = self.conn.execute(
                "INSERT INTO findings (kind, function, variant, message, entry, program, ops,"
                " seed, first_seen_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, function, variant, message, entry, program, ops, seed, first_seen_s))
            return int(cur.lastrowid or 0), True

    def findings(self, variant: str | None = None) -> list[StoredFinding]:
        q = "SELECT * FROM findings"
        args: tuple[Any, ...] = ()
        if variant is not None:
            q += " WHERE variant = ?"
            args = (variant,)
        return [StoredFinding(*row) for row in self.conn.execute(q + " ORDER BY id", args)]

    def get(self, id: int) -> StoredFinding | None:
        row = self.conn.execute("SELECT * FROM findings WHERE id = ?", (id,)).fetchone()
        return StoredFinding(*row) if row else None

    # --- campaign progress ---------------------------------------------------
    def progress(self, variant: str, job: int) -> tuple[int, int, float] | None:
        row = self.conn.execute(
            "SELECT next_seed, programs, seconds FROM campaign WHERE variant = ? AND job = ?",
            (variant, job)).fetchone()
        return (int(row[0]), int(row[1]), float(row[2])) if row else None

    def checkpoint(self, variant: str, job: int, next_seed: int, programs: int,
                   seconds: float) -> None:
        with self._txn():
            self.conn.execute(
                "INSERT INTO campaign (variant, job, next_seed, programs, seconds)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (variant, job) DO UPDATE SET"
                " next_seed = excluded.next_seed, programs = excluded.programs,"
                " seconds = excluded.seconds",
                (variant, job, next_seed, programs, seconds))

    def _txn(self) -> "_Txn":
        return _Txn(self.conn)


class _Txn:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def iter_findings(directory: str) -> Iterator[StoredFinding]:
    db = FindingsDB(directory)
    try:
        yield from db.findings()
    finally:
        db.close()
