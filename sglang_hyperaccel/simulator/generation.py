"""A whole generation (prefill, then decode step by step) summarised the way the paper reports it.

`ms_per_token` is the mean time of the decode steps (the paper's latency per output token; the
first output token comes from the prefill and is reported as `ttft_ms`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .errors import DoesNotFitError, SimulatorError
from .records import COMPUTE, MEMORY, OPERATORS, StepTime, gib
from .step_model import Simulator


@dataclass(frozen=True)
class GenerationResult:
    """Latency, throughput and utilisation of `batch` requests generating `output_len` tokens.

    Per request: `ms_per_token` (mean decode step), `ttft_ms` (the prefill step, which also
    samples the first token), `e2e_ms`. For the batch: `tokens_per_s` (decode throughput,
    batch / step time) and `e2e_tokens_per_s` (all output tokens over the whole run).
    `bandwidth_utilization` is decode bytes moved over (decode time x peak bandwidth), the
    fraction of the bandwidth roofline reached. `bound` is what dominates the decode steps.
    """

    model: str
    chip: str
    devices: int
    batch: int
    input_len: int
    output_len: int
    ms_per_token: float
    tokens_per_s: float
    ttft_ms: float
    e2e_ms: float
    e2e_tokens_per_s: float
    bandwidth_utilization: float
    floor_ms_per_token: float
    bound: str
    prefill_bound: str
    weight_bytes_per_device: float
    kv_bytes_per_device: float
    memory_bytes_per_device: int
    decode_breakdown_ms: Mapping[str, float] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's --json line)."""
        out = asdict(self)
        out["decode_breakdown_ms"] = dict(self.decode_breakdown_ms)
        return out


def generate(sim: Simulator, batch: int, input_len: int, output_len: int) -> GenerationResult:
    """Prefill `batch` prompts of `input_len` tokens on `sim`, then decode to `output_len` tokens each.

    Raises SimulatorError for a bad argument and DoesNotFitError when weights plus the final KV
    cache exceed device memory.
    """
    for label, value, least in (("batch", batch, 1), ("input_len", input_len, 1),
                                ("output_len", output_len, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise SimulatorError(f"{label} must be an integer >= {least}, got {value!r}")
    model, chip = sim.model, sim.chip
    kv_per_device = sim.kv_bytes_per_token * batch * (input_len + output_len)
    if sim.weight_bytes_per_device + kv_per_device > chip.memory_bytes:
        raise DoesNotFitError(
            f"{model.name} on {sim.devices} x {chip.name}: {gib(sim.weight_bytes_per_device)} of "
            f"weights + {gib(kv_per_device)} of KV cache (batch {batch} x "
            f"{input_len + output_len} tokens) per device exceed its {gib(chip.memory_bytes)}")

    prefill = sim.uniform(batch, input_len, 0)
    steps = output_len - 1
    decode_s = decode_b = floor_s = compute_s = 0.0
    op_s = dict.fromkeys(OPERATORS, 0.0)
    step: StepTime
    for k in range(steps):
        kv = input_len + k  # the prompt and the k tokens fed before this step
        step = sim.uniform(batch, 1, kv)
        decode_s += step.total_s
        decode_b += step.bytes_moved
        floor_s += step.floor_s
        if step.bound == COMPUTE:
            compute_s += step.total_s
        for op in step.ops:
            op_s[op.name] += op.time_s
    if steps:
        per_token = decode_s / steps
        utilization = decode_b / (decode_s * chip.memory_bandwidth)
        floor_per_token = floor_s / steps
        breakdown = {name: 1e3 * value / steps for name, value in op_s.items()}
    else:  # one output token: the prefill is the whole generation
        per_token = prefill.total_s
        utilization = prefill.bytes_moved / (prefill.total_s * chip.memory_bandwidth)
        floor_per_token = prefill.floor_s
        breakdown = {op.name: 1e3 * op.time_s for op in prefill.ops}
        decode_s = 0.0
        compute_s = prefill.total_s if prefill.bound == COMPUTE else 0.0
    e2e_s = prefill.total_s + decode_s
    return GenerationResult(
        model=model.name, chip=chip.name, devices=sim.devices, batch=batch,
        input_len=input_len, output_len=output_len,
        ms_per_token=1e3 * per_token,
        tokens_per_s=batch / per_token,
        ttft_ms=1e3 * prefill.total_s,
        e2e_ms=1e3 * e2e_s,
        e2e_tokens_per_s=batch * output_len / e2e_s,
        bandwidth_utilization=utilization,
        floor_ms_per_token=1e3 * floor_per_token,
        bound=COMPUTE if compute_s > 0.5 * (decode_s or prefill.total_s) else MEMORY,
        prefill_bound=prefill.bound,
        weight_bytes_per_device=sim.weight_bytes_per_device,
        kv_bytes_per_device=kv_per_device,
        memory_bytes_per_device=chip.memory_bytes,
        decode_breakdown_ms=breakdown,
    )
