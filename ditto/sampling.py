"""Differentiable samplers and sigma schedules: small pure functions, no stable-audio-tools import.

Every sampler is a flat loop `sample_x(model, x, sigmas_or_ts, *, ...) -> x_0` that mirrors the
k-diffusion 0.1.1 / stable-audio-tools function of the same name operation for operation (where SAT 0.0.19 and
0.0.20 differ, a keyword picks the release: `ditto.sat.FLOW_SAMPLER_OPTIONS`), so that
the same x_T gives the same audio, but without `@torch.no_grad()`: gradients flow back to x_T.

- The caller owns randomness: x (already scaled by the first sigma) comes in, and stochastic samplers take
  their per-step noise from `noise(sigma, sigma_next) -> Tensor like x`, a caller-supplied source. The noise
  is drawn outside the checkpointed step, so recomputation during backward sees the same values.
- `checkpoint=True` wraps each sampler step in `torch.utils.checkpoint` (non-reentrant): autograd keeps only
  each step's inputs (x and the multistep history, latent-sized) and recomputes the model during backward.
  `keep_steps=k` exempts the first k steps: they keep their activations (memory for speed, no recomputation).
- `hook=` (the deterministic samplers, `SamplerSpec.guidable`): every step runs through
  `hook(advance, x, step)`, which calls `advance(x)` (the sampler's own step, unchanged) once or more and returns
  its value, possibly with x_{i+1} moved; `step` is a `Step` (index, count, level, level_next). Guidance steers
  every such sampler this way. The first model evaluation of a step is always at (x, step.level).

Two model conventions, as in SAT:
- `Denoiser`: `(x, sigma (batch,)) -> x_0 estimate` in k-diffusion's sigma space (v-objective models seen
  through `VDenoiser`), for the k-diffusion samplers;
- `VelocityModel`: `(x, t (batch,)) -> v`, the raw network, for v-ddim (t in [0, 1], alpha = cos, sigma = sin)
  and for rectified-flow models (x_t = (1 - t) x_0 + t noise).

`SAMPLERS`, at the end, is the one registry: a `SamplerSpec` row per sampler (function, model family, time grid,
noise kind, model evaluations per step, whether guidance can steer it); `V_SAMPLERS`, `RF_SAMPLERS`,
`STOCHASTIC_SAMPLERS`, `GUIDABLE_SAMPLERS` and `EVALUATIONS_PER_STEP` are derived from it, and
`ditto.generation.sample_latents` dispatches on it.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import typing as tp

import torch
from scipy import integrate
from torch.utils.checkpoint import checkpoint as _checkpoint
from tqdm.auto import trange

Denoiser = tp.Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
VelocityModel = tp.Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
NoiseSource = tp.Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Step(tp.NamedTuple):
    """A sampler step as a step hook sees it."""

    index: int  # 0 .. count - 1
    count: int  # steps in the chain (k-dpm-fast: its own count, see `chain_steps`)
    level: torch.Tensor  # the level the step starts at: sigma (Denoiser samplers) or t (VelocityModel samplers)
    level_next: torch.Tensor  # the level it ends at (0 after the last step; k-dpm-fast: sigma_min)


StepHook = tp.Callable[[tp.Callable[[torch.Tensor], tp.Any], torch.Tensor, Step], tp.Any]

SCHEDULES = ("polyexponential", "karras", "exponential", "linear", "cosine")


# ---------------------------------------------------------------------------------------------------------
# Sigma schedules (k-diffusion `get_sigmas_*`): n sigmas from sigma_max down to sigma_min, then a final 0.


def _append_zero(sigmas: torch.Tensor) -> torch.Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def sigmas_polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0, device="cpu") -> torch.Tensor:
    """Polynomial in log sigma (k-diffusion `get_sigmas_polyexponential`, SAT's schedule); rho=1 is log-linear."""
    ramp = torch.linspace(1, 0, n, device=device) ** rho
    sigmas = torch.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min))
    return _append_zero(sigmas)


def sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0, device="cpu") -> torch.Tensor:
    """Karras et al. (2022), eq. 5 (k-diffusion `get_sigmas_karras`)."""
    ramp = torch.linspace(0, 1, n)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return _append_zero(sigmas).to(device)


def sigmas_exponential(n: int, sigma_min: float, sigma_max: float, device="cpu") -> torch.Tensor:
    """Evenly spaced in log sigma (k-diffusion `get_sigmas_exponential`)."""
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), n, device=device).exp()
    return _append_zero(sigmas)


