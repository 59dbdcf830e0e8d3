"""The application layer: what the recipes and the command line are made of, on top of the core (`ditto`).

The core loads a model, samples and optimizes any loss; this layer turns a user's request into a run and a run
into files. Recipes import from here and from `ditto` / `objectives` only.

- `cli`: the recipes' shared flags (one per `ditto.optimize` setting), one-line errors with exit codes, running
  a job and writing its folder, SIGINT/SIGTERM handling.
- `runs`: a run's folder, checked before any work, staged beside the destination and published whole.
- `report`: report.json, the WAVs, x_T.pt and plot.png of one run; `plots`: plot.png's panels.
- `editing`: edit plans (outpaint, inpaint, loop): a reference as a latent target, and stitching the result;
  references of any length, and `extend`, which continues a piece to any length window by window.
"""

from .cli import (EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, Job, Outcome, RecipeParser, add_control_flags,
                  control_objective, edit_job, fail, failing_cleanly, number_list, recipe_parser, reference_or_demo,
                  run_recipe)
from .editing import EditPlan, ExtendJob, Extension, extend, plan_inpaint, plan_loop, plan_outpaint, slice_control
from .plots import (plot_brightness, plot_edit, plot_intensity, plot_melody, plot_pitch, plot_rhythm, plot_structure,
                    plot_waveforms)
from .report import write_run
from ..files import atomic_write
from .runs import RunFolder, RunFolderError

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERRUPTED", "EditPlan", "ExtendJob", "Extension", "atomic_write", "Job",
    "Outcome",
    "RecipeParser", "RunFolder", "RunFolderError", "add_control_flags", "control_objective", "edit_job", "extend",
    "fail", "failing_cleanly", "number_list", "plan_inpaint", "plan_loop", "plan_outpaint", "plot_edit",
    "plot_intensity", "plot_melody", "plot_structure", "plot_waveforms", "recipe_parser", "reference_or_demo",
    "run_recipe", "slice_control", "write_run",
    "plot_rhythm", "plot_brightness", "plot_pitch",
]
