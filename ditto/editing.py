"""Editing a user's audio by T-optimization (DITTO §4.4): continuation, inpainting and seamless loops, at any length.

The Python API: `ditto.outpaint`, `ditto.inpaint` and `ditto.loop` each run one edit and return a `Result` whose
`edited` holds the final audio (the generated window stitched into the reference) and its seams; `ditto.extend`
continues a piece to any length and returns an `Extension` (the whole piece and every window's results). Each
takes `method` ("ditto", "guidance", "best-of-n"; on an inpainting model such as Stable Audio 3 also "native" and
"both", `EDIT_METHODS`) and the chosen method's keyword arguments.

Each `plan_*` function encodes (part of) the reference with the VAE encoder *mean* (deterministic), builds the
masked latent objective that `ditto.optimize` minimizes (no decoder backprop), and returns an `EditPlan` that knows
how to stitch the generated window into the final file and how to measure its seams. References may be longer
than the generation window: inpainting places one window around the gap, a loop takes the section asked for, and
`extend` continues a piece to any length by chaining outpainting windows. Only one window is ever encoded,
generated or optimized at a time, so model memory is that of one window whatever the song's length.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import os
import typing as tp
from os import PathLike
from pathlib import Path

import torch

import objectives

from .audio import load_for_model
from .config import config_or_fields
from .files import atomic_write, to_bytes
from .generation import encode
from . import sat as sat_adapter
from .loading import Model
from .methods import best_of_n, guide
from .optimize import OptimizationError, Result, optimize

Reference = tp.Union[str, PathLike, torch.Tensor]


@dataclasses.dataclass
class EditPlan:
    """What to optimize for an edit, and how to turn the generated window into the final audio."""

    kind: str  # "outpaint", "inpaint", "loop"
    objective: objectives.LatentObjective  # the latent loss for ditto.optimize
    reference: torch.Tensor | None  # (channels, samples) at the model's rate, or None (reference-free loop)
    sample_rate: int
    regions: dict  # seconds of what was kept / generated, for reports and plots
    stitch: tp.Callable[[torch.Tensor], torch.Tensor]  # generated (channels, samples) -> final (channels, samples)
    seams: tp.Callable[[torch.Tensor], dict]  # generated (channels, samples) -> {"seam_jump": ...}


def encode_reference(model: Model, audio: torch.Tensor) -> torch.Tensor:
    """(channels, samples) at the model's rate, a multiple of the latent stride -> posterior-mean latents (C, frames)."""
    with torch.no_grad():
        return encode(model, audio[None].to(model.device), sample=False)[0].float()


def load_reference(model: Model, reference: Reference, sample_rate: int | None = None) -> torch.Tensor:
    """A file path, or a tensor with `sample_rate` -> (channels, samples) at the model's rate and channel count."""
    return load_for_model(reference, sample_rate, target_rate=model.sample_rate, channels=model.channels)[0]


def _window_frames(model: Model, sample_size: int) -> int:
    if sample_size % model.latent_stride:
        raise ValueError(f"sample_size must be a multiple of the latent stride {model.latent_stride}, got {sample_size}")
    return sample_size // model.latent_stride


def _check_overlap(model: Model, overlap_s: float, sample_size: int) -> int:
    """An overlap in seconds -> latent frames, refused unless it is > 0 and shorter than the generation window."""
    if not (overlap_s > 0):
        raise ValueError(f"overlap must be > 0 seconds, got {overlap_s!r}")
    overlap_frames = objectives.frames_for_seconds(overlap_s, model.sample_rate / model.latent_stride)
    if overlap_frames >= _window_frames(model, sample_size):
        raise ValueError(f"overlap of {overlap_s} s is not shorter than the generation window "
                         f"({sample_size / model.sample_rate:.2f} s); use a shorter overlap or a larger sample_size")
    return overlap_frames


def _check_reference_overlap(model: Model, samples: int, overlap_s: float, overlap_frames: int) -> None:
    """Refuse a reference shorter than the overlap, as rounded to whole latent frames (the message says so)."""
    stride, rate = model.latent_stride, model.sample_rate
    if samples >= overlap_frames * stride:
        return
    longest = samples // stride * stride / rate
    raise ValueError(f"reference is {samples / rate:.4g} s, shorter than the overlap: {overlap_s} s is "
                     f"{overlap_frames} latent frames of {stride} samples = {overlap_frames * stride / rate:.4g} s; "
                     f"valid: an overlap of at most {longest:.4g} s for this reference, or a longer reference")