def sigmas_linear(n: int, sigma_min: float, sigma_max: float, device="cpu") -> torch.Tensor:
    """Evenly spaced in sigma."""
    return _append_zero(torch.linspace(sigma_max, sigma_min, n, device=device))


def sigmas_cosine(n: int, sigma_min: float, sigma_max: float, s: float = 0.008, device="cpu") -> torch.Tensor:
    """Cosine schedule u(t) = sin(((t/T + s)/(1 + s)) * pi/2), t = T-1 .. 0 (Nichol & Dhariwal 2021 form).

    u is the schedule's shape on [u(0), 1]; it is rescaled to [0, 1] and mapped onto the model's range in log
    sigma, so the first sigma is exactly sigma_max and the last exactly sigma_min: steps bunch up at both ends.
    """
    t = torch.linspace(n - 1, 0, n, dtype=torch.float64)
    u = torch.sin(((t / max(n - 1, 1) + s) / (1 + s)) * math.pi / 2)
    u0 = math.sin((s / (1 + s)) * math.pi / 2)
    ramp = (u - u0) / (1 - u0)  # 1 at t = T-1, 0 at t = 0
    log_sigmas = math.log(sigma_min) + ramp * (math.log(sigma_max) - math.log(sigma_min))
    return _append_zero(log_sigmas.exp().to(torch.float32)).to(device)


def check_schedule(n: int, sigma_min: float, sigma_max: float, rho: float) -> None:
    """Arguments every schedule needs: outside these ranges the sigmas (and then the audio) come out NaN or inf."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of sigmas must be an integer >= 1, got {n!r}")
    for name, sigma in (("sigma_min", sigma_min), ("sigma_max", sigma_max)):
        if not (0 < sigma < math.inf):
            raise ValueError(f"{name} must be a finite number > 0, got {sigma!r}")
    if not (0 < rho < math.inf):
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")


def get_sigmas(schedule: str, n: int, sigma_min: float, sigma_max: float, rho: float = 1.0, device="cpu") -> torch.Tensor:
    """The named schedule (one of `SCHEDULES`); rho applies to polyexponential and karras."""
    check_schedule(n, sigma_min, sigma_max, rho)
    if schedule == "polyexponential":
        return sigmas_polyexponential(n, sigma_min, sigma_max, rho, device=device)
    if schedule == "karras":
        return sigmas_karras(n, sigma_min, sigma_max, rho, device=device)
    if schedule == "exponential":
        return sigmas_exponential(n, sigma_min, sigma_max, device=device)
    if schedule == "linear":
        return sigmas_linear(n, sigma_min, sigma_max, device=device)
    if schedule == "cosine":
        return sigmas_cosine(n, sigma_min, sigma_max, device=device)
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


def rf_timesteps(steps: int, sigma_max: float = 1.0) -> torch.Tensor:
    """SAT `sample_rf`'s time grid: evenly spaced in log-SNR from sigma_max (or logSNR -6) to logSNR 2, then 0."""
    sigma_max = min(sigma_max, 1.0)
    logsnr_max = math.log(((1 - sigma_max) / sigma_max) + 1e-6) if sigma_max < 1 else -6
    t = torch.sigmoid(-torch.linspace(logsnr_max, 2, steps + 1))
    t[0] = sigma_max
    t[-1] = 0
    return t


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _run_step(step: tp.Callable, *args, checkpoint: bool, hook: StepHook | None = None, at: Step | None = None):
    """One sampler step `step(x, *rest)`, under non-reentrant activation checkpointing when asked; with a `hook`,
    run by `hook(advance, x, at)` instead (`advance(x)` = the step from x, never checkpointed)."""
    if hook is not None:
        x, *rest = args
        return hook(lambda x: step(x, *rest), x, at)
    if checkpoint:
        return _checkpoint(step, *args, use_reentrant=False)
    return step(*args)


def _run_steps(step: tp.Callable, x: torch.Tensor, levels: torch.Tensor, *, checkpoint: bool, keep_steps: int,
               progress: bool, hook: StepHook | None = None) -> torch.Tensor:
    """x <- step(x, i) from levels[i] to levels[i + 1] for every i, each step checkpointed from step `keep_steps` on
    when `checkpoint`, or run by `hook`."""
    n = levels.shape[-1] - 1
    for i in trange(n, disable=not progress):
        x = _run_step(step, x, i, checkpoint=checkpoint and i >= keep_steps, hook=hook, at=_at(levels, i))
    return x


def _at(levels: torch.Tensor, i: int) -> Step:
    """Step i of the grid `levels` (steps + 1,), or of one grid per batch item (batch, steps + 1), as a hook sees it."""
    return Step(i, levels.shape[-1] - 1, levels[..., i], levels[..., i + 1])


