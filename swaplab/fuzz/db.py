"""The findings database of fuzz campaigns: SQLite, crash-safe, resumable.

One file ``findings.sqlite3`` in a directory the user names.  A finding is
identified by its signature (variant, kind, function): the campaign stores
it with the shrunk program that reproduces it, the seed and variant, and
the campaign time at which it was first hit.  The stored program is the
shrunk program of the smallest seed that hit it (:meth:`record_min_seed`
replaces it when a smaller seed hits), which makes a campaign's findings
independent of how many jobs ran it.  Each finding is committed in its
own transaction, in WAL mode with ``synchronous=FULL``, before the campaign
reports it as recorded: a SIGKILL at any moment loses nothing that was
reported.  The campaign's progress (the next seed of each job, programs
run, seconds spent) is checkpointed the same way, so a restarted campaign
resumes where the killed one stopped.  A campaign is identified by
(variant, first seed, number of jobs); each of its jobs has its own row.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

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
    seed          INTEGER NOT NULL,
    jobs          INTEGER NOT NULL,
    job           INTEGER NOT NULL,
    next_index    INTEGER NOT NULL,   -- the job's next program: seed + job + next_index * jobs
    programs      INTEGER NOT NULL,
    seconds       REAL NOT NULL,
    PRIMARY KEY (variant, seed, jobs, job)
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


DB_FILE = "findings.sqlite3"


class FindingsDB:
    """A findings directory.  Safe to open from several processes (WAL).

    :raises InvalidScenario: the directory cannot be made or the file is not
        a findings database (``create=False``: there is none).
    """

    def __init__(self, directory: str, create: bool = True) -> None:
        from swaplab.errors import InvalidScenario
        self.path = os.path.join(directory, DB_FILE)
        if not create and not os.path.isfile(self.path):
            raise InvalidScenario(f"no findings database in {directory} (expected {self.path}; "
                                  "a campaign makes it: swaplab fuzz --db DIR)", "--db")
        try:
            os.makedirs(directory, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise InvalidScenario(f"cannot use {directory} as a findings directory: {e}",
                                  "--db") from e

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

    def get_by_key(self, variant: str, kind: str, function: str) -> StoredFinding | None:
        row = self.conn.execute(
            "SELECT * FROM findings WHERE variant = ? AND kind = ? AND function = ?",
            (variant, kind, function)).fetchone()
        return StoredFinding(*row) if row else None

    def record_min_seed(self, variant: str, kind: str, function: str, message: str,
                        entry: str | None, program: str, ops: int, seed: int,
                        first_seen_s: float) -> tuple[int, bool]:
        """Store a finding, or replace the stored one if ``seed`` is smaller.

        One transaction, committed before this returns.  ``first_seen_s``
        keeps the earliest time.  Return: (id, new).
        """
        with self._txn():
            row = self.conn.execute(
                "SELECT id, seed, first_seen_s FROM findings"
                " WHERE variant = ? AND kind = ? AND function = ?",
                (variant, kind, function)).fetchone()
            if row is None:
                cur = self.conn.execute(
                    "INSERT INTO findings (kind, function, variant, message, entry, program,"
                    " ops, seed, first_seen_s, hits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (kind, function, variant, message, entry, program, ops, seed, first_seen_s))
                return int(cur.lastrowid or 0), True
            if seed < int(row[1]):
                self.conn.execute(
                    "UPDATE findings SET message = ?, entry = ?, program = ?, ops = ?, seed = ?,"
                    " first_seen_s = ? WHERE id = ?",
                    (message, entry, program, ops, seed, min(first_seen_s, float(row[2])),
                     row[0]))
            return int(row[0]), False

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
    def progress(self, variant: str, seed: int, jobs: int,
                 job: int) -> tuple[int, int, float] | None:
        """(next index, programs, seconds) of a job's last checkpoint, or None."""
        row = self.conn.execute(
            "SELECT next_index, programs, seconds FROM campaign"
            " WHERE variant = ? AND seed = ? AND jobs = ? AND job = ?",
            (variant, seed, jobs, job)).fetchone()
        return (int(row[0]), int(row[1]), float(row[2])) if row else None

    def checkpoint(self, variant: str, seed: int, jobs: int, job: int, next_index: int,
                   programs: int, seconds: float,
                   hits: dict[tuple[str, str], int] | None = None) -> None:
        """Record a job's progress (and the hits of known findings since the last one)."""
        with self._txn():
            self.conn.execute(
                "INSERT INTO campaign (variant, seed, jobs, job, next_index, programs, seconds)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (variant, seed, jobs, job) DO UPDATE"
                " SET next_index = excluded.next_index, programs = excluded.programs,"
                " seconds = excluded.seconds",
                (variant, seed, jobs, job, next_index, programs, seconds))
            for (kind, function), n in (hits or {}).items():
                self.conn.execute(
                    "UPDATE findings SET hits = hits + ? WHERE variant = ? AND kind = ?"
                    " AND function = ?", (n, variant, kind, function))

    def campaign(self, variant: str, seed: int, jobs: int) -> tuple[int, float]:
        """(programs, seconds) of a campaign so far: programs summed, the longest job's time."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(programs), 0), COALESCE(MAX(seconds), 0) FROM campaign"
            " WHERE variant = ? AND seed = ? AND jobs = ?", (variant, seed, jobs)).fetchone()
        return int(row[0]), float(row[1])

    def _txn(self) -> _Txn:
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
