"""Properties of the editing objectives on synthetic latents and audio: masked latent MSE, self-looping, domains,
masks from seconds, seam metrics and crossfades.

Reference values come from the construction of each signal (a π phase jump is a click; a 441 Hz sine at
22050 Hz has a period of exactly 50 samples, so a 1 s clip loops seamlessly). CPU only, fixed seeds.
"""

import math

import pytest
import torch

import objectives
from helpers import sine

SR = 22050  # audio sample rate for the seam metrics; lower than SAO's 44.1 kHz to keep the STFTs cheap
FRAME_RATE = 44100 / 2048  # SAO latent frames per second (≈ 21.53)
CHANNELS, FRAMES = 64, 108  # SAO latent channels; ~5 s of latent frames


def latents(batch=1, seed=0, frames=FRAMES):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, CHANNELS, frames, generator=generator)  # (batch, latent_channels, frames)


# ---------------------------------------------------------------- LatentMatch


def test_latent_match_is_zero_on_the_mask_whatever_the_unmasked_frames():
    target = latents()[0]  # (latent_channels, frames)
    mask = objectives.region_mask(FRAMES, 1.0, 3.0, FRAME_RATE)
    x = latents(batch=2, seed=1)
    x[..., mask > 0] = target[:, mask > 0]
    x[1, :, mask == 0] = float("nan")  # not even NaN outside the mask reaches the loss
    objective = objectives.LatentMatch(target, mask)
    assert torch.equal(objective(x, FRAME_RATE), torch.zeros(2))
    assert objective.metric(x, FRAME_RATE) == {"reconstruction_mse": 0.0}


def test_latent_match_gradient_reaches_only_masked_frames():
    target = latents()[0]
    mask = objectives.region_mask(FRAMES, 2.0, 4.0, FRAME_RATE)
    x = latents(seed=1).requires_grad_()
    objectives.LatentMatch(target, mask)(x, FRAME_RATE).sum().backward()
    per_frame = x.grad.abs().sum(dim=1)[0]  # (frames,)
    assert (per_frame[mask > 0] > 0).all()
    assert (per_frame[mask == 0] == 0).all()


def test_latent_match_is_the_masked_mean_of_squared_errors():
    target, x = latents()[0], latents(batch=2, seed=1)
    mask = torch.zeros(FRAMES, dtype=torch.bool)
    mask[[3, 10, 50]] = True
    expected = (x[..., mask] - target[:, mask]).pow(2).sum(dim=(1, 2)) / (3 * CHANNELS)
    assert torch.allclose(objectives.LatentMatch(target, mask)(x, FRAME_RATE), expected)
    soft = torch.rand(FRAMES, generator=torch.Generator().manual_seed(2))
    loss = objectives.LatentMatch(target, soft)(x, FRAME_RATE)
    assert torch.allclose(objectives.LatentMatch(target, 5 * soft)(x, FRAME_RATE), loss)  # weights, not gains
    one_clip = objectives.LatentMatch(target, mask)(x[0], FRAME_RATE)  # (latent_channels, frames) is one clip
    assert one_clip.shape == (1,) and torch.allclose(one_clip, expected[:1])
    assert objectives.LatentMatch(target, mask)(x.half(), FRAME_RATE).dtype == torch.float32


# ---------------------------------------------------------------- SelfLoop


def test_self_loop_is_zero_when_the_end_repeats_the_start():
    x = latents(batch=2)
    x[..., -10:] = x[..., :10]
    objective = objectives.SelfLoop(10)
    assert torch.equal(objective(x, FRAME_RATE), torch.zeros(2))
    assert objective.metric(x, FRAME_RATE) == {"loop_mse": 0.0}
    y = latents(seed=3)
    expected = (y[..., -10:] - y[..., :10]).pow(2).mean()
    assert torch.allclose(objective(y, FRAME_RATE), expected[None])
    assert objectives.SelfLoop(objectives.frames_for_seconds(0.5, FRAME_RATE)).overlap_frames == 11  # 10.77 frames


def test_optimizing_latents_reduces_a_looping_and_matching_objective():
    target = latents()[0]
    x = latents(seed=1).requires_grad_()
    objective = objectives.LatentMatch(target, objectives.region_mask(FRAMES, 0.0, 2.0, FRAME_RATE)) \
        + objectives.SelfLoop(11)
    optimizer = torch.optim.Adam([x], lr=0.1)
    first = objective(x, FRAME_RATE).item()
    for _ in range(50):
        optimizer.zero_grad()
        objective(x, FRAME_RATE).sum().backward()
        optimizer.step()
    assert objective(x, FRAME_RATE).item() < 0.05 * first


# ---------------------------------------------------------------- domains and combinations


