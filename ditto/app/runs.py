"""A run's folder: checked before any work, filled in a hidden staging folder, published complete or not at all.

`--out DIR` is written as `.DIR.partial` beside it and renamed to DIR once every file is there, so DIR never
holds half a run. The staging folder also keeps the optimization state while the run goes on: after a kill or a
full disk, `--resume` continues from it. `--overwrite` replaces the whole previous run, and only at the end: a
new run that fails leaves the old one as it was. A folder holding files ditto did not write is never replaced.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..files import default_mode

STATE_NAME = "state.pt"  # the optimization state (ditto.OptimizationState), for --resume
RUN_FILES = ("result.wav", "baseline.wav", "report.json", "plot.png", "x_T.pt", STATE_NAME)
EDIT_FILES = ("edited.wav", "baseline_edited.wav")  # written by the editing recipes
EARLIER_FILES = ("audio.wav", "settings.json")  # what the generate recipe wrote before it wrote report.json
ERROR_FILE = "error.json"  # `ditto run`: the one-line error of a job that failed before writing a result
JOB_FILE = "job.json"  # `ditto run`: the job (name, recipe, flags) a job folder was run for
KNOWN_FILES = RUN_FILES + EDIT_FILES + EARLIER_FILES + (ERROR_FILE, JOB_FILE)
JOBS_FILE = "jobs.jsonl"  # `ditto run`: the experiment's jobs, in the experiment's folder
LOG_DIR = "logs"  # `ditto run`: what each job printed, DIR/logs/NAME.log
SUMMARY_FILES = ("summary.csv", "summary.md", "summary.png")  # `ditto summarize`
EXPERIMENT_ENTRIES = (JOBS_FILE, LOG_DIR, *SUMMARY_FILES)  # an experiment folder's own entries: never job names


class RunFolderError(ValueError):
    """--out cannot take this run; the message names the folder and what would work."""


class RunFolder:
    """The folder of one run: `check` it before any work, write into `staging`, then `publish` or `discard`."""

    def __init__(self, out: str | os.PathLike, *, overwrite: bool = False, resume: bool = False):
        self.out = Path(out)
        self.staging = self.out.parent / f".{self.out.name}.partial"
        self.overwrite = overwrite
        self.resume = resume

    @property
    def state_path(self) -> Path:
        """Where the running optimization saves its state."""
        return self.staging / STATE_NAME

    def saved_state(self) -> Path | None:
        """The state --resume continues from: an unfinished run's, else that of the run in --out; None if neither."""
        for path in (self.state_path, self.out / STATE_NAME):
            if path.is_file():
                return path
        return None

    def check(self) -> "RunFolder":
        """Refuse (RunFolderError) anything that would lose a user's files; then make the staging folder.

        Making it is the write test: a read-only or missing mount fails here, before a model is loaded.
        """
        out = self.out
        if out.exists() and not out.is_dir():
            raise RunFolderError(f"--out {str(out)!r} is a file; give a directory")
        present = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
        foreign = [name for name in present if name not in KNOWN_FILES]
        if foreign:
            raise RunFolderError(f"--out {str(out)!r} holds files ditto did not write ({', '.join(foreign[:3])}); "
                                 f"choose a new or empty directory (nothing there is replaced)")
        if self.resume and self.saved_state() is None:
            raise RunFolderError(f"--resume: no saved state in {str(self.state_path)!r} or {str(out / STATE_NAME)!r}; "
                                 f"run without --resume to start")
        if not self.resume and self.staging.exists() and not self.overwrite:
            raise RunFolderError(f"an unfinished run of --out {str(out)!r} is in {str(self.staging)!r}; pass --resume "
                                 f"to continue it or --overwrite to start over")
        if not self.resume and present and not self.overwrite:
            raise RunFolderError(f"--out {str(out)!r} already holds a run ({', '.join(present)}); pass --overwrite, "
                                 f"--resume, or choose another directory")
        try:
            if self.staging.exists() and not self.resume:
                shutil.rmtree(self.staging)
            self._clear_staging()  # a killed run's half-written files; its state stays for --resume
            self.staging.mkdir(parents=True, exist_ok=True)
            probe = self.staging / ".write-test"
            probe.write_bytes(b"ditto")
            probe.unlink()
        except OSError as error:
            raise RunFolderError(f"cannot write to --out {str(out)!r}: {error.strerror or error} "
                                 f"({error.filename or self.staging})") from None
        return self

    def publish(self) -> Path:
        """Rename the staging folder to --out, replacing a previous run there; returns --out."""
        os.chmod(self.staging, default_mode(directory=True))
        if not self.out.exists():
            os.replace(self.staging, self.out)
            return self.out
        previous = self.out.parent / f".{self.out.name}.previous-{os.getpid()}"
        os.replace(self.out, previous)
        os.replace(self.staging, self.out)
        shutil.rmtree(previous, ignore_errors=True)
        return self.out

    def discard(self) -> None:
        """Remove what this run wrote, except a saved state (kept for --resume)."""
        self._clear_staging()
        if self.staging.is_dir() and not any(self.staging.iterdir()):
            self.staging.rmdir()

    def _clear_staging(self) -> None:
        if not self.staging.is_dir():
            return
        for path in self.staging.iterdir():
            if path.name != STATE_NAME:
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def job_status(out: Path, name: str, record: dict | None = None) -> str:
    """done | failed | interrupted | pending | corrupt | stale, from what is on disk for the job `name` in `out`.

    corrupt: its report.json is not readable JSON. stale: its folder's job.json records other flags than
    `record` (the job as the experiment gives it): that run is not this job's, so never "done"."""
    folder = out / name
    if record is not None and (folder / JOB_FILE).is_file() and read_json(folder / JOB_FILE) != record:
        return "stale"
    if (folder / ERROR_FILE).is_file():
        return "failed"
    if (folder / "report.json").is_file():
        report = read_json(folder / "report.json")
        if not isinstance(report, dict):
            return "corrupt"
        if "error" in report:
            return "failed"
        return "interrupted" if report.get("stop_reason") == "interrupted" else "done"
    return "interrupted" if (out / f".{name}.partial" / STATE_NAME).is_file() else "pending"


def read_jobs(out: Path) -> list[dict]:
    """The job records of `out/jobs.jsonl`; ValueError naming the file and line of anything that is not one."""
    path = out / JOBS_FILE
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{str(path)!r} is not UTF-8 text (byte {error.start}); it is not a jobs file written by "
                         f"ditto run") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{str(path)!r} line {number}: not JSON ({getattr(error, 'msg', error)}); the file is "
                             f"truncated or not written by ditto run") from None
        if not (isinstance(record, dict) and isinstance(record.get("name"), str)
                and isinstance(record.get("recipe"), str) and isinstance(record.get("flags"), dict)):
            raise ValueError(f"{str(path)!r} line {number}: expected a job {{\"name\", \"recipe\", \"flags\"}}, "
                             f"got {line.strip()[:60]!r}; the file is not written by ditto run")
        records.append(record)
    return records


def read_json(path: Path) -> dict | None:
    """The JSON object in `path`; None if it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


__all__ = ["EDIT_FILES", "ERROR_FILE", "EXPERIMENT_ENTRIES", "JOB_FILE", "SUMMARY_FILES", "read_jobs", "EARLIER_FILES", "JOBS_FILE", "KNOWN_FILES", "LOG_DIR", "RUN_FILES", "RunFolder",
           "RunFolderError", "STATE_NAME", "job_status", "read_json"]
