"""`ditto run`: an experiment's jobs over torchrun's processes, resumable, each job's folder complete or absent.

Under `torchrun --nproc-per-node N -m ditto run ...` every process takes every N-th job still to run, on its own
device (`cuda:LOCAL_RANK`, else the CPU); torch.distributed (gloo on the CPU, nccl on GPUs) only hands out the
plan and waits for everyone at the end. Without torchrun one process runs every job. Several nodes need `--out`
on a filesystem they all see.

`DIR/jobs.jsonl` keeps the experiment's jobs; `DIR/NAME/` is a job's run folder, written by its recipe
(published whole), or holding only `error.json` when the job failed before writing a result; `DIR/logs/NAME.log`
is what the job printed; `DIR/NAME/job.json` the job the folder was run for, so that a folder run with other flags
is never taken for the job's result. Running the same command again skips done and failed jobs (`--retry-failed`
reruns failed ones) and continues interrupted ones from their saved state. A folder holds one experiment: another
file's jobs are refused (`check_out`), and so is a bad --device (by the parser), before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import importlib
import io
import json
import os
import shlex
import shutil
import sys
import threading
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from . import summary
from .cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, Models, StopOnSignal, crashed
from .experiments import MAX_JOBS, ExperimentError, ExperimentJob, long_flags, read_experiment, recipe_parser
from .runs import ERROR_FILE, JOB_FILE, JOBS_FILE, LOG_DIR, STATE_NAME, job_status, read_jobs, read_json
from ..files import atomic_write
from ..loading import load_model

BARRIER_TIMEOUT = datetime.timedelta(days=7)  # ranks wait at the end for the slowest shard


@dataclasses.dataclass(frozen=True)
class Ranks:
    """This process's place among torchrun's: rank, world size and local rank (0, 1, 0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "Ranks":
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    def device(self) -> str:
        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def process_group(ranks: Ranks, device: str):
    """torch.distributed for the lifetime of the run when there is more than one process."""
    if ranks.world_size == 1:
        yield
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend, timeout=BARRIER_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def prepare(out: Path, jobs: list[ExperimentJob], retry_failed: bool) -> list[tuple[str, list[str]]]:
    """Check `out` against the experiment, write jobs.jsonl; the jobs to run now with their resume flags.

    Raises ExperimentError if `out` holds something else, or a job folder made with other flags.
    """
    check_out(out, jobs)
    try:
        (out / LOG_DIR).mkdir(parents=True, exist_ok=True)
        atomic_write(out / JOBS_FILE, "".join(json.dumps(job.record()) + "\n" for job in jobs))
    except OSError as error:
        raise ExperimentError(f"cannot write to --out {str(out)!r}: {error.strerror or error}") from None
    return [(job.name, flags) for job in jobs
            if (flags := next_run(out, job.name, retry_failed, job.record())) is not None]


def check_out(out: Path, jobs: list[ExperimentJob]) -> None:
    """Refuse (ExperimentError) an `out` that is a file or cannot be written, that holds something else or another
    experiment (other jobs in its jobs.jsonl), or a job folder made with other flags. Writes nothing."""
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"--out {str(out)!r} is a file; give a directory")
    _check_writable(out)
    previous = _previous_jobs(out)
    for job in jobs:
        before = previous.get(job.name)
        if before is not None and before != job.record():
            raise ExperimentError(f"line {job.line}: job {job.name!r} in {str(out)!r} was run with other flags "
                                  f"({json.dumps(before['flags'])}); give this job another name or remove "
                                  f"{str(out / job.name)!r}")
        if job_status(out, job.name, job.record()) == "stale":
            recorded = read_json(out / job.name / JOB_FILE)
            raise ExperimentError(f"line {job.line}: job {job.name!r}: its folder {str(out / job.name)!r} was run "
                                  f"with other flags ({json.dumps(recorded)[:200]}); give this job another name or "
                                  f"remove the folder")
    if previous and set(previous) != {job.name for job in jobs}:
        new = sorted({job.name for job in jobs} - set(previous))
        gone = sorted(set(previous) - {job.name for job in jobs})
        differ = "; ".join(part for part in (f"new here: {', '.join(new[:3])}" if new else "",
                                             f"not in this file: {', '.join(gone[:3])}" if gone else "") if part)
        raise ExperimentError(f"--out {str(out)!r} holds another experiment ({len(previous)} jobs in its {JOBS_FILE}; "
                              f"{differ}); an experiment folder holds one experiment: give this file a new --out "
                              f"(nothing in {str(out)!r} was changed)")


