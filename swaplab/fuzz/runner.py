"""Running a campaign: its jobs in this process, in local processes, or on a Dask cluster.

The coordinator starts the jobs (:func:`swaplab.fuzz.campaign.run_job`),
collects their events (progress, findings recorded) into a
:class:`CampaignStatus` that the live display draws, and returns the
campaign's result as ``swaplab fuzz --json`` prints it.

Where the jobs run:

* ``jobs == 1`` without a cluster: in this process (no start-up cost);
* ``jobs > 1``: one ``multiprocessing`` process per job (spawn: a clean
  interpreter, no state shared with the coordinator); events come back
  through a multiprocessing queue;
* ``cluster=ADDRESS``: one Dask task per job on the scheduler at ADDRESS
  (``distributed`` is the optional extra ``cluster``); events come back
  through a ``distributed.Queue``.  Every worker must reach the findings
  directory (a shared file system, or one machine).

Why Dask rather than Ray: ``distributed`` is pure Python, installs from
PyPI in seconds with no native runtime or object store to start, runs a
local cluster inside a test process (``LocalCluster``), and its
``client.submit`` of a plain function is all a job needs.  Ray brings a
large binary wheel, a raylet and a plasma store per node, and a start-up
of seconds -- for tasks that only run a Python function for minutes.
"""

from __future__ import annotations

import queue as _queue
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from swaplab.errors import InvalidScenario
from swaplab.fuzz.campaign import CampaignConfig, run_job
from swaplab.fuzz.db import FindingsDB
from swaplab.fuzz.gen import STATEMENT_KINDS

__all__ = ("CampaignStatus", "run_campaign")


@dataclass
class CampaignStatus:
    """What the coordinator knows of a running campaign (drawn by the live display)."""

    cfg: CampaignConfig
    started: float = field(default_factory=time.monotonic)
    programs: dict[int, int] = field(default_factory=dict)      # job -> programs so far
    seconds: dict[int, float] = field(default_factory=dict)
    refused: dict[int, int] = field(default_factory=dict)
    kinds: set[str] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)
    findings: dict[int, dict[str, Any]] = field(default_factory=dict)
    hunting: list[str] = field(default_factory=list)            # hits being shrunk
    done: set[int] = field(default_factory=set)
    base_programs: int = 0

    @property
    def total_programs(self) -> int:
        return sum(self.programs.values())

    @property
    def rate(self) -> float:
        dt = time.monotonic() - self.started
        return (self.total_programs - self.base_programs) / dt if dt > 0 else 0.0

    def update(self, event: dict[str, Any]) -> None:
        job = event.get("job", 0)
        kind = event["event"]
        if kind == "progress":
            self.programs[job] = event["programs"]
            self.seconds[job] = event["seconds"]
            self.refused[job] = event["refused"]
            self.kinds.update(event["kinds"])
            self.functions.update(event["functions"])
        elif kind == "hit":
            self.hunting.append(f"{event['kind']} in {event['function'] or '-'}")
        elif kind == "finding":
            name = f"{event['kind']} in {event['function'] or '-'}"
            if name in self.hunting:
                self.hunting.remove(name)
            self.findings[event["id"]] = event


def _job_process(cfg: CampaignConfig, job: int, events: Any) -> None:
    """The body of one local job process."""
    try:
        result = run_job(cfg, job, events.put)
        events.put({"event": "done", "job": job, "result": result})
    except BaseException:
        events.put({"event": "error", "job": job, "traceback": traceback.format_exc()})


def _dask_job(cfg: CampaignConfig, job: int, queue_name: str) -> dict[str, Any]:
    """The body of one Dask task."""
    from distributed import Queue
    events = Queue(queue_name)
    result = run_job(cfg, job, events.put)
    events.put({"event": "done", "job": job, "result": result})
    return result


