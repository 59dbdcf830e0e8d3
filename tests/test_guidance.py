"""Guidance steers every guidable sampler of the registry through the sampler's own steps (a step hook)."""

import pytest
import torch

import ditto
import objectives
from ditto import generation, methods, sampling
from ditto.app import cli
from ditto.config import SamplerConfig
from recipe_runs import FAST as RECIPE_FAST, assert_one_line_error, no_run_left, run_in_process

WINDOW = dict(sample_size=10 * 2048, seconds_total=0.45)  # 0.46 s
SHORT = dict(prompt="solo piano", steps=4, progress=False, **WINDOW)
GUIDABLE = sampling.GUIDABLE_SAMPLERS


@pytest.fixture
def model_for(request):
    """The tiny model of a sampler's family: `tiny` (v) or `tiny_rf` (rectified flow)."""
    return lambda name: request.getfixturevalue("tiny" if sampling.SAMPLERS[name].family == "v" else "tiny_rf")


def plain(model, name, seed=0):
    return ditto.generate(model, "solo piano", steps=SHORT["steps"], sampler=name, seed=seed,
                          cut_to_seconds_total=True, **WINDOW)


def test_the_registry_guides_deterministic_samplers_of_both_families():
    assert GUIDABLE == tuple(name for name, spec in sampling.SAMPLERS.items() if spec.guidable)
    assert {"v-ddim", "euler"} <= set(GUIDABLE) and set(GUIDABLE).isdisjoint(sampling.STOCHASTIC_SAMPLERS)
    with pytest.raises(ValueError, match="only a deterministic sampler"):
        sampling.SamplerSpec("noisy", sampling.sample_dpmpp_2m_sde, "v", "sigmas", "brownian", guidable=True)


@pytest.mark.parametrize("name", tuple(sampling.SAMPLERS))
def test_the_guidable_flag_is_the_samplers_determinism(model_for, name):
    """Two noise seeds give the same chain exactly when the sampler is deterministic: exactly the guidable ones."""
    model, spec = model_for(name), sampling.SAMPLERS[name]
    x_T = torch.randn((1, model.latent_channels, 8), generator=torch.Generator().manual_seed(0))
    cond = generation.build_conditioning(model, "solo piano", seconds_total=0.4, latent_frames=8)
    config = SamplerConfig(sampler=name, steps=3)
    with torch.no_grad():
        first, second = (generation.sample_latents(model, x_T, cond, config, noise_seed=seed) for seed in (1, 2))
    assert spec.guidable == torch.equal(first, second) == (spec.noise is None)


@pytest.mark.parametrize("name", GUIDABLE)
def test_each_step_hook_sees_the_first_model_evaluation_at_its_input(model_for, name):
    """What guidance relies on: every step runs through the hook, in order, over the grid's levels, and the
    step's first model evaluation is at (x, step.level)."""
    model, spec = model_for(name), sampling.SAMPLERS[name]
    x_T = torch.randn((1, model.latent_channels, 8), generator=torch.Generator().manual_seed(0))
    config = SamplerConfig(sampler=name, steps=5)
    chain = generation.build_chain(model, x_T, generation.build_conditioning(
        model, "solo piano", seconds_total=0.4, latent_frames=8), config, None, 1.0)
    calls, seen = [], []

    def recording(x, level):
        calls.append((x, level))
        return chain.model(x, level)

    def hook(advance, x, at):
        calls.clear()
        out = advance(x)
        seen.append(at)
        assert calls[0][0] is x and torch.allclose(calls[0][1], at.level.expand(x.shape[0]).to(x.dtype))
        return out

    with torch.no_grad():
        hooked = spec.function(recording, chain.x, *chain.args, **chain.kwargs, hook=hook)
        unhooked = spec.function(chain.model, chain.x, *chain.args, **chain.kwargs)
    assert torch.equal(hooked, unhooked)
    assert [at.index for at in seen] == list(range(sampling.chain_steps(spec, 5)))
    assert all(at.count == len(seen) for at in seen)
    assert all(torch.equal(a.level_next, b.level) for a, b in zip(seen, seen[1:]))
    assert all(at.level_next < at.level for at in seen)


@pytest.mark.parametrize("name", GUIDABLE)
def test_guidance_at_scale_zero_is_the_samplers_plain_render(model_for, name):
    model = model_for(name)
    result = ditto.guide(model, objectives.Intensity.from_shape("crescendo"), scale=0.0, sampler=name,
                         **{**SHORT, "steps": 3})
    assert torch.equal(result.audio, result.baseline_audio)
    assert torch.equal(result.baseline_audio, ditto.generate(model, "solo piano", steps=3, sampler=name, seed=0,
                                                             cut_to_seconds_total=True, **WINDOW))


