"""The sampler registry: every row runs, through its own grid and noise source, on closed-form fake models.

A v model whose denoiser always returns x0 (D(x, sigma) = x0) and a rectified flow v(x, t) = (x - x0) / t (the
velocity of the straight path x_t = (1 - t) x0 + t eps) are exact for every sampler here, so each chain must land
on x0 (k-dpm-fast, which stops at sigma_min, on the ODE solution there). Tiny float64 tensors: milliseconds each.
The bit-parity tests against stable-audio-tools live in test_generation.py.
"""

import math
import types
import typing as tp

import pytest
import torch

from ditto import generation, sampling
from ditto.generation import SamplerConfig

SHAPE = (2, 3, 5)  # batch, latent channels, latent frames
STEPS = 4
SIGMA_MIN, SIGMA_MAX = 0.3, 500.0


def fake_model(objective: str) -> types.SimpleNamespace:
    """What the grid builders read of a `Model`: device, the SAT wrapper's `dist_shift` and `sampling_dist_shift`
    (0.0.20's flow grid; None: linear), the objective, and no sampling defaults of its own."""
    return types.SimpleNamespace(device=torch.device("cpu"), diffusion_objective=objective,
                                 sat=types.SimpleNamespace(dist_shift=None, sampling_dist_shift=None),
                                 defaults=types.SimpleNamespace(sampler=None, steps=None, cfg_scale=None))


def x0_velocity(family: str, x0: torch.Tensor, x_T: torch.Tensor) -> sampling.VelocityModel:
    """The raw network of a model that always predicts x0.

    v family (alpha = cos(pi t / 2), sigma = sin(pi t / 2), x = alpha x0 + sigma eps, v = alpha eps - sigma x0):
    v = (alpha x - x0) / sigma, so `VDenoiser` gives D = x0 and DDIM's prediction x alpha - v sigma is x0.
    Rectified flow: v = (x - x0) / t; near t = 0, where only rk4's last stage looks (at t = 0 on SAT 0.0.19, at
    1e-5 on 0.0.20, where dividing by t would magnify round-off 1e5 times), it is extended along the straight path
    from x_T (v = x_T - x0, its value everywhere on that path).
    """
    def v(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(x.dtype)[:, None, None]
        if family == "v":
            return (torch.cos(t * math.pi / 2) * x - x0) / torch.sin(t * math.pi / 2)
        return torch.where(t > 1e-3, (x - x0) / t.clamp_min(1e-3), x_T - x0)
    return v


def run_row(name: str, x0: torch.Tensor, x_T: torch.Tensor, *, model_fn=None, noise_seed: int = 3) -> torch.Tensor:
    """One registry row through `generation.GRIDS` and `generation.run_sampler`, as `sample_latents` runs it."""
    spec = sampling.SAMPLERS[name]
    config = SamplerConfig(sampler=name, steps=STEPS, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, cfg_scale=1.0)
    model = fake_model("v" if spec.family == "v" else "rectified_flow")
    config.validate(model)
    v_model = model_fn or x0_velocity(spec.family, x0, x_T)
    chain = generation.GRIDS[spec.grid](model, v_model, x_T, config, config.sigma_max, None)
    return generation.run_sampler(spec, chain, noise_seed=noise_seed)


def pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(SHAPE, generator=generator, dtype=torch.float64),
            torch.randn(SHAPE, generator=generator, dtype=torch.float64))


@pytest.mark.parametrize("name", list(sampling.SAMPLERS))
def test_closed_form_model_lands_on_its_x0(name):
    """x0 up to the rounding of the samplers' float32 grids (as in SAT): ~1e-7, against O(1) for a wrong step."""
    x0, x_T = pair()
    out = run_row(name, x0, x_T)
    expected, tolerance = x0, 1e-6
    if sampling.SAMPLERS[name].grid == "dpm-fast":
        # k-dpm-fast integrates from sigma_max down to sigma_min only, on the ODE solution
        # x(sigma) = x0 + sigma (x_T sigma_max - x0) / sigma_max; its float32 log-sigma grid starts at 500 (~3e-5).
        expected, tolerance = x0 + SIGMA_MIN * (x_T - x0 / SIGMA_MAX), 5e-5
    assert out.dtype == torch.float64 and out.shape == SHAPE
    assert (out - expected).abs().max() <= tolerance, (out - expected).abs().max()