def _to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """Karras ODE derivative dx/dsigma = (x - D(x, sigma)) / sigma."""
    return (x - denoised) / sigma


def _ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor, eta: float = 1.0):
    """(sigma_down, sigma_up) of an ancestral step (k-diffusion `get_ancestral_step`)."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = torch.minimum(sigma_to, eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


def _lms_coefficient(order: int, t, i: int, j: int) -> float:
    """Linear multistep coefficient: integral of the Lagrange basis polynomial j over [t_i, t_{i+1}]."""
    def basis(tau):
        prod = 1.0
        for k in range(order):
            if j != k:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod
    return integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0]


# ---------------------------------------------------------------------------------------------------------
# k-diffusion samplers over a Denoiser (v-objective models)


def sample_heun(model: Denoiser, x, sigmas, *, checkpoint=False, keep_steps=0, progress=False, hook=None):
    """Heun steps, Karras et al. 2022 Alg. 2 with s_churn = 0 (k-diffusion `sample_heun`)."""
    s_in = x.new_ones([x.shape[0]])

    def step(x, i):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat * s_in)
        d = _to_d(x, sigma_hat, denoised)
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            return x + d * dt
        x_2 = x + d * dt
        denoised_2 = model(x_2, sigmas[i + 1] * s_in)
        d_2 = _to_d(x_2, sigmas[i + 1], denoised_2)
        return x + (d + d_2) / 2 * dt

    return _run_steps(step, x, sigmas, checkpoint=checkpoint, keep_steps=keep_steps, progress=progress, hook=hook)


def sample_dpm_2(model: Denoiser, x, sigmas, *, checkpoint=False, keep_steps=0, progress=False, hook=None):
    """DPM-Solver-2 steps in Karras' Alg. 2 frame (k-diffusion `sample_dpm_2`)."""
    s_in = x.new_ones([x.shape[0]])

    def step(x, i):
        sigma_hat = sigmas[i]
        denoised = model(x, sigma_hat * s_in)
        d = _to_d(x, sigma_hat, denoised)
        if sigmas[i + 1] == 0:
            return x + d * (sigmas[i + 1] - sigma_hat)
        sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
        x_2 = x + d * (sigma_mid - sigma_hat)
        denoised_2 = model(x_2, sigma_mid * s_in)
        d_2 = _to_d(x_2, sigma_mid, denoised_2)
        return x + d_2 * (sigmas[i + 1] - sigma_hat)

    return _run_steps(step, x, sigmas, checkpoint=checkpoint, keep_steps=keep_steps, progress=progress, hook=hook)


def sample_lms(model: Denoiser, x, sigmas, *, order: int = 4, checkpoint=False, keep_steps=0, progress=False,
               hook=None):
    """Linear multistep method of order 4 over the Karras ODE (k-diffusion `sample_lms`)."""
    s_in = x.new_ones([x.shape[0]])
    sigmas_cpu = sigmas.detach().cpu().numpy()
    ds: list[torch.Tensor] = []

    def step(x, i, *history):
        d = _to_d(x, sigmas[i], model(x, sigmas[i] * s_in))
        window = [*history, d]
        cur_order = min(i + 1, order)
        coeffs = [_lms_coefficient(cur_order, sigmas_cpu, i, j) for j in range(cur_order)]
        return x + sum(coeff * d for coeff, d in zip(coeffs, reversed(window))), d

    for i in trange(len(sigmas) - 1, disable=not progress):
        history = ds[-(order - 1):] if order > 1 else []
        x, d = _run_step(step, x, i, *history, checkpoint=checkpoint and i >= keep_steps, hook=hook,
                         at=_at(sigmas, i))
        ds.append(d)
        ds = ds[-order:]
    return x


def sample_dpmpp_2m(model: Denoiser, x, sigmas, *, checkpoint=False, keep_steps=0, progress=False, hook=None):
    """DPM-Solver++(2M), Lu et al. 2022 (k-diffusion `sample_dpmpp_2m`)."""
    s_in = x.new_ones([x.shape[0]])
    sigma_fn = lambda t: t.neg().exp()  # noqa: E731
    t_fn = lambda sigma: sigma.log().neg()  # noqa: E731

    def step(x, old_denoised, i):
        denoised = model(x, sigmas[i] * s_in)
        t, t_next = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised
        else:
            h_last = t - t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised_d
        return x, denoised

    old_denoised = None
    for i in trange(len(sigmas) - 1, disable=not progress):
        x, old_denoised = _run_step(step, x, old_denoised, i, checkpoint=checkpoint and i >= keep_steps, hook=hook,
                                    at=_at(sigmas, i))
    return x


