"""The LPU performance model: chip specs as data, a time model per forward batch, a what-if CLI.

Pure Python; imports nothing from SGLang or torch (matplotlib only for `--plot`).

    from sglang_hyperaccel.simulator import Simulator
    sim = Simulator("lpu", "opt-1.3b", devices=1)
    sim.decode([512, 40, 3000]).total_s                      # one decode step, three requests
    sim.extend([128, 1], [1024, 77]).breakdown               # prefill after a cache hit + decode
    sim.generate(batch=1, input_len=32, output_len=2016).ms_per_token

Calibration and sources: docs/simulator.md.
"""

from .chips import ChipSpec, LinkSpec, chip_from_env, get_chip, list_chips, register_chip
from .errors import DoesNotFitError, SimulatorError, UnknownNameError
from .generation import GenerationResult
from .models import ModelSpec, get_model, list_models, load_model
from .timing import OPERATORS, OpTime, RequestWork, Simulator, StepTime
from .trace import ChromeTrace

__all__ = [
    "ChipSpec", "LinkSpec", "chip_from_env", "get_chip", "list_chips", "register_chip",
    "DoesNotFitError", "SimulatorError", "UnknownNameError",
    "GenerationResult",
    "ModelSpec", "get_model", "list_models", "load_model",
    "OPERATORS", "OpTime", "RequestWork", "Simulator", "StepTime",
    "ChromeTrace",
]
