"""The names this project registers in PyTorch and SGLang, defined once.

Imports nothing: every subpackage may read it. Each name is the public identifier users type
(`--device hyperaccel`, `torch.device("hyperaccel:0")`) or read (`meta_info["hyperaccel"]`).
"""

from __future__ import annotations

# PyTorch's PrivateUse1 backend renamed: torch.device("hyperaccel:0"), Tensor.is_hyperaccel,
# torch.hyperaccel. Also SGLang's `--device` value and platform name (`SGLANG_PLATFORM`).
DEVICE_TYPE = "hyperaccel"

# SGLang attention backend (`--attention-backend`) and radix-cache backend (`--radix-cache-backend`).
ATTENTION_BACKEND = DEVICE_TYPE
RADIX_CACHE_BACKEND = DEVICE_TYPE

# torch.distributed backend of the device (`init_process_group("esl")`), the chips' ESL link.
COLLECTIVE_BACKEND = "esl"

# The per-request chip-time object in SGLang's `meta_info`, and the customized-info key the
# scheduler sends it under (a per-request list, as SGLang requires of customized info).
META_KEY = DEVICE_TYPE
WIRE_KEY = "hyperaccel_chip"

# Key of a request's virtual-time fields in `sampling_params.custom_params`:
# {"arrival_ms": float, "seq": int, "last": bool, "trace": str} (docs/chip-time.md).
ARRIVAL_KEY = DEVICE_TYPE
