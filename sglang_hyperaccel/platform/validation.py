"""Request checks SGLang leaves to the device.

A prompt given as `input_ids` is not range-checked by SGLang 0.5.23 (`token_ids_logprob` is); an
id outside the vocabulary reaches the embedding lookup, where CUDA raises a device-side assert and
the chip an `IndexError`, and either ends the scheduler, so every other request dies with it.
"""

from __future__ import annotations

from typing import Any


def input_ids_before(manager: Any, obj: Any, input_ids: Any, *args: Any, **kwargs: Any) -> None:
    """BEFORE `TokenizerManager._validate_one_request`: refuse out-of-vocabulary prompt ids (a 400)."""
    if not input_ids:
        return None
    vocab_size = manager.model_config.vocab_size
    low, high = min(input_ids), max(input_ids)
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(f"input_ids contains out-of-vocabulary token id {bad}; "
                         f"valid range is [0, {vocab_size}).")
    return None
