"""Melody control (DITTO §4, after Music ControlNet): log high-passed chromagram, NLL of the top-note pitch class."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import librosa
import mido
import numpy as np
import torch
import torch.nn.functional as F
import torchaudio.functional as AF
from torch import nn

from .base import Objective, as_audio_batch, check_sample_rate, single_reference
from .metrics import declare_metric

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
NO_MELODY = -1  # target value of frames without a sounding note; ignored by the loss and the accuracy

MELODY_ACCURACY = declare_metric(
    "melody_accuracy", higher_is_better=True, unit="%",
    description="percent of melody frames whose chroma argmax is the target pitch class (DITTO's melody metric)")


@dataclasses.dataclass(frozen=True)
class MelodyConfig:
    """Hyperparameters of the melody feature."""

    n_fft: int = 2048  # STFT size (periodic Hann window of the same length)
    hop_length: int = 512  # samples between frame centres (86 frames/s at 44.1 kHz)
    highpass_hz: float = 261.2  # biquad high-pass cutoff (DITTO / Music ControlNet: removes bass below middle C)
    highpass_q: float = 0.707  # biquad Q (torchaudio.functional.highpass_biquad default)
    log_floor: float = 1e-10  # added to chroma energies before the log, so silent frames give a uniform class
    silence_db: float = 60.0  # from_audio: frames this far below the loudest frame's chroma energy are no-melody

    def __post_init__(self):
        for name in ("n_fft", "hop_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} {getattr(self, name)} is invalid; expected a positive number of samples")
        if not self.highpass_hz >= 0:
            raise ValueError(f"highpass_hz {self.highpass_hz} is invalid; expected 0 (off) or a cutoff in Hz")


class Note(NamedTuple):
    """One note of a melody target: seconds from the clip start, MIDI pitch (60 = C4)."""

    start_s: float
    end_s: float
    pitch: int


def highpass(audio: torch.Tensor, sample_rate: int, cutoff_hz: float = 261.2, q: float = 0.707) -> torch.Tensor:
    """Biquad high-pass (RBJ cookbook, the coefficients of torchaudio's highpass_biquad) along the last dim.

    Unlike highpass_biquad this does not clamp the output to [-1, 1], so loud audio keeps its gradients.
    """
    w0 = 2.0 * math.pi * cutoff_hz / sample_rate
    alpha = math.sin(w0) / (2.0 * q)
    b = torch.tensor([(1 + math.cos(w0)) / 2, -1 - math.cos(w0), (1 + math.cos(w0)) / 2])
    a = torch.tensor([1 + alpha, -2 * math.cos(w0), 1 - alpha])
    return AF.lfilter(audio, a.to(audio), b.to(audio), clamp=False)


class ChromaExtractor(nn.Module):
    """Chromagram of the (optionally high-passed) mono mixdown: librosa's chroma filterbank on an STFT power spectrum.

    Matches librosa.feature.chroma_stft(tuning=0, norm=None, center=True, pad_mode="constant") up to float error.
    The filterbank (librosa.filters.chroma) and the window are buffers, so .to(device) moves them.
    """

    def __init__(self, sample_rate: int, n_fft: int = 2048, hop_length: int = 512, highpass_hz: float | None = 261.2,
                 highpass_q: float = 0.707):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.n_fft, self.hop_length = n_fft, hop_length
        self.highpass_hz, self.highpass_q = highpass_hz, highpass_q
        filterbank = librosa.filters.chroma(sr=self.sample_rate, n_fft=n_fft, tuning=0.0)  # (12, n_fft // 2 + 1)
        self.register_buffer("filterbank", torch.from_numpy(filterbank).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Chroma energies (batch, 12, frames), frames = 1 + samples // hop_length; pitch class 0 is C."""
        x = as_audio_batch(audio).mean(dim=1)  # (batch, samples)
        with torch.autocast(x.device.type, enabled=False):
            if self.highpass_hz:
                x = highpass(x, self.sample_rate, self.highpass_hz, self.highpass_q)
            spectrum = torch.stft(
                x,
                self.n_fft,
                self.hop_length,
                window=self.window.to(x),
                center=True,
                pad_mode="constant",
                return_complex=True,
            )  # (batch, freqs, frames)
            power = torch.view_as_real(spectrum).pow(2).sum(dim=-1)  # (batch, freqs, frames), safe gradient at 0
            return torch.einsum("cf,bft->bct", self.filterbank.to(power), power)


@functools.lru_cache(maxsize=16)
def _chroma_extractor(sample_rate: int, n_fft: int, hop_length: int, highpass_hz: float | None, highpass_q: float,
                      device: str) -> ChromaExtractor:
    return ChromaExtractor(sample_rate, n_fft, hop_length, highpass_hz, highpass_q).to(device)


def chroma(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    highpass_hz: float | None = 261.2,
    highpass_q: float = 0.707,
) -> torch.Tensor:
    """Chroma energies (batch, 12, frames) of the mono mixdown, high-passed at highpass_hz (None: no high-pass).

    A cached ChromaExtractor per (settings, device) holds the filterbank.
    """
    audio = as_audio_batch(audio)
    extractor = _chroma_extractor(check_sample_rate(sample_rate), n_fft, hop_length, highpass_hz, highpass_q,
                                  str(audio.device))
    return extractor(audio)


def melody_log_probs(audio: torch.Tensor, sample_rate: int, config: MelodyConfig | None = None) -> torch.Tensor:
    """DITTO melody feature: log-softmax over pitch classes of the log high-passed chromagram. (batch, 12, frames).

    log_softmax(log(chroma + floor)) = log of the chroma normalised per frame to a distribution over 12 classes.
    """
    config = config or MelodyConfig()
    energies = chroma(audio, sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                      highpass_hz=config.highpass_hz, highpass_q=config.highpass_q)  # (batch, 12, frames)
    return torch.log_softmax(torch.log(energies + config.log_floor), dim=1)


def melody_targets(notes: Iterable[Note], num_frames: int, sample_rate: int, hop_length: int) -> torch.Tensor:
    """Target pitch class per frame (frames,), int64: the highest note sounding at the frame centre, else NO_MELODY.

    Frame f is centred at f * hop_length / sample_rate seconds (center=True framing); a note covers [start_s, end_s).
    """
    top_pitch = np.full(num_frames, NO_MELODY, dtype=np.int64)
    frames_per_s = sample_rate / hop_length
    for start_s, end_s, pitch in notes:
        first = max(math.ceil(start_s * frames_per_s - 1e-9), 0)
        stop = min(math.ceil(end_s * frames_per_s - 1e-9), num_frames)
        if first < stop:
            top_pitch[first:stop] = np.maximum(top_pitch[first:stop], pitch)
    return torch.from_numpy(np.where(top_pitch >= 0, top_pitch % 12, NO_MELODY))


_NOTE_NAME = re.compile(r"^([A-Ga-g])([#b]*)(-?\d+)$")
_REST = ("r", "rest")


def pitch_from_name(name: str) -> int:
    """MIDI pitch of a note name such as "C4" (60), "F#3", "Bb4", "Ebb5", or of a MIDI number such as "60"."""
    text = name.strip()
    if re.fullmatch(r"\d+", text):
        pitch = int(text)
    else:
        match = _NOTE_NAME.match(text)
        if match is None:
            raise ValueError(f"cannot parse note name {name!r}; expected a letter A-G, optional #/b, an octave "
                             "(C4 = 60), or a MIDI number 0-127")
        letter, accidentals, octave = match.groups()
        pitch = (12 * (int(octave) + 1) + PITCH_CLASSES.index(letter.upper())
                 + accidentals.count("#") - accidentals.count("b"))
    if not 0 <= pitch <= 127:
        raise ValueError(f"note {name!r} is MIDI pitch {pitch}, outside 0-127")
    return pitch


def parse_notes(text: str) -> tuple[Note, ...]:
    """Notes of a text melody "C4:0.5 E4:0.5 r:0.25 G4:1": NAME:SECONDS tokens played one after another.

    NAME is a note name with octave (C4 = MIDI 60; sharps "F#3", flats "Bb4"), a MIDI number ("60"),
    or r / rest for silence. Tokens are separated by spaces or commas.
    """
    notes: list[Note] = []
    time_s = 0.0
    tokens = [token for token in re.split(r"[\s,]+", text.strip()) if token]
    if not tokens:
        raise ValueError(f"note list {text!r} is empty; expected tokens like 'C4:0.5 E4:0.5 r:0.25 G4:1'")
    for token in tokens:
        name, colon, duration_text = token.partition(":")
        try:
            if not colon:
                raise ValueError("no ':'")
            duration_s = float(duration_text)
            pitch = None if name.lower() in _REST else pitch_from_name(name)
        except ValueError:
            raise ValueError(f"cannot parse note {token!r} in note list; expected NAME:SECONDS such as 'C4:0.5', "
                             "'F#3:1', 'Bb4:0.25', '60:0.5' or 'r:0.25'") from None
        if not math.isfinite(duration_s) or duration_s <= 0:
            raise ValueError(f"note {token!r} has duration {duration_s}; expected a positive number of seconds")
        if pitch is not None:
            notes.append(Note(time_s, time_s + duration_s, pitch))
        time_s += duration_s
    if not notes:
        raise ValueError(f"note list {text!r} holds only rests; expected at least one note")
    return tuple(notes)


def check_notes(notes: Iterable[Any]) -> tuple[Note, ...]:
    """Validated notes from (start_s, end_s, pitch) triples; pitch may be a MIDI number or a name such as "C4"."""
    checked: list[Note] = []
    for item in notes:
        try:
            start_s, end_s, pitch = item
        except (TypeError, ValueError):
            raise ValueError(f"note {item!r} is not a (start_s, end_s, midi_pitch) triple") from None
        if isinstance(pitch, str):
            pitch = pitch_from_name(pitch)
        for name, value in (("start_s", start_s), ("end_s", end_s)):
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise ValueError(f"note {item!r} has {name} {value!r}; expected a finite number of seconds")
        if start_s < 0:
            raise ValueError(f"note {item!r} starts at {start_s} s; expected a start of 0 s or later")
        if end_s <= start_s:
            raise ValueError(f"note {item!r} has duration {end_s - start_s} s; expected end_s after start_s")
        if isinstance(pitch, (float, np.floating)) and float(pitch).is_integer():
            pitch = int(pitch)
        if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)) or not 0 <= pitch <= 127:
            raise ValueError(f"note {item!r} has pitch {pitch!r}; expected a MIDI number 0-127 or a name like 'C4'")
        checked.append(Note(float(start_s), float(end_s), int(pitch)))
    if not checked:
        raise ValueError("melody note list is empty; expected at least one (start_s, end_s, midi_pitch) note")
    return tuple(checked)


