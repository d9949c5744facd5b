"""Build the model SGLang would serve for a config on PyTorch's `meta` device: no weights, no memory.

What SGLang's model loader does (`_initialize_model` for the architecture `ModelConfig` resolves),
with the process context its constructors read: the server arguments published for the scheduler
role and a one-rank gloo world for its parallel groups. Every architecture SGLang implements builds
this way (a 70B Llama in a fraction of a second, a few MB). The platform is fixed when a process
first imports SGLang, so this runs in a process of its own (`main` selects the platform):

    python -m sglang_hyperaccel.platform.meta_model MODEL_DIR [MODEL_DIR ...]

prints one JSON `ModelSpec` per line (`spec_from_module` over the meta model), or one
`error: ...` line and exit status 2 for a model whose shapes cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

_world_ready = False


def _publish_context(model_path: str) -> Any:
    """Publish scheduler-role server args for `model_path` and a one-rank world (once)."""
    global _world_ready
    from sglang.srt.distributed import parallel_state
    from sglang.srt.layers.dp_attention import initialize_dp_attention
    from sglang.srt.runtime_context import SpawnRanks, get_parallel, publish
    from sglang.srt.server_args import ServerArgs

    from sglang_hyperaccel.launcher import free_port
    from sglang_hyperaccel.names import DEVICE_TYPE

    server_args = ServerArgs(model_path=model_path, device=DEVICE_TYPE, load_format="dummy",
                             skip_tokenizer_init=True, tp_size=1)
    publish(server_args, role="scheduler", ranks=SpawnRanks(world_rank=0, gpu_id=0))
    if not _world_ready:
        parallel_state.init_distributed_environment(
            backend="gloo", world_size=1, rank=0, local_rank=0,
            distributed_init_method=f"tcp://127.0.0.1:{free_port()}")
        parallel_state.initialize_model_parallel()
        _world_ready = True
    else:  # a later publish keeps the groups; re-stamp the world group on the new context
        get_parallel().override_permanently(world_group=parallel_state._WORLD)
    initialize_dp_attention(server_args)
    return server_args


def build_on_meta(model_path: str) -> tuple[Any, Any]:
    """(model, SGLang ModelConfig) for the checkpoint directory `model_path`, on `meta`."""
    from sglang.srt.configs.load_config import LoadConfig
    from sglang.srt.configs.model_config import ModelConfig

    server_args = _publish_context(model_path)
    model_config = ModelConfig.from_server_args(server_args)
    return instantiate_on_meta(model_config, LoadConfig(load_format="dummy")), model_config


def instantiate_on_meta(model_config: Any, load_config: Any) -> Any:
    """The model SGLang's loader builds for `model_config`, on `meta`: shapes only, no storage.

    Also the timing-only server's model (`timing.py`): no weights read, none initialised.
    """
    import torch
    from sglang.srt.model_loader.loader import _get_quantization_config, _initialize_model
    from sglang.srt.model_loader.utils import set_default_torch_dtype

    quant_config = _get_quantization_config(model_config, load_config)
    with set_default_torch_dtype(model_config.dtype), torch.device("meta"):
        return _initialize_model(model_config, load_config, quant_config)


def spec_of(model_path: str) -> Any:
    """The `ModelSpec` of the model SGLang builds for `model_path`."""

    from sglang_hyperaccel.platform.model_shapes import spec_from_module

    model, model_config = build_on_meta(model_path)
    name = Path(model_path).resolve().name
    dtype_bytes = model_config.dtype.itemsize
    return spec_from_module(model, model_config.hf_config.to_dict(), name=name, dtype_bytes=dtype_bytes)


def main(argv: list[str] | None = None) -> int:
    """Print the spec of each model directory as a JSON line; exit 2 on the first that fails."""
    import os

    from sglang_hyperaccel import env
    from sglang_hyperaccel.names import DEVICE_TYPE

    # Before SGLang is imported: our platform, and no start-up check that needs these very shapes.
    os.environ.setdefault("SGLANG_PLATFORM", DEVICE_TYPE)
    os.environ[env.SHAPE_PROBE] = "1"
    paths = sys.argv[1:] if argv is None else argv
    for path in paths:
        try:
            spec = spec_of(path)
        except Exception as exc:  # any failure to build or read the model is the user's answer
            print(f"error: cannot read the shapes of {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(spec.to_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