@pytest.mark.parametrize("name", GUIDABLE)
def test_guidance_improves_its_objective_on_every_guidable_sampler(model_for, name):
    """A reachable target: the seed's own loudness curve 6 dB up; guidance at its default scale gets closer."""
    model = model_for(name)
    target = objectives.Intensity.from_audio(2.0 * plain(model, name)[0], model.sample_rate)
    result = ditto.guide(model, target, sampler=name, **SHORT)
    before, after = (result.metrics[when]["intensity_mse_db2"] for when in ("before", "after"))
    print(f"{name}: intensity_mse_db2 {before:.3f} -> {after:.3f}")
    assert after < 0.97 * before, (before, after)
    assert result.warning is None
    assert len(result.losses) == sampling.chain_steps(sampling.SAMPLERS[name], SHORT["steps"]) - 1


@pytest.mark.parametrize("process", ("sigma", "v", "flow"))
def test_time_travel_repeats_redo_the_steps_of_every_process(model_for, process):
    name = next(n for n in GUIDABLE if sampling.SAMPLERS[n].process == process)
    objective = objectives.Intensity.from_shape("crescendo")
    once = ditto.guide(model_for(name), objective, sampler=name, guided_steps=[1], **SHORT)
    twice = ditto.guide(model_for(name), objective, sampler=name, guided_steps=[1], repeats=2, **SHORT)
    assert len(twice.losses) == 1 and torch.isfinite(twice.audio).all()
    assert not torch.equal(once.audio, twice.audio)


@pytest.mark.parametrize("name,family", [("dpmpp-3m-sde", "v"), ("pingpong", "rectified_flow"),
                                         ("euler", "v"), ("no-such-sampler", "v")])
def test_an_unguidable_sampler_is_refused_before_the_model_runs(model_for, monkeypatch, name, family):
    model = model_for("v-ddim" if family == "v" else "euler")
    monkeypatch.setattr(methods, "build_problem", lambda *a, **k: pytest.fail("the problem was built"))
    with pytest.raises(ValueError) as error:
        ditto.guide(model, objectives.Intensity.from_shape("crescendo"), sampler=name, **SHORT)
    valid = [n for n in GUIDABLE if sampling.SAMPLERS[n].family == family]
    assert repr(name) in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).endswith(f"valid for a {family!r} model: {', '.join(valid)}")


def test_the_recipes_refuse_an_unguidable_sampler_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    out = tmp_path / "run"
    code, _, last = run_in_process("intensity", ["--method", "guidance", "--sampler", "pingpong", *RECIPE_FAST,
                                                 "--out", out], capsys)
    assert_one_line_error(code, last, "'pingpong'")
    assert ", ".join(GUIDABLE) in last and no_run_left(out)


def test_the_sigma_and_v_processes_agree_in_variance_preserving_units():
    """k-diffusion's sigma space is the v chain scaled by sqrt(1 + sigma^2) (sigma = tan(t pi/2)): the x0-prediction
    and the re-noising guidance reads and writes there are the same points."""
    generator = torch.Generator().manual_seed(0)
    x_vp, noise = (torch.randn((2, 3, 5), generator=generator) for _ in range(2))
    network = lambda x, t: 0.3 * x + t.reshape(-1, 1, 1)  # noqa: E731  any v-prediction
    t, t_to = torch.tensor([0.3, 0.3]), torch.tensor(0.7)
    sigma, sigma_to = torch.tan(t * torch.pi / 2), torch.tan(t_to * torch.pi / 2)
    x_ve = x_vp * sampling.unit_scale("sigma", sigma).reshape(-1, 1, 1)
    denoised = generation.v_denoiser(network)(x_ve, sigma)
    assert torch.allclose(sampling.predicted_x0("sigma", x_ve, sigma, denoised),
                          sampling.predicted_x0("v", x_vp, t, network(x_vp, t)), atol=1e-5)
    renoised_ve = sampling.renoise("sigma", x_ve, sigma[0], sigma_to, noise)
    assert torch.allclose(renoised_ve / sampling.unit_scale("sigma", sigma_to),
                          sampling.renoise("v", x_vp, t[0], t_to, noise), atol=1e-5)