def notes_from_midi(path: str | Path, *, include_drums: bool = False) -> tuple[Note, ...]:
    """Notes of every track of a MIDI file, in seconds (tempo changes applied by mido).

    Channel 10 (index 9, General MIDI drums) is skipped unless include_drums.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"MIDI file {str(path)!r} does not exist; expected the path of a .mid file")
    try:
        midi = mido.MidiFile(path)
        messages = list(midi)  # merged tracks, msg.time = seconds since the previous message
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f"cannot read MIDI file {str(path)!r}: {error}") from None
    notes: list[Note] = []
    sounding: dict[tuple[int, int], list[float]] = defaultdict(list)  # (channel, pitch) -> start times
    time_s = 0.0
    for message in messages:
        time_s += message.time
        if message.type not in ("note_on", "note_off") or (message.channel == 9 and not include_drums):
            continue
        key = (message.channel, message.note)
        if message.type == "note_on" and message.velocity > 0:
            sounding[key].append(time_s)
        elif sounding[key]:
            start_s = sounding[key].pop(0)
            if time_s > start_s:
                notes.append(Note(start_s, time_s, message.note))
    for (channel, pitch), starts in sounding.items():  # notes never released end with the file
        notes.extend(Note(start_s, time_s, pitch) for start_s in starts if time_s > start_s)
    if not notes:
        raise ValueError(f"MIDI file {str(path)!r} has no notes" + ("" if include_drums else " outside the drum channel"))
    return tuple(sorted(notes))


class Melody(Objective):
    """Melody objective (DITTO): NLL of the target top-note pitch class under melody_log_probs, per frame.

    Frames without a sounding note (and frames past the last note) are ignored; notes past the clip end are
    truncated. metric: {"melody_accuracy": percent of melody frames whose chroma argmax is the target class}.
    """

    def __init__(self, notes: Iterable[Any], *, config: MelodyConfig | None = None):
        self.notes = check_notes(notes)
        self.config = config or MelodyConfig()
        self._targets: dict[tuple[int, int], torch.Tensor] = {}

    @classmethod
    def from_notes(cls, notes: str | Iterable[Any], *, config: MelodyConfig | None = None) -> Melody:
        """Target from (start_s, end_s, midi_pitch) notes, or from text such as "C4:0.5 E4:0.5 r:0.25 G4:1"."""
        if isinstance(notes, str):
            return cls.from_text(notes, config=config)
        return cls(notes, config=config)

    @classmethod
    def from_text(cls, text: str, *, config: MelodyConfig | None = None) -> Melody:
        """Target from a text note list (see parse_notes)."""
        return cls(parse_notes(text), config=config)

    @classmethod
    def from_midi(cls, path: str | Path, *, include_drums: bool = False, config: MelodyConfig | None = None) -> Melody:
        """Target = the highest sounding note of a MIDI file per frame (see notes_from_midi)."""
        return cls(notes_from_midi(path, include_drums=include_drums), config=config)

    @classmethod
    def from_audio(cls, audio: Any, sample_rate: int, *, config: MelodyConfig | None = None) -> Melody:
        """Target = the argmax pitch class of the reference's high-passed chroma per frame.

        Frames whose chroma energy is more than config.silence_db below the loudest frame's are no-melody.
        Each frame becomes a one-frame note (octave 4: chroma carries no octave).
        """
        config = config or MelodyConfig()
        sample_rate = check_sample_rate(sample_rate)
        reference = single_reference(audio, config.n_fft)
        energies = chroma(reference, sample_rate, n_fft=config.n_fft, hop_length=config.hop_length,
                          highpass_hz=config.highpass_hz, highpass_q=config.highpass_q)[0]  # (12, frames)
        frame_energy = energies.sum(dim=0).cpu().numpy()  # (frames,)
        threshold = max(float(frame_energy.max()) * 10.0 ** (-config.silence_db / 10.0), 1e-8)
        pitch_class = energies.argmax(dim=0).cpu().numpy()  # (frames,)
        frame_s = config.hop_length / sample_rate
        notes = [
            Note(max(frame - 0.5, 0.0) * frame_s, (frame + 0.5) * frame_s, 60 + int(pitch_class[frame]))
            for frame in np.flatnonzero(frame_energy > threshold)
        ]
        if not notes:
            raise ValueError("reference audio has no frames with melody energy (silent after the "
                             f"{config.highpass_hz} Hz high-pass); expected audible pitched content")
        return cls(notes, config=config)

    def targets(self, num_frames: int, sample_rate: int) -> torch.Tensor:
        """Target pitch class per frame (frames,) for a clip with num_frames feature frames; NO_MELODY = -1."""
        key = (num_frames, sample_rate)
        if key not in self._targets:
            self._targets[key] = melody_targets(self.notes, num_frames, sample_rate, self.config.hop_length)
        return self._targets[key]

    def _log_probs_and_targets(self, audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = melody_log_probs(audio, sample_rate, self.config)  # (batch, 12, frames)
        target = self.targets(log_probs.shape[-1], check_sample_rate(sample_rate)).to(log_probs.device)  # (frames,)
        if not (target != NO_MELODY).any():
            raise ValueError(f"melody target has no notes within the clip's {log_probs.shape[-1]} frames "
                             f"(first note at {self.notes[0].start_s} s); expected notes inside the clip")
        return log_probs, target

    def __call__(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        log_probs, target = self._log_probs_and_targets(audio, sample_rate)
        nll = F.nll_loss(log_probs, target.expand(log_probs.shape[0], -1), ignore_index=NO_MELODY,
                         reduction="none")  # (batch, frames), 0 on ignored frames
        return nll.sum(dim=-1) / (target != NO_MELODY).sum()

    def metric(self, audio: torch.Tensor, sample_rate: int) -> dict[str, float]:
        with torch.no_grad():
            log_probs, target = self._log_probs_and_targets(audio, sample_rate)
            melody_frames = target != NO_MELODY  # (frames,)
            correct = (log_probs.argmax(dim=1) == target) & melody_frames  # (batch, frames)
            accuracy = 100.0 * correct.sum() / (melody_frames.sum() * log_probs.shape[0])
            return {MELODY_ACCURACY.name: float(accuracy)}

    def __repr__(self) -> str:
        return f"Melody({len(self.notes)} notes, {self.notes[0].start_s:.2f}..{max(n.end_s for n in self.notes):.2f} s)"
