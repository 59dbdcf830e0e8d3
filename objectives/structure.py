"""Structure control (DITTO §4): smoothed MFCC self-similarity matrix against the block matrix of a form like ABA."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torchaudio

from .base import Objective, as_audio_batch, check_sample_rate, single_reference
from .smoothing import savgol_smooth_2d, savgol_window
from .metrics import declare_metric

STRUCTURE_MSE = declare_metric(
    "structure_mse", higher_is_better=False, unit="",
    description="MSE between the smoothed MFCC self-similarity matrix and the target form's (DITTO's structure metric)")


@dataclasses.dataclass(frozen=True)
class StructureConfig:
    """Hyperparameters of the structure feature; the MFCC settings are librosa.feature.mfcc's defaults."""

    n_mfcc: int = 20  # MFCCs computed; the first (overall level) is dropped, 19 remain
    n_fft: int = 2048  # STFT size (periodic Hann window)
    hop_length: int = 512  # samples between frame centres (86 frames/s at 44.1 kHz)
    n_mels: int = 128  # Slaney mel bands, 0 Hz to Nyquist
    smoothing_s: float = 1.0  # 2-D Savitzky–Golay window in seconds along each axis of the SSM
    polyorder: int = 2  # Savitzky–Golay polynomial order

    def __post_init__(self):
        for name in ("n_mfcc", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive integer")
        if self.n_mfcc < 2:
            raise ValueError(f"n_mfcc {self.n_mfcc} is invalid; expected 2 or more (the first is dropped)")
        if not self.smoothing_s > 0:
            raise ValueError(f"smoothing_s {self.smoothing_s} is invalid; expected a positive duration in seconds")


@functools.lru_cache(maxsize=16)
def _mfcc_transform(sample_rate: int, n_mfcc: int, n_fft: int, hop_length: int, n_mels: int,
                    device: str) -> torchaudio.transforms.MFCC:
    melkwargs = dict(n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, f_min=0.0, f_max=None, power=2.0,
                     center=True, pad_mode="constant", mel_scale="slaney", norm="slaney")
    return torchaudio.transforms.MFCC(sample_rate, n_mfcc=n_mfcc, dct_type=2, norm="ortho", log_mels=False,
                                      melkwargs=melkwargs).to(device)


def mfcc(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    n_mfcc: int = 20,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
) -> torch.Tensor:
    """MFCCs (batch, n_mfcc, frames) of the mono mixdown, set up like librosa.feature.mfcc's defaults.

    torchaudio.transforms.MFCC with Slaney mels, power_to_db (top_db 80, per clip), orthonormal DCT-II,
    center=True constant padding. A cached transform per (settings, device) holds the filterbank and DCT.
    """
    x = as_audio_batch(audio).mean(dim=1, keepdim=True)  # (batch, 1, samples): 4-D spectrogram -> per-clip top_db
    transform = _mfcc_transform(check_sample_rate(sample_rate), n_mfcc, n_fft, hop_length, n_mels, str(x.device))
    with torch.autocast(x.device.type, enabled=False):
        return transform(x)[:, 0]


def mfcc_self_similarity(
    audio: torch.Tensor,
    sample_rate: int,
    config: StructureConfig | None = None,
    *,
    smooth: bool = True,
) -> torch.Tensor:
    """DITTO structure feature: self-similarity (batch, frames, frames) of MFCCs without c0, normalised over time.

    Similarity is (1 + cosine) / 2, in [0, 1] with a unit diagonal: frames pointing in opposite directions after
    the per-coefficient normalisation (e.g. two contrasting sections) read 0, like the target's "different" cells.
    smooth applies the 2-D Savitzky–Golay filter over config.smoothing_s.
    """
    config = config or StructureConfig()
    sample_rate = check_sample_rate(sample_rate)
    coefficients = mfcc(audio, sample_rate, n_mfcc=config.n_mfcc, n_fft=config.n_fft,
                        hop_length=config.hop_length, n_mels=config.n_mels)[:, 1:]  # (batch, n_mfcc - 1, frames)
    with torch.autocast(coefficients.device.type, enabled=False):
        mean = coefficients.mean(dim=-1, keepdim=True)
        variance = coefficients.var(dim=-1, unbiased=False, keepdim=True)
        normalised = (coefficients - mean) / torch.sqrt(variance + 1e-8)  # zero mean, unit variance over time
        direction = F.normalize(normalised, dim=1, eps=1e-8)  # unit vector per frame
        similarity = 0.5 * (1.0 + torch.einsum("bcf,bcg->bfg", direction, direction))  # (batch, frames, frames)
        if not smooth:
            return similarity
        window = savgol_window(config.smoothing_s, sample_rate, config.hop_length, config.polyorder)
        return savgol_smooth_2d(similarity, window, config.polyorder)


def check_form(form: Any) -> str:
    """The form in upper case with spaces and hyphens removed ("a-b-a" -> "ABA"); letters only, two different at least."""
    if not isinstance(form, str):
        raise ValueError(f"structure form {form!r} is not a string; expected letters such as 'ABA', 'ABAB', 'AABA'")
    letters = re.sub(r"[\s\-]", "", form).upper()
    if not letters:
        raise ValueError(f"structure form {form!r} is empty; expected letters such as 'ABA', 'ABAB', 'AABA'")
    bad = [c for c in letters if not ("A" <= c <= "Z")]
    if bad:
        raise ValueError(f"structure form {form!r} contains {bad[0]!r}; expected only letters A-Z, e.g. 'ABA'")
    if len(set(letters)) < 2:
        # Features are normalised over time (zero mean), so frames cannot all be alike: a one-letter form
        # (an all-ones target) is unreachable by construction.
        raise ValueError(f"structure form {form!r} has a single section letter; expected at least two, e.g. 'AB'")
    return letters


def section_labels(
    form: str,
    num_frames: int,
    num_samples: int,
    sample_rate: int,
    hop_length: int,
    boundaries: Sequence[float] | None = None,
    boundaries_s: Sequence[float] | None = None,
) -> torch.Tensor:
    """Section letter index (0 = A) of every frame (frames,); sections are equal unless boundaries are given.

    boundaries: the len(form) - 1 section starts after the first, as fractions of the clip;
    boundaries_s: the same in seconds (sections past the clip end are cut off).
    """
    frame_s = torch.arange(num_frames, dtype=torch.float64) * hop_length / sample_rate  # frame centres
    if boundaries_s is not None:
        position, edges = frame_s, torch.as_tensor(boundaries_s, dtype=torch.float64)
    else:
        position = frame_s / (num_samples / sample_rate)
        if boundaries is None:
            edges = torch.arange(1, len(form), dtype=torch.float64) / len(form)
        else:
            edges = torch.as_tensor(boundaries, dtype=torch.float64)
    section = torch.searchsorted(edges, position, right=True)  # (frames,)
    letter_index = torch.tensor([ord(letter) - ord("A") for letter in form])
    return letter_index[section]


def form_self_similarity(labels: torch.Tensor) -> torch.Tensor:
    """Target self-similarity (frames, frames) of per-frame section labels: 1 inside the same letter, else 0."""
    return (labels[:, None] == labels[None, :]).float()


def _check_boundaries(form: str, boundaries: Any, name: str) -> tuple[float, ...]:
    """Validated interior section starts: len(form) - 1 strictly increasing fractions in (0, 1) or seconds > 0."""
    try:
        values = [float(value) for value in boundaries]
    except (TypeError, ValueError):
        raise ValueError(f"structure {name} {boundaries!r} is not a sequence of numbers") from None
    if len(values) != len(form) - 1:
        raise ValueError(f"structure {name} {values} has {len(values)} values; form {form!r} needs "
                         f"{len(form) - 1} (the start of every section after the first)")
    high = 1.0 if name == "boundaries" else math.inf
    for value in values:
        if not (math.isfinite(value) and 0.0 < value < high):
            expected = "fractions strictly between 0 and 1" if name == "boundaries" else "positive finite seconds"
            raise ValueError(f"structure {name} value {value} is out of range; expected {expected}")
    if any(later <= earlier for earlier, later in zip(values, values[1:])):
        raise ValueError(f"structure {name} {values} are not strictly increasing")
    return tuple(values)


class Structure(Objective):
    """Structure objective (DITTO): MSE between the smoothed MFCC self-similarity and a target self-similarity.

    The target is the block matrix of a form string (frames of the same letter → 1, else 0), smoothed by the
    same 2-D Savitzky–Golay filter as the feature so that audio with exactly that structure can reach ~0 and
    the error measures sections, not the smoothing's blur. metric: {"structure_mse": the MSE, batch mean}.
    """

    def __init__(
        self,
        form: str | None,
        *,
        boundaries: Sequence[float] | None = None,
        boundaries_s: Sequence[float] | None = None,
        config: StructureConfig | None = None,
        reference_similarity: torch.Tensor | None = None,
    ):
        self.config = config or StructureConfig()
        self.reference_similarity = reference_similarity  # (frames, frames): from_audio's target instead of a form
        if reference_similarity is None:
            self.form: str | None = check_form(form)
        elif form is None and boundaries is None and boundaries_s is None:
            self.form = None
        else:
            raise ValueError(f"got form {form!r} and a reference_similarity; give a form or a reference, not both")
        if boundaries is not None and boundaries_s is not None:
            raise ValueError(f"got boundaries {list(boundaries)} and boundaries_s {list(boundaries_s)}; give one")
        self.boundaries = None if boundaries is None else _check_boundaries(self.form, boundaries, "boundaries")
        self.boundaries_s = None if boundaries_s is None else _check_boundaries(self.form, boundaries_s, "boundaries_s")
        self._targets: dict[tuple[int, int, int, str], torch.Tensor] = {}

    @classmethod
    def from_audio(cls, audio: Any, sample_rate: int, *, config: StructureConfig | None = None) -> Structure:
        """Target = the reference clip's own smoothed self-similarity, resized (bilinear) to each clip's frames."""
        config = config or StructureConfig()
        reference = single_reference(audio, config.n_fft)
        similarity = mfcc_self_similarity(reference, sample_rate, config)[0].float()  # (frames, frames)
        return cls(None, config=config, reference_similarity=similarity)

    def target_similarity(self, num_frames: int, num_samples: int, sample_rate: int,
                          device: torch.device | str = "cpu") -> torch.Tensor:
        """Smoothed target self-similarity (frames, frames) for a clip of num_samples samples and num_frames frames."""
        key = (num_frames, num_samples, sample_rate, str(device))
        if key not in self._targets:
            if self.reference_similarity is not None:
                target = F.interpolate(self.reference_similarity[None, None], size=(num_frames, num_frames),
                                       mode="bilinear", align_corners=True)[0, 0]
            else:
                labels = section_labels(self.form, num_frames, num_samples, sample_rate, self.config.hop_length,
                                        self.boundaries, self.boundaries_s)
                window = savgol_window(self.config.smoothing_s, sample_rate, self.config.hop_length,
                                       self.config.polyorder)
                target = savgol_smooth_2d(form_self_similarity(labels), window, self.config.polyorder)
            self._targets = {key: target.to(device)}  # keep one: a 47 s target is 4096 × 4096 floats
        return self._targets[key]

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        audio = as_audio_batch(audio)
        similarity = mfcc_self_similarity(audio, sample_rate, self.config)  # (batch, frames, frames)
        target = self.target_similarity(similarity.shape[-1], audio.shape[-1], check_sample_rate(sample_rate),
                                        similarity.device)  # (frames, frames)
        return (similarity - target.to(similarity.dtype)).pow(2).mean(dim=(-2, -1))

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        with torch.no_grad():
            return {STRUCTURE_MSE.name: float(self(audio, sample_rate).mean())}

    def __repr__(self) -> str:
        if self.form is None:
            return f"Structure.from_audio({self.reference_similarity.shape[-1]} frames)"
        return f"Structure({self.form!r})"
