# %% [markdown]
# # ditto tutorial: from a seed to a controlled piece
#
# This tutorial walks through ditto step by step: load a model, generate exactly what stable-audio-tools
# generates, turn a recording into new audio, take the sampling chain apart (the noise x_T, the conditioning,
# the VAE, the denoiser, the noise schedule), see what classifier-free guidance does, and finally steer the music
# with DITTO, which optimizes the initial noise x_T through the whole chain.
#
# Every step has a short explanation, the code, and something to look at or listen to. Everything runs top to
# bottom in about a minute on 2 CPU cores with the embedded tiny model (half a second of audio, 3 sampler steps,
# a few optimizer iterations). The tiny model makes a quiet hum whatever it is asked, but every call, number and
# plot works the same on the real model, where the hum becomes music; the comments say which settings to use
# there.
#
# Run it with `pip install -e ".[tutorial]"` then `jupyter lab docs/tutorial.ipynb`, or as a plain script:
# `python docs/tutorial.py` writes every clip and figure into `tutorial_out/`. The script `docs/tutorial.py`
# is the source of the notebook: after editing it, `python docs/make_tutorial.py` rewrites `docs/tutorial.ipynb`.

# %% [markdown]
# ## Setup
#
# `MODEL` is the one line to change. `"tiny"` is the few-MB model embedded in ditto: Stable Audio Open 1.0's
# structure (Oobleck VAE, DiT, the same conditioning) at a toy size, with a fixed list of eight prompts instead of
# T5. On a GPU with a Hugging Face token (accept the model's terms on the hub, then `hf auth login`) and
# `pip install -e ".[sao]"`, set `MODEL = "stabilityai/stable-audio-open-1.0"`: the settings below then switch to
# the real model's (10 s of audio, SAT's 100 sampler steps, the paper's 20 steps and 70 iterations for DITTO).
#
# Which models `MODEL` accepts: `"tiny"`, Stable Audio Open 1.0, Stable Audio Open Small (converted once,
# docs/models.md) and Stable Audio 3 (`"stabilityai/stable-audio-3-small-music"`, `-small-sfx`, `-medium`, their
# `-base` variants, or a folder holding one: `pip install -e ".[sao]"` for its T5Gemma encoder; Small runs on a
# laptop CPU). Every model runs the Setup, section 1 and section 6 (DITTO) as they are, with its own sampling
# (SAO Small and Stable Audio 3: `pingpong`, 8 steps, CFG 1). Sections 2 to 5 take apart the chain of a v-objective
# model (the k-diffusion samplers, `seconds_start`, the v-denoiser and its sigma schedules) and need the tiny model
# or SAO 1.0; SAO Small and Stable Audio 3 are rectified flows, with their own samplers (`pingpong`, `euler`, ...).

# %%
MODEL = "tiny"  # or "stabilityai/stable-audio-open-1.0", "stabilityai/stable-audio-3-small-music", a folder

ON_TINY = MODEL == "tiny"
SECONDS = 0.5 if ON_TINY else 10.0  # length of every clip in this tutorial
STEPS = 3 if ON_TINY else 100  # sampler steps when generating (SAT's default: 100)
DITTO_STEPS = 3 if ON_TINY else None  # steps inside DITTO; None: the model's (SAO 1.0: the paper's 20; SA3: 8)
ITERATIONS = 15 if ON_TINY else 70  # DITTO iterations (the paper's: 70 for intensity, 150 for melody)
MODE_ITERATIONS = 5 if ON_TINY else 30  # DITTO iterations per speed mode (section 6.4)
LR = 1.0 if ON_TINY else None  # Adam's step; None: the model's default (tiny: 0.3, SAO and SA3: the paper's 5e-3)
PROMPT = "solo piano"  # the tiny model knows only its eight prompts (printed below); the real models take any text

# %%
import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Audio, display

import ditto
import objectives
from ditto import sampling

OUT = Path("tutorial_out")  # every clip (.wav) and figure (.png) is also written here
OUT.mkdir(exist_ok=True)


def listen(name: str, audio: torch.Tensor, sample_rate: int) -> None:
    """Write audio (channels, samples) to OUT/name.wav and show a player (not normalized: loudness is kept)."""
    ditto.write_audio(OUT / f"{name}.wav", audio, sample_rate, overwrite=True)
    print(name)
    display(Audio(audio.detach().cpu().clamp(-1, 1).numpy(), rate=sample_rate, normalize=False))


def show(figure, name: str) -> None:
    """Save a figure to OUT/name.png and show it."""
    figure.tight_layout()
    figure.savefig(OUT / f"{name}.png", dpi=80)
    plt.show()
    plt.close(figure)


def log_spectrogram(audio: torch.Tensor) -> torch.Tensor:
    """Audio (channels, samples) -> power spectrogram in dB (freqs, frames) of its mono mixdown."""
    x = audio.detach().cpu().float().mean(dim=0)  # (samples,)
    spectrum = torch.stft(x, 1024, 256, window=torch.hann_window(1024), return_complex=True)
    return 10 * torch.log10(spectrum.abs().pow(2) + 1e-10)


def spectral_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference in dB between two clips' spectrograms: 0 for the same audio."""
    return float((log_spectrogram(a) - log_spectrogram(b)).abs().mean())


