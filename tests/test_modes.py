"""Speed and memory modes of ditto.optimize.

Exact modes (keep_steps, no checkpointing, a memory budget) compute the fp32 gradient: cosine >= 0.99, or allclose.
The bf16 decoder is held to what the user gets: the control metric after ITERATIONS Adam iterations within
BF16_FACTOR of fp32's and well below the baseline, plus a gradient-cosine sanity bound. The DiT under bf16 autocast
(alone, and with the bf16 decoder) is held to its first gradient's cosine; `benchmarks/bf16.py` runs the metric
contract for every bf16 mode.

Where the bounds come from (first dL/dx_T, cosine against fp32's; `benchmarks/bf16.py` measures them): on a CPU
without native bf16 the "bf16" convolutions are computed at fp32 precision and every bf16 mode gives >= 0.9997
(measured on a 2-core AVX2 AMD EPYC; the reporter's AMX Xeon under ONEDNN_MAX_CPU_ISA=AVX2 gave 0.9999). With native
bf16 (AMX, as reported by a user on 2026-11-28; GPU tensor cores behave alike) the DiT under autocast stays at
0.9998 but the bf16 decoder gives 0.912, and 30 iterations end at 26.3 dB^2 with it vs 22.2 fp32 (from ~148): 1.18x.
So a decoder cosine near 1 would only hold for the emulation; the decoder bound below is a sanity bound.
"""

import dataclasses

import pytest
import torch

import ditto
import objectives
from ditto.optimize import activation_bytes_per_step, optimize

FAST = dict(prompt="solo piano", seconds_total=1.0, sample_size=22 * 2048, steps=6, progress=False)
SEED = 3  # x_T of the gradient comparisons and the bf16 contract (the reporter's setting)
ITERATIONS = 30  # Adam iterations of the bf16 contract
BF16_FACTOR = 1.5  # a bf16 mode's metric after ITERATIONS is at most this times fp32's (native bf16: 1.18x)
WELL_BELOW_BASELINE = 0.25  # ... and at most this fraction of its baseline's (fp32: 22.1 / 148.5 = 0.15)
MIN_COSINE_DIT = 0.99  # DiT under bf16 autocast: 0.9998 native (reported), 0.9999 emulated (here)
MIN_COSINE_DECODER = 0.8  # bf16 decoder: 0.912 native (reported), 0.9999 emulated; a sanity bound


@dataclasses.dataclass
class Run:
    grad: torch.Tensor  # dL/dx_T at the seeded x_T (first iteration)
    before: float  # intensity_mse_db2 of the baseline render
    after: float  # intensity_mse_db2 after the iterations


def run(model, objective, iterations, **kwargs) -> Run:
    """ditto.optimize with the test settings: its first gradient and its control metric before and after."""
    grads = []
    result = optimize(model, objective, iterations=iterations, callback=lambda info: grads.append(info["grad"]),
                      **{**FAST, "seed": SEED, **kwargs})
    return Run(grads[0], result.metrics["before"]["intensity_mse_db2"], result.metrics["after"]["intensity_mse_db2"])


def first_gradient(model, objective, **kwargs):
    """dL/dx_T at the seeded x_T, as ditto.optimize computes it in its first iteration."""
    return run(model, objective, 1, **kwargs).grad


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


@pytest.fixture(scope="module")
def crescendo():
    return objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)


@pytest.fixture(scope="module")
def fp32_run(tiny, crescendo):
    """The exact fp32 reference, shared by every comparison in this module."""
    return run(tiny, crescendo, ITERATIONS)


@pytest.fixture(scope="module")
def reference_gradient(fp32_run):
    return fp32_run.grad


def bf16_contract_failures(candidate: Run, reference: Run, min_cosine: float) -> list[str]:
    """What a bf16 run breaks of its contract against the fp32 run (empty: it holds)."""
    failures = []
    if not cosine(candidate.grad, reference.grad) >= min_cosine:
        failures.append(f"gradient cosine {cosine(candidate.grad, reference.grad):.4f} < {min_cosine}")
    if not candidate.after <= BF16_FACTOR * reference.after:
        failures.append(f"after {candidate.after:.3g} dB^2 > {BF16_FACTOR} x fp32's {reference.after:.3g}")
    if not candidate.after <= WELL_BELOW_BASELINE * candidate.before:
        failures.append(f"after {candidate.after:.3g} dB^2 > {WELL_BELOW_BASELINE} x baseline {candidate.before:.3g}")
    return failures


def test_fp32_reference_controls(fp32_run):
    assert fp32_run.after <= WELL_BELOW_BASELINE * fp32_run.before


def test_bf16_decoder_controls_as_well_as_fp32(tiny, crescendo, fp32_run):
    """The contract, run for the bf16 decoder: the one bf16 path whose gradient differs with native bf16.

    On this 2-core CPU the emulated bf16 decoder costs ~1.3 s per iteration, so the other bf16 modes are checked
    through their first gradient below (the DiT's is 0.9998 even with native bf16); `benchmarks/bf16.py` runs the
    contract for all of them.
    """
    assert bf16_contract_failures(run(tiny, crescendo, ITERATIONS, decoder_bf16=True), fp32_run,
                                  MIN_COSINE_DECODER) == []


