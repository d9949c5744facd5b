"""Chip specifications as data: every number carries its source.

A `ChipSpec` describes one device; a multi-device system is the same chip repeated and joined by
its `LinkSpec` (ESL for the LPU, NVLink for the GPU), so `Simulator(chip, model, devices=N)` is the
only way to build one. Fitted values say which calibration point fixed them; `docs/simulator.md`
lists them all and `python -m sglang_hyperaccel.simulator --parameters` prints the same table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping

from .errors import SimulatorError, UnknownNameError

GiB = 2**30


@dataclass(frozen=True)
class LinkSpec:
    """The peer link that joins devices for tensor parallelism, and what of it stays exposed.

    Each tensor-parallel synchronisation sends `payload` bytes per device. The link overlaps all
    but the last of `chunks` result chunks with compute (ESL's design; a GPU all-reduce after a
    GEMM has `chunks=1`, nothing overlapped), so the exposed time of one synchronisation over N
    devices is `(N - 1) * hop_latency_s + (N - 1) / N * payload / (bandwidth * chunks)`.
    """

    name: str
    hop_latency_s: float  # exposed latency per device hop of the last chunk
    bandwidth: float  # bytes/s per device, one direction
    chunks: int  # result chunks per synchronised output; all but the last overlap compute
    syncs_per_layer: int  # synchronisations per decoder layer (after attention, after the FFN)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.hop_latency_s < 0 or self.bandwidth <= 0:
            raise SimulatorError(f"link {self.name}: latency must be >= 0 and bandwidth > 0")
        if self.chunks < 1 or self.syncs_per_layer < 0:
            raise SimulatorError(f"link {self.name}: chunks must be >= 1, syncs_per_layer >= 0")


@dataclass(frozen=True)
class ChipSpec:
    """One device: memory, bandwidth, compute, fixed costs and the link to its peers.

    Times in seconds, rates per second, sizes in bytes. An operator takes
    `max(bytes / (memory_bandwidth * bandwidth_efficiency), flops / (peak_flops *
    compute_efficiency))` plus `op_overhead_s`; vector work (norms, softmax, sampling) runs at
    `vector_flops`. `memory_bytes` is the capacity of one device, which the emulated PyTorch
    device also reports.
    """

    name: str
    description: str
    memory_bytes: int
    memory_bandwidth: float
    bandwidth_efficiency: float
    peak_flops: float
    compute_efficiency: float
    vector_flops: float
    op_overhead_s: float
    max_devices: int
    link: LinkSpec
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.memory_bytes <= 0 or self.memory_bandwidth <= 0 or self.peak_flops <= 0:
            raise SimulatorError(f"chip {self.name}: memory, bandwidth and peak must be > 0")
        if self.vector_flops <= 0 or self.op_overhead_s < 0 or self.max_devices < 1:
            raise SimulatorError(f"chip {self.name}: bad vector rate, overhead or max_devices")
        for name in ("bandwidth_efficiency", "compute_efficiency"):
            value = getattr(self, name)
            # An efficiency above 1 would let a step beat the roofline, which nothing may do.
            if not 0 < value <= 1:
                raise SimulatorError(f"chip {self.name}: {name}={value} must be in (0, 1]")

    def with_memory(self, memory_bytes: int) -> ChipSpec:
        """The same chip with another capacity per device (SGLANG_HYPERACCEL_MEMORY)."""
        return dataclasses.replace(self, memory_bytes=int(memory_bytes))


# ---------------------------------------------------------------------------------------------
# HyperAccel LPU, the ASIC (arXiv 2408.07326). Fitted values come from
# `calibration.fit_lpu()`: bandwidth_efficiency and op_overhead_s to OPT-1.3B/1 LPU at
# 1.25 ms/token and OPT-66B/2 LPUs at 20.9 ms/token, ESL hop latency to OPT-13B's 5.43x at 8.
# ---------------------------------------------------------------------------------------------
ESL = LinkSpec(
    name="esl",
    hop_latency_s=0.0,
    bandwidth=25e9,
    chunks=8,
    syncs_per_layer=2,
    sources={
        "hop_latency_s": (
            "fitted: OPT-13B 1->8 LPUs at 5.43x (unverified anchor); the fixed per-operator costs "
            "alone give 5.44x, so the fit leaves no exposed latency: ESL hides it, as the paper says"
        ),
        "bandwidth": "assumption: 2 x 100 Gb/s ports per device, as the U55C prototype's QSFP28 cages",
        "chunks": "assumption: column chunks per FC output; ESL sends each while the next computes",
        "syncs_per_layer": "Megatron-style TP: one sync after attention, one after the FFN",
    },
)

LPU = ChipSpec(
    name="lpu",
    description="HyperAccel LPU ASIC (Samsung 4 nm), 4 x HBM3",
    memory_bytes=96 * GiB,
    memory_bandwidth=4 * 819.2e9,
    bandwidth_efficiency=1.0,
    peak_flops=4 * 819.2e9,
    compute_efficiency=1.0,
    vector_flops=0.25 * 4 * 819.2e9,
    op_overhead_s=2.05e-6,
    max_devices=64,
    link=ESL,
    sources={
        "memory_bytes": (
            "reasoned: 4 HBM3 stacks x 24 GiB (12-high, 16 Gb dies); 2 LPUs serve OPT-66B FP16, so "
            "one holds >= 65.7 GB of weights, which 4 x 16 GiB stacks cannot"
        ),
        "memory_bandwidth": "4 HBM3 stacks x 819.2 GB/s (6.4 Gb/s x 1024 bits, JESD238) = 3.28 TB/s",
        "bandwidth_efficiency": (
            "fitted: OPT-1.3B/1 LPU 1.25 ms and OPT-66B/2 LPUs 20.9 ms (abstract); the exact solve "
            "asks for 1.03, clamped to 1 (nothing beats the roofline)"
        ),
        "peak_flops": "paper design: MAC throughput matched to HBM bandwidth, 1 FLOP per weight byte",
        "compute_efficiency": "assumption: SMA streams operands straight into the SXE MAC trees",
        "vector_flops": "assumption: VXE at 1/4 of the SXE rate; below 0.5% of every calibration point",
        "op_overhead_s": (
            "fitted: OPT-1.3B/1 LPU 1.25 ms and OPT-66B/2 LPUs 20.9 ms (abstract), equal and "
            "opposite errors; 7 operators per layer"
        ),
        "max_devices": "assumption: ESL ring size; the paper scales to 8",
    },
)

LPU_FPGA = ChipSpec(
    name="lpu-fpga",
    description="LPU prototype on Xilinx Alveo U55C at 220 MHz, 16 GB HBM2 (Orion server)",
    memory_bytes=16 * GiB,
    memory_bandwidth=460e9,
    bandwidth_efficiency=LPU.bandwidth_efficiency,
    peak_flops=460e9,
    compute_efficiency=1.0,
    vector_flops=0.25 * 460e9,
    # Fixed costs are pipeline cycles: the ASIC's, stretched to 220 MHz from an assumed 1 GHz.
    op_overhead_s=LPU.op_overhead_s * (1e9 / 220e6),
    max_devices=8,
    link=dataclasses.replace(
        ESL,
        name="esl-qsfp28",
        bandwidth=12.5e9,
        sources={**ESL.sources, "bandwidth": "U55C QSFP28 port, 100 Gb/s (AMD DS978)"},
    ),
    sources={
        "memory_bytes": "U55C: 16 GB HBM2 (AMD DS978 / UG1393)",
        "memory_bandwidth": "U55C: 460 GB/s HBM2 (AMD DS978)",
        "bandwidth_efficiency": "assumption: the ASIC's fitted value (same SMA design); uncalibrated",
        "peak_flops": "paper design: MAC throughput matched to HBM bandwidth, 1 FLOP per weight byte",
        "compute_efficiency": "assumption, as the ASIC",
        "vector_flops": "assumption, as the ASIC (1/4 of the SXE rate)",
        "op_overhead_s": "assumption: ASIC's fitted cycles at 220 MHz (paper) vs an assumed 1 GHz ASIC",
        "max_devices": "Orion server: up to 8 cards (HyperAccel docs)",
    },
)

NVLINK4 = LinkSpec(
    name="nvlink4",
    hop_latency_s=8e-6,
    bandwidth=450e9,
    chunks=1,
    syncs_per_layer=2,
    sources={
        "hop_latency_s": "assumption: small-message NCCL all-reduce latency on NVLink, ~8 us",
        "bandwidth": "H100 SXM datasheet: NVLink 900 GB/s bidirectional = 450 GB/s per direction",
        "chunks": "a GPU all-reduce after the GEMM overlaps nothing",
        "syncs_per_layer": "Megatron-style TP: one all-reduce after attention, one after the FFN",
    },
)

H100 = ChipSpec(
    name="h100",
    description="NVIDIA H100 SXM5 80 GB (the paper's GPU baseline)",
    memory_bytes=80 * GiB,
    memory_bandwidth=3.35e12,
    bandwidth_efficiency=0.857,
    peak_flops=989.4e12,
    compute_efficiency=0.7,
    vector_flops=133.8e12,
    op_overhead_s=9.52e-6,
    max_devices=8,
    link=NVLINK4,
    sources={
        "memory_bytes": "H100 SXM datasheet: 80 GB HBM3",
        "memory_bandwidth": "H100 SXM datasheet: 3.35 TB/s",
        "bandwidth_efficiency": "fitted: GPU baselines implied by the abstract (1.25 x 2.09, 20.9 x 1.37 ms)",
        "peak_flops": "H100 SXM datasheet: 989.4 TFLOP/s FP16 tensor, dense",
        "compute_efficiency": "assumption: large cuBLAS GEMMs reach ~70% of dense peak",
        "vector_flops": "H100 whitepaper: 133.8 TFLOP/s FP16 non-tensor (SXM5)",
        "op_overhead_s": "fitted: GPU baselines implied by the abstract (1.25 x 2.09, 20.9 x 1.37 ms)",
        "max_devices": "HGX H100: 8 GPUs per NVSwitch node",
    },
)

_CHIPS: dict[str, ChipSpec] = {chip.name: chip for chip in (LPU, LPU_FPGA, H100)}


def list_chips() -> list[str]:
    """Names accepted by `get_chip`, in registry order."""
    return list(_CHIPS)


def get_chip(name: str) -> ChipSpec:
    """The chip registered under `name` (case-insensitive); UnknownNameError lists the known ones."""
    key = name.strip().lower()
    if key not in _CHIPS:
        raise UnknownNameError(f"unknown chip {name!r}; known chips: {', '.join(_CHIPS)}")
    return _CHIPS[key]


def register_chip(chip: ChipSpec) -> None:
    """Add or replace a chip in the registry (what-if studies, tests)."""
    _CHIPS[chip.name.lower()] = chip

