"""Timing-only execution (`SGLANG_HYPERACCEL_EXECUTION=timing`): SGLang's scheduler, no tensor math.

The model is built on PyTorch's `meta` device from its config alone (no weight is read or
allocated), the KV pool is SGLang's no-op pool (the scheduler keeps its capacity and addressing,
no buffer backs it), each forward batch is charged to the chip clock without running
(`clock_hooks.forward_around`) and its next tokens are drawn, not sampled (`timing_tokens.py`).
What the clock charges depends only on the batch shapes the scheduler forms, so a timing-only run
reports the chip time a numeric run of the same workload reports, for any model size.

Capacity is the chip's: the KV budget is what the tensor-parallel group's memory leaves after the
weights (`kv_budget_bytes`), and `--tp-size N` is charged as N chips from one rank
(`env.virtual_tp`, set by `defaults.apply_defaults`).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sglang_hyperaccel import env

logger = logging.getLogger(__name__)


def load_model_around(original: Any, loader: Any, *args: Any, **kwargs: Any) -> Any:
    """AROUND `DummyModelLoader.load_model`: in timing mode, the model on `meta`, nothing else.

    No `initialize_dummy_weights` (it would allocate and fill every weight) and no
    `process_weights_after_loading` (there are no weights). The module tree is SGLang's own, so
    the clock reads the served shapes off it (`clock_hooks.served_spec`).
    """
    if not env.is_timing():
        return original(loader, *args, **kwargs)
    from sglang_hyperaccel.platform.meta_model import instantiate_on_meta

    model = instantiate_on_meta(kwargs["model_config"], loader.load_config)
    logger.info("hyperaccel: timing-only execution: %s built on the meta device, no weights",
                type(model).__name__)
    return model.eval()


def kv_pool_cls(kind: str) -> type | None:
    """The KV pool class for `kind` in timing mode (no storage behind it), else None (SGLang's)."""
    if not env.is_timing():
        return None
    if kind == "mha":
        from sglang.srt.mem_cache.memory_pool import NoOpMHATokenToKVPool

        return NoOpMHATokenToKVPool
    if kind == "mla":
        return no_op_mla_pool()
    return None  # DSA and others: SGLang's pool, with the real buffers


@functools.cache
def no_op_mla_pool() -> type:
    """`MLATokenToKVPool` with one page-sized placeholder per layer, like `NoOpMHATokenToKVPool`.

    Built on first use so importing this module does not import SGLang's memory pools.
    """
    import torch
    from sglang.srt.mem_cache.memory_pool import MLATokenToKVPool

    class NoOpMLATokenToKVPool(MLATokenToKVPool):
        """An MLA pool whose capacity is admission bookkeeping only: no latent is stored."""

        def _create_buffers(self) -> None:
            # Page-sized, so code that views a layer's buffer by pages still works.
            self.kv_buffer = [torch.zeros((self.page_size, 1, self.kv_cache_dim), dtype=self.store_dtype,
                                          device=self.device) for _ in range(self.layer_num)]

        def get_kv_size_bytes(self) -> int:
            return 0

        def set_kv_buffer(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("timing-only execution stores no KV: the forward pass must not run")

        def set_mla_kv_buffer(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("timing-only execution stores no KV: the forward pass must not run")

    return NoOpMLATokenToKVPool


def kv_budget_bytes(devices: int, chip_memory_bytes: int, mem_fraction_static: float,
                    weight_bytes: int) -> int:
    """KV bytes the chips of a tensor-parallel group hold: their static share less the weights."""
    return int(devices * chip_memory_bytes * mem_fraction_static - weight_bytes)


def available_bytes_around(original: Any, configurator: Any, *args: Any, **kwargs: Any) -> int:
    """AROUND `KVCacheConfigurator._profile_available_bytes`: in timing mode, the chips' KV budget.

    The original measures free memory on chip 0, which a meta model leaves empty and which is
    one chip of a virtual tensor-parallel group; the budget here is the group's (`kv_budget_bytes`)
    with the weights of the spec the clock times. Bytes, as the original returns.
    """
    if not env.is_timing():
        return original(configurator, *args, **kwargs)
    from sglang.srt.runtime_context import get_parallel, get_schedule

    from sglang_hyperaccel.chip import emulated_chip

    chip = emulated_chip()
    devices = env.virtual_tp() or int(get_parallel().tp_size)
    fraction = float(get_schedule().mem_fraction_static)
    weights = served_weight_bytes(configurator.model_config)
    budget = kv_budget_bytes(devices, chip.memory_bytes, fraction, weights)
    if budget <= 0:
        raise ValueError(f"{weights / 2**30:.2f} GiB of weights leave no KV memory on {devices} x "
                         f"{chip.name} at --mem-fraction-static={fraction}; use more devices (--tp-size)")
    logger.info("hyperaccel: timing-only KV budget %.2f GiB (%d x %s x %.2f - %.2f GiB of weights)",
                budget / 2**30, devices, chip.name, fraction, weights / 2**30)
    return budget


def served_weight_bytes(model_config: Any) -> int:
    """Weight bytes of the served model: the clock's spec, else the start-up spec, else config.json."""
    from sglang_hyperaccel.platform import model_spec
    from sglang_hyperaccel.platform.clock import current_clock
    from sglang_hyperaccel.simulator import ModelSpec

    clock = current_clock()
    if clock is not None:
        return int(clock.simulator.model.weight_bytes)
    path = str(model_config.model_path)
    spec = model_spec.exported(path) or ModelSpec.from_hf_config(model_config.hf_config.to_dict())
    return int(spec.with_dtype_bytes(model_config.dtype.itemsize).weight_bytes)


def text_without_tokenizer_before(manager: Any, obj: Any, *args: Any, **kwargs: Any) -> None:
    """BEFORE `TokenizerManager._tokenize_one_request`: a text prompt to a config-only model is a 400
    that says why (SGLang's own message tells the user to restart with `skip_tokenizer_init=False`,
    which cannot work for a model without a tokenizer)."""
    if not env.is_timing() or manager.tokenizer is not None:
        return None
    if getattr(obj, "input_ids", None) is None and getattr(obj, "input_embeds", None) is None:
        raise ValueError(f"model {manager.model_path} has no tokenizer (a config-only model in timing-only "
                         "execution): send the prompt as input_ids, not text")
    return None
