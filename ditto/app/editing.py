"""Editing a user's audio by T-optimization (DITTO §4.4): continuation, inpainting and seamless loops.

Each `plan_*` function encodes the reference with the VAE encoder *mean* (deterministic), builds the masked
latent objective that `ditto.optimize` minimizes (no decoder backprop), and returns an `EditPlan` that knows how
to stitch the generated window into the final file and how to measure its seams.
"""

from __future__ import annotations

import dataclasses
import math
import typing as tp
from os import PathLike

import torch

import objectives

from ..audio import load_for_model
from ..generation import encode
from ..loading import Model

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


def plan_outpaint(model: Model, reference: Reference, *, overlap_s: float, sample_size: int,
                  sample_rate: int | None = None, context_frames: int = 32) -> EditPlan:
    """Continuation: the generation's first `overlap_s` seconds reproduce the reference's last `overlap_s`.

    Stitched, the result is reference + continuation joined by an equal-power crossfade over the overlap; applied
    again to its own output it extends a piece to any length.
    """
    audio = load_reference(model, reference, sample_rate)
    stride, frame_rate = model.latent_stride, model.sample_rate / model.latent_stride
    frames = _window_frames(model, sample_size)
    duration_s = audio.shape[-1] / model.sample_rate
    if not (overlap_s > 0):
        raise ValueError(f"overlap must be > 0 seconds, got {overlap_s!r}")
    overlap_frames = objectives.frames_for_seconds(overlap_s, frame_rate)
    if overlap_frames >= frames:
        raise ValueError(f"overlap of {overlap_s} s is not shorter than the generation window "
                         f"({sample_size / model.sample_rate:.2f} s); use a shorter overlap or a larger sample_size")
    overlap_samples = overlap_frames * stride
    if audio.shape[-1] < overlap_samples:
        raise ValueError(f"reference is {duration_s:.2f} s, shorter than the overlap of {overlap_s} s")
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


def plan_inpaint(model: Model, reference: Reference, *, gap_s: tuple[float, float], sample_size: int,
                 sample_rate: int | None = None, fade_s: float = 0.05) -> EditPlan:
    """Inpainting: regenerate the gap [start, end) of the reference while matching everything around it.

    The final file is the original outside the gap and the generation inside it, with equal-power crossfades of
    `fade_s` just inside each border.
    """
    audio = load_reference(model, reference, sample_rate)
    stride, frame_rate = model.latent_stride, model.sample_rate / model.latent_stride
    frames = _window_frames(model, sample_size)
    duration_s = audio.shape[-1] / model.sample_rate
    if audio.shape[-1] > sample_size:
        raise ValueError(f"reference is {duration_s:.2f} s, longer than the generation window "
                         f"{sample_size / model.sample_rate:.2f} s; trim it or raise sample_size")
    start_s, end_s = (float(v) for v in gap_s)
    if not (0 <= start_s < end_s <= duration_s):
        raise ValueError(f"gap ({start_s}, {end_s}) s must satisfy 0 <= start < end <= {duration_s:.2f} "
                         f"(the reference's length in seconds)")
    padded = torch.nn.functional.pad(audio, (0, sample_size - audio.shape[-1]))
    latents = encode_reference(model, padded).cpu()  # (C, frames)
    kept = torch.zeros(frames)
    kept[: math.ceil(audio.shape[-1] / stride)] = 1.0
    mask = kept * (1 - objectives.region_mask(frames, start_s, end_s, frame_rate))
    start, end = round(start_s * model.sample_rate), round(end_s * model.sample_rate)
    fade = max(1, min(round(fade_s * model.sample_rate), (end - start) // 2))

    def weights() -> torch.Tensor:
        """Equal-power weight of the generation per sample: 0 outside the gap, ramping to 1 inside it."""
        w = torch.zeros(audio.shape[-1])
        w[start:end] = 1.0
        ramp = (torch.arange(fade) + 0.5) / fade
        w[start:start + fade] = ramp
        w[end - fade:end] = ramp.flip(0)
        return w

    w = weights()

    def stitch(generated: torch.Tensor) -> torch.Tensor:
        generated = generated.cpu()[:, :audio.shape[-1]]
        return audio.cpu() * torch.cos(w * math.pi / 2) + generated * torch.sin(w * math.pi / 2)

    def seams(generated: torch.Tensor) -> dict:
        """Hard splices at both borders: does the gap's content fit what surrounds it?"""
        spliced = audio.cpu().clone()
        spliced[:, start:end] = generated.cpu()[:, start:end]
        return {"seam_jump": max(objectives.seam_jump(spliced, model.sample_rate, start),
                                 objectives.seam_jump(spliced, model.sample_rate, end))}

    return EditPlan(kind="inpaint", objective=objectives.LatentMatch(latents, mask), reference=audio.cpu(),
                    sample_rate=model.sample_rate,
                    regions={"reference_s": duration_s, "gap_s": [start_s, end_s], "fade_s": fade / model.sample_rate},
                    stitch=stitch, seams=seams)


def plan_loop(model: Model, reference: Reference | None = None, *, overlap_s: float = 0.5, sample_size: int,
              sample_rate: int | None = None, bridge_s: float = 0.0) -> EditPlan:
    """Seamless loops: the output's last `overlap_s` matches its own first `overlap_s` (reference-free), or, with
    a reference, the output reproduces the reference and ends on the reference's opening so that it loops.

    The loop file is the first (length - overlap) samples, its opening crossfaded from the closing overlap.
    With a reference, `bridge_s` seconds before the closing overlap may be left free for the transition (default
    none: on the tiny model a 1 s bridge made the seam worse, 3.1 vs 1.1, the tail drifting from the head).
    """
    stride, frame_rate = model.latent_stride, model.sample_rate / model.latent_stride
    frames = _window_frames(model, sample_size)
    if not (overlap_s > 0):
        raise ValueError(f"overlap must be > 0 seconds, got {overlap_s!r}")
    overlap_frames = objectives.frames_for_seconds(overlap_s, frame_rate)
    audio = None
    if reference is None:
        length_frames = frames
        objective: objectives.LatentObjective = objectives.SelfLoop(overlap_frames)
        if 2 * overlap_frames >= frames:
            raise ValueError(f"loop overlap of {overlap_s} s must be under half the window "
                             f"({sample_size / model.sample_rate:.2f} s)")
    else:
        audio = load_reference(model, reference, sample_rate)
        length_frames = audio.shape[-1] // stride
        duration_s = audio.shape[-1] / model.sample_rate
        if audio.shape[-1] > sample_size:
            raise ValueError(f"reference is {duration_s:.2f} s, longer than the generation window "
                             f"{sample_size / model.sample_rate:.2f} s; trim it or raise sample_size")
        bridge_frames = objectives.frames_for_seconds(bridge_s, frame_rate)
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
        objective = objectives.LatentMatch(target, mask)
        audio = audio.cpu()
    loop_samples = length_frames * stride
    overlap_samples = overlap_frames * stride

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
               "overlap_s": overlap_samples / model.sample_rate, "reference_based": audio is not None}
    return EditPlan(kind="loop", objective=objective, reference=audio, sample_rate=model.sample_rate,
                    regions=regions, stitch=stitch, seams=seams)
