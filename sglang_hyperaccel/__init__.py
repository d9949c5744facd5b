"""sglang-hyperaccel: SGLang on HyperAccel's LPU.

Subpackages: `device` (the `hyperaccel` PyTorch device), `platform` (the SGLang out-of-tree platform
plugin, found through entry points), `simulator` (the chip's performance model), `radix_cache`
(RadixAttention over the chip's KV memory), `demo` (offline demo models). Importing this package
does nothing else: SGLang's entry points decide when the device and the platform come up.
"""

__version__ = "0.1.0"