@pytest.mark.parametrize("name", list(sampling.SAMPLERS))
def test_evaluations_per_step_is_the_most_model_calls_in_one_step(name, monkeypatch):
    x0, x_T = pair(1)
    calls, per_step = [0], []
    run_step = sampling._run_step

    def counting_step(step, *args, **options):
        before = calls[0]
        out = run_step(step, *args, **options)
        per_step.append(calls[0] - before)
        return out

    def counted(x, t):
        calls[0] += 1
        return velocity(x, t)

    velocity = x0_velocity(sampling.SAMPLERS[name].family, x0, x_T)
    monkeypatch.setattr(sampling, "_run_step", counting_step)
    run_row(name, x0, x_T, model_fn=counted)
    assert max(per_step) == sampling.SAMPLERS[name].evaluations_per_step == sampling.EVALUATIONS_PER_STEP[name]


def test_stochastic_rows_draw_their_noise_from_the_seeded_source():
    x0, x_T = pair(2)
    state_dependent = lambda x, t: 0.5 * x  # noqa: E731  (not x0-exact: the per-step noise shows in the output)
    for name in sampling.STOCHASTIC_SAMPLERS:
        first, again, other = (run_row(name, x0, x_T, model_fn=state_dependent, noise_seed=seed) for seed in (3, 3, 4))
        assert torch.equal(first, again), name
        assert not torch.allclose(first, other), name


def test_derived_lists_come_from_the_table():
    rows = sampling.SAMPLERS.values()
    assert sampling.V_SAMPLERS == tuple(s.name for s in rows if s.family == "v")
    assert sampling.RF_SAMPLERS == tuple(s.name for s in rows if s.family == "rectified_flow")
    assert sampling.STOCHASTIC_SAMPLERS == tuple(s.name for s in rows if s.noise is not None)
    assert sampling.EVALUATIONS_PER_STEP == {s.name: s.evaluations_per_step for s in rows}
    assert set(sampling.V_SAMPLERS) | set(sampling.RF_SAMPLERS) == set(sampling.SAMPLERS)
    assert all(name == spec.name for name, spec in sampling.SAMPLERS.items())


def test_every_grid_and_noise_kind_has_a_builder():
    assert set(generation.GRIDS) == set(sampling.GRIDS)
    assert set(generation.NOISE_SOURCES) == set(sampling.NOISE_KINDS) - {None}
    assert {spec.grid for spec in sampling.SAMPLERS.values()} <= set(sampling.GRIDS)


def test_sampler_name_literal_matches_the_table():
    assert tp.get_args(generation.SamplerName) == tuple(sampling.SAMPLERS)


@pytest.mark.parametrize("name,family", [("euler-magic", "v"), ("euler-magic", "rectified_flow"),
                                         ("pingpong", "v"), ("v-ddim", "rectified_flow"), (None, "v")])
def test_unknown_sampler_raises_listing_the_valid_ones(name, family):
    valid = sampling.V_SAMPLERS if family == "v" else sampling.RF_SAMPLERS
    with pytest.raises(ValueError) as info:
        sampling.sampler_spec(name, family)
    message = str(info.value)
    assert repr(name) in message and "\n" not in message
    assert message.endswith("valid: " + ", ".join(valid))


def test_unknown_family_raises():
    with pytest.raises(ValueError, match="rectified_flow"):
        sampling.sampler_spec("euler", "flow")


@pytest.mark.parametrize("objective", ["rectified_flow", "rf_denoiser"])
def test_unknown_flow_sampler_no_longer_becomes_pingpong(objective):
    model = fake_model(objective)
    x_T = torch.zeros(SHAPE)
    with pytest.raises(ValueError, match="valid: euler, rk4, dpmpp, pingpong"):
        generation.sample_latents(model, x_T, None, SamplerConfig(sampler="euler-magic", steps=2))
    assert SamplerConfig(sampler="pingpong").spec(model) is sampling.SAMPLERS["pingpong"]


def test_bad_rows_are_refused():
    with pytest.raises(ValueError, match="grid"):
        sampling.SamplerSpec("new", sampling.sample_flow_euler, "rectified_flow", "linear")
    with pytest.raises(ValueError, match="noise"):
        sampling.SamplerSpec("new", sampling.sample_flow_euler, "rectified_flow", "rf", "uniform")
    with pytest.raises(ValueError, match="unique"):
        sampling._registry(sampling.SAMPLERS["euler"], sampling.SAMPLERS["euler"])
    with pytest.raises(ValueError, match="unknown noise kind"):
        generation.make_noise_source("uniform", torch.zeros(1), None, 0)
