"""The one adapter (ditto/sat.py) over both supported stable-audio-tools releases, 0.0.19 and 0.0.20.

Run on either (`make test` builds 0.0.20, `make test-compat SAT=0.0.19 VENV=.venv-sat019` the other): the installed
release is named and supported, an unknown one is refused in one line, APG follows the installed release, the flow
samplers run on its time grid, the posterior mean needs no removed SAT argument, and ditto's own decoder
checkpointing keeps autograd's memory down with the same gradient on both.
"""

import importlib.metadata
import inspect
import runpy

import pytest
import torch

import ditto
import objectives
from ditto import sat as sat_adapter
from ditto.generation import SamplerConfig
from ditto.optimize import SavedBytes
from helpers import chain_loss

NEW = sat_adapter.SAT_0_0_20
SHORT = dict(sample_size=8192, seconds_total=1.0, steps=6, sigma_min=0.3, sigma_max=500.0, cfg_scale=7.0)
# The 8-step flow grids (t from 1 down to 0), as measured on each release.
FLOW_GRID_8 = {"0.0.19": [1, .99331, .98201, .95257, .88080, .73106, .5, .26894, 0],
               "0.0.20": [1, .99438, .98448, .95791, .89090, .74555, .51250, .27389, 0]}


def test_installed_release_is_supported_and_every_difference_names_both():
    assert sat_adapter.VERSION == importlib.metadata.version("stable-audio-tools")
    assert sat_adapter.VERSION in sat_adapter.SUPPORTED_VERSIONS == ("0.0.19", "0.0.20")
    for name, versions in sat_adapter.DIFFERENCES.items():
        assert {"0.0.19", "0.0.20"} <= set(versions), name


def test_an_unknown_release_is_refused_in_one_line(monkeypatch):
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.0.21" if name == "stable-audio-tools" else real(name))
    with pytest.raises(ImportError) as info:
        runpy.run_path(sat_adapter.__file__)  # a fresh copy of the module: ditto.sat itself stays as it is
    message = str(info.value)
    assert "stable-audio-tools 0.0.21 is installed" in message and "0.0.19, 0.0.20" in message
    assert "\n" not in message


def test_k_sampling_is_the_installed_k_diffusion():
    expected = "stable_audio_tools.inference.k_diffusion.sampling" if NEW else "k_diffusion.sampling"
    assert sat_adapter.k_sampling.__name__ == expected
    assert sat_adapter.BrownianTreeNoiseSampler is sat_adapter.k_sampling.BrownianTreeNoiseSampler


def test_apg_default_is_the_installed_releases_own():
    parameters = inspect.signature(sat_adapter.generate_diffusion_cond).parameters
    if NEW:
        assert sat_adapter.DEFAULT_APG_SCALE == parameters["apg_scale"].default == 1.0
    else:
        assert "apg_scale" not in parameters and sat_adapter.DEFAULT_APG_SCALE == 0.0
    assert SamplerConfig().apg_scale is None  # None: the installed release's default


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan"), "1", True])
def test_bad_apg_scale_is_one_line(tiny, value):
    with pytest.raises(ValueError) as info:
        ditto.generate(tiny, "solo piano", sampler="v-ddim", apg_scale=value, **SHORT)
    assert repr(value) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(NEW, reason="0.0.20 has APG")
def test_apg_on_0_0_19_is_a_one_line_error_naming_the_fix(tiny):
    for call in (lambda: ditto.generate(tiny, "solo piano", sampler="v-ddim", apg_scale=1.0, **SHORT),
                 lambda: ditto.optimize(tiny, objectives.Intensity([-20.0]), prompt="solo piano", seconds_total=1.0,
                                        sample_size=8192, steps=2, iterations=1, apg_scale=0.5)):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        assert "needs stable-audio-tools 0.0.20" in message and "apg_scale=0" in message and "\n" not in message
    # 0 is plain CFG, the only guidance 0.0.19 has: accepted
    ditto.generate(tiny, "solo piano", sampler="v-ddim", apg_scale=0.0, **dict(SHORT, steps=2))


