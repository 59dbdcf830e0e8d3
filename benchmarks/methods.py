"""DITTO, guidance and best-of-N side by side: `python benchmarks/methods.py [--iterations 30]`.

On the tiny model, for an intensity, a melody and a structure target: each method's metric before (the seed's
plain render) and after, and its seconds, first at each method's default settings, then at equal wall-clock:
best-of-N gets DITTO's time as its budget, and DITTO gets guidance's time. `--scales` sweeps guidance's step
size on each target. One Markdown table each.
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import ditto  # noqa: E402
import objectives  # noqa: E402

TARGETS = {  # name -> (objective, prompt, metric, lower is better)
    "intensity": (objectives.Intensity.from_shape("crescendo"), "ambient pad", "intensity_mse_db2", True),
    "melody": (objectives.Melody.from_notes("C5:0.25 E5:0.25 G5:0.25 C6:0.25"), "solo piano", "melody_accuracy",
               False),
    "structure": (objectives.Structure("ABA"), "solo piano", "structure_mse", True),
}


def run(method: str, objective, prompt: str, window: dict, **kwargs) -> ditto.Result:
    if method == "ditto":
        return ditto.optimize(objective=objective, prompt=prompt, **window, **kwargs)
    if method == "guidance":
        return ditto.guide(objective=objective, prompt=prompt, **window, **kwargs)
    return ditto.best_of_n(objective=objective, prompt=prompt, **window, **kwargs)


def row(target: str, setting: str, method: str, result: ditto.Result, metric: str) -> list:
    before, after = result.metrics["before"][metric], result.metrics["after"][metric]
    return [target, setting, method, metric, before, after, result.seconds["total"]]


def compare(model, args) -> list[list]:
    window = dict(model=model, seconds_total=1.0, sample_size=22 * 2048, steps=args.steps, progress=False)
    rows = []
    for target, (objective, prompt, metric, _) in TARGETS.items():
        ditto_run = run("ditto", objective, prompt, window, iterations=args.iterations)
        guided = run("guidance", objective, prompt, window, scale=args.scale)
        best = run("best-of-n", objective, prompt, window, n=args.candidates, batch_size=4)
        rows += [row(target, "defaults", name, result, metric)
                 for name, result in (("ditto", ditto_run), ("guidance", guided), ("best-of-n", best))]
        best_timed = run("best-of-n", objective, prompt, window, time_budget_s=ditto_run.seconds["total"],
                         batch_size=4)
        ditto_timed = run("ditto", objective, prompt, window, iterations=args.iterations,
                          time_budget_s=guided.seconds["total"])
        rows += [row(target, "best-of-n in DITTO's time", "best-of-n", best_timed, metric),
                 row(target, "DITTO in guidance's time", "ditto", ditto_timed, metric)]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=30, help="DITTO iterations")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--scale", type=float, default=ditto.methods.GUIDANCE_SCALE, help="guidance step size")
    parser.add_argument("--candidates", type=int, default=8, help="best-of-N seeds at the defaults")
    parser.add_argument("--scales", type=lambda text: [float(x) for x in text.split(",")], default=None,
                        help="comma-separated guidance scales to sweep on each target instead")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model = ditto.load_model("tiny", device="cpu")
    header = ["target", "setting", "method", "metric", "before", "after", "seconds"]
    if args.scales:
        window = dict(model=model, seconds_total=1.0, sample_size=22 * 2048, steps=args.steps, progress=False)
        rows = [row(target, f"scale {scale:g}", "guidance", run("guidance", objective, prompt, window, scale=scale),
                    metric) for target, (objective, prompt, metric, _) in TARGETS.items() for scale in args.scales]
        common.print_table(f"Guidance step size; {common.device_name('cpu')}", header, rows)
        return
    common.print_table(f"Methods on the tiny model, 1 s, {args.steps} steps; {common.device_name('cpu')}", header,
                       compare(model, args))


if __name__ == "__main__":
    main()
