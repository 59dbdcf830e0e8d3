"""Experiment throughput: `python benchmarks/experiments.py [--jobs 8]`.

Runs the same experiment (intensity jobs on the tiny model, one seed each) with `ditto run` in one process and
under `torchrun --nproc-per-node 2` on this machine, timing the whole command (start-up and model loading
included), and prints jobs per hour. Then projects jobs per hour on an 8-GPU node running SAO 1.0 jobs, one
process per GPU, from a measured seconds-per-iteration figure (--gpu-seconds-per-iteration, docs/performance.md).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_run(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=8, help="jobs in the experiment")
    parser.add_argument("--iterations", type=int, default=10, help="DITTO iterations per job")
    parser.add_argument("--seconds", type=float, default=1.5, help="audio seconds per job (window fitted)")
    parser.add_argument("--steps", type=int, default=10, help="sampler steps per job")
    parser.add_argument("--gpu-seconds-per-iteration", type=float, default=3.43,
                        help="SAO 1.0 DITTO iteration on one GPU (20 steps, bf16; the H200 reference figure)")
    parser.add_argument("--gpu-iterations", type=int, default=70, help="iterations per SAO 1.0 job (the paper's 70)")
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Path(tmp) / "bench.jsonl"
        experiment.write_text(json.dumps({
            "recipe": "intensity", "seconds": args.seconds, "fit-window": True, "steps": args.steps,
            "iterations": args.iterations, "grid": {"seed": list(range(args.jobs))}, "name": "seed{seed}"}) + "\n")
        runs = {
            "1 process (all cores)": ([sys.executable, "-m", "ditto"], {}),
            "1 process, 1 thread": ([sys.executable, "-m", "ditto"], {"OMP_NUM_THREADS": "1"}),
            "torchrun, 2 processes x 1 thread": ([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                  "--nproc-per-node", "2", "-m", "ditto"], {}),
        }
        rows = []
        for label, (launcher, extra_env) in runs.items():
            seconds = timed_run(launcher + ["run", str(experiment), "--out", str(Path(tmp) / label.replace(" ", "_")),
                                            "--quiet"], {**env, **extra_env})
            rows.append((label, seconds))

    print(f"\n{args.jobs} intensity jobs on the tiny model ({args.seconds} s, {args.steps} steps, {args.iterations} "
          f"iterations), {os.cpu_count()} CPUs; whole command timed\n")
    print("| launch | seconds | jobs per hour | x one process |")
    print("|---|---:|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} | {args.jobs * 3600 / seconds:.0f} | {rows[0][1] / seconds:.2f} |")

    per_job = (args.gpu_iterations + 1) * args.gpu_seconds_per_iteration  # + the baseline and final renders
    print(f"\nProjected SAO 1.0 throughput: {args.gpu_iterations} iterations x {args.gpu_seconds_per_iteration} s "
          f"+ ~1 iteration of renders = {per_job:.0f} s per job per GPU\n")
    print("| GPUs | jobs per hour | 1,000 jobs take |")
    print("|---:|---:|---:|")
    for gpus in (1, 8, 16):
        per_hour = gpus * 3600 / per_job
        print(f"| {gpus} | {per_hour:.0f} | {1000 / per_hour:.1f} h |")


if __name__ == "__main__":
    main()