@pytest.mark.skipif(not NEW, reason="APG is 0.0.20's")
def test_apg_changes_guided_output_on_0_0_20(tiny):
    kwargs = dict(SHORT, sampler="dpmpp-2m", seed=2)
    assert not torch.equal(ditto.generate(tiny, "jazz trio", apg_scale=0.0, **kwargs),
                           ditto.generate(tiny, "jazz trio", **kwargs))


def test_flow_grid_is_the_installed_releases(tiny_rf):
    grid = sat_adapter.flow_grid(tiny_rf, "euler", 8, 1.0, 4)
    assert torch.allclose(grid, torch.tensor(FLOW_GRID_8[sat_adapter.VERSION]), atol=1e-5)
    rk4 = sat_adapter.flow_grid(tiny_rf, "rk4", 8, 1.0, 4)
    if NEW:
        assert torch.equal(rk4, grid)  # one grid for every flow sampler
    else:
        assert torch.equal(rk4, torch.linspace(1, 0, 9))  # no dist_shift in this model


def test_posterior_mean_is_the_noise_free_posterior_sample(tiny, monkeypatch):
    """encode(sample=False) is what sampling the VAE posterior gives with zero noise, on either release."""
    audio = torch.sin(torch.arange(8192) / 7.0).repeat(2, 2, 1) * 0.3
    mean = ditto.generation.encode(tiny, audio, sample=False)
    monkeypatch.setattr(torch, "randn_like", lambda x, **kwargs: torch.zeros_like(x))
    assert torch.allclose(mean, ditto.generation.encode(tiny, audio, sample=True), rtol=1e-6, atol=1e-7)
    assert mean.shape == (2, tiny.latent_channels, 4)


def saved_and_grad(model, decoder_checkpointing):
    x_T = torch.randn(1, model.latent_channels, 22, generator=torch.Generator().manual_seed(0), requires_grad=True)
    with SavedBytes() as saved:
        config = SamplerConfig(sampler="dpmpp-2m", steps=4, cfg_scale=7.0)
        loss = chain_loss(model, x_T, config, checkpoint=True, decoder_checkpointing=decoder_checkpointing)
    loss.backward()
    return saved.total, x_T.grad


def test_ditto_checkpoints_the_decoder_itself(tiny):
    """Autograd keeps a fraction of the decoder's activations with ditto's checkpointing, on 0.0.19 (whose VAE
    checkpointed itself only in train() mode) and on 0.0.20 (which never does); the gradient is the same, the VAE
    stays in eval() and nothing is left patched."""
    plain_bytes, plain_grad = saved_and_grad(tiny, False)
    checkpointed_bytes, checkpointed_grad = saved_and_grad(tiny, True)
    assert checkpointed_bytes < 0.5 * plain_bytes, (checkpointed_bytes, plain_bytes)
    assert torch.allclose(checkpointed_grad, plain_grad, rtol=1e-5, atol=1e-9)
    vae = tiny.sat.pretransform.model
    assert not vae.training
    assert all("forward" not in unit.layers.__dict__ for unit in sat_adapter._decoder_units(vae))
    assert len(sat_adapter._decoder_units(vae)) == 15  # 5 decoder blocks x 3 residual units


def test_apg_scale_recipe_flag(tmp_path, capsys):
    """--apg-scale reaches the chain and report.json; on 0.0.19 a nonzero value is exit 2 with one line."""
    import json

    from recipe_runs import FAST, assert_one_line_error, run_in_process

    out = tmp_path / "run"
    code, _, last = run_in_process("intensity", ["--out", out, "--apg-scale", "0.5", *FAST], capsys)
    if not NEW:
        assert_one_line_error(code, last, "needs stable-audio-tools 0.0.20")
        assert not out.exists()
        code, _, last = run_in_process("intensity", ["--out", out, "--apg-scale", "0", *FAST], capsys)
    assert code == 0, last
    assert json.loads((out / "report.json").read_text())["settings"]["apg_scale"] == (0.5 if NEW else 0.0)
