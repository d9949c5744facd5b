"""`HyperAccelPlatform`: what SGLang asks of a device, answered for the emulated LPU.

Loaded lazily by SGLang from the dotted path `activate()` returns, while `sglang.srt.utils.common`
is only partly initialised: import only `platforms.interface`/`device_mixin` at module level.
"""

from __future__ import annotations

import logging
from typing import Any

from sglang.srt.platforms.device_mixin import DeviceMixin, PlatformEnum
from sglang.srt.platforms.interface import PlatformCapabilities, SRTPlatform

from sglang_hyperaccel.names import ATTENTION_BACKEND, DEVICE_TYPE

logger = logging.getLogger(__name__)

# SGLang's fused ops pick `forward_<key>` or a forward registered for this key, else forward_native;
# "native" keeps forward_native for every op without a registered chip forward (`fused_ops.py`).
DISPATCH_KEY = "native"


class HyperAccelDeviceMixin(DeviceMixin):
    """Device identity and memory of the emulated chip (`torch.hyperaccel`)."""

    _enum = PlatformEnum.OOT
    device_name = DEVICE_TYPE
    device_type = DEVICE_TYPE

    def get_device(self, device_id: int | None = 0) -> str:
        return DEVICE_TYPE if device_id is None else f"{DEVICE_TYPE}:{device_id}"

    def set_device(self, device: Any) -> None:
        """Make `device` (an index or `hyperaccel:i`) this process's current chip.

        Tensor-parallel rank i calls it with i, so its weights, KV pool and memory accounting
        live on `hyperaccel:i`.
        """
        import torch

        from sglang_hyperaccel.device import register

        register()
        torch.hyperaccel.set_device(device)

    def get_device_total_memory(self, device_id: int = 0) -> int:
        import torch

        return int(torch.hyperaccel.mem_get_info(device_id)[1])

    def get_current_memory_usage(self, device: Any = None) -> float:
        """Bytes allocated on the chip now (SGLang takes free = total - this)."""
        import torch

        return float(torch.hyperaccel.memory_allocated(device))

    def get_available_memory(self, device_id: int = 0) -> tuple[int, int]:
        import torch

        free, total = torch.hyperaccel.mem_get_info(device_id)
        return int(free), int(total)

    def get_device_name(self, device_id: int = 0) -> str:
        import torch

        return str(torch.hyperaccel.get_device_name(device_id))

    def get_device_uuid(self, device_id: int = 0) -> str:
        return f"{DEVICE_TYPE}-{device_id}"

    def get_device_capability(self, device_id: int = 0) -> None:
        return None

    def empty_cache(self) -> None:
        import torch

        torch.hyperaccel.empty_cache()

    def synchronize(self) -> None:
        import torch

        torch.hyperaccel.synchronize()

    def is_pin_memory_available(self, device: Any = None) -> bool:
        return False  # chip memory is host memory already; pinning buys nothing

    def get_torch_distributed_backend_str(self) -> str:
        """`esl`: the c10d backend of the hyperaccel device, registered here before SGLang uses it.

        SGLang gives this name to the world group and every tensor-parallel `device_group`
        (`cpu_group` stays gloo). See `sglang_hyperaccel.distributed`.
        """
        from sglang_hyperaccel.distributed import register

        return register()


class HyperAccelPlatform(HyperAccelDeviceMixin, SRTPlatform):
    """The SRT platform: server defaults, attention backend, worker initialisation."""

    # No Triton, no graph capture, no NCCL: the conservative answers are the true ones here.
    capabilities = PlatformCapabilities()
    supported_quantization: list[str] = []

    def get_default_attention_backend(self) -> str:
        return ATTENTION_BACKEND

    def apply_server_args_defaults(self, server_args: Any) -> None:
        """Defaults the chip needs; see `defaults.py` for each reason."""
        from sglang_hyperaccel.platform.defaults import apply_defaults

        apply_defaults(server_args)

    def get_kv_pool_cls(self, *, kind: Any) -> type | None:
        """SGLang's pool (None), except in timing-only execution: a pool with no storage
        behind it (`timing.kv_pool_cls`)."""
        from sglang_hyperaccel.platform.timing import kv_pool_cls

        return kv_pool_cls(str(kind))

    def init_backend(self) -> None:
        """Called once per worker when SGLang's model runner is imported."""
        from sglang_hyperaccel.device import register as register_device

        register_device()

    def get_group_coordinator_device(self, local_rank: int) -> Any:
        """`hyperaccel:<local_rank>`: each rank's group coordinator works on its own chip."""
        import torch

        return torch.device(DEVICE_TYPE, local_rank)

    def get_compile_backend(self, mode: str | None = None) -> str:
        return "eager"

    def get_dispatch_key_name(self) -> str:
        return DISPATCH_KEY

    # /start_profile asks for these (the base class raises, which ended the scheduler). The chip's
    # kernels run on host threads, so torch's CPU activity records them; "HYPERACCEL" is accepted
    # as an activity name beside SGLang's "CPU".
    def get_torch_profiler_activity_str(self) -> str:
        return "HYPERACCEL"

    def get_torch_profiler_activity(self) -> Any:
        import torch

        return torch.profiler.ProfilerActivity.CPU
