"""A Result describes its method without the core knowing method names: `variables` and `advice` come from it."""

import pathlib

import torch

from ditto.optimize import Result


def result(**changes) -> Result:
    fields = dict(audio=torch.zeros(1, 2, 8), baseline_audio=torch.zeros(1, 2, 8), x_T=torch.zeros(1, 4, 2),
                  losses=[1.0, 2.0], metrics={"before": {}, "after": {}}, sample_rate=8, best_iteration=0,
                  seconds={}, settings={"method": "my-own-method"}, stop_reason="iterations")
    return Result(**{**fields, **changes})


def test_a_methods_own_advice_is_its_warning():
    assert result(advice="annealing found nothing better; try a hotter start").warning == \
        "annealing found nothing better; try a hotter start"
    assert "did not improve on the baseline (loss 1)" in result().warning
    assert result(best_iteration=1, advice="unused").warning is None  # it paid off


def test_the_core_never_branches_on_a_method_name():
    root = pathlib.Path(__file__).parents[1] / "ditto"
    for module in ("optimize.py", "generation.py", "sampling.py", "config.py", "app/report.py"):
        text = (root / module).read_text()
        for name in ('"best-of-n"', '"guidance"', '== "ditto"'):
            assert name not in text, f"{module} branches on {name}"