def test_weighted_sums_of_latent_objectives_stay_latent_and_add_up():
    target, x = latents()[0], latents(batch=2, seed=1)
    match = objectives.LatentMatch(target, objectives.region_mask(FRAMES, 0.0, 1.0, FRAME_RATE))
    loop = objectives.SelfLoop(8)
    combined = 0.5 * match + loop / 4 + 2 * (3 * loop)
    for objective in (match, loop, 0.5 * match, loop / 4, combined, sum([match, loop])):
        assert objective.domain == "latent" and objectives.domain_of(objective) == "latent"
    assert isinstance(combined, objectives.LatentSum) and len(combined.terms) == 3
    expected = 0.5 * match(x, FRAME_RATE) + loop(x, FRAME_RATE) / 4 + 6 * loop(x, FRAME_RATE)
    assert torch.allclose(combined(x, FRAME_RATE), expected)
    assert set(combined.metric(x, FRAME_RATE)) == {"reconstruction_mse", "loop_mse", "loop_mse_2"}


def test_audio_objectives_are_audio_domain_and_plain_latent_callables_can_be_wrapped():
    intensity = objectives.Intensity([-20.0])
    assert objectives.domain_of(intensity) == "audio"
    assert objectives.domain_of(0.025 * intensity + objectives.Structure("ABA")) == "audio"
    assert getattr(intensity, "domain", "audio") == "audio"

    def energy(latents, frame_rate):
        return latents.pow(2).mean(dim=(1, 2))

    x = latents(batch=2)
    wrapped = objectives.LatentObjective.wrap(energy, metric=lambda z, r: {"energy": z.pow(2).mean()})
    combined = wrapped + objectives.SelfLoop(4)
    assert objectives.domain_of(combined) == "latent"
    assert torch.allclose(combined(x, FRAME_RATE), energy(x, FRAME_RATE) + objectives.SelfLoop(4)(x, FRAME_RATE))
    assert set(combined.metric(x, FRAME_RATE)) == {"energy", "loop_mse"}
    energy.domain = "latent"  # a plain callable that says it is latent-domain adds without wrapping
    assert objectives.domain_of(objectives.SelfLoop(4) + energy) == "latent"


def test_mixing_audio_and_latent_objectives_raises_naming_both_domains():
    intensity, loop = objectives.Intensity([-20.0]), objectives.SelfLoop(4)
    attempts = [
        lambda: objectives.domain_of(loop + intensity),  # a Joint: split_domains, not domain_of, reads it
        lambda: objectives.LatentSum(loop, intensity),
        lambda: objectives.LatentWeighted(intensity, 2.0),
        lambda: loop + (lambda audio, sample_rate: audio.mean(dim=(1, 2))),  # plain callables are audio-domain
        # Objective.__add__ (base.py) builds audio + latent as a plain Sum; domain_of catches it.
        lambda: objectives.domain_of(intensity + loop),
        lambda: objectives.domain_of(objectives.Sum(0.5 * loop, intensity)),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError) as error:
            attempt()
        assert "audio-domain" in str(error.value) and "latent-domain" in str(error.value)


def test_latent_plus_audio_objective_is_a_joint_objective_split_by_domain():
    intensity, loop, match = objectives.Intensity([-20.0]), objectives.SelfLoop(4), objectives.SelfLoop(2)
    joint = 0.5 * loop + 0.025 * intensity
    assert isinstance(joint, objectives.Joint)
    latent, audio = objectives.split_domains(joint + match)
    x = torch.randn(2, 8, FRAMES)
    assert torch.allclose(latent(x, FRAME_RATE), 0.5 * loop(x, FRAME_RATE) + match(x, FRAME_RATE))
    clip = torch.randn(2, 2, 44100) * 0.1
    assert torch.allclose(audio(clip, 44100), 0.025 * intensity(clip, 44100))
    assert objectives.split_domains(intensity + loop)[0] is not None  # base Sum mixing domains splits too
    assert objectives.split_domains(intensity) == (None, intensity)
    assert objectives.split_domains(loop) == (loop, None)
    with pytest.raises(TypeError, match="joint_loss"):
        joint(x, FRAME_RATE)


# ---------------------------------------------------------------- masks from seconds


def test_region_mask_covers_start_to_end_in_rounded_frames():
    assert objectives.frames_for_seconds(0.0, FRAME_RATE) == 0
    assert objectives.frames_for_seconds(1.0, FRAME_RATE) == 22  # 21.53 rounds up
    assert objectives.frames_for_seconds(2.0, 10.0) == 20 and objectives.frames_for_seconds(0.25, 2.0) == 1
    mask = objectives.region_mask(FRAMES, 1.0, 2.0, FRAME_RATE)
    assert mask.shape == (FRAMES,) and mask.dtype == torch.float32
    assert mask.nonzero()[:, 0].tolist() == list(range(22, 43))  # [round(21.53), round(43.07))
    whole = objectives.region_mask(FRAMES, 0.0, FRAMES / FRAME_RATE, FRAME_RATE)
    assert whole.sum() == FRAMES
    assert objectives.region_mask(10, 0.9, 1.0, 10.0).tolist() == [0.0] * 9 + [1.0]  # last frame: end inclusive
    assert objectives.region_mask(10, 0.0, 0.1, 10.0).tolist() == [1.0] + [0.0] * 9  # first frame


