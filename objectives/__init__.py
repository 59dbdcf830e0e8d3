"""Differentiable losses and metrics on audio for DITTO (Novack et al. 2024): intensity, melody and structure.

Every objective is called as ``loss = obj(audio, sample_rate)`` with audio of shape (batch, channels, samples)
(float, samples in [-1, 1]; channels are mixed to mono inside each feature) and returns a loss of shape (batch,)
that is differentiable with respect to audio. For convenience (channels, samples) — one clip, never a batch of
mono clips — and (samples,) are accepted too and get the missing leading dims. ``obj.metric(audio, sample_rate)``
returns the paper's evaluation numbers as floats averaged over the batch:

    Intensity  {"intensity_mse_db2": MSE in dB² between the smoothed loudness and the target curve}
    Melody     {"melody_accuracy": percent of melody frames whose chroma argmax is the target pitch class}
    Structure  {"structure_mse": MSE between the smoothed MFCC self-similarity and the target's}
    Rhythm     {"onset_f1": mir_eval onset F-measure (±50 ms) of the onsets detected in the audio vs the target's}
    Brightness {"centroid_mse_st2": MSE in semitones² between the smoothed log spectral centroid and the target}
    Pitch      {"raw_pitch_accuracy", "raw_chroma_accuracy": mir_eval.melody's, percent, of CREPE's pitch}

Each metric name is declared once beside its formula with its direction and unit: ``metric_info("onset_f1")``
gives ``.higher_is_better``, ``.unit`` and ``.description`` and raises for an undeclared name; a custom objective
declares its own metrics with ``declare_metric(name, higher_is_better=..., unit=..., description=...)``.

Targets do not depend on the clip length: intensity curves are spread over the clip, note times and section
boundaries in seconds (or fractions), and each call maps the target onto however many feature frames the audio has.

    obj = objectives.Intensity.from_shape("crescendo", low_db=-40.0, high_db=-10.0)
    obj = objectives.Melody.from_notes("C4:0.5 E4:0.5 r:0.25 G4:1")
    obj = 0.025 * objectives.Intensity([-30, -10, -30]) + objectives.Structure("ABA")

Custom objectives: any callable ``fn(audio (batch, channels, samples), sample_rate) -> loss (batch,)`` works
wherever an objective is expected; it may carry ``fn.metric(audio, sample_rate) -> dict[str, float]``. To weight
or add one, wrap it: ``0.5 * objectives.Objective.wrap(fn, metric=None)``; ``objective + fn`` and
``objectives.Sum(fn, other)`` wrap plain callables automatically. Subclassing ``Objective`` (define __call__ and
optionally metric) gives the same arithmetic. A weighted sum's metric() merges its terms' metrics.

Editing objectives (outpainting, inpainting, looping) are latent-domain: ``loss = obj(latents (batch,
latent_channels, frames), frame_rate)`` with frame_rate = sample_rate / 2048 for SAO, so no decoder backward is
needed. ``LatentMatch(target, mask)`` is a masked MSE against a reference clip's aligned latents (``region_mask``
and ``frames_for_seconds`` build masks from seconds); ``SelfLoop(overlap_frames)`` makes the end repeat the start.
They carry ``domain = "latent"`` (audio objectives have no attribute and are "audio"); ``domain_of(obj)`` reads
it through weighted sums and raises on a sum mixing both. ``spectral_flux``, ``seam_jump``, ``loop_seam_jump``
and ``equal_power_crossfade`` measure and make joins in decoded audio.

Modules: base (Objective, Weighted, Sum, argument checks), metrics (metric declarations), domains (latent-domain objectives, Joint,
split_domains), masks (latent-frame masks), editing (LatentMatch, SelfLoop), seams (seam metrics, crossfade),
intensity, melody, structure, smoothing.

Each feature is also a plain function, so control and evaluation share one definition: ``rms_db``,
``intensity_db``, ``chroma``, ``melody_log_probs``, ``mfcc``, ``mfcc_self_similarity``.
This package imports torch, torchaudio, librosa (filterbanks, and the onset picker of Rhythm's metric), scipy,
numpy and mido, and when first used mir_eval (the onset and melody metrics) and torchcrepe (Pitch) — never ditto
or stable_audio_tools.
"""

