"""torch.compile on the device: Dynamo's device interface and Inductor's code generators.

Dynamo asks `torch._dynamo.device_interface.get_interface_for_device("hyperaccel")` for the
device's runtime (current device, streams, properties); Inductor asks the device module for its
`Scheduling` and wrapper code generators (`torch.hyperaccel.Scheduling`, ...; see `module.py`).

Device memory is host memory, so Inductor's CPU back end serves the chip unchanged: its C++
kernels take the tensors' data pointers, which point at the chip's bytes, and the Python wrapper
allocates buffers with `empty_strided(..., device="hyperaccel")`, counted like any device tensor.
Matmuls and other extern kernels stay device ops (the chip's kernels or the CPU fallback).

Importing torch._dynamo costs about a second, so `register()` does not: `install()` registers the
interface at once if Dynamo is already loaded, otherwise the moment Python imports it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch

from sglang_hyperaccel.after_import import after_import
from sglang_hyperaccel.names import DEVICE_TYPE

_TARGET = "torch._dynamo.device_interface"


@dataclass(frozen=True)
class CompileDeviceProperties:
    """What Inductor reads of a device: the chip's name and memory, and the parallelism its kernels
    get, which is the host's cores (Inductor's CPU kernels run there, as for `cpu`)."""

    name: str
    total_memory: int
    multi_processor_count: int


def _properties(device: torch.types.Device = None) -> CompileDeviceProperties:
    chip = getattr(torch, DEVICE_TYPE).get_device_properties(device)
    return CompileDeviceProperties(chip.name, chip.total_memory, os.cpu_count() or 1)


def _interface() -> type:
    """The DeviceInterface subclass for the chip (built on first use: it subclasses Dynamo's)."""
    from torch._dynamo.device_interface import DeviceInterface

    module = getattr(torch, DEVICE_TYPE)  # module.py, installed by register() before install()

    class HyperaccelInterface(DeviceInterface):
        """Dynamo's view of `torch.hyperaccel`; work is synchronous, so streams are trivial."""

        device = module.device
        Event = torch.Event
        Stream = torch.Stream

        class Worker:
            @staticmethod
            def set_device(device: int) -> None:
                module.set_device(device)

            @staticmethod
            def current_device() -> int:
                return module.current_device()

            get_device_properties = staticmethod(_properties)

        current_device = staticmethod(module.current_device)
        set_device = staticmethod(module.set_device)
        device_count = staticmethod(module.device_count)
        is_available = staticmethod(module.is_available)
        synchronize = staticmethod(module.synchronize)
        current_stream = staticmethod(module.current_stream)
        set_stream = staticmethod(module.set_stream)
        stream = staticmethod(module.stream)
        get_device_properties = staticmethod(_properties)
        memory_allocated = staticmethod(module.memory_allocated)
        is_bf16_supported = staticmethod(module.is_bf16_supported)

        @staticmethod
        def maybe_exchange_device(device: int) -> int:
            previous = module.current_device()
            if 0 <= device < module.device_count():
                module.set_device(device)
            return previous

        exchange_device = maybe_exchange_device

        @staticmethod
        def get_raw_stream(device_idx: int) -> int:
            return 0

        @staticmethod
        def get_compute_capability(device: torch.types.Device = None) -> str:
            return ""

        @staticmethod
        def is_triton_capable(device: torch.types.Device = None) -> bool:
            return False

    return HyperaccelInterface


def _register(device_interface: ModuleType) -> None:
    device_interface.register_interface_for_device(DEVICE_TYPE, _interface())


def install() -> None:
    """Register the chip's Dynamo device interface now or when Dynamo is imported; once."""
    after_import(_TARGET, _register)


def compile_backend(graph: Any, example_inputs: Any, **kwargs: Any) -> Any:
    """The Dynamo backend `hyperaccel` (entry point `torch_dynamo_backends`): Inductor, whose code
    generators for the chip `inductor_codegen` provides. `torch.compile(backend="inductor")` is the
    same; the name is the one PyTorch's reference backend gives its device's."""
    from torch._inductor.compile_fx import compile_fx

    return compile_fx(graph, example_inputs, **kwargs)


@functools.cache
def _python_wrapper() -> type:
    """Inductor's Python wrapper, calling the chip's C++ kernels as it calls the CPU's."""
    from torch._inductor.codegen.wrapper import PythonWrapperCodegen

    class HyperaccelPythonWrapperCodegen(PythonWrapperCodegen):
        @staticmethod
        def create(is_subgraph: bool, subgraph_name: Any, parent_wrapper: Any,
                   partition_signatures: Any = None) -> PythonWrapperCodegen:
            if is_subgraph:
                return PythonWrapperCodegen.create(is_subgraph, subgraph_name, parent_wrapper,
                                                   partition_signatures)
            return HyperaccelPythonWrapperCodegen()

        def _generate_kernel_call_helper(self, kernel_name: str, call_args: Any, *, device: Any = None,
                                         triton: bool = True, **kwargs: Any) -> None:
            # The base class writes plain calls only for cpu and mps and raises for others.
            if device is not None and device.type == DEVICE_TYPE and not triton:
                self.writeline(self.wrap_kernel_call(kernel_name, call_args))
                return
            super()._generate_kernel_call_helper(kernel_name, call_args, device=device, triton=triton,
                                                 **kwargs)

    return HyperaccelPythonWrapperCodegen


@functools.cache
def _kernels_are_cpp() -> None:
    """Make Inductor's `get_current_backend()` answer the CPU's back end (`cpp`) for the chip.

    Hook on PyTorch (2.14): `torch._inductor.utils.get_current_backend` answers
    `config.cuda_backend` ("triton") for every device it does not know, and the kernel code
    generators ask it which dtype rules and checks apply; with "triton" the C++ kernels lose the
    dtypes of their variables (the embedding lookup failed with `expected var.dtype is not None`).
    Replaced where it is looked up at call time for devices other than CUDA and XPU (`utils`,
    `codegen.common`); remove when PyTorch asks the device's registered back end instead.
    """
    from torch._inductor import config, utils
    from torch._inductor.codegen import common

    original = utils.get_current_backend

    def get_current_backend(device_type: str | None = None) -> str:
        if device_type is None:
            from torch._inductor.virtualized import V

            device_type = V.graph.get_current_device_or_throw().type
        return config.cpu_backend if device_type == DEVICE_TYPE else original(device_type)

    utils.get_current_backend = get_current_backend
    common.get_current_backend = get_current_backend


@functools.cache
def _install_inductor() -> None:
    """Once per process: the chip's device-op overrides and the two Inductor patches (ledger:
    `platform/patches.py`)."""
    from torch._inductor import config
    from torch._inductor.codegen.common import register_device_op_overrides
    from torch._inductor.codegen.cpu_device_op_overrides import CpuDeviceOpOverrides

    register_device_op_overrides(DEVICE_TYPE, CpuDeviceOpOverrides())
    _kernels_are_cpp()
    # The scheduler re-indexes fused loops only for devices other than "cpu", assuming they use the
    # GPU (SIMD) loop grouping; the C++ kernels' grouping breaks it (TypeError in
    # _try_reindex_pointwise_for_reduction). An optimisation only, off for the whole process: the
    # one global Inductor setting this package changes, and only once hyperaccel is compiled for.
    config.loop_reindexing_after_fusion = False


def inductor_codegen(name: str) -> Any:
    """Inductor's CPU code generator `name` for the chip (looked up through `torch.hyperaccel`).

    Also gives the chip the CPU's device-op overrides (no streams, no device guards in the
    generated code), which Inductor asks for once it generates the wrapper.
    """
    _install_inductor()
    if name == "Scheduling":
        from torch._inductor.codegen.cpp import CppScheduling

        return CppScheduling
    if name == "PythonWrapperCodegen":
        return _python_wrapper()
    if name == "CppWrapperCodegen":
        from torch._inductor.codegen.cpp_wrapper_cpu import CppWrapperCpu

        return CppWrapperCpu
    if name == "WrapperFxCodegen":
        from torch._inductor.codegen.wrapper_fxir import WrapperFxCodegen

        return WrapperFxCodegen
    raise AttributeError(name)