def plan_outpaint(model: Model, reference: Reference, *, overlap_s: float, sample_size: int,
                  sample_rate: int | None = None, context_frames: int = 32) -> EditPlan:
    """Continuation: the generation's first `overlap_s` seconds reproduce the reference's last `overlap_s`.

    Stitched, the result is reference + continuation joined by an equal-power crossfade over the overlap; only
    the reference's last `overlap_s` plus `context_frames` latents are encoded, so a reference of any length
    costs the same. `extend` chains it to continue a piece to any length.
    """
    audio = load_reference(model, reference, sample_rate)
    stride, frames = model.latent_stride, _window_frames(model, sample_size)
    duration_s = audio.shape[-1] / model.sample_rate
    overlap_frames = _check_overlap(model, overlap_s, sample_size)
    overlap_samples = overlap_frames * stride
    _check_reference_overlap(model, audio.shape[-1], overlap_s, overlap_frames)
    # Encode the reference's tail, frame-aligned at its end, with some context before the overlap
    usable = min(audio.shape[-1] // stride, overlap_frames + context_frames) * stride
    latents = encode_reference(model, audio[:, -usable:])  # (C, usable // stride)
    target = torch.zeros(latents.shape[0], frames)
    target[:, :overlap_frames] = latents[:, -overlap_frames:].cpu()
    mask = torch.zeros(frames)
    mask[:overlap_frames] = 1.0

    def stitch(generated: torch.Tensor) -> torch.Tensor:
        return objectives.equal_power_crossfade(audio.cpu(), generated.cpu(), overlap_samples)

    def seams(generated: torch.Tensor) -> dict:
        """A hard splice at the end of the reference: does the continuation carry on from where it stopped?"""
        spliced = torch.cat([audio.cpu(), generated.cpu()[:, overlap_samples:]], dim=-1)
        return {"seam_jump": objectives.seam_jump(spliced, model.sample_rate, audio.shape[-1])}

    return EditPlan(kind="outpaint", objective=objectives.LatentMatch(target, mask), reference=audio.cpu(),
                    sample_rate=model.sample_rate,
                    regions={"reference_s": duration_s, "overlap_s": overlap_samples / model.sample_rate},
                    stitch=stitch, seams=seams)


def _span_samples(model: Model, audio: torch.Tensor, span_s: tuple[float, float], what: str) -> tuple[int, int]:
    """A span (start, end) in seconds inside the reference -> (start, end) samples; refused if it is not inside."""
    start_s, end_s = (float(v) for v in span_s)
    duration_s = audio.shape[-1] / model.sample_rate
    if not (0 <= start_s < end_s <= duration_s):
        raise ValueError(f"{what} ({start_s}, {end_s}) s must satisfy 0 <= start < end <= {duration_s:.2f} "
                         f"(the reference's length in seconds)")
    return round(start_s * model.sample_rate), round(end_s * model.sample_rate)


def _window_offset(length: int, start: int, end: int, sample_size: int) -> int:
    """Where a window of `sample_size` samples starts in a reference of `length` samples so that it holds [start,
    end) with as much context on both sides as fits: the span centred, the window clamped inside the reference."""
    if length <= sample_size:
        return 0
    return min(max(0, (start + end - sample_size) // 2), length - sample_size)


def _inpaint_mask(model: Model, window_samples: int, sample_size: int, gap: tuple[int, int]) -> torch.Tensor:
    """Mask (frames,) of a window holding `window_samples` reference samples: 1 on kept frames, 0 on the gap
    (`gap` in samples from the window's start) and past the reference's end."""
    stride, frame_rate = model.latent_stride, model.sample_rate / model.latent_stride
    frames = _window_frames(model, sample_size)
    kept = torch.zeros(frames)
    kept[: math.ceil(window_samples / stride)] = 1.0
    gap_s = tuple(g / model.sample_rate for g in gap)
    mask = kept * (1 - objectives.region_mask(frames, *gap_s, frame_rate))
    if not mask.any():
        raise ValueError(f"gap of {(gap[1] - gap[0]) / model.sample_rate:.2f} s leaves no context to match in the "
                         f"generation window ({sample_size / model.sample_rate:.2f} s); use a shorter gap or a larger "
                         f"sample_size")
    return mask


def _gap_weights(samples: int, fade: int) -> torch.Tensor:
    """Equal-power weight of the generation over the gap's samples: ramping 0 -> 1 over `fade`, 1, then back to 0."""
    w = torch.ones(samples)
    ramp = (torch.arange(fade) + 0.5) / fade
    w[:fade] = ramp
    w[samples - fade:] = ramp.flip(0)
    return w


def plan_inpaint(model: Model, reference: Reference, *, gap_s: tuple[float, float], sample_size: int,
                 sample_rate: int | None = None, fade_s: float = 0.05) -> EditPlan:
    """Inpainting: regenerate the gap [start, end) of a reference of any length while matching what surrounds it.

    One generation window is placed around the gap: the gap centred with as much context on both sides as fits,
    clamped inside the reference. The final file is the whole reference, bit for bit outside the gap, and the
    generation inside it with equal-power crossfades of `fade_s` just inside each border.
    """
    audio = load_reference(model, reference, sample_rate).cpu()
    rate, length = model.sample_rate, audio.shape[-1]
    start, end = _span_samples(model, audio, gap_s, "gap")
    if end - start >= sample_size:
        raise ValueError(f"gap {tuple(gap_s)} s is {(end - start) / rate:.2f} s long, not shorter than the generation "
                         f"window ({sample_size / rate:.2f} s); use a shorter gap or a larger sample_size")
    offset = _window_offset(length, start, end, sample_size)
    window = audio[:, offset:offset + sample_size]  # (channels, <= sample_size)
    mask = _inpaint_mask(model, window.shape[-1], sample_size, (start - offset, end - offset))
    latents = encode_reference(model, torch.nn.functional.pad(window, (0, sample_size - window.shape[-1]))).cpu()
    fade = max(1, min(round(fade_s * rate), (end - start) // 2))
    angle = _gap_weights(end - start, fade) * math.pi / 2  # (gap samples,)

    def stitch(generated: torch.Tensor) -> torch.Tensor:
        """The whole reference, the gap crossfaded into the generation; every other sample copied unchanged."""
        edited = audio.clone()
        fill = generated.cpu()[:, start - offset:end - offset]
        edited[:, start:end] = audio[:, start:end] * torch.cos(angle) + fill * torch.sin(angle)
        return edited

    def seams(generated: torch.Tensor) -> dict:
        """Hard splices at the gap's inner borders, measured within the window: does the gap fit what surrounds it?"""
        spliced = window.clone()
        spliced[:, start - offset:end - offset] = generated.cpu()[:, start - offset:end - offset]
        borders = [b - offset for b in (start, end) if 0 < b - offset < window.shape[-1]]
        return {"seam_jump": max(objectives.seam_jump(spliced, rate, b) for b in borders)}

    regions = {"reference_s": length / rate, "gap_s": [start / rate, end / rate], "fade_s": fade / rate,
               "window_s": [offset / rate, (offset + sample_size) / rate]}
    return EditPlan(kind="inpaint", objective=objectives.LatentMatch(latents, mask), reference=audio,
                    sample_rate=rate, regions=regions, stitch=stitch, seams=seams)


def _self_loop(model: Model, overlap_s: float, overlap_frames: int, sample_size: int) -> objectives.SelfLoop:
    """The reference-free loop's objective: the window's last overlap frames match its first."""
    if 2 * overlap_frames >= _window_frames(model, sample_size):
        raise ValueError(f"loop overlap of {overlap_s} s must be under half the window "
                         f"({sample_size / model.sample_rate:.2f} s)")
    return objectives.SelfLoop(overlap_frames)


def _loop_section(model: Model, audio: torch.Tensor, section_s: tuple[float, float] | None,
                  sample_size: int) -> torch.Tensor:
    """The part of the reference to loop: [start, end) seconds of it, or all of it; refused past the window."""
    rate, window_s = model.sample_rate, sample_size / model.sample_rate
    if section_s is None:
        if audio.shape[-1] > sample_size:
            raise ValueError(f"reference is {audio.shape[-1] / rate:.2f} s, longer than the generation window "
                             f"{window_s:.2f} s; choose the section to loop (--start/--end, section_s) or raise "
                             f"sample_size")
        return audio
    start, end = _span_samples(model, audio, section_s, "loop section")
    if end - start > sample_size:
        raise ValueError(f"loop section {tuple(section_s)} s is {(end - start) / rate:.2f} s long, longer than the "
                         f"generation window ({window_s:.2f} s); choose a shorter section or a larger sample_size")
    return audio[:, start:end]


def _reference_loop(model: Model, audio: torch.Tensor, overlap: tuple[float, int], bridge_s: float,
                    sample_size: int) -> tuple[objectives.LatentMatch, torch.Tensor]:
    """A loop of `audio` (at most one window): the output reproduces it and its closing `overlap` (seconds,
    frames) reproduces its opening, `bridge_s` before that left free. Returns the objective and the clip cut to
    whole latent frames."""
    (overlap_s, overlap_frames), stride = overlap, model.latent_stride
    frames, length_frames = _window_frames(model, sample_size), audio.shape[-1] // stride
    duration_s = audio.shape[-1] / model.sample_rate
    bridge_frames = objectives.frames_for_seconds(bridge_s, model.sample_rate / stride)
    if 2 * overlap_frames + bridge_frames >= length_frames:
        raise ValueError(f"reference of {duration_s:.2f} s is too short for a {overlap_s} s loop overlap plus a "
                         f"{bridge_s} s bridge; give a longer clip or shorter overlap/bridge")
    audio = audio[:, :length_frames * stride]
    latents = encode_reference(model, torch.nn.functional.pad(audio, (0, sample_size - audio.shape[-1]))).cpu()
    target = latents.clone()
    target[:, length_frames - overlap_frames:length_frames] = latents[:, :overlap_frames]
    mask = torch.zeros(frames)
    mask[:length_frames] = 1.0
    mask[length_frames - overlap_frames - bridge_frames:length_frames - overlap_frames] = 0.0
    return objectives.LatentMatch(target, mask), audio.cpu()


def _loop_plan(model: Model, objective: objectives.LatentObjective, audio: torch.Tensor | None, loop_samples: int,
               overlap_samples: int, regions: dict) -> EditPlan:
    """The loop's EditPlan: the file is the first (loop - overlap) samples, its opening crossfaded from the closing
    overlap; the seam is measured on the uncrossfaded body repeating."""
    stride = model.latent_stride

    def stitch(generated: torch.Tensor) -> torch.Tensor:
        clip = generated.cpu()[:, :loop_samples]
        body = clip[:, :loop_samples - overlap_samples].clone()
        tail = clip[:, loop_samples - overlap_samples:]
        fade = (torch.arange(overlap_samples) + 0.5) / overlap_samples * math.pi / 2
        body[:, :overlap_samples] = tail * torch.cos(fade) + body[:, :overlap_samples] * torch.sin(fade)
        return body

    def seams(generated: torch.Tensor) -> dict:
        """The seam heard when the uncrossfaded body repeats: does its end flow into its start?

        Measured on the loop that starts one latent frame in (a loop may start anywhere): the decoder's first
        frame carries a zero-padding edge transient that the crossfaded loop file never plays, but that would
        otherwise dominate the measure.
        """
        clip = generated.cpu()[:, :loop_samples]
        return {"seam_jump": objectives.loop_seam_jump(clip[:, stride:], model.sample_rate, overlap_samples - stride)}

    regions = {"loop_s": (loop_samples - overlap_samples) / model.sample_rate,
               "overlap_s": overlap_samples / model.sample_rate, "reference_based": audio is not None, **regions}
    return EditPlan(kind="loop", objective=objective, reference=audio, sample_rate=model.sample_rate,
                    regions=regions, stitch=stitch, seams=seams)


def plan_loop(model: Model, reference: Reference | None = None, *, overlap_s: float = 0.5, sample_size: int,
              sample_rate: int | None = None, bridge_s: float = 0.0,
              section_s: tuple[float, float] | None = None) -> EditPlan:
    """Seamless loops: the output's last `overlap_s` matches its own first `overlap_s` (reference-free), or, with
    a reference, the output reproduces the reference (or its `section_s` = (start, end) seconds, for a reference of
    any length) and ends on its opening so that it loops.

    The loop file is the first (length - overlap) samples, its opening crossfaded from the closing overlap.
    With a reference, `bridge_s` seconds before the closing overlap may be left free for the transition (default
    none: on the tiny model a 1 s bridge made the seam worse, 3.1 vs 1.1, the tail drifting from the head).
    """
    if not (overlap_s > 0):
        raise ValueError(f"overlap must be > 0 seconds, got {overlap_s!r}")
    overlap_frames = objectives.frames_for_seconds(overlap_s, model.sample_rate / model.latent_stride)
    if reference is None:
        if section_s is not None:
            raise ValueError(f"loop section {tuple(section_s)} s needs a reference to take it from; give one, or "
                             f"no section for a reference-free loop")
        objective, audio = _self_loop(model, overlap_s, overlap_frames, sample_size), None
        loop_samples = sample_size
    else:
        audio = _loop_section(model, load_reference(model, reference, sample_rate), section_s, sample_size)
        objective, audio = _reference_loop(model, audio, (overlap_s, overlap_frames), bridge_s, sample_size)
        loop_samples = audio.shape[-1]
    regions = {} if section_s is None else {"section_s": [float(v) for v in section_s]}
    return _loop_plan(model, objective, audio, loop_samples, overlap_frames * model.latent_stride, regions)


def slice_control(control: objectives.Objective, start_s: float, end_s: float, total_s: float) -> objectives.Objective:
    """The part of a whole-piece control that falls in [start_s, end_s) of a piece `total_s` seconds long.

    `control` is an `objectives.Intensity` whose target is spread over the whole piece, or weights and sums of
    such terms (what `--intensity-shape` builds); each intensity target is cut to the window's span in time
    (times past the piece's end hold its last value), weights and sums are kept. Melody and structure targets
    describe one clip rather than a span of a piece, and are refused.
    """
    if isinstance(control, objectives.Weighted):
        return slice_control(control.objective, start_s, end_s, total_s) * control.weight
    if isinstance(control, objectives.Sum):
        return sum(slice_control(term, start_s, end_s, total_s) for term in control.terms)
    if not isinstance(control, objectives.Intensity):
        raise ValueError(f"the control {type(control).__name__} cannot be cut into the windows of a longer piece; "
                         f"valid: intensity controls (--intensity-shape, objectives.Intensity), weighted or summed")
    curve = control.target_db  # (points,) spread over [0, total_s]
    times = torch.linspace(start_s, end_s, 257, dtype=torch.float64)  # (257,) the window's span
    position = (times / total_s).clamp(0, 1) * (len(curve) - 1)
    left = position.floor().long().clamp(max=max(len(curve) - 2, 0))
    right = (left + 1).clamp(max=len(curve) - 1)
    fraction = (position - left).float()
    return objectives.Intensity(torch.lerp(curve[left], curve[right], fraction), config=control.config)


class _Piece:
    """Audio grown by crossfading windows onto its end; only the last `keep` samples stay in the working tail."""

    def __init__(self, audio: torch.Tensor, keep: int):
        cut = max(0, audio.shape[-1] - keep)
        self.chunks, self.tail, self.keep = [audio[:, :cut]], audio[:, cut:], keep  # (channels, samples) each

    @property
    def length(self) -> int:
        return sum(chunk.shape[-1] for chunk in self.chunks) + self.tail.shape[-1]

    def append(self, window: torch.Tensor, overlap: int) -> None:
        """Crossfade `window` (channels, samples) onto the end over `overlap` samples."""
        joined = objectives.equal_power_crossfade(self.tail, window.cpu(), overlap)
        cut = max(0, joined.shape[-1] - self.keep)
        self.chunks.append(joined[:, :cut])
        self.tail = joined[:, cut:]

    def restore(self, chunk: torch.Tensor, tail: torch.Tensor) -> None:
        """Redo a saved `append`: the samples it fixed and the tail it left."""
        self.chunks.append(chunk)
        self.tail = tail

    def audio(self, samples: int) -> torch.Tensor:
        """The first `samples` samples (channels, samples) of the piece."""
        return torch.cat([*self.chunks, self.tail], dim=-1)[:, :samples]


@dataclasses.dataclass
class Extension:
    """A reference continued window by window (`extend`): the whole piece, and what each window and join did."""

    audio: torch.Tensor  # (channels, samples): exactly the requested length unless the chain stopped early
    baseline_audio: torch.Tensor  # (channels, samples): the same chain stitched from each window's unoptimized output
    sample_rate: int
    windows: list[dict]  # per window: start_s, seed, losses, metrics, best_iteration, stop_reason, seconds, x_T
    joins: list[dict]  # per join: window, at_s, crossfade_s, seam_jump and reconstruction_mse before/after
    stop_reason: str  # "done", "interrupted" (should_stop) or "failed: ..." (a window's loss stopped being finite)
    settings: dict  # the first window's optimize settings, plus the chain's: seconds, overlap_s, windows, seeds


MAX_WINDOWS = 100  # extend refuses a chain longer than this unless max_windows (--max-windows) is raised


def _extend_span(model: Model, reference_samples: int, seconds: float, overlap_s: float, sample_size: int,
                 max_windows: int) -> tuple[int, int, int]:
    """(samples of the finished piece, overlap samples, windows needed); refuses spans that cannot be extended."""
    rate, stride = model.sample_rate, model.latent_stride
    overlap_frames = _check_overlap(model, overlap_s, sample_size)
    _check_reference_overlap(model, reference_samples, overlap_s, overlap_frames)
    if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds)):
        raise ValueError(f"seconds (--seconds) {seconds!r} must be a finite number of seconds: the length of the "
                         f"extended piece, longer than the reference ({reference_samples / rate:.2f} s)")
    if not seconds * rate > reference_samples:
        raise ValueError(f"seconds {seconds!r} must be longer than the reference ({reference_samples / rate:.2f} s): "
                         f"the length of the extended piece")
    if not (isinstance(max_windows, int) and max_windows >= 1):
        raise ValueError(f"max_windows (--max-windows) must be an integer >= 1, got {max_windows!r}")
    total, overlap = round(seconds * rate), overlap_frames * stride
    count = math.ceil((total - reference_samples) / (sample_size - overlap))
    if count > max_windows:
        raise ValueError(f"seconds {seconds!r} needs {count} windows of {sample_size / rate:.2f} s, more than "
                         f"max_windows {max_windows} (--max-windows); raise it to run this many, or extend to fewer "
                         f"seconds")
    return total, overlap, count


def _window_summary(index: int, start: int, seed: int, result, rate: int) -> dict:
    """What report.json keeps of one window's optimization (its audio lives on in the piece)."""
    return {"window": index, "start_s": start / rate, "seed": seed, "losses": result.losses, "metrics": result.metrics,
            "best_iteration": result.best_iteration, "stop_reason": result.stop_reason, "seconds": result.seconds,
            "warning": result.warning, "x_T": result.x_T}


def _join(index: int, start: int, overlap: int, plan: EditPlan, result, rate: int) -> dict:
    """One join of the chain: where it is, and its seam and overlap reconstruction before and after optimizing."""
    return {"window": index, "at_s": (start + overlap) / rate, "crossfade_s": [start / rate, (start + overlap) / rate],
            "seam_jump": {"before": plan.seams(result.baseline_audio[0])["seam_jump"],
                          "after": plan.seams(result.audio[0])["seam_jump"]},
            "reconstruction_mse": {when: result.metrics[when].get("reconstruction_mse")
                                   for when in ("before", "after")}}


WINDOW_METHODS = {"ditto": optimize, "guidance": guide, "best-of-n": best_of_n}  # what renders each window
# Stable Audio 3's own inpainting conditioning on the kept region: one generation ("native"), or that generation's
# x_T optimized by DITTO as well ("both"); only models conditioned on inpaint inputs take them
NATIVE_METHODS = ("native", "both")
EDIT_METHODS = (*WINDOW_METHODS, *NATIVE_METHODS)
_RUN_STATE = ("state_path", "save_every", "resume")  # optimize's saved-state keywords: a native render keeps none


def has_inpaint_conditioning(config: dict) -> bool:
    """Whether a model config's DiT takes Stable Audio 3's inpaint inputs (`inpaint_mask`, `inpaint_masked_input`
    among its local_add_cond_ids, model_type "diffusion_cond_inpaint"); read from the config, so it also answers
    before the weights load."""
    diffusion = config.get("model", {}).get("diffusion", {})
    return any(key in sat_adapter.INPAINT_INPUTS for key in diffusion.get("local_add_cond_ids", []) or [])


def check_edit_method(model, method: str) -> None:
    """`method` must be one of `EDIT_METHODS`, and "native" / "both" need a model with inpaint conditioning; a
    one-line ValueError otherwise. `model` is a Model or anything with its `config` and `source` (no weights)."""
    if method not in EDIT_METHODS:
        raise ValueError(f"method {method!r} is invalid; valid: {', '.join(EDIT_METHODS)}")
    if method in NATIVE_METHODS and not has_inpaint_conditioning(model.config):
        raise ValueError(f"method {method!r} is invalid; valid: {', '.join(WINDOW_METHODS)} for {model.source} "
                         f"(model_type {model.config.get('model_type')!r}): {' and '.join(NATIVE_METHODS)} need a "
                         f"model conditioned for inpainting (Stable Audio 3, model_type 'diffusion_cond_inpaint')")


def native_inputs(model: Model, plan: EditPlan, seconds_total: float) -> dict:
    """The plan's kept region as Stable Audio 3's inpainting conditioning, {"inpaint_mask": [(1, 1, frames)],
    "inpaint_masked_input": [(1, latent_channels, frames)]}, built as stable-audio-tools 0.0.20's
    `generate_diffusion_cond_inpaint` builds it: the mask 1 on kept frames and 0 where audio is generated (the
    plan's latent mask is that mask after SAT's nearest-neighbour resize to the latent frames), zeroed past
    `seconds_total` when the model masks padding attention, and the masked input the reference's latents times
    the mask. A reference-free loop keeps nothing of a reference and has no such inputs (ValueError)."""
    objective = plan.objective
    if not isinstance(objective, objectives.LatentMatch):
        raise ValueError(f"a native inpainting render needs a reference to keep; this {plan.kind} has none "
                         f"({type(objective).__name__}): give a reference, or use method 'ditto'")
    mask = (objective.mask > 0).float()
    if getattr(model.sat, "mask_padding_attention", False) and seconds_total > 0:
        valid = int(seconds_total * model.sample_rate)  # samples; frame i is kept iff its first sample is
        mask[-(-valid // model.latent_stride):] = 0
    mask = mask[None, None].to(model.device)  # (1, 1, frames)
    return {"inpaint_mask": [mask],
            "inpaint_masked_input": [objective.target[None].to(model.device) * mask.expand(1, *objective.target.shape)]}


def steer(model: Model, plan: EditPlan, objective: objectives.Objective, *, method: str, **options) -> Result:
    """Render one edit window by `method` (`EDIT_METHODS`), `options` being its keyword arguments (prompt, seed,
    sample_size, seconds_total, ...): "ditto", "guidance", "best-of-n" steer toward `objective` (the plan's loss,
    plus any control); "native" is one generation conditioned on the plan's kept region (`native_inputs`), nothing
    optimized; "both" optimizes that conditioned generation's x_T with DITTO (`optimize`'s options).

    For every method, metrics["before"] and `baseline_audio` are the plain generation with the same seed (no
    inpaint conditioning, nothing steered); "both" adds metrics["native"], the conditioned render it started
    from. A native render draws a stochastic sampler's noise and a decoder's noise as `optimize` does (seeds
    seed + 1, seed + 2), so "both" starts from exactly "native"'s render."""
    check_edit_method(model, method)
    if method in WINDOW_METHODS:
        return WINDOW_METHODS[method](model, objective, **options)
    given = options.pop("conditioning_tensors", None) or {}
    inputs = {**given, **native_inputs(model, plan, options["seconds_total"])}
    once = {name: value for name, value in options.items() if name not in _RUN_STATE}
    plain = optimize(model, objective, **{**once, "iterations": 0}, conditioning_tensors=given or None)
    if method == "native":
        result = optimize(model, objective, **{**once, "iterations": 0}, conditioning_tensors=inputs)
        result.variables, native = [], {}
    else:
        result = optimize(model, objective, **options, conditioning_tensors=inputs)
        native = {"native": result.metrics["before"]}
        result.advice = (f"DITTO did not improve on the native inpainting render it started from (loss "
                         f"{result.losses[0]:.4g})" if result.losses else None)
    result.metrics = {**result.metrics, "before": plain.metrics["after"], **native}
    result.baseline_audio = plain.audio
    result.settings = dataclasses.replace(result.settings, method=method)
    return result


@dataclasses.dataclass(frozen=True)
class ChainOptions:
    """How `extend` runs its chain, beside what it renders: a bound on its length, stopping, reporting, saving."""

    max_windows: int = MAX_WINDOWS  # more windows than this is refused before any work (--max-windows)
    should_stop: tp.Callable[[], bool] | None = None  # asked during and after each window: True ends the chain
    on_window: tp.Callable[[dict], None] | None = None  # called with each join's summary once its window is done
    state_path: str | PathLike | None = None  # each complete window appended here (for resume_from)
    resume_from: str | PathLike | None = None  # such a file, from the same reference and arguments: continue it


CHAIN_OPTIONS = tuple(field.name for field in dataclasses.fields(ChainOptions))


def extend(model: Model, reference: Reference, *, seconds: float, overlap_s: float, sample_size: int,
           sample_rate: int | None = None, control: objectives.Objective | None = None, seed: int = 0,
           method: str = "ditto", chain: ChainOptions | None = None, **options) -> Extension:
    """Continue `reference` to `seconds` (any length) by chained outpainting, one generation window at a time.

    Window k (x_T seed `seed + k`) starts `overlap_s` before the piece's current end, is steered toward
    reproducing that overlap (`plan_outpaint`) by `method` (`steer`: "ditto": `ditto.optimize`, "guidance":
    `ditto.guide`, "best-of-n": `ditto.best_of_n`; on an inpainting model "native": Stable Audio 3 conditioned on
    the overlap, or "both"), each given the remaining `options` (prompt, steps, iterations / scale / n, ...), and
    is crossfaded on; the last window is cut so the piece is exactly round(seconds * sample rate) samples.
    `control` spans the whole piece and is cut to each window (`slice_control`). Model memory is one window's;
    the piece's audio is kept on the CPU. A non-finite loss ends the chain after the current window.

    `chain` (a `ChainOptions`, or its fields as keywords: `max_windows`, `should_stop`, `on_window`, `state_path`,
    `resume_from`): more than `max_windows` windows is refused before any work; `should_stop()` ends the chain
    after the current window; `on_window(summary)` follows each window. With `state_path`, each complete window
    is appended there (its audio and summary: the file grows by one window's worth per window); `resume_from`
    (such a file, from the same reference and arguments) continues after its last window, to the same piece bit
    for bit.
    """
    fields = {name: options.pop(name) for name in CHAIN_OPTIONS if name in options}
    chain = config_or_fields("extend", "chain", chain, ChainOptions, fields)
    check_edit_method(model, method)
    audio, rate = load_reference(model, reference, sample_rate).cpu(), model.sample_rate
    total, overlap, count = _extend_span(model, audio.shape[-1], seconds, overlap_s, sample_size, chain.max_windows)
    if control is not None:
        slice_control(control, 0.0, sample_size / rate, total / rate)  # refuses what cannot be cut, before any work
    header = {"reference_sha256": hashlib.sha256(audio.numpy().tobytes()).hexdigest(), "samples": total,
              "overlap": overlap, "sample_size": sample_size, "seed": seed, "method": method}
    saved = ChainFile(chain.state_path, header)
    piece, baseline, windows, joins, settings = saved.resume(chain.resume_from, audio, sample_size)
    stop_reason = "done"
    for index in range(len(windows), count):
        start = piece.length - overlap
        plan = plan_outpaint(model, piece.tail, sample_rate=rate, overlap_s=overlap / rate, sample_size=sample_size)
        objective = plan.objective if control is None else plan.objective + slice_control(
            control, start / rate, (start + sample_size) / rate, total / rate)
        try:
            result = steer(model, plan, objective, method=method, seed=seed + index, sample_size=sample_size,
                           seconds_total=sample_size / rate, should_stop=chain.should_stop, **options)
        except OptimizationError as error:
            result, stop_reason = error.result, f"failed: {error}"
        settings = settings or result.settings.to_dict()  # the first window's, as a mapping (saved with it)
        joins.append(_join(index, start, overlap, plan, result, rate))
        piece.append(result.audio[0], overlap)
        baseline.append(result.baseline_audio[0], overlap)
        windows.append(_window_summary(index, start, seed + index, result, rate))
        stop_reason = "interrupted" if result.stop_reason == "interrupted" else stop_reason
        if stop_reason == "done":
            saved.append(windows[-1], joins[-1], settings, piece, baseline)
        if chain.on_window is not None:
            chain.on_window({**joins[-1], "of": count, "warning": windows[-1]["warning"]})
        if stop_reason != "done":
            break
    settings = {**settings, "method": method, "seed": seed, "seeds": [w["seed"] for w in windows],
                "seconds": total / rate, "overlap_s": overlap / rate, "windows": count,
                "reference_s": audio.shape[-1] / rate}
    samples = total if stop_reason == "done" else piece.length
    return Extension(audio=piece.audio(samples), baseline_audio=baseline.audio(samples), sample_rate=rate,
                     windows=windows, joins=joins, stop_reason=stop_reason, settings=settings)


class ChainFile:
    """extend's saved chain: a header, then one record per complete window (its summary and join, the audio it
    fixed in the piece and the baseline, and their working tails), appended, so the file grows linearly.

    A record cut short by a kill is ignored on reading (and overwritten by the next append)."""

    MAGIC = b"ditto extend chain v2\n"

    def __init__(self, path: str | PathLike | None, chain: dict):
        self.path, self.chain, self.valid = (None if path is None else Path(path)), chain, 0

    def resume(self, source: str | PathLike | None, audio: torch.Tensor, keep: int) -> tuple:
        """(piece, baseline, windows, joins, settings): the reference alone, or the chain saved in `source`."""
        piece, baseline = _Piece(audio, keep), _Piece(audio, keep)
        if source is None:
            return piece, baseline, [], [], {}
        data, records = _read_chain(Path(source), self.chain)
        for record in records:
            piece.restore(record["piece"], record["piece_tail"])
            baseline.restore(record["baseline"], record["baseline_tail"])
        if self.path is not None:  # continue appending to the valid part of the same chain
            atomic_write(self.path, data)
            self.valid = len(data)
        settings = records[0]["settings"] if records else {}
        return piece, baseline, [r["window"] for r in records], [r["join"] for r in records], settings

    def append(self, window: dict, join: dict, settings: dict, piece: "_Piece", baseline: "_Piece") -> None:
        """Append one complete window; the first also writes the header."""
        if self.path is None:
            return
        record = {"window": window, "join": join, "settings": settings, "piece": piece.chunks[-1].clone(),
                  "piece_tail": piece.tail.clone(), "baseline": baseline.chunks[-1].clone(),
                  "baseline_tail": baseline.tail.clone()}  # clones: a view would save its whole storage
        head = b"" if self.valid else self.MAGIC + _framed({"chain": self.chain})
        with open(self.path, "r+b" if self.valid else "wb") as file:
            file.seek(self.valid)
            file.write(head + _framed(record))
            file.truncate()
            file.flush()
            os.fsync(file.fileno())
            self.valid = file.tell()


def _framed(obj: dict) -> bytes:
    payload = to_bytes(lambda buffer: torch.save(obj, buffer))
    return len(payload).to_bytes(8, "little") + payload


def _read_chain(path: Path, chain: dict) -> tuple[bytes, list[dict]]:
    """(the file's valid bytes, its window records), checked to continue this very chain (reference, length,
    window, seed, method)."""
    data = path.read_bytes()
    if not data.startswith(ChainFile.MAGIC):
        raise ValueError(f"--resume: {str(path)!r} is not an extend chain state (written by extend --resume's "
                         f"saves); rerun without --resume, or with --overwrite")
    records, at = [], len(ChainFile.MAGIC)
    while at + 8 <= len(data):
        size = int.from_bytes(data[at:at + 8], "little")
        if at + 8 + size > len(data):
            break  # a record cut short by a kill
        records.append(torch.load(io.BytesIO(data[at + 8:at + 8 + size]), map_location="cpu", weights_only=True))
        at += 8 + size
    if not records:  # the header itself was cut short: nothing to continue
        return b"", []
    saved = records[0].get("chain", {})
    if saved != chain:
        differ = sorted(key for key in chain if saved.get(key) != chain[key])
        raise ValueError(f"--resume: the chain saved in {str(path)!r} is another run (its {', '.join(differ)} "
                         f"differ); rerun with the flags and reference it was started with, or without --resume")
    return data[:at], records[1:]


@dataclasses.dataclass
class Edited:
    """An edit's final audio: the generated window stitched into the reference, and how audible its joins are."""

    audio: torch.Tensor  # (channels, samples): the stitched result, at the model's rate
    baseline_audio: torch.Tensor  # (channels, samples): the same stitch of the unsteered render (same seed)
    seams: dict  # {"before": {"seam_jump": ...}, "after": {...}}: objectives.seam_jump at the joins
    plan: EditPlan  # what was optimized, the reference and its regions


def edit(model: Model, plan: EditPlan, *, prompt: str, sample_size: int,
         control: objectives.Objective | None = None, method: str = "ditto", **options) -> Result:
    """Run one planned edit: `method` (`EDIT_METHODS`, see `steer`) renders the whole window toward `plan.objective`
    (+ `control`, e.g. `0.025 * objectives.Intensity(...)`, fed the decoded audio), or on an inpainting model
    conditioned on the plan's kept region ("native", "both"); the Result's `edited` is the stitched audio."""
    objective = plan.objective if control is None else plan.objective + control
    result = steer(model, plan, objective, method=method, prompt=prompt, sample_size=sample_size,
                   seconds_total=sample_size / model.sample_rate, **options)
    result.edited = Edited(audio=plan.stitch(result.audio[0]), baseline_audio=plan.stitch(result.baseline_audio[0]),
                           seams={"before": plan.seams(result.baseline_audio[0]), "after": plan.seams(result.audio[0])},
                           plan=plan)
    return result


def outpaint(model: Model, reference: Reference, *, prompt: str, overlap_s: float = 1.0,
             sample_size: int | None = None, sample_rate: int | None = None,
             control: objectives.Objective | None = None, method: str = "ditto", **options) -> Result:
    """Continue `reference` (a path, or a tensor with `sample_rate`) past its end: the window's first `overlap_s`
    seconds reproduce its last ones (`plan_outpaint`); `result.edited.audio` is reference + continuation.
    `sample_size` defaults to the model's window; other keywords go to the method (`ditto.optimize`'s)."""
    sample_size = sample_size or model.sample_size
    plan = plan_outpaint(model, reference, overlap_s=overlap_s, sample_size=sample_size, sample_rate=sample_rate)
    return edit(model, plan, prompt=prompt, sample_size=sample_size, control=control, method=method, **options)


def inpaint(model: Model, reference: Reference, *, prompt: str, gap_s: tuple[float, float],
            sample_size: int | None = None, sample_rate: int | None = None, fade_s: float = 0.05,
            control: objectives.Objective | None = None, method: str = "ditto", **options) -> Result:
    """Regenerate the gap `gap_s` = (start, end) seconds of `reference` so that it joins what surrounds it
    (`plan_inpaint`; a reference longer than the window gets one window around the gap); `result.edited.audio`
    is the reference with the gap filled, crossfaded over `fade_s` inside each border."""
    sample_size = sample_size or model.sample_size
    plan = plan_inpaint(model, reference, gap_s=gap_s, sample_size=sample_size, sample_rate=sample_rate,
                        fade_s=fade_s)
    return edit(model, plan, prompt=prompt, sample_size=sample_size, control=control, method=method, **options)


def loop(model: Model, reference: Reference | None = None, *, prompt: str, overlap_s: float = 0.5,
         sample_size: int | None = None, sample_rate: int | None = None, section_s: tuple[float, float] | None = None,
         bridge_s: float = 0.0, control: objectives.Objective | None = None, method: str = "ditto",
         **options) -> Result:
    """A seamless loop (`plan_loop`): without `reference` the window's end must repeat its first `overlap_s`
    seconds; with one, the section `section_s` of it loops, bridged over `bridge_s`. `result.edited.audio` is
    one period of the loop."""
    sample_size = sample_size or model.sample_size
    plan = plan_loop(model, reference, overlap_s=overlap_s, sample_size=sample_size, sample_rate=sample_rate,
                     section_s=section_s, bridge_s=bridge_s)
    return edit(model, plan, prompt=prompt, sample_size=sample_size, control=control, method=method, **options)