# ---------------------------------------------------------------- errors

TARGET, MASK = latents()[0], objectives.region_mask(FRAMES, 1.0, 2.0, FRAME_RATE)
NAN_TARGET = TARGET.clone()
NAN_TARGET[5, 7] = float("nan")

BAD_INPUTS = [
    (lambda: objectives.LatentMatch(TARGET[0], MASK), "(108,)"),
    (lambda: objectives.LatentMatch(NAN_TARGET, MASK), "nan"),
    (lambda: objectives.LatentMatch(TARGET, MASK[:-1]), "(107,)"),
    (lambda: objectives.LatentMatch(TARGET, MASK[None]), "(1, 108)"),
    (lambda: objectives.LatentMatch(TARGET, torch.zeros(FRAMES)), "all zero"),
    (lambda: objectives.LatentMatch(TARGET, -MASK), "-1.0"),
    (lambda: objectives.LatentMatch(TARGET, MASK)(latents(frames=100), FRAME_RATE), "100 frames"),
    (lambda: objectives.LatentMatch(TARGET, MASK)(latents(frames=100), FRAME_RATE), "108"),
    (lambda: objectives.LatentMatch(TARGET, MASK)(latents()[:, :8], FRAME_RATE), "8 channels"),
    (lambda: objectives.LatentMatch(TARGET, MASK)(latents()[None], FRAME_RATE), "4 dims"),
    (lambda: objectives.LatentMatch(TARGET, MASK)(latents(), 0.0), "0.0"),
    (lambda: objectives.SelfLoop(0), "0"),
    (lambda: objectives.SelfLoop(2.5), "2.5"),
    (lambda: objectives.SelfLoop(54)(latents(), FRAME_RATE), "54"),
    (lambda: objectives.SelfLoop(54)(latents(), FRAME_RATE), "108 frames"),
    (lambda: objectives.frames_for_seconds(-1.0, FRAME_RATE), "-1.0"),
    (lambda: objectives.frames_for_seconds(1.0, float("nan")), "nan"),
    (lambda: objectives.region_mask(FRAMES, -0.5, 1.0, FRAME_RATE), "-0.5"),
    (lambda: objectives.region_mask(FRAMES, 2.0, 2.0, FRAME_RATE), "2.0"),
    (lambda: objectives.region_mask(FRAMES, 3.0, 1.0, FRAME_RATE), "1.0"),
    (lambda: objectives.region_mask(FRAMES, 4.0, 6.0, FRAME_RATE), "6.0"),
    (lambda: objectives.region_mask(FRAMES, 4.0, 6.0, FRAME_RATE), "5.016 s"),  # clip length
    (lambda: objectives.region_mask(FRAMES, 1.0, 1.01, FRAME_RATE), "1.01"),  # no whole frame
    (lambda: objectives.region_mask(0, 0.0, 1.0, FRAME_RATE), "num_frames 0"),
    (lambda: objectives.SelfLoop(4) / 0, "by 0"),
    (lambda: float("inf") * objectives.SelfLoop(4), "inf"),
    (lambda: objectives.spectral_flux(torch.zeros(1000), SR), "1000 samples"),
    (lambda: objectives.spectral_flux(torch.zeros(SR), SR, hop_length=0), "hop_length 0"),
    (lambda: objectives.seam_jump(torch.zeros(SR), SR, SR), "22050"),
    (lambda: objectives.seam_jump(torch.zeros(SR), SR, 0), "seam_sample 0"),
    (lambda: objectives.loop_seam_jump(torch.zeros(SR), SR, -1), "-1"),
    (lambda: objectives.loop_seam_jump(torch.zeros(SR), SR, SR), "22050"),
    (lambda: objectives.equal_power_crossfade(torch.zeros(2, 100), torch.zeros(2, 50), 60), "60"),
    (lambda: objectives.equal_power_crossfade(torch.zeros(2, 100), torch.zeros(2, 50), -1), "-1"),
    (lambda: objectives.equal_power_crossfade(torch.zeros(2, 100), torch.zeros(1, 50), 10), "(1, 50)"),
]


@pytest.mark.parametrize("make, named", BAD_INPUTS, ids=[named for _, named in BAD_INPUTS])
def test_bad_inputs_raise_value_error_naming_the_value(make, named):
    with pytest.raises(ValueError) as error:
        make()
    message = str(error.value)
    assert named.lower() in message.lower()
    assert "\n" not in message