def _check_writable(out: Path) -> None:
    """--out (or the folder it would be made in) must be a writable directory; checked without writing."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        what = "is not a directory" if not existing.is_dir() else "is not writable"
        raise ExperimentError(f"cannot write to --out {str(out)!r}: {str(existing)!r} {what}")


def next_run(out: Path, name: str, retry_failed: bool, record: dict | None = None) -> list[str] | None:
    """The flags the job `name` runs with now ([] a fresh run, --resume, --overwrite), or None: nothing to run.
    A failed job, or one whose result is corrupt, runs again (from scratch) only with `retry_failed`."""
    status = job_status(out, name, record)
    if status in ("done", "stale") or (status in ("failed", "corrupt") and not retry_failed):
        return None
    staging = out / f".{name}.partial"
    if (staging / STATE_NAME).is_file() or (out / name / STATE_NAME).is_file() and status == "interrupted":
        return ["--resume"]  # from the state it saved, to the bitwise-same result
    if status != "pending" or staging.exists() or (out / name).exists():
        return ["--overwrite"]  # start over: a failed run, or one stopped before saving a state
    return []


def dry_run(experiment: str | Path, out: str | Path, *, retry_failed: bool = False, max_jobs: int = MAX_JOBS) -> int:
    """Print what `ditto run` would do with each job, write nothing; the exit code (2: a bad file or --out)."""
    out = Path(out)
    try:
        jobs = read_experiment(experiment, max_jobs=max_jobs)
        check_out(out, jobs)
    except ExperimentError as error:
        return _refuse(Ranks(), error)
    words = {None: "skip", "": "run", "--resume": "resume", "--overwrite": "start over"}
    actions, lines, fresh = [], [], not out.is_dir()
    for job in jobs:
        flags = [] if fresh else next_run(out, job.name, retry_failed, job.record())
        actions.append(words[None if flags is None else " ".join(flags)])
        status = "pending" if fresh else job_status(out, job.name, job.record())
        lines.append(f"{actions[-1]:<10} {status:<11} {job.name}: {shlex.join(['ditto', job.recipe, *job.argv()])}")
    print("\n".join(lines))
    tally = ", ".join(f"{actions.count(word)} {word}" for word in words.values() if word in actions)
    print(f"{len(jobs)} jobs: {tally} (in {out}; nothing was run or written)")
    return 0


def _previous_jobs(out: Path) -> dict[str, dict]:
    """The jobs an earlier `ditto run` wrote into `out`; refuses a non-empty folder that is not an experiment."""
    if not out.is_dir() or not any(out.iterdir()):
        return {}
    if not (out / JOBS_FILE).is_file():
        raise ExperimentError(f"--out {str(out)!r} holds files but no {JOBS_FILE}: it is not a ditto experiment; "
                              f"choose a new or empty directory (nothing there is replaced)")
    try:
        records = read_jobs(out)
    except OSError as error:
        raise ExperimentError(f"cannot read {str(out / JOBS_FILE)!r}: {error.strerror or error}") from None
    except ValueError as error:
        raise ExperimentError(f"{error}; nothing in {str(out)!r} was changed") from None
    return {record["name"]: record for record in records}


def run_job(job: ExperimentJob, out: Path, resume_flags: list[str], device: str,
            models: Models | None = None) -> int:
    """Run one job in this process (output kept in DIR/logs/NAME.log); its exit code (0 done, 130 interrupted).
    `models(source, device=...)`: the model loader the jobs share (default: each job loads its own)."""
    recipe = importlib.import_module(f"{__package__}.recipes.{job.recipe}")
    runner_flags = {"--out": str(out / job.name), "--device": device, "--quiet": None}
    accepted = long_flags(recipe_parser(job.recipe))
    argv = job.argv() + resume_flags + [part for flag, value in runner_flags.items() if flag[2:] in accepted
                                        for part in ([flag] if value is None else [flag, value])]
    _forget_failure(out / job.name)
    printed = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):  # the job's log
        try:
            outcome = recipe.run(argv, models=models)
        except Exception as error:  # a bug or a device error (CUDA out of memory): this job fails, the others go on
            outcome = crashed(error)
    seconds = time.perf_counter() - start
    log = (f"$ {shlex.join(['ditto', job.recipe, *argv])}\n{printed.getvalue()}exit code {outcome.code} after "
           f"{seconds:.1f} s\n")
    atomic_write(out / LOG_DIR / f"{job.name}.log", log)
    if outcome.status in ("failed", "refused") and job_status(out, job.name) != "failed":
        _record_failure(out / job.name, {"error": outcome.error or f"exit code {outcome.code}",
                                         "exit_code": outcome.code, "seconds": seconds, "device": device,
                                         "argv": argv})
    if (out / job.name).is_dir():  # the folder says which job it holds: never taken for a job with other flags
        atomic_write(out / job.name / JOB_FILE, json.dumps(job.record()) + "\n")
    return outcome.code


def _forget_failure(folder: Path) -> None:
    """Before a retry: the last attempt's error.json goes (its log is replaced too), an emptied folder with it."""
    (folder / ERROR_FILE).unlink(missing_ok=True)
    if folder.is_dir() and sorted(path.name for path in folder.iterdir()) == [JOB_FILE]:
        (folder / JOB_FILE).unlink()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _record_failure(folder: Path, record: dict) -> None:
    """error.json into the job's folder: a new folder appears whole (written beside it, then renamed)."""
    text = json.dumps(record, indent=2) + "\n"
    if folder.is_dir():
        atomic_write(folder / ERROR_FILE, text)
        return
    staging = folder.parent / f".{folder.name}.error"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    atomic_write(staging / ERROR_FILE, text)
    os.replace(staging, folder)