from .brightness import (
    BRIGHTNESS_SHAPES,
    Brightness,
    BrightnessConfig,
    brightness_shape,
    brightness_st,
    hz_to_semitones,
    semitones_to_hz,
    spectral_centroid,
)
from .base import FunctionObjective, Objective, Sum, Weighted, as_audio_batch, mono
from .domains import (
    DOMAINS,
    Joint,
    LatentFunctionObjective,
    LatentObjective,
    LatentSum,
    LatentWeighted,
    as_latent_batch,
    domain_of,
    split_domains,
)
from .editing import LatentMatch, SelfLoop
from .intensity import SHAPES, Intensity, IntensityConfig, intensity_db, rms_db, shape_curve
from .masks import frames_for_seconds, region_mask
from .metrics import MetricInfo, declare_metric, declared_metrics, metric_info
from .melody import (
    NO_MELODY,
    PITCH_CLASSES,
    ChromaExtractor,
    Melody,
    MelodyConfig,
    Note,
    chroma,
    highpass,
    melody_log_probs,
    melody_targets,
    notes_from_midi,
    parse_notes,
    pitch_from_name,
)
from .pitch import (
    Pitch,
    PitchConfig,
    bin_cents,
    cents_to_midi,
    crepe_network,
    decode_cents,
    midi_to_cents,
    pitch_activations,
    pitch_logits,
    pitch_targets,
)
from .rhythm import (
    Rhythm,
    RhythmConfig,
    detect_onsets,
    onset_pulses,
    onset_strength,
    rhythm_envelope,
    tempo_onsets,
)
from .seams import equal_power_crossfade, loop_seam_jump, seam_jump, spectral_flux
from .smoothing import interpolate_curve, savgol_smooth, savgol_smooth_2d, savgol_window
from .structure import (
    Structure,
    StructureConfig,
    check_form,
    form_self_similarity,
    mfcc,
    mfcc_self_similarity,
    section_labels,
)

__all__ = [
    "Objective", "Weighted", "Sum", "FunctionObjective", "as_audio_batch", "mono",
    "Intensity", "IntensityConfig", "SHAPES", "rms_db", "intensity_db", "shape_curve",
    "Melody", "MelodyConfig", "Note", "ChromaExtractor", "NO_MELODY", "PITCH_CLASSES", "chroma", "highpass",
    "melody_log_probs", "melody_targets", "notes_from_midi", "parse_notes", "pitch_from_name",
    "Structure", "StructureConfig", "check_form", "form_self_similarity", "mfcc", "mfcc_self_similarity",
    "section_labels",
    "savgol_window", "savgol_smooth", "savgol_smooth_2d", "interpolate_curve",
    "LatentObjective", "LatentWeighted", "LatentSum", "LatentFunctionObjective", "DOMAINS", "domain_of", "Joint", "split_domains",
    "as_latent_batch", "LatentMatch", "SelfLoop", "frames_for_seconds", "region_mask",
    "spectral_flux", "seam_jump", "loop_seam_jump", "equal_power_crossfade",
    "Rhythm", "RhythmConfig", "onset_strength", "rhythm_envelope", "detect_onsets", "onset_pulses", "tempo_onsets",
    "Brightness", "BrightnessConfig", "BRIGHTNESS_SHAPES", "spectral_centroid", "brightness_st", "brightness_shape",
    "hz_to_semitones", "semitones_to_hz",
    "Pitch", "PitchConfig", "pitch_logits", "pitch_activations", "decode_cents", "pitch_targets", "bin_cents",
    "midi_to_cents", "cents_to_midi", "crepe_network",
    "MetricInfo", "declare_metric", "declared_metrics", "metric_info",
]