# ---------------------------------------------------------------- seam metrics


def test_spectral_flux_has_one_value_per_pair_of_frames():
    torch.manual_seed(0)
    noise = 0.1 * torch.randn(3, 2, SR)  # (batch, channels, samples)
    frames = 1 + (SR - 2048) // 512  # uncentred frames
    flux = objectives.spectral_flux(noise, SR)
    assert flux.shape == (3, frames - 1) and (flux >= 0).all()
    assert objectives.spectral_flux(noise[0], SR).shape == (1, frames - 1)  # (channels, samples): one clip
    short_frames = 1 + (SR - 1024) // 256
    assert objectives.spectral_flux(noise[0, 0], SR, n_fft=1024, hop_length=256).shape == (1, short_frames - 1)
    silence = torch.zeros(1, 1, SR, requires_grad=True)
    objectives.spectral_flux(silence, SR).sum().backward()
    assert torch.isfinite(silence.grad).all()


def test_seam_jump_is_large_for_a_click_and_near_one_for_steady_signals():
    one_second = dict(samples=SR, sample_rate=SR)
    shifted = sine(440.0, **one_second, amplitude=0.1, phase=math.pi / 2)  # a quarter period on, 20 dB down
    jump = torch.cat([sine(440.0, **one_second), shifted])  # a click and a level drop at the seam
    assert objectives.seam_jump(jump, SR, SR) > 3  # ~150 measured
    phase_only = torch.cat([sine(440.0, **one_second), sine(440.0, **one_second, phase=math.pi)])
    assert objectives.seam_jump(phase_only, SR, SR) > 3
    assert objectives.seam_jump(sine(440.0, samples=2 * SR, sample_rate=SR), SR, SR) < 2  # ~1.01 measured
    torch.manual_seed(0)
    assert objectives.seam_jump(0.1 * torch.randn(2 * SR), SR, SR) < 2  # ~1.06 measured
    assert objectives.seam_jump(jump, SR, SR // 2) < 2  # away from the seam, the jumpy clip is steady


def test_loop_seam_jump_is_low_for_whole_periods_and_high_for_a_cut_mid_period():
    whole_periods = sine(441.0, samples=SR, sample_rate=SR)  # 441 periods of exactly 50 samples
    assert objectives.loop_seam_jump(whole_periods, SR) < 2
    cut = sine(441.0, samples=SR + 25, sample_rate=SR) * torch.linspace(1.0, 0.1, SR + 25)  # ends mid-period, -20 dB
    assert objectives.loop_seam_jump(cut, SR) > 3
    overlap = SR // 4
    with_tail = torch.cat([whole_periods, whole_periods[:overlap]])  # last 0.25 s repeats the start
    assert objectives.loop_seam_jump(with_tail, SR, overlap_samples=overlap) < 2
    assert objectives.loop_seam_jump(with_tail, SR) > 3  # 5512 samples is not a whole number of periods


def test_equal_power_crossfade_keeps_uncorrelated_power():
    a, b = torch.zeros(2, 1000), torch.ones(2, 700)
    assert objectives.equal_power_crossfade(a, b, 300).shape == (2, 1400)
    assert torch.equal(objectives.equal_power_crossfade(a, b, 0), torch.cat([a, b], dim=-1))
    fade_in = objectives.equal_power_crossfade(torch.zeros(1, 300), torch.ones(1, 300), 300)[0]
    fade_out = objectives.equal_power_crossfade(torch.ones(1, 300), torch.zeros(1, 300), 300)[0]
    assert torch.allclose(fade_in.pow(2) + fade_out.pow(2), torch.ones(300))
    assert (fade_in.diff() > 0).all() and torch.allclose(fade_in, fade_out.flip(0), atol=1e-6)  # mirror images
    generator = torch.Generator().manual_seed(0)
    overlap = 4 * SR
    x, y = (torch.randn(2, overlap + SR, generator=generator, dtype=torch.float64) for _ in range(2))
    faded = objectives.equal_power_crossfade(x, y, overlap)  # (channels, 2 SR + overlap)
    assert faded.shape == (2, overlap + 2 * SR)
    middle = faded[:, SR: SR + overlap]
    assert abs(middle.pow(2).mean().item() - 1.0) < 0.01  # unit-power noise stays unit power
    for quarter in middle.chunk(4, dim=-1):  # and at every stage of the fade, not only on average
        assert abs(quarter.pow(2).mean().item() - 1.0) < 0.03
    same = objectives.equal_power_crossfade(torch.ones(1, 1001), torch.ones(1, 1001), 1001)[0]
    assert abs(same.max().item() - math.sqrt(2)) < 1e-5  # identical signals swell by +3 dB mid-fade