def test_bf16_contract_fails_for_a_garbage_decoder(tiny, crescendo, fp32_run, monkeypatch):
    """A bf16 decoder that returns noise (no gradient reaches x_T) breaks both the cosine and the metric bound."""
    decode = ditto.sat.decode
    generator = torch.Generator().manual_seed(0)

    def garbage(model, latents, *, dtype=None, **kwargs):
        if dtype != torch.bfloat16:
            return decode(model, latents, dtype=dtype, **kwargs)
        noise = 0.1 * torch.randn(latents.shape[0], tiny.channels, latents.shape[-1] * tiny.latent_stride,
                                  generator=generator)
        return (noise + 0.0 * latents.sum()).to(dtype)  # connected to x_T, but with a zero gradient

    monkeypatch.setattr(ditto.sat, "decode", garbage)
    failures = bf16_contract_failures(run(tiny, crescendo, ITERATIONS, decoder_bf16=True), fp32_run,
                                      MIN_COSINE_DECODER)
    assert any("cosine" in failure for failure in failures), failures
    assert any("fp32's" in failure for failure in failures), failures


@pytest.mark.parametrize("mode,min_cosine", [
    (dict(autocast_bf16=True), MIN_COSINE_DIT),
    (dict(autocast_bf16=True, decoder_bf16=True), MIN_COSINE_DECODER),  # the bf16 decoder alone: the contract above
    (dict(keep_steps=3), 0.99),
    (dict(keep_steps=6, checkpoint=True), 0.99),
    (dict(memory_budget_gb=0.001), 0.99),
    (dict(checkpoint=False, decoder_checkpoint=False), 0.99),
], ids=["bf16-dit", "bf16-dit+decoder", "keep-3", "keep-6-checkpoint", "memory-budget", "no-checkpoint"])
def test_fast_path_gradient_agrees_with_fp32_reference(tiny, crescendo, reference_gradient, mode, min_cosine):
    assert cosine(first_gradient(tiny, crescendo, **mode), reference_gradient) >= min_cosine


def test_exact_modes_are_exact(tiny, crescendo, reference_gradient):
    for mode in (dict(keep_steps=2), dict(checkpoint=False)):
        assert torch.allclose(first_gradient(tiny, crescendo, **mode), reference_gradient, rtol=1e-5, atol=1e-9)


def test_memory_budget_picks_keep_steps_from_a_measured_step(tiny):
    settings = {}
    result = optimize(tiny, objectives.Intensity([-20.0]), iterations=1, memory_budget_gb=1.0, **FAST)
    settings.update(result.settings)
    assert settings["activation_gb_per_step"] > 0
    assert settings["keep_steps"] == 6  # 1 GB holds every step of the tiny model
    none = optimize(tiny, objectives.Intensity([-20.0]), iterations=1, memory_budget_gb=0.0, **FAST)
    assert none.settings["keep_steps"] == 0


def test_decode_only_the_span_matches_a_full_decode(tiny, crescendo):
    """A 0.3 s loss span in a 1 s window decodes 7 + 16 latents, not 22, and sees the same audio."""
    seen = []

    def spy(audio, sample_rate):
        seen.append(audio.detach())
        return crescendo(audio, sample_rate)

    optimize(tiny, spy, iterations=1, **{**FAST, "seconds_total": 0.3, "sample_size": 64 * 2048})
    full = ditto.generate(tiny, "solo piano", sample_size=64 * 2048, seconds_total=0.3, steps=6, sampler="v-ddim",
                          cut_to_seconds_total=True)
    assert seen[0].shape == full.shape
    assert (seen[0] - full).abs().max() <= 1e-5 * full.abs().max()


def test_surrogate_optimizes_few_steps_and_reports_the_full_render(tiny, crescendo):
    result = optimize(tiny, crescendo, iterations=10, surrogate_steps=2, **{**FAST, "steps": 8})
    assert {"before", "after", "before_surrogate", "after_surrogate"} <= set(result.metrics)
    rendered = ditto.generate(tiny, "solo piano", x_T=result.x_T, sample_size=22 * 2048, seconds_total=1.0, steps=8,
                              sampler="v-ddim", cut_to_seconds_total=True)
    assert torch.allclose(rendered, result.audio, atol=1e-5)
    assert result.metrics["after"]["intensity_mse_db2"] < result.metrics["before"]["intensity_mse_db2"]


def test_activation_bytes_grow_with_the_window(tiny):
    from ditto.generation import SamplerConfig, build_conditioning
    cond = build_conditioning(tiny, "solo piano", seconds_total=1.0)
    config = SamplerConfig(sampler="v-ddim", steps=4)
    small = activation_bytes_per_step(tiny, cond, config, torch.zeros(1, 64, 8))
    large = activation_bytes_per_step(tiny, cond, config, torch.zeros(1, 64, 32))
    assert 0 < small < large


@pytest.mark.parametrize("kwargs,named", [(dict(surrogate_steps=0), "0"), (dict(keep_steps=-1), "-1"),
                                          (dict(memory_budget_gb=-2.0), "-2.0")])
def test_bad_mode_arguments(tiny, kwargs, named):
    with pytest.raises(ValueError) as info:
        optimize(tiny, objectives.Intensity([-20.0]), iterations=1, **{**FAST, **kwargs})
    assert named in str(info.value)
