"""The `ditto` command: `ditto RECIPE [flags]` runs one recipe (as `recipes/RECIPE.py` does), `ditto run` an
experiment file of many jobs (also under torchrun), `ditto summarize` rebuilds an experiment's tables.

`python -m ditto` is the same command. `ditto COMMAND --help` lists a command's flags.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .cli import EXIT_BAD_INPUT, HelpFormatter, RecipeParser, device_name
from .experiments import MAX_JOBS
from .recipes import RECIPES

USAGE = f"""usage: ditto COMMAND [flags]   (ditto COMMAND --help lists the flags)

DITTO for Stable Audio Open: control music generation by optimizing the initial noise.

recipes (one run each, into --out):
  {", ".join(RECIPES)}
experiments (many runs, one folder each, and their tables):
  run EXPERIMENT.jsonl --out DIR     run or continue every job; torchrun --nproc-per-node N -m ditto run ... shards them
  summarize DIR                      rebuild DIR/summary.csv, summary.md and summary.png from the job folders
the browser (needs the [ui] extra: pip install "ditto-audio[ui]"):
  ui [--model M] [--runs DIR]        a page to steer the model; each run is written into DIR as its recipe writes it
"""

RUN_HELP = """Run (or continue) every job of an experiment file into --out, one folder per job, then write
summary.csv, summary.md and summary.png. Each line of EXPERIMENT is a JSON object: {"recipe": NAME, "name":
optional folder name, FLAG: value, ...} with the recipe's long flags without dashes, or the same with "grid":
{FLAG: [values...]} for one job per combination; docs/experiments.md has the details and recipes/experiments/ has
examples. Rerunning the same command skips finished jobs and continues interrupted ones. Under
`torchrun --nproc-per-node N -m ditto run ...` each process runs its share of the jobs on cuda:LOCAL_RANK (or the
CPU). Exit codes: 0 all done, 1 some failed, 2 bad input (nothing ran), 130 interrupted (rerun to continue)."""


def run_parser() -> argparse.ArgumentParser:
    parser = RecipeParser(prog="ditto run", description=RUN_HELP, formatter_class=HelpFormatter)
    parser.add_argument("experiment", help="experiment file (JSONL: one job or grid per line)")
    parser.add_argument("--out", required=True, help="experiment folder: one sub-folder per job, jobs.jsonl, summaries")
    parser.add_argument("--device", type=device_name, default=None, help="torch device for every job (default: cuda:LOCAL_RANK under "
                        "torchrun, cuda if available, else cpu)")
    parser.add_argument("--retry-failed", action="store_true", help="run again the jobs that failed last time")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--max-jobs", type=positive_int, default=MAX_JOBS,
                        help="refuse an experiment of more jobs than this (a grid multiplies quickly)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the file and --out, print what each job would do (run, resume, start over, skip); "
                             "run and write nothing")
    return parser


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def summarize_parser() -> argparse.ArgumentParser:
    parser = RecipeParser(prog="ditto summarize", description="Rebuild DIR/summary.csv, summary.md and summary.png "
                          "from the job folders of an experiment (at any time, also while it runs).")
    parser.add_argument("dir", help="the --out folder of `ditto run`")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Dispatch `ditto COMMAND ...`; exits 2 with one line on an unknown command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return
    command, rest = argv[0], argv[1:]
    if command == "run":
        from .runner import dry_run, run_experiment

        args = run_parser().parse_args(rest)
        if args.dry_run:
            sys.exit(dry_run(args.experiment, args.out, retry_failed=args.retry_failed, max_jobs=args.max_jobs))
        sys.exit(run_experiment(args.experiment, args.out, device=args.device, retry_failed=args.retry_failed,
                                progress=not args.quiet, max_jobs=args.max_jobs))
    if command == "summarize":
        from .summary import write_summary

        args = summarize_parser().parse_args(rest)
        try:
            rows = write_summary(args.dir)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        except OSError as error:  # a folder it cannot write (or read)
            where = error.filename or args.dir
            print(f"error: cannot write the summaries into {str(args.dir)!r}: {str(where)!r}: "
                  f"{error.strerror or error}", file=sys.stderr)
            sys.exit(EXIT_BAD_INPUT)
        print(f"{len(rows)} jobs; wrote {args.dir}/summary.csv, summary.md, summary.png")
        return
    if command == "ui":
        from .ui import main as ui_main  # imports Gradio only when asked for

        ui_main(rest)
        return
    if command not in RECIPES:
        print(f"error: unknown command {command!r}; expected one of {', '.join(RECIPES)}, run, summarize, ui "
              f"(see ditto --help)", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    recipe = importlib.import_module(f"{__package__}.recipes.{command}")
    sys.argv[0] = f"ditto {command}"  # argparse names the program after argv[0]: usage and errors read "ditto intensity"
    sys.exit(recipe.run(rest).code)
