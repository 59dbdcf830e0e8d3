"""CPU defaults: the `ditto` command and the recipe scripts run with OMP_WAIT_POLICY=PASSIVE unless the user set
one (ditto/openmp.py), and DITTO on the CPU keeps every sampler step's activations when they fit in memory."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import objectives
from ditto import openmp
from ditto.optimize import optimize

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.mark.parametrize("argv,ours", [
    (["python", "-m", "ditto", "intensity"], True),
    (["python", "-u", "-m", "ditto", "run", "x.jsonl"], True),  # torchrun's children
    (["python", "-X", "importtime", "-m", "ditto.app.command"], True),
    (["/venv/bin/python", "/venv/bin/ditto", "intensity"], True),  # the console script
    (["python", str(ROOT / "recipes" / "intensity.py"), "--help"], True),
    (["python", "-m", "pytest"], False),
    (["python", "-c", "import ditto"], False),
    (["python", "my_program.py"], False),
    (["python", str(ROOT / "benchmarks" / "optimize.py")], False),
    (["python"], False),
])
def test_which_programs_are_ditto_s(argv, ours):
    assert openmp.runs_ditto(argv) is ours


def test_the_default_is_set_only_where_it_can_take_effect():
    command = ["python", "-m", "ditto", "intensity"]
    environ = {}
    assert openmp.set_default(environ, command, modules={}) and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    user = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert not openmp.set_default(user, command, modules={}) and user == {"OMP_WAIT_POLICY": "ACTIVE"}
    late = {}  # torch already loaded: libgomp has read the variable, setting it now would only mislead
    assert not openmp.set_default(late, command, modules={"torch": object()}) and late == {}
    library = {}
    assert not openmp.set_default(library, ["python", "notebook.py"], modules={}) and library == {}


PROBE = textwrap.dedent("""
    import atexit, os
    def _report():
        with open(os.environ["PROBE_OUT"], "w") as f:
            f.write(os.environ.get("OMP_WAIT_POLICY", "<unset>"))
    atexit.register(_report)
""")


def policy_seen(tmp_path, args, **env):
    """OMP_WAIT_POLICY as the process running `python ARGS` had it when it exited (a sitecustomize probe)."""
    probe = tmp_path / "probe"
    probe.mkdir(exist_ok=True)
    (probe / "sitecustomize.py").write_text(PROBE)
    out = tmp_path / "policy.txt"
    environ = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    environ.update(PYTHONPATH=os.pathsep.join([str(probe), str(ROOT)]), PROBE_OUT=str(out), **env)
    done = subprocess.run([PYTHON, *args], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out.read_text()


def test_the_command_runs_passive(tmp_path):
    """End to end, once (importing ditto takes seconds): the user's value and the recipe scripts are the same code
    path, checked above."""
    assert policy_seen(tmp_path, ["-m", "ditto", "--help"]) == "PASSIVE"


FAST = dict(prompt="solo piano", seconds_total=1.0, sample_size=22 * 2048, steps=6, iterations=1, progress=False)


def test_by_default_every_step_is_recomputed_and_a_budget_keeps_what_fits(tiny):
    """No default picks kept steps from the memory free: one step's measured activations are not an iteration's
    whole peak (Stable Audio 3 Small at 10 s overran 20 GB that way); a budget keeps as many steps as it holds."""
    objective = objectives.Intensity([-20.0])
    default = optimize(tiny, objective, **FAST).settings
    assert default["keep_steps"] == 0 and default["activation_gb_per_step"] is None
    kept = optimize(tiny, objective, memory_budget_gb=100.0, **FAST).settings
    assert kept["keep_steps"] == 6 and kept["activation_gb_per_step"] > 0
    per_step = kept["activation_gb_per_step"]
    assert optimize(tiny, objective, memory_budget_gb=2.5 * per_step, **FAST).settings["keep_steps"] == 2
    assert optimize(tiny, objective, keep_steps=0, memory_budget_gb=100.0, **FAST).settings["keep_steps"] == 0


def test_the_kept_steps_do_not_change_the_gradient(tiny):
    grads = []
    for keep_steps in (6, 0):
        optimize(tiny, objectives.Intensity([-20.0]), keep_steps=keep_steps, callback=lambda info: grads.append(
            info["grad"]), **FAST)
    assert grads[0].abs().max() > 0 and torch.equal(grads[0], grads[1])