def run_campaign(cfg: CampaignConfig, cluster: str | None = None,
                 on_event: Callable[[CampaignStatus], None] | None = None,
                 status: CampaignStatus | None = None) -> dict[str, Any]:
    """Run a campaign to its end; return ``{"programs", "seconds", "findings", ...}``.

    ``on_event`` is called with the status after each event (the live display).

    :raises InvalidScenario: bad options, a findings directory that cannot be used,
        a cluster that cannot be reached.
    """
    if cfg.jobs < 1:
        raise InvalidScenario(f"--jobs must be at least 1, got {cfg.jobs}", "--jobs")
    db = FindingsDB(cfg.db)          # made (or refused) before any job starts
    base = db.campaign(cfg.variant, cfg.seed, cfg.jobs)
    db.close()
    status = status or CampaignStatus(cfg)
    status.base_programs = base[0]

    def handle(event: dict[str, Any]) -> None:
        status.update(event)
        if on_event is not None:
            on_event(status)

    if cluster is not None:
        _run_dask(cfg, cluster, handle, status)
    elif cfg.jobs == 1:
        handle({"event": "progress", "job": 0, "programs": base[0], "seconds": base[1],
                "kinds": [], "functions": [], "refused": 0})
        run_job(cfg, 0, handle)
        status.done.add(0)
    else:
        _run_local(cfg, handle, status)
    return campaign_result(cfg, status)


def _run_local(cfg: CampaignConfig, handle: Callable[[dict[str, Any]], None],
               status: CampaignStatus) -> None:
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    procs = [ctx.Process(target=_job_process, args=(cfg, job, events), daemon=True)
             for job in range(cfg.jobs)]
    for p in procs:
        p.start()
    try:
        _drain(events, handle, status, cfg.jobs, lambda: [p.exitcode for p in procs])
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _drain(events: Any, handle: Callable[[dict[str, Any]], None], status: CampaignStatus,
           jobs: int, exitcodes: Callable[[], list[int | None]]) -> None:
    """Handle events until every job is done; a job that died is an error."""
    from swaplab.errors import SwaplabInternalError
    while len(status.done) < jobs:
        try:
            event = events.get(timeout=0.1)
        except (_queue.Empty, TimeoutError):
            codes = exitcodes()
            dead = [j for j, c in enumerate(codes) if c not in (None, 0) and j not in status.done]
            if dead:
                raise SwaplabInternalError(f"fuzz job {dead[0]} died with exit code "
                                           f"{codes[dead[0]]}")
            continue
        if event["event"] == "error":
            raise SwaplabInternalError(f"fuzz job {event['job']} failed:\n{event['traceback']}")
        if event["event"] == "done":
            status.done.add(event["job"])
            continue
        handle(event)


def _run_dask(cfg: CampaignConfig, address: str, handle: Callable[[dict[str, Any]], None],
              status: CampaignStatus) -> None:
    try:
        from distributed import Client, Queue
    except ImportError:
        raise InvalidScenario("--cluster needs Dask distributed: pip install 'swaplab[cluster]'",
                              "--cluster") from None
    try:
        client = Client(address, timeout=5)
    except (OSError, ValueError, TypeError) as e:
        raise InvalidScenario(f"cannot reach the Dask scheduler at {address}: {e}",
                              "--cluster") from e
    try:
        name = f"swaplab-fuzz-{uuid.uuid4().hex}"
        events = Queue(name, client=client)
        futures = [client.submit(_dask_job, cfg, job, name, pure=False,
                                 key=f"{name}-job-{job}") for job in range(cfg.jobs)]

        def exitcodes() -> list[int | None]:
            out: list[int | None] = []
            for fut in futures:
                if fut.status == "error":
                    fut.result()            # raises the job's exception here
                out.append(None)
            return out

        _drain(events, handle, status, cfg.jobs, exitcodes)
        for fut in futures:
            fut.result()
    finally:
        client.close()


def campaign_result(cfg: CampaignConfig, status: CampaignStatus) -> dict[str, Any]:
    """The campaign's result: programs, seconds, and the variant's findings in the database."""
    db = FindingsDB(cfg.db)
    try:
        programs, seconds = db.campaign(cfg.variant, cfg.seed, cfg.jobs)
        stored = db.findings(cfg.variant)
    finally:
        db.close()
    return {
        "variant": cfg.variant, "seed": cfg.seed, "jobs": cfg.jobs,
        "programs": programs, "seconds": round(seconds, 3),
        "refused": sum(status.refused.values()),
        "statement_kinds": f"{len(status.kinds)}/{len(STATEMENT_KINDS)}",
        "modeled_functions_hit": len(status.functions),
        "findings": [{"id": f.id, "kind": f.kind, "function": f.function,
                      "first_seen_s": round(f.first_seen_s, 3), "program": f.program,
                      "ops": f.ops, "seed": f.seed, "hits": f.hits} for f in stored],
    }