def sample_dpmpp_2s_ancestral(model: Denoiser, x, sigmas, *, noise: NoiseSource, eta: float = 1.0,
                              s_noise: float = 1.0, checkpoint=False, keep_steps=0, progress=False):
    """Ancestral DPM-Solver++(2S), Lu et al. 2022 (k-diffusion `sample_dpmpp_2s_ancestral`)."""
    s_in = x.new_ones([x.shape[0]])
    sigma_fn = lambda t: t.neg().exp()  # noqa: E731
    t_fn = lambda sigma: sigma.log().neg()  # noqa: E731

    def step(x, z, i):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = _ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if sigma_down == 0:
            x = x + _to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = t_fn(sigmas[i]), t_fn(sigma_down)
            h = t_next - t
            s = t + h / 2
            x_2 = (sigma_fn(s) / sigma_fn(t)) * x - (-h / 2).expm1() * denoised
            denoised_2 = model(x_2, sigma_fn(s) * s_in)
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised_2
        if z is not None:
            x = x + z * s_noise * sigma_up
        return x

    for i in trange(len(sigmas) - 1, disable=not progress):
        z = noise(sigmas[i], sigmas[i + 1]) if sigmas[i + 1] > 0 else None
        x = _run_step(step, x, z, i, checkpoint=checkpoint and i >= keep_steps)
    return x


def sample_dpmpp_2m_sde(model: Denoiser, x, sigmas, *, noise: NoiseSource, eta: float = 1.0,
                        s_noise: float = 1.0, checkpoint=False, keep_steps=0, progress=False):
    """DPM-Solver++(2M) SDE, midpoint variant (k-diffusion `sample_dpmpp_2m_sde`)."""
    s_in = x.new_ones([x.shape[0]])

    def step(x, old_denoised, h_last, z, i):
        denoised = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            return denoised, denoised, h_last
        t, s = -sigmas[i].log(), -sigmas[i + 1].log()
        h = s - t
        eta_h = eta * h
        x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised
        if old_denoised is not None:
            r = h_last / h
            x = x + 0.5 * (-h - eta_h).expm1().neg() * (1 / r) * (denoised - old_denoised)
        if eta:
            x = x + z * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
        return x, denoised, h

    old_denoised, h_last = None, None
    for i in trange(len(sigmas) - 1, disable=not progress):
        z = noise(sigmas[i], sigmas[i + 1]) if (eta and sigmas[i + 1] > 0) else None
        x, old_denoised, h_last = _run_step(step, x, old_denoised, h_last, z, i,
                                            checkpoint=checkpoint and i >= keep_steps)
    return x


def sample_dpmpp_3m_sde(model: Denoiser, x, sigmas, *, noise: NoiseSource, eta: float = 1.0,
                        s_noise: float = 1.0, checkpoint=False, keep_steps=0, progress=False):
    """DPM-Solver++(3M) SDE (k-diffusion `sample_dpmpp_3m_sde`)."""
    s_in = x.new_ones([x.shape[0]])

    def step(x, denoised_1, denoised_2, h_1, h_2, z, i):
        denoised = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] == 0:
            return denoised, denoised, denoised_1, h_1, h_2
        t, s = -sigmas[i].log(), -sigmas[i + 1].log()
        h = s - t
        h_eta = h * (eta + 1)
        x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
        if h_2 is not None:
            r0 = h_1 / h
            r1 = h_2 / h
            d1_0 = (denoised - denoised_1) / r0
            d1_1 = (denoised_1 - denoised_2) / r1
            d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            phi_2 = h_eta.neg().expm1() / h_eta + 1
            phi_3 = phi_2 / h_eta - 0.5
            x = x + phi_2 * d1 - phi_3 * d2
        elif h_1 is not None:
            r = h_1 / h
            d = (denoised - denoised_1) / r
            phi_2 = h_eta.neg().expm1() / h_eta + 1
            x = x + phi_2 * d
        if eta:
            x = x + z * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        return x, denoised, denoised_1, h, h_1

    denoised_1 = denoised_2 = h_1 = h_2 = None
    for i in trange(len(sigmas) - 1, disable=not progress):
        z = noise(sigmas[i], sigmas[i + 1]) if (eta and sigmas[i + 1] > 0) else None
        x, denoised_1, denoised_2, h_1, h_2 = _run_step(step, x, denoised_1, denoised_2, h_1, h_2, z, i,
                                                        checkpoint=checkpoint and i >= keep_steps)
    return x