def plot_spectrograms(clips: dict, sample_rate: int, title: str, columns: int = 4):
    """One spectrogram per named clip (channels, samples), on a shared dB scale."""
    rows = -(-len(clips) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for axis, (name, audio) in zip(axes.flat, clips.items()):
        duration = audio.shape[-1] / sample_rate
        axis.imshow(log_spectrogram(audio), origin="lower", aspect="auto", cmap="magma", vmin=-100, vmax=20,
                    extent=(0, duration, 0, sample_rate / 2000))
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("seconds")
        axis.set_ylabel("kHz")
    for axis in list(axes.flat)[len(clips):]:
        axis.axis("off")
    figure.suptitle(title)
    return figure


# %% [markdown]
# ## 1. Load a model
#
# `ditto.load_model` takes `"tiny"`, a local folder holding `model_config.json` + `model.safetensors`, or a hub
# repo id. It returns a `ditto.Model`: `model.sat` is stable-audio-tools' own model object (in eval mode, no
# gradients on its weights), and the model's facts are properties. SAO's VAE turns 2048 audio samples into one
# latent frame of 64 channels, so a window (`sample_size`) is always a multiple of 2048 samples. `model.defaults`
# holds the DITTO settings that suit the model (the tiny model learns fast: Adam at lr 0.3 instead of the
# paper's 5e-3).

# %%
model = ditto.load_model(MODEL)  # on a GPU when there is one
print(f"device {model.device}, {model.sample_rate} Hz, {model.channels} channels, "
      f"window {model.sample_size} samples = {model.sample_size / model.sample_rate:.2f} s")
print(f"latents: {model.latent_channels} channels, one frame per {model.latent_stride} samples; "
      f"objective {model.diffusion_objective!r}")
print("defaults:", model.defaults)
if ON_TINY:
    print("prompts:", model.config["model"]["conditioning"]["configs"][0]["config"]["options"])

SAMPLE_SIZE = -(-round(SECONDS * model.sample_rate) // model.latent_stride) * model.latent_stride
LATENT_FRAMES = SAMPLE_SIZE // model.latent_stride
print(f"this tutorial's window: {SAMPLE_SIZE} samples = {LATENT_FRAMES} latent frames")

# %% [markdown]
# ## 2. Generate, and check it is stable-audio-tools' audio (v models: tiny, SAO 1.0)
#
# `ditto.generate` takes the arguments of stable-audio-tools' `generate_diffusion_cond` (what the SAT web UI
# calls), and for the same arguments returns the same audio:
#
# | argument | what it does |
# |---|---|
# | `seconds_start`, `seconds_total` | timing conditions: where in a piece the clip starts and how long the piece is; the model was trained with them, so `seconds_total` shapes the music (and where it ends) |
# | `sample_size` | the generation window in samples (a multiple of 2048); shorter is cheaper. Default: the model's window (47.55 s for SAO 1.0) |
# | `steps` | sampler steps; each step is one network evaluation (more for some samplers: the table below) |
# | `cfg_scale` | classifier-free guidance: 0 ignores the prompt, 1 uses it plainly, above 1 exaggerates it (SAO 1.0: 7). Section 5 |
# | `cfg_interval` | guidance only while the noise level sin(t·π/2) lies in this interval: (0.0, 1.0) always |
# | `scale_phi` | rescales the guided output towards the conditional output's standard deviation: 0 plain CFG, 1 fully rescaled |
# | `negative_prompt` | guidance pushes away from this prompt instead of from the empty prompt |
# | `sampler` | one of `ditto.sampling.SAMPLERS` (the table below); SAT's default for v models is `dpmpp-3m-sde` |
# | `sigma_min`, `sigma_max`, `rho` | the noise schedule: from `sigma_max` (pure noise) down to `sigma_min`, spaced by `rho` (1: evenly in log sigma). SAO 1.0: 0.3, 500, 1 |
# | `seed` | seeds the initial noise x_T (and a stochastic sampler's per-step noise); -1 draws one |
# | `batch_size` | several clips at once, each from its own part of one x_T draw |
#
# Stochastic samplers (an SDE or ancestral step) inject fresh noise at every step; deterministic ones are an ODE
# solve, so x_T alone fixes the output.

# %%
for name, spec in sampling.SAMPLERS.items():
    kind = "stochastic" if spec.noise else "deterministic"
    print(f"{name:22s} {spec.family:15s} {kind:14s} {spec.evaluations_per_step} evaluation(s) per step")

# %%
SAMPLER = "dpmpp-3m-sde"  # SAT's default for v models
settings = dict(
    seconds_start=0, seconds_total=SECONDS, sample_size=SAMPLE_SIZE,
    steps=STEPS, cfg_scale=7.0, cfg_interval=(0.0, 1.0), scale_phi=0.0, negative_prompt=None,
    sampler=SAMPLER, sigma_min=0.3, sigma_max=500.0, rho=1.0,
    seed=0, batch_size=2,
)
audio = ditto.generate(model, PROMPT, **settings)  # (batch, channels, samples)
print("audio", tuple(audio.shape))
for i, clip in enumerate(audio):
    listen(f"generate_{i}", clip, model.sample_rate)

# %% [markdown]
# The reference is stable-audio-tools' own `generate_diffusion_cond`, called as its UI calls it
# (`ditto.sat.reference_generate` does just that, with the same keyword arguments). On the CPU the two agree
# bit for bit; on a GPU, nondeterministic kernels can leave differences within 1e-5 of the peak.

# %%
reference = ditto.sat.reference_generate(model, PROMPT, **settings)
print("torch.equal(ditto, stable-audio-tools):", torch.equal(audio, reference))
print("largest difference:", float((audio - reference).abs().max()))

settings_with_negative = dict(settings, negative_prompt="techno drums", cfg_scale=5.0, seed=3, batch_size=1)
print("with a negative prompt:", torch.equal(ditto.generate(model, PROMPT, **settings_with_negative),
                                             ditto.sat.reference_generate(model, PROMPT, **settings_with_negative)))

# %% [markdown]
# ## 3. Audio-to-audio from a recording (v models)
#
# Give `generate` a recording (`init_audio`: a file path, or `(sample_rate, tensor)`) and it encodes it with the
# VAE and starts the chain from those latents noised to `init_noise_level` (a sigma, like `sigma_max`) instead of
# from pure noise. Low levels keep the recording; high levels keep only a trace of it; at `sigma_max` (500) it is
# lost. Our "recording" is a C major chord, synthesized and written to a WAV file.
#
# Noise levels are relative to the size of the latents. SAO 1.0's latents have a standard deviation around 1,
# so with its `sigma_min` of 0.3 levels from 0.5 to 100 span the range. The tiny model's latents are about 40
# times smaller (section 4.3), so here `sigma_min` is 0.01 and the levels start at 0.02.

# %%
time_s = torch.arange(SAMPLE_SIZE) / model.sample_rate
envelope = torch.exp(-3.0 * time_s)  # a plucked decay
chord = sum(torch.sin(2 * torch.pi * hz * time_s) for hz in (261.63, 329.63, 392.00)) / 3 * 0.5 * envelope
chord = torch.stack([chord, chord])  # (channels, samples): stereo
chord_path = ditto.write_audio(OUT / "chord.wav", chord, model.sample_rate, overwrite=True)
listen("chord", chord, model.sample_rate)

A2A_SIGMA_MIN = 0.01 if ON_TINY else 0.3
levels = [0.02, 0.1, 0.5, 100.0] if ON_TINY else [0.5, 2.0, 10.0, 100.0]
a2a_settings = dict(settings, batch_size=1, sigma_min=A2A_SIGMA_MIN)
variations = {f"init_noise_level {level:g}": ditto.generate(model, PROMPT, init_audio=chord_path,
                                                            init_noise_level=level, **a2a_settings)[0]
              for level in levels}
for name, clip in variations.items():
    listen(name.replace(" ", "_"), clip, model.sample_rate)

# %% [markdown]
# Look at how far each output is from the recording: the spectral distance (mean absolute dB difference of the
# spectrograms) grows with the noise level. On the tiny model even the lowest level is far from the chord, since
# its VAE cannot reproduce a chord (section 4.3); on SAO 1.0 the chord's three lines stay visible at low levels.

# %%
show(plot_spectrograms({"recording": chord, **variations}, model.sample_rate, "audio-to-audio", columns=5),
     "audio_to_audio")
distances = [spectral_distance(clip, chord) for clip in variations.values()]
figure, axis = plt.subplots(figsize=(5, 3))
axis.semilogx(levels, distances, "o-")
axis.set_xlabel("init_noise_level (sigma)")
axis.set_ylabel("distance to the recording (dB)")
show(figure, "audio_to_audio_distance")

# %% [markdown]
# ## 4. Deeper dive: the sampling chain by hand (v models)
#
# `generate` is four pieces: draw x_T, compute the conditioning, run a sampler over a denoiser from noise to
# latents, decode the latents with the VAE. Here they are one at a time.
#
# ### 4.1 Draw x_T yourself
#
# x_T is unit-variance Gaussian noise of shape (batch, latent_channels, latent_frames). `generate(seed=s)` draws
# it after `torch.manual_seed(s)`; pass your own through the `x_T` keyword and the seed no longer matters for it.
# A deterministic sampler (here `dpmpp-2m`) then gives the same audio. With a stochastic sampler, the per-step
# noise still comes from the seed: keep the seed too.

# %%
latent_shape = (1, model.latent_channels, LATENT_FRAMES)  # (batch, latent_channels, latent_frames)
torch.manual_seed(7)
x_T = torch.randn(latent_shape, device=model.device)

short = dict(seconds_total=SECONDS, sample_size=SAMPLE_SIZE, steps=STEPS, cfg_scale=7.0, sampler="dpmpp-2m")
by_seed = ditto.generate(model, PROMPT, seed=7, **short)
by_x_T = ditto.generate(model, PROMPT, x_T=x_T, **short)
print("generate(seed=7) equals generate(x_T=x_T):", torch.equal(by_seed, by_x_T))
listen("by_x_T", by_x_T[0], model.sample_rate)

# %% [markdown]
# ### 4.2 The conditioning
#
# The conditioner turns the prompt and the timing into tensors: one per conditioner (prompt, seconds_start,
# seconds_total), each (batch, tokens, features) with a mask. The diffusion model reads them two ways:
#
# - **cross-attention** (`cross_attn_cond`): the conditioners' tokens side by side, attended to by every DiT
#   block. On SAO 1.0 these are 128 T5 tokens of the prompt plus one token for each timing number (768 features);
#   on the tiny model one prompt token plus two timing tokens (64 features).
# - **global** (`global_cond`): the timing embeddings concatenated into one vector, added to the DiT's timestep
#   embedding.
#
# `ditto.build_conditioning` computes them as `generate_diffusion_cond` does; the sampler only ever sees these.

# %%
conditioner = model.sat.conditioner
timing = {"prompt": PROMPT, "seconds_start": 0, "seconds_total": SECONDS}
for key, (tensor, mask) in conditioner([timing], model.device).items():
    print(f"conditioner {key!r:16s} {type(conditioner.conditioners[key]).__name__:24s} "
          f"output {tuple(tensor.shape)}, mask {tuple(mask.shape)}")

cond = ditto.build_conditioning(model, PROMPT, seconds_total=SECONDS)
for key, tensor in cond.inputs.items():
    print(f"{key:18s}", None if tensor is None else tuple(tensor.shape))

figure, (left, right) = plt.subplots(1, 2, figsize=(10, 2.8))
left.imshow(cond.inputs["cross_attn_cond"][0].cpu(), aspect="auto", cmap="coolwarm", interpolation="nearest")
left.set_xlabel("feature")
left.set_ylabel("token")
left.set_title("cross_attn_cond (tokens x features)")
for seconds_total in (0.5, 5.0, 50.0):
    vector = ditto.build_conditioning(model, PROMPT, seconds_total=seconds_total).inputs["global_cond"][0]
    right.plot(vector.cpu(), lw=1, label=f"seconds_total {seconds_total:g}")
right.set_xlabel("feature")
right.set_title("global_cond: the timing embeddings")
right.legend(fontsize=7)
show(figure, "conditioning")

# %% [markdown]
# ### 4.3 The VAE
#
# `ditto.encode` runs the VAE encoder (`model.sat.pretransform`): audio (batch, channels, samples) at the model's
# rate -> latents (batch, 64, frames). `sample=False` takes the posterior mean (deterministic); `generate` draws
# a posterior sample for init audio, as SAT does. `ditto.decode` goes back. Listen to the round trip. The tiny
# model's VAE was trained for only 100 steps on synthetic notes: whatever it is given, it decodes nearly the same
# quiet hum (and so does everything the tiny model generates), which the waveform plot shows plainly. SAO 1.0's
# VAE is close to transparent: its round trip sounds like the recording.

# %%
with torch.no_grad():
    chord_latents = ditto.encode(model, chord[None].to(model.device), sample=False)  # (1, latent_channels, frames)
    chord_decoded = ditto.decode(model, chord_latents)[0]
print("latents", tuple(chord_latents.shape), f"mean {float(chord_latents.mean()):.3f}, "
      f"std {float(chord_latents.std()):.3f}")
error = chord_decoded.cpu() - chord
print(f"round trip: signal-to-error ratio {float(10 * torch.log10(chord.pow(2).sum() / error.pow(2).sum())):.1f} dB")
listen("chord_through_the_vae", chord_decoded, model.sample_rate)

figure, (left, right) = plt.subplots(1, 2, figsize=(10, 2.8))
left.imshow(chord_latents[0].cpu(), aspect="auto", cmap="coolwarm", interpolation="nearest")
left.set_xlabel("latent frame")
left.set_ylabel("latent channel")
left.set_title("the chord's latents")
span = slice(2000, 2600)  # a few periods
right.plot(chord[0, span], label="recording")
right.plot(chord_decoded[0, span].cpu(), label="decoded", alpha=0.8)
right.set_xlabel("sample")
right.set_title("waveform: recording vs VAE round trip")
right.legend()
show(figure, "vae")

# %% [markdown]
# ### 4.4 The denoiser
#
# SAO 1.0 is a v-objective model: the network predicts a velocity v from noisy latents and a time t. The k-diffusion
# samplers need a denoiser instead, D(x, sigma) ≈ the clean latents x_0, which k-diffusion's `VDenoiser` builds:
# D(x, sigma) = c_skip x + c_out v(c_in x, t), with c_skip = 1/(sigma²+1), c_out = -sigma/√(sigma²+1),
# c_in = 1/√(sigma²+1) and t = atan(sigma)·2/π. `ditto.generation.v_denoiser` is the same function, written so
# gradients flow through it; CFG happens inside the velocity model.
#
# The scalings say who does the work: at low sigma D(x, sigma) is mostly x itself (c_skip near 1), at high sigma
# it is mostly the network's prediction (c_out near -1). The network sees its input scaled to about unit variance
# (c_in), whatever sigma is.

# %%
from ditto.sat import VDenoiser  # k-diffusion's (stable-audio-tools 0.0.20 vendors a copy; 0.0.19 imports it)

sampler_settings = ditto.SamplerConfig(cfg_scale=7.0)
velocity = ditto.generation.velocity_model(model, cond, sampler_settings)  # (x, t) -> v, with CFG
denoiser = ditto.generation.v_denoiser(velocity)  # (x, sigma) -> x_0 estimate

noise = torch.randn(chord_latents.shape, generator=torch.Generator().manual_seed(0)).to(model.device)
sigma = torch.tensor([2.0], device=model.device)
with torch.no_grad():
    print("ditto's denoiser equals k-diffusion's VDenoiser:",
          torch.equal(denoiser(chord_latents + sigma * noise, sigma),
                      VDenoiser(velocity)(chord_latents + sigma * noise, sigma)))

sigma_grid = torch.logspace(-2, 3, 200)
figure, axis = plt.subplots(figsize=(6, 3))
axis.semilogx(sigma_grid, 1 / (sigma_grid ** 2 + 1), label="c_skip")
axis.semilogx(sigma_grid, -sigma_grid / (sigma_grid ** 2 + 1) ** 0.5, label="c_out")
axis.semilogx(sigma_grid, 1 / (sigma_grid ** 2 + 1) ** 0.5, label="c_in")
axis.semilogx(sigma_grid, sigma_grid.atan() * 2 / torch.pi, "--", label="t")
axis.set_xlabel("sigma")
axis.set_title("VDenoiser: D(x, sigma) = c_skip x + c_out v(c_in x, t)")
axis.legend(fontsize=8)
show(figure, "denoiser")

# %% [markdown]
# ### 4.5 The noise schedules
#
# A sampler walks down a grid of noise levels from `sigma_max` to `sigma_min`, then to 0. `ditto.sampling`
# exposes every schedule by name (`sampling.SCHEDULES`, `sampling.get_sigmas`; `schedule=` in `generate` and
# `optimize`): SAT's `polyexponential` (with rho = 1 evenly spaced in log sigma; rho > 1 spends more steps at low
# noise), Karras et al.'s (rho = 7 is the usual choice), `exponential`, `linear` (evenly in sigma: nearly every
# step at high noise) and `cosine`. `v-ddim` uses its own grid in t, and rectified-flow models
# (SAO Small) a grid of times in [0, 1] (`sampling.rf_timesteps`).

# %%
figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
for schedule, rho in [("polyexponential", 1.0), ("polyexponential", 2.0), ("karras", 7.0), ("exponential", 1.0),
                      ("linear", 1.0), ("cosine", 1.0)]:
    sigmas = sampling.get_sigmas(schedule, 20, 0.3, 500.0, rho)[:-1]  # drop the final 0 for the log axis
    label = schedule + (f" rho {rho:g}" if schedule in ("polyexponential", "karras") else "")
    left.semilogy(sigmas, "o-", ms=3, label=label)
left.set_xlabel("step")
left.set_ylabel("sigma")
left.set_title("sigma schedules, 20 steps, 500 -> 0.3")
left.legend(fontsize=7)
right.plot(sampling.rf_timesteps(20), "o-", ms=3, label="rectified flow (rf_timesteps)")
right.plot(torch.linspace(1, 0, 21), "o-", ms=3, label="v-ddim t")
right.set_xlabel("step")
right.set_ylabel("t")
right.set_title("time grids")
right.legend(fontsize=7)
show(figure, "schedules")

# %% [markdown]
# ### 4.6 Sample from scaled noise, by hand
#
# SAT's k-diffusion path scales x_T by the first sigma (noise of standard deviation 500), then runs the sampler
# over the denoiser. Written out, this is `generate` with `sampler="dpmpp-2m"`, and the audio is the same.

# %%
def sample(x_T: torch.Tensor, sigmas: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
    """x_T scaled by the first sigma (plus `start` latents, for audio-to-audio) -> dpmpp-2m -> decoded audio."""
    x = x_T * sigmas[0] if start is None else start + x_T * sigmas[0]
    with torch.no_grad():
        latents = sampling.sample_dpmpp_2m(denoiser, x, sigmas.to(model.device))
        return ditto.decode(model, latents)[0]  # (channels, samples)


sigmas = sampling.get_sigmas("polyexponential", STEPS, 0.3, 500.0, 1.0)
print("sigmas", [round(float(s), 3) for s in sigmas])
by_hand = sample(x_T, sigmas)
print("by hand equals generate(x_T=x_T, sampler='dpmpp-2m'):", torch.equal(by_hand, by_x_T[0]))

# %% [markdown]
# ### 4.7 Vary one thing at a time
#
# Same x_T, same prompt, one change each. Listen and compare the spectrograms:
#
# - **noise level**: start at sigma 10 instead of 500 (the network's first t is 0.94 instead of 0.999), a
#   shorter walk down the schedule;
# - **schedule**: where the steps fall matters most when there are few of them;
# - **start from the encoded input**: the chord's latents plus noise (section 3, by hand);
# - **fewer and more steps**: one step is a single denoiser guess; more refine it;
# - **scaled noise**: x_T times 0.7, a lower "temperature" than the unit variance the model was trained on.

# %%
more_steps = 10 if ON_TINY else 200
variants = {
    "as generate": by_hand,
    "sigma_max 10": sample(x_T, sampling.get_sigmas("polyexponential", STEPS, 0.3, 10.0, 1.0)),
    "karras rho 7": sample(x_T, sampling.get_sigmas("karras", STEPS, 0.3, 500.0, 7.0)),
    "linear": sample(x_T, sampling.get_sigmas("linear", STEPS, 0.3, 500.0)),
    f"from the chord, sigma {levels[1]:g}": sample(
        x_T, sampling.get_sigmas("polyexponential", STEPS, A2A_SIGMA_MIN, levels[1], 1.0), start=chord_latents),
    "1 step": sample(x_T, sampling.get_sigmas("polyexponential", 1, 0.3, 500.0, 1.0)),
    f"{more_steps} steps": sample(x_T, sampling.get_sigmas("polyexponential", more_steps, 0.3, 500.0, 1.0)),
    "0.7 x_T": sample(0.7 * x_T, sigmas),
}
for name, clip in variants.items():
    listen("variant_" + name.replace(" ", "_").replace(",", ""), clip, model.sample_rate)
show(plot_spectrograms(variants, model.sample_rate, "one change at a time"), "variants")

figure, axis = plt.subplots(figsize=(7, 3))
for name, clip in variants.items():
    loudness = objectives.rms_db(clip.cpu(), model.sample_rate)[0]
    axis.plot(torch.arange(len(loudness)) * 512 / model.sample_rate, loudness, label=name)
axis.set_xlabel("seconds")
axis.set_ylabel("loudness (dB)")
axis.legend(fontsize=7, ncol=2)
show(figure, "variants_loudness")

# %% [markdown]
# ## 5. Classifier-free guidance (v models)
#
# The network runs twice per step, with the prompt and with the empty (or negative) prompt, and the sampler uses
# v_uncond + cfg_scale · (v_cond - v_uncond). So `cfg_scale` 0 is the unconditional model (the prompt is
# ignored), 1 is the plain conditional model, and above 1 pushes further in the prompt's direction: more
# prompt-like, at the price of harsher audio at high values. The same seed, four scales:

# %%
scales = [0.0, 1.0, 3.0, 7.0]
guided = {f"cfg_scale {scale:g}": ditto.generate(model, PROMPT, seed=0, **dict(short, cfg_scale=scale))[0]
          for scale in scales}
for name, clip in guided.items():
    listen(name.replace(" ", "_"), clip, model.sample_rate)
show(plot_spectrograms(guided, model.sample_rate, f"the same seed, prompt {PROMPT!r}"), "cfg_spectrograms")

# %% [markdown]
# The curves show where the guidance acts (loudness, and the spectral centroid, a measure of brightness), and
# the distance matrix how far apart the outputs are: scale 1 and 0 differ by what the prompt adds, and every step
# up in scale moves the audio further from the unconditional output. On the tiny model (its hum again) the
# differences are small, fractions of a dB; on SAO 1.0 the prompt decides what you hear.

# %%
figure, (loud, bright, matrix) = plt.subplots(1, 3, figsize=(13, 3.4))
for name, clip in guided.items():
    loudness = objectives.rms_db(clip.cpu(), model.sample_rate)[0]
    centroid = objectives.spectral_centroid(clip.cpu(), model.sample_rate)[0]
    seconds = torch.arange(len(loudness)) * 512 / model.sample_rate
    loud.plot(seconds, loudness, label=name)
    bright.plot(seconds, centroid, label=name)
loud.set_title("loudness (dB)")
bright.set_title("spectral centroid (Hz)")
for axis in (loud, bright):
    axis.set_xlabel("seconds")
    axis.legend(fontsize=7)
distance = torch.tensor([[spectral_distance(a, b) for b in guided.values()] for a in guided.values()])
image = matrix.imshow(distance, cmap="viridis")
matrix.set_xticks(range(len(scales)), [f"{s:g}" for s in scales])
matrix.set_yticks(range(len(scales)), [f"{s:g}" for s in scales])
matrix.set_xlabel("cfg_scale")
matrix.set_ylabel("cfg_scale")
matrix.set_title("spectral distance (dB)")
figure.colorbar(image, ax=matrix)
show(figure, "cfg_curves")
print("distance from the unconditional output:",
      {name: round(spectral_distance(clip, guided["cfg_scale 0"]), 2) for name, clip in guided.items()})

# %% [markdown]
# ## 6. DITTO: steer the music by optimizing x_T
#
# Everything above is a function of x_T: for a deterministic sampler, audio = decode(sample(x_T, prompt)). DITTO
# (Novack et al., ICML 2024) picks a differentiable feature of the audio and a target for it, and runs Adam on
# x_T, with gradients through every sampler step and the VAE decoder. `ditto.optimize` returns a `Result`: the
# best `audio`, the `baseline_audio` (the same seed, not optimized), the optimized `x_T`, the `losses` per
# iteration and the paper's `metrics` before and after.
#
# ### 6.1 Intensity: a crescendo
#
# The loss is the mean squared error in dB² between the audio's smoothed loudness curve and the target.
# On the tiny model, with only 15 iterations, Adam takes larger steps (`lr=1.0`) than the model's default 0.3. On
# SAO 1.0: `steps=20, iterations=70` and the paper's lr 5e-3 (the model's default, `lr=None`).

# %%
crescendo = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
window = dict(seconds_total=SECONDS, sample_size=SAMPLE_SIZE, steps=DITTO_STEPS, lr=LR, progress=False)
result = ditto.optimize(model, crescendo, prompt="ambient pad", iterations=ITERATIONS, **window)
print("metrics:", result.metrics)
print(f"{result.seconds['per_iteration']:.2f} s per iteration, best iteration {result.best_iteration}")
listen("intensity_baseline", result.baseline_audio[0], result.sample_rate)
listen("intensity_result", result.audio[0], result.sample_rate)


# %%
def plot_intensity(result: ditto.Result, objective: objectives.Intensity, name: str) -> None:
    """Target vs baseline vs result loudness (the objective's own feature), and the loss per iteration."""
    figure, (curves, losses) = plt.subplots(1, 2, figsize=(11, 3.2))
    for audio, label in ((result.baseline_audio, "baseline"), (result.audio, "result")):
        loudness = objectives.intensity_db(audio[:1].cpu(), result.sample_rate, objective.config)[0]
        seconds = torch.arange(len(loudness)) * objective.config.hop_length / result.sample_rate
        curves.plot(seconds, loudness, label=label, lw=2)
    curves.plot(seconds, objectives.interpolate_curve(objective.target_db, len(loudness)), "--", label="target")
    curves.set_xlabel("seconds")
    curves.set_ylabel("loudness (dB, smoothed)")
    curves.legend()
    losses.plot(result.losses)
    losses.set_xlabel("iteration")
    losses.set_ylabel("loss (dB²)")
    show(figure, name)


plot_intensity(result, crescendo, "ditto_intensity")

# %% [markdown]
# The optimized x_T is the whole result: save it, and `generate` re-renders the same audio from it with the
# settings `optimize` used (`result.settings`; on the tiny model its defaults: the deterministic `v-ddim` sampler,
# CFG 7). A stochastic sampler's per-step noises were optimized too (`result.noises`, SAO Small's and Stable Audio
# 3's `pingpong`): they are saved and passed beside x_T. Stable Audio 3's decoder adds a little noise of its own
# at every decode (`generate` draws it as stable-audio-tools does; `optimize` seeds it, docs/models.md), so there
# the re-render differs from the result by that noise; on the other models it is the same audio.

# %%
torch.save({"x_T": result.x_T, "noises": result.noises}, OUT / "x_T.pt")
saved = torch.load(OUT / "x_T.pt")
used = {name: result.settings[name] for name in ("sampler", "steps", "cfg_scale", "seed")}
rendered = ditto.generate(model, "ambient pad", x_T=saved["x_T"], noises=saved["noises"], **used,
                          seconds_total=SECONDS, sample_size=SAMPLE_SIZE, cut_to_seconds_total=True)
print("re-rendered vs result, largest difference:", float((rendered.cpu() - result.audio.cpu()).abs().max()))

# %% [markdown]
# ### 6.2 Melody
#
# The melody loss is the cross-entropy between the target pitch class and the audio's high-passed chromagram,
# frame by frame. Notes are `NAME:SECONDS` (here four notes filling the clip; on SAO 1.0 use real note lengths and
# `iterations=150`, the paper's). The plot shows the audio's pitch-class probabilities, the target notes and the
# loudest pitch class of each frame.

# %%
note_s = SECONDS / 4
melody = objectives.Melody.from_notes(f"C5:{note_s} E5:{note_s} G5:{note_s} C6:{note_s}")
melody_result = ditto.optimize(model, melody, prompt=PROMPT, iterations=ITERATIONS, **window)
print("metrics:", melody_result.metrics)
listen("melody_baseline", melody_result.baseline_audio[0], melody_result.sample_rate)
listen("melody_result", melody_result.audio[0], melody_result.sample_rate)

figure, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for axis, (audio, label) in zip(axes, ((melody_result.baseline_audio, "baseline"), (melody_result.audio, "result"))):
    # (pitch classes, frames): the objective's own feature
    log_probs = objectives.melody_log_probs(audio[:1].cpu(), melody_result.sample_rate, melody.config)[0]
    frames = log_probs.shape[-1]
    target = melody.targets(frames, melody_result.sample_rate)
    axis.imshow(log_probs.exp(), aspect="auto", origin="lower", cmap="magma")
    has_note = target >= 0
    axis.scatter(torch.arange(frames)[has_note], target[has_note], s=25, color="cyan", label="target")
    axis.scatter(torch.arange(frames), log_probs.argmax(0), s=8, color="white", label="argmax")
    axis.set_yticks(range(12), objectives.PITCH_CLASSES)
    axis.set_xlabel("frame")
    axis.set_title(f"{label}: pitch-class probabilities")
    axis.legend(fontsize=7, loc="upper right")
show(figure, "ditto_melody")

# %% [markdown]
# ### 6.3 Your own objective
#
# Any function `loss(audio (batch, channels, samples), sample_rate) -> (batch,)` that torch can differentiate is
# an objective. `objectives.Objective.wrap` gives it a metric and the arithmetic of the built-in ones (weights,
# sums); subclassing `objectives.Objective` (define `__call__` and optionally `metric`) does the same.
#
# Here: the stereo balance. The loss is the squared difference in dB between the left and the right channel's
# frame loudness, so DITTO looks for an x_T whose music sits in the middle of the stereo image. Combined with the
# crescendo at a small weight, as the built-in objectives combine.

# %%
def balance_db(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Left minus right frame loudness in dB (batch, frames)."""
    return objectives.rms_db(audio[:, :1], sample_rate) - objectives.rms_db(audio[:, 1:], sample_rate)


def centered(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    return balance_db(audio, sample_rate).pow(2).mean(dim=-1)  # (batch,)


def balance_metric(audio: torch.Tensor, sample_rate: int) -> dict:
    with torch.no_grad():
        return {"left_minus_right_db": float(balance_db(audio, sample_rate).mean())}


stereo = objectives.Objective.wrap(centered, metric=balance_metric)
combined = stereo + crescendo / 40
custom_result = ditto.optimize(model, combined, prompt="ambient pad", iterations=ITERATIONS, **window)
print("metrics:", custom_result.metrics)
listen("centered_result", custom_result.audio[0], custom_result.sample_rate)

figure, axis = plt.subplots(figsize=(6, 3))
for audio, label in ((custom_result.baseline_audio, "baseline"), (custom_result.audio, "result")):
    curve = balance_db(audio[:1].cpu(), custom_result.sample_rate)[0]
    axis.plot(torch.arange(len(curve)) * 512 / custom_result.sample_rate, curve, label=label)
axis.axhline(0, color="gray", ls="--", label="target")
axis.set_xlabel("seconds")
axis.set_ylabel("left - right (dB)")
axis.legend()
show(figure, "ditto_custom")

# %% [markdown]
# ### 6.4 The fast modes
#
# Each DITTO iteration runs the chain forward and backward. `ditto.SpeedConfig` holds the switches (its fields
# are `optimize` keyword arguments; docs/performance.md has the measurements):
#
# - `checkpoint` (on by default): a sampler step is checkpointed, so memory stays flat in the number of steps,
#   unless it keeps its activations: `keep_steps=k` (or `memory_budget_gb`) keeps the first k steps', for speed
#   (by default none: every step is recomputed in backward);
# - `surrogate_steps=k`: optimize through a k-step chain, then render the best x_T with `steps`: several times
#   more iterations in the same time, and what it learns transfers (deterministic samplers: a stochastic one's
#   optimized noises do not carry over to a longer chain);
# - `autocast_bf16` (the DiT) and `decoder_bf16` (the VAE decoder): bf16 on a GPU, about 2.5x faster there;
#   on a CPU without bf16 units they are slower, so they are only tried here on a GPU;
# - `chunk_latents`: decode long audio in overlapping chunks, bounding the decoder's memory.
#
# On the tiny model the decoder and Python overhead dominate an iteration, so the differences are small. On SAO 1.0
# the DiT dominates; compare them there with `steps=20, iterations=30`.

# %%
modes = {
    "default": ditto.SpeedConfig(),
    "every step recomputed": ditto.SpeedConfig(keep_steps=0),
    "no checkpointing": ditto.SpeedConfig(checkpoint=False, decoder_checkpoint=False),
}
if not ditto.config.model_sampling(model, "optimize").stochastic:
    modes["surrogate, 2 steps"] = ditto.SpeedConfig(surrogate_steps=2)
if model.device.type == "cuda":
    modes["bf16"] = ditto.SpeedConfig(autocast_bf16=True, decoder_bf16=True)
render_steps = 6 if ON_TINY else DITTO_STEPS
for name, speed in modes.items():
    run = ditto.optimize(model, crescendo, prompt="ambient pad", iterations=MODE_ITERATIONS,
                         **dict(window, steps=render_steps), **dataclasses.asdict(speed))
    print(f"{name:24s} {run.seconds['per_iteration']:.3f} s per iteration, intensity MSE "
          f"{run.metrics['before']['intensity_mse_db2']:.1f} -> {run.metrics['after']['intensity_mse_db2']:.1f} dB²")

# %% [markdown]
# ## Where to go next
#
# - **Recipes**: every control as a command with `--help`, writing the result, the baseline, a report and a plot
#   into `--out`: `ditto intensity --shape swell --out out/swell`, `ditto melody --notes "C5:0.25 E5:0.25"
#   --out out/arpeggio`, `ditto structure --form ABA`, `ditto rhythm --bpm 120`, and the editing recipes
#   (`outpaint`, `inpaint`, `loop`, `extend`, `variation`). `ditto RECIPE` and `python recipes/RECIPE.py` are the
#   same command.
# - **Experiments**: `ditto run EXPERIMENT.jsonl --out DIR` runs a file of jobs (recipe runs, one per line, or
#   grids of them) into one folder each, and `ditto summarize DIR` tables and plots their metrics;
#   `ditto run --help` explains the file format.
# - **Other control methods** with the same `Result`: `ditto.guide` (training-free guidance at each step) and
#   `ditto.best_of_n` (render seeds, keep the best).
# - **Docs**: the README (the API and the recipes), docs/controls.md (rhythm, brightness, pitch), docs/editing.md
#   (outpainting, inpainting, loops, long audio), docs/models.md (SAO 1.0, SAO Small, your own models),
#   docs/performance.md (speed and memory), docs/install.md.