class ExperimentProgress:
    """One bar for the whole experiment (jobs finished of all, ETA), fed by what appears on disk."""

    def __init__(self, out: Path, names: list[str], enabled: bool, interval_s: float = 2.0):
        self.out, self.names, self.interval_s = out, names, interval_s
        self.bar = tqdm(total=len(names), initial=self.finished(), unit="job", desc="experiment", disable=not enabled,
                        file=sys.stderr, dynamic_ncols=True, smoothing=0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def finished(self) -> int:
        return sum(job_status(self.out, name) in ("done", "failed", "corrupt") for name in self.names)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.bar.update(self.finished() - self.bar.n)

    def __enter__(self) -> "ExperimentProgress":
        if not self.bar.disable:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.bar.update(self.finished() - self.bar.n)
        self.bar.close()


def run_experiment(experiment: str | Path, out: str | Path, *, device: str | None = None, retry_failed: bool = False,
                   progress: bool = True, max_jobs: int = MAX_JOBS) -> int:
    """Run (or continue) an experiment file into `out` as this process's share; the exit code for the command.

    0: every job done; 1: some failed (see DIR/summary.md); 2: a bad experiment file or --out; 130: interrupted.
    """
    ranks, out = Ranks.from_environment(), Path(out)
    device = device or ranks.device()
    try:
        jobs = read_experiment(experiment, max_jobs=max_jobs)
    except ExperimentError as error:
        return _refuse(ranks, error)
    with process_group(ranks, device):
        plan = _shared_plan(ranks, out, jobs, retry_failed)
        if isinstance(plan, ExperimentError):
            return _refuse(ranks, plan)
        share = plan[ranks.rank::ranks.world_size]  # round-robin in file order
        with ExperimentProgress(out, [job.name for job in jobs], enabled=progress and ranks.rank == 0):
            interrupted = _run_share(jobs, share, out, device)
        if ranks.world_size > 1:
            dist.barrier()  # the summary waits for the slowest process
    if ranks.rank != 0:
        return EXIT_INTERRUPTED if interrupted else 0
    return _summarize(out, interrupted)


def _run_share(jobs: list[ExperimentJob], share: list[tuple[str, list[str]]], out: Path, device: str) -> bool:
    """Run this process's jobs, one model load per model; True if a signal stopped them."""
    by_name = {job.name: job for job in jobs}
    models = functools.cache(load_model)  # (source, device) -> the model, loaded by the first job that needs it
    with StopOnSignal() as stop:
        for name, resume_flags in share:
            if stop.requested or run_job(by_name[name], out, resume_flags, device, models) == EXIT_INTERRUPTED:
                return True
    return False


def _summarize(out: Path, interrupted: bool) -> int:
    """Write the summaries, print one line of counts; the command's exit code."""
    rows = summary.write_summary(out)
    counts = {status: sum(row["status"] == status for row in rows) for status in summary.STATUSES}
    left = counts["interrupted"] + counts["pending"]
    print(f"{counts['done']} of {len(rows)} jobs done, {counts['failed']} failed"
          + "".join(f", {counts[status]} {status}" for status in ("corrupt", "stale") if counts[status])
          + (f", {left} left (rerun the same command to continue)" if left else "")
          + f"; summary in {out / 'summary.md'}")
    if interrupted or left:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if counts["failed"] + counts["corrupt"] + counts["stale"] else 0


def _shared_plan(ranks: Ranks, out: Path, jobs: list[ExperimentJob], retry_failed: bool):
    """Rank 0 checks --out and makes the plan; every rank gets the same one (or the same error)."""
    plan = None
    if ranks.rank == 0:
        try:
            plan = prepare(out, jobs, retry_failed)
        except ExperimentError as error:
            plan = error
    if ranks.world_size > 1:
        shared = [plan]
        dist.broadcast_object_list(shared, src=0)
        plan = shared[0]
    return plan


def _refuse(ranks: Ranks, error: ExperimentError) -> int:
    if ranks.rank == 0:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


__all__ = ["Ranks", "check_out", "dry_run", "next_run", "prepare", "run_experiment", "run_job"]
