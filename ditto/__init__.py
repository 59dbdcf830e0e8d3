"""ditto: DITTO (Diffusion Inference-Time T-Optimization, Novack et al. 2024) for Stable Audio Open.

Control a text-to-music diffusion model without training it: optimize the initial noise x_T so that a
differentiable feature of the decoded audio matches a target, backpropagating through the whole sampling chain.
"""

from . import openmp

openmp.set_default()  # first: libgomp reads OMP_WAIT_POLICY once, when torch loads (ditto/openmp.py)

from . import audio, sampling  # noqa: E402
from .audio import read_audio, write_audio
from .config import OptimizerConfig, RunSettings, SamplerConfig, SpeedConfig, StartSettings
from .generation import Conditioning, build_conditioning, decode, encode, generate, sample_latents
from .loading import Model, ModelLoadError, load_model, save_model
from . import optimize as optimize_module
from . import methods
from .methods import best_of_n, guide
from .optimize import OptimizationError, OptimizationState, Result, load_state, optimize, save_state
from . import editing
from .editing import Edited, Extension, extend, inpaint, loop, outpaint

__all__ = [
    "Conditioning", "Edited", "Extension", "Model", "ModelLoadError", "OptimizationError", "OptimizationState", "OptimizerConfig",
    "Result", "RunSettings", "SamplerConfig", "SpeedConfig", "StartSettings", "audio", "best_of_n", "build_conditioning", "decode", "encode",
    "editing", "extend", "generate", "guide", "inpaint", "load_model", "loop", "outpaint", "load_state", "optimize", "optimize_module", "read_audio",
    "sample_latents", "sampling", "save_model", "save_state", "write_audio",
]