def sample_dpm_fast(model: Denoiser, x, sigma_min: float, sigma_max: float, nfe: int, *, checkpoint=False,
                    keep_steps=0, progress=False, hook=None):
    """DPM-Solver-Fast with fixed step sizes and `nfe` model evaluations, Lu et al. 2022 §3.4 (eta = 0)."""
    sigma_fn = lambda t: t.neg().exp()  # noqa: E731

    def eps(x, t):
        sigma = sigma_fn(t) * x.new_ones([x.shape[0]])
        return (x - model(x, sigma)) / sigma_fn(t)

    def step(x, t, t_next, order):
        h = t_next - t
        e = eps(x, t)
        if order == 1:
            return x - sigma_fn(t_next) * h.expm1() * e
        if order == 2:
            r1 = 1 / 2
            s1 = t + r1 * h
            u1 = x - sigma_fn(s1) * (r1 * h).expm1() * e
            e_r1 = eps(u1, s1)
            return x - sigma_fn(t_next) * h.expm1() * e - sigma_fn(t_next) / (2 * r1) * h.expm1() * (e_r1 - e)
        r1, r2 = 1 / 3, 2 / 3
        s1, s2 = t + r1 * h, t + r2 * h
        u1 = x - sigma_fn(s1) * (r1 * h).expm1() * e
        e_r1 = eps(u1, s1)
        u2 = x - sigma_fn(s2) * (r2 * h).expm1() * e - sigma_fn(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (e_r1 - e)
        e_r2 = eps(u2, s2)
        return x - sigma_fn(t_next) * h.expm1() * e - sigma_fn(t_next) / r2 * (h.expm1() / h - 1) * (e_r2 - e)

    t_start, t_end = -torch.tensor(sigma_max).log(), -torch.tensor(sigma_min).log()
    orders = dpm_fast_orders(nfe)
    ts = torch.linspace(t_start, t_end, len(orders) + 1, device=x.device)
    for i in trange(len(orders), disable=not progress):
        x = _run_step(step, x, ts[i], ts[i + 1], orders[i], checkpoint=checkpoint and i >= keep_steps, hook=hook,
                      at=Step(i, len(orders), sigma_fn(ts[i]), sigma_fn(ts[i + 1])))
    return x


def dpm_fast_orders(nfe: int) -> list[int]:
    """DPM-Solver-Fast's solver order per step for `nfe` model evaluations (k-diffusion `sample_dpm_fast`)."""
    m = math.floor(nfe / 3) + 1
    return [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]


# ---------------------------------------------------------------------------------------------------------
# Samplers over the raw network output (VelocityModel)


def sample_v_ddim(model: VelocityModel, x, steps: int, *, t_max: float = 1.0, checkpoint=False, keep_steps=0,
                  progress=False, hook=None):
    """Deterministic DDIM (eta = 0) for v-prediction, Song et al. 2021 / Salimans & Ho 2022 (SAT `sample`)."""
    ts = x.new_ones([x.shape[0]])
    levels = torch.linspace(t_max, 0, steps + 1)
    t = levels[:-1]
    alphas, sigmas = torch.cos(t * math.pi / 2), torch.sin(t * math.pi / 2)

    def step(x, i):
        v = model(x, ts * t[i])
        pred = x * alphas[i] - v * sigmas[i]
        if i == steps - 1:
            return pred
        eps = x * sigmas[i] + v * alphas[i]
        return pred * alphas[i + 1] + eps * sigmas[i + 1]

    return _run_steps(step, x, levels, checkpoint=checkpoint, keep_steps=keep_steps, progress=progress, hook=hook)


def _per_item(t: torch.Tensor, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Column i of a (batch, steps + 1) grid of per-item times: (batch,) and broadcastable to x (SAT's cast)."""
    column = t[:, i].to(x.dtype)
    return column, column.view(-1, 1, 1)


def sample_flow_euler(model: VelocityModel, x, t, *, checkpoint=False, keep_steps=0, progress=False, hook=None):
    """Euler steps on a rectified flow dx/dt = v (SAT `sample_discrete_euler`); `t` (steps + 1,) or one grid per
    batch item (batch, steps + 1)."""
    def step(x, i):
        if t.dim() == 2:
            (t_curr, _), (_, t_next) = _per_item(t, i, x), _per_item(t, i + 1, x)
            return x + (t_next - t_curr.view(-1, 1, 1)) * model(x, t_curr)
        t_curr = t[i] * torch.ones((x.shape[0],), dtype=x.dtype, device=x.device)
        return x + (t[i + 1] - t[i]) * model(x, t_curr)

    return _run_steps(step, x, t, checkpoint=checkpoint, keep_steps=keep_steps, progress=progress, hook=hook)


def sample_flow_rk4(model: VelocityModel, x, t, *, t_floor: float | None = None, checkpoint=False, keep_steps=0,
                    progress=False, hook=None):
    """Classical 4th-order Runge-Kutta on a rectified flow (SAT `sample_rk4`). `t_floor` (SAT 0.0.20: 1e-5) is the
    least t the last stage evaluates the model at; None evaluates it at the grid's next t, 0 at the end (0.0.19)."""
    ts = x.new_ones([x.shape[0]])

    def step(x, i):
        t_curr, t_prev = t[i], t[i + 1]
        dt = t_prev - t_curr
        k1 = model(x, t_curr * ts)
        k2 = model(x + dt / 2 * k1, (t_curr + dt / 2) * ts)
        k3 = model(x + dt / 2 * k2, (t_curr + dt / 2) * ts)
        k4 = model(x + dt * k3, (t_prev if t_floor is None else t_prev.clamp(min=t_floor)) * ts)
        return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return _run_steps(step, x, t, checkpoint=checkpoint, keep_steps=keep_steps, progress=progress, hook=hook)


def sample_flow_dpmpp(model: VelocityModel, x, t, *, direct: bool = False, checkpoint=False, keep_steps=0,
                      progress=False, hook=None):
    """DPM-Solver++(2M) for rectified flows, log-SNR = log((1 - t) / t) (SAT `sample_flow_dpmpp`).

    The step's coefficient -expm1(-h) is (t_curr - t_next) / ((1 - t_next) t_curr); `direct=True` computes it so,
    with t and 1 - t clamped at 1e-10 (SAT 0.0.20), instead of through the log-SNR difference h (0.0.19)."""
    ts = x.new_ones([x.shape[0]])
    if direct:
        log_snr = lambda t: ((1 - t).clamp(min=1e-10) / t.clamp(min=1e-10)).log()  # noqa: E731
    else:
        log_snr = lambda t: ((1 - t) / t).log()  # noqa: E731

    def step(x, old_denoised, i):
        t_curr, t_next = t[i], t[i + 1]
        denoised = x - t_curr * model(x, t_curr * ts)
        alpha_t = 1 - t_next
        if direct:
            coefficient = (t_next - t_curr) / ((1 - t_next).clamp(min=1e-10) * t_curr.clamp(min=1e-10))
            ratio = t_next / t_curr.clamp(min=1e-10)
        else:
            h = log_snr(t_next) - log_snr(t_curr)
            coefficient, ratio = (-h).expm1(), t_next / t_curr
        if old_denoised is None or t_next == 0:
            x = ratio * x - alpha_t * coefficient * denoised
        else:
            h = log_snr(t_next) - log_snr(t_curr)
            r = (log_snr(t_curr) - log_snr(t[i - 1])) / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = ratio * x - alpha_t * coefficient * denoised_d
        return x, denoised

    old_denoised = None
    for i in trange(len(t) - 1, disable=not progress):
        x, old_denoised = _run_step(step, x, old_denoised, i, checkpoint=checkpoint and i >= keep_steps, hook=hook,
                                    at=_at(t, i))
    return x


def sample_flow_pingpong(model: VelocityModel, x, t, *, noise: NoiseSource, checkpoint=False, keep_steps=0, progress=False):
    """Ping-pong sampling for distilled flows: denoise fully, re-noise to the next t (SAT `sample_flow_pingpong`).

    The re-noising draws are what DITTO must freeze: they come from `noise`, a fixed source. `t` (steps + 1,) or
    one grid per batch item (batch, steps + 1).
    """
    ts = x.new_ones([x.shape[0]])

    def step(x, z, i):
        if t.dim() == 2:
            (t_curr, t_curr_b), (_, t_next) = _per_item(t, i, x), _per_item(t, i + 1, x)
            denoised = x - t_curr_b * model(x, t_curr)
            return (1 - t_next) * denoised + t_next * z
        denoised = x - t[i] * model(x, t[i] * ts)
        return (1 - t[i + 1]) * denoised + t[i + 1] * z

    for i in trange(t.shape[-1] - 1, disable=not progress):
        x = _run_step(step, x, noise(t[..., i], t[..., i + 1]), i, checkpoint=checkpoint and i >= keep_steps)
    return x


# ---------------------------------------------------------------------------------------------------------
# The registry: one row per sampler. Every list of sampler names derives from it.

FAMILIES = ("v", "rectified_flow")
GRIDS = ("sigmas", "dpm-fast", "v-ddim", "rf", "rf-rk4")
NOISE_KINDS = (None, "brownian", "normal")


@dataclasses.dataclass(frozen=True)
class SamplerSpec:
    """One sampler: its function and what a caller needs to run it (`ditto.generation.sample_latents`).

    - family: the model objective it serves, "v" or "rectified_flow" (see `family_of`).
    - grid: how its grid and start point are built, mirroring SAT's `sample_k` / `sample_rf` (0.0.19) and
      `sample_diffusion` (0.0.20; its flow grids come from `ditto.sat.flow_grid`):
      "sigmas": `get_sigmas(schedule, steps, ...)`, x = x_T * sigmas[0]; called as f(Denoiser, x, sigmas);
      "dpm-fast": the same start; called as f(Denoiser, x, sigma_min, sigma_max, nfe=steps);
      "v-ddim": t from min(sigma_max, 1) to 0 in `steps` steps; called as f(VelocityModel, x, steps, t_max=...);
      "rf": `rf_timesteps(steps, t_max)` (0.0.19; 0.0.20: `build_schedule`); called as f(VelocityModel, x, t);
      "rf-rk4": 0.0.19: linspace(t_max, 0, steps + 1), shifted by the model's `dist_shift` if any (0.0.20: the
      "rf" grid); f(VelocityModel, x, t).
    - noise: None (deterministic), "brownian" (k-diffusion's Brownian tree over the grid's levels) or "normal"
      (i.i.d. unit normals per step), handed to the function as `noise=`.
    - evaluations_per_step: model calls in one step (k-dpm-fast: at most), which scales a step's activations.
    - guidable: the function takes a step `hook` (the module's docstring) through which guidance steers it: the
      deterministic samplers. Stochastic ones are not: their injected noise would make a guided render a function
      of the draws as well as of the seed, and re-noising their steps (time travel) would stack on it.
    """

    name: str
    function: tp.Callable
    family: str
    grid: str
    noise: str | None = None
    evaluations_per_step: int = 1
    guidable: bool = False

    def __post_init__(self):
        for field, value, valid in (("family", self.family, FAMILIES), ("grid", self.grid, GRIDS),
                                    ("noise", self.noise, NOISE_KINDS)):
            if value not in valid:
                raise ValueError(f"sampler {self.name!r}: unknown {field} {value!r}; valid: {valid}")
        if isinstance(self.evaluations_per_step, bool) or not isinstance(self.evaluations_per_step, int) \
                or self.evaluations_per_step < 1:
            raise ValueError(f"sampler {self.name!r}: evaluations_per_step must be an integer >= 1")
        if self.guidable and (self.noise is not None or "hook" not in inspect.signature(self.function).parameters):
            raise ValueError(f"sampler {self.name!r}: only a deterministic sampler taking a step hook is guidable")

    @property
    def process(self) -> str:
        """What x and its levels mean: "sigma" (k-diffusion: x = x_0 + sigma noise; the model is a Denoiser), "v"
        (x = cos(t pi/2) x_0 + sin(t pi/2) noise; the model's v) or "flow" (x = (1 - t) x_0 + t noise; its v)."""
        return {"sigmas": "sigma", "dpm-fast": "sigma", "v-ddim": "v"}.get(self.grid, "flow")


def _registry(*specs: SamplerSpec) -> dict[str, SamplerSpec]:
    """name -> spec, refusing a name given twice."""
    table = {spec.name: spec for spec in specs}
    if len(table) != len(specs):
        raise ValueError("sampler names must be unique")
    return table


SAMPLERS: dict[str, SamplerSpec] = _registry(
    SamplerSpec("dpmpp-2m", sample_dpmpp_2m, "v", "sigmas", guidable=True),
    SamplerSpec("k-heun", sample_heun, "v", "sigmas", evaluations_per_step=2, guidable=True),
    SamplerSpec("k-lms", sample_lms, "v", "sigmas", guidable=True),
    SamplerSpec("k-dpm-2", sample_dpm_2, "v", "sigmas", evaluations_per_step=2, guidable=True),
    SamplerSpec("k-dpm-fast", sample_dpm_fast, "v", "dpm-fast", evaluations_per_step=3, guidable=True),
    SamplerSpec("k-dpmpp-2s-ancestral", sample_dpmpp_2s_ancestral, "v", "sigmas", "normal", evaluations_per_step=2),
    SamplerSpec("dpmpp-2m-sde", sample_dpmpp_2m_sde, "v", "sigmas", "brownian"),
    SamplerSpec("dpmpp-3m-sde", sample_dpmpp_3m_sde, "v", "sigmas", "brownian"),
    SamplerSpec("v-ddim", sample_v_ddim, "v", "v-ddim", guidable=True),
    SamplerSpec("euler", sample_flow_euler, "rectified_flow", "rf", guidable=True),
    SamplerSpec("rk4", sample_flow_rk4, "rectified_flow", "rf-rk4", evaluations_per_step=4, guidable=True),
    SamplerSpec("dpmpp", sample_flow_dpmpp, "rectified_flow", "rf", guidable=True),
    SamplerSpec("pingpong", sample_flow_pingpong, "rectified_flow", "rf", "normal"),
)

V_SAMPLERS = tuple(name for name, spec in SAMPLERS.items() if spec.family == "v")
RF_SAMPLERS = tuple(name for name, spec in SAMPLERS.items() if spec.family == "rectified_flow")
STOCHASTIC_SAMPLERS = tuple(name for name, spec in SAMPLERS.items() if spec.noise is not None)
GUIDABLE_SAMPLERS = tuple(name for name, spec in SAMPLERS.items() if spec.guidable)
EVALUATIONS_PER_STEP = {name: spec.evaluations_per_step for name, spec in SAMPLERS.items()}


def family_of(diffusion_objective: str) -> str:
    """The sampler family of a model objective: "v", else "rectified_flow".

    SAT 0.0.19's `generate_diffusion_cond` runs "v" models through `sample_k` and both "rectified_flow" and
    "rf_denoiser" models through `sample_rf`; ditto treats every objective other than "v" as a rectified flow.
    """
    return "v" if diffusion_objective == "v" else "rectified_flow"


def sampler_spec(name: str, family: str) -> SamplerSpec:
    """The registry row of sampler `name` for a model of `family`; ValueError naming the valid samplers otherwise."""
    if family not in FAMILIES:
        raise ValueError(f"unknown sampler family {family!r}; valid: {', '.join(FAMILIES)}")
    spec = SAMPLERS.get(name) if isinstance(name, str) else None
    if spec is None or spec.family != family:
        valid = ", ".join(n for n, s in SAMPLERS.items() if s.family == family)
        raise ValueError(f"unknown sampler {name!r} for a {family!r} model; valid: {valid}")
    return spec


def chain_steps(spec: SamplerSpec, steps: int) -> int:
    """The steps a sampler's loop takes for `steps`: `steps`, but k-dpm-fast's count for `steps` evaluations."""
    return len(dpm_fast_orders(steps)) if spec.grid == "dpm-fast" else steps


# ---------------------------------------------------------------------------------------------------------
# The forward processes behind `SamplerSpec.process`: what a step hook needs to read and move x at a level


def _expand(level: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A scalar or per-item (batch,) level shaped to broadcast against x."""
    return level.reshape(-1, *[1] * (like.dim() - 1)) if level.dim() else level


def predicted_x0(process: str, x: torch.Tensor, level: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The x_0 estimate in a model evaluation `output = model(x, level)`, as the samplers of `process` read it."""
    level = _expand(level, x)
    if process == "sigma":
        return output
    if process == "v":
        return x * torch.cos(level * math.pi / 2) - output * torch.sin(level * math.pi / 2)
    return x - level * output


def unit_scale(process: str, level: torch.Tensor) -> torch.Tensor:
    """x at `level` over the same point in variance-preserving units: sqrt(1 + sigma^2) in k-diffusion's sigma
    space (the model sees x / sqrt(1 + sigma^2)), 1 for "v" and "flow" chains."""
    return (1 + level ** 2).sqrt() if process == "sigma" else torch.ones_like(level)


def renoise(process: str, x: torch.Tensor, level: torch.Tensor, level_to: torch.Tensor,
            noise: torch.Tensor) -> torch.Tensor:
    """x at `level` -> a sample of the forward process at the higher `level_to`, with unit-normal `noise`."""
    if process == "sigma":  # x = x_0 + sigma noise
        return x + (level_to ** 2 - level ** 2).clamp_min(0).sqrt() * noise
    if process == "flow":  # x = (1 - t) x_0 + t noise
        ratio = (1 - level_to) / (1 - level)
        return ratio * x + (level_to ** 2 - (ratio * level) ** 2).clamp_min(0).sqrt() * noise
    alpha, sigma = torch.cos(level * math.pi / 2), torch.sin(level * math.pi / 2)
    alpha_to, sigma_to = torch.cos(level_to * math.pi / 2), torch.sin(level_to * math.pi / 2)
    ratio = alpha_to / alpha
    return ratio * x + (sigma_to ** 2 - (ratio * sigma) ** 2).clamp_min(0).sqrt() * noise
