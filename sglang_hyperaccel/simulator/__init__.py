"""The LPU performance model: chip specs as data, a time model per forward batch, a what-if CLI.

Pure Python; imports nothing from SGLang, torch or the rest of this project (matplotlib only for
`--plot`): callers give it its inputs (the chip, its memory, the model's shapes).

    from sglang_hyperaccel.simulator import Simulator, generate
    sim = Simulator("lpu", "opt-1.3b", devices=1)
    sim.decode([512, 40, 3000]).total_s                      # one decode step, three requests
    sim.extend([128, 1], [1024, 77]).breakdown               # prefill after a cache hit + decode
    generate(sim, batch=1, input_len=32, output_len=2016).ms_per_token

Calibration and sources: docs/simulator.md.
"""

from .chips import ChipSpec, LinkSpec, get_chip, list_chips, register_chip
from .errors import DoesNotFitError, SimulatorError, UnknownNameError
from .generation import GenerationResult, generate
from .hosts import DEFAULT_HOST, OVERHEAD_MODES, HostOverhead, HostSpec, get_host, register_host
from .models import ModelSpec, MoESpec, dtype_bytes_of, get_model, list_models, load_model
from .records import OPERATORS, OpTime, RequestWork, StepTime
from .step_model import Simulator
from .trace import ChromeTrace

__all__ = [
    "ChipSpec", "LinkSpec", "get_chip", "list_chips", "register_chip",
    "DoesNotFitError", "SimulatorError", "UnknownNameError",
    "GenerationResult", "generate",
    "DEFAULT_HOST", "OVERHEAD_MODES", "HostOverhead", "HostSpec", "get_host", "register_host",
    "ModelSpec", "MoESpec", "dtype_bytes_of", "get_model", "list_models", "load_model",
    "OPERATORS", "OpTime", "RequestWork", "Simulator", "StepTime",
    "ChromeTrace",
]
