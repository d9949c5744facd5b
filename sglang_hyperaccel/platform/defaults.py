"""Server-argument defaults the chip needs, and the start-up checks that end a run clearly.

Called through `HyperAccelPlatform.apply_server_args_defaults` with SGLang's recorder: every
attribute written here becomes a declared resolution (and overrides the user's input), so only
fields the user left unset are written, except where the chip cannot do otherwise.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import psutil

from sglang_hyperaccel.names import ATTENTION_BACKEND, RADIX_CACHE_BACKEND
from sglang_hyperaccel.platform.request_limits import current_limits
from sglang_hyperaccel.simulator import ModelSpec, SimulatorError, dtype_bytes_of

logger = logging.getLogger(__name__)

# Share of the host's available RAM one server's KV pool may take, and an absolute cap: the chip's
# memory is emulated in host RAM, so a 64 GB chip must not zero 50 GB of pages on a 24 GB host.
HOST_KV_FRACTION = 0.25
HOST_KV_CAP_BYTES = 1 << 30
MEM_FRACTION_STATIC = 0.8
# Timing-only execution: host bytes the request-to-token table (int32, requests x context) may take.
# SGLang sizes it for up to 4,096 requests, 2 GiB at a 128k context; this keeps ~512 at 128k.
REQ_TO_TOKEN_BYTES = 256 << 20
# Files whose presence in a model directory means it has a tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def _fail(message: str) -> None:
    """End start-up with one clear line and exit code 2 (no traceback)."""
    print(f"sglang-hyperaccel: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def model_spec(server_args: Any) -> ModelSpec:
    """The served model's shapes at the precision it is loaded in; ends start-up if unreadable.

    Resolved once per process (`model_spec.resolve`) and exported to the scheduler processes.
    """
    from sglang_hyperaccel.platform import model_spec as shapes

    path = str(server_args.model_path)
    spec = shapes.exported(path)
    if spec is None:
        try:
            spec = shapes.resolve(path)
        except SimulatorError as exc:
            _fail(f"cannot read the shapes of model {server_args.model_path} for the chip: {exc}")
        dtype = str(getattr(server_args, "dtype", "auto"))
        if dtype != "auto":  # SGLang's `--dtype` names are torch_dtype names
            spec = spec.with_dtype_bytes(dtype_bytes_of({"torch_dtype": dtype}))
        shapes.export(path, spec)
        logger.info("hyperaccel: model %s (%s), %.2f GiB of weights", spec.name, spec.family,
                    spec.weight_bytes / 2**30)
    return spec


def check_model_fits(server_args: Any) -> None:
    """Refuse a model whose weights exceed the chip memory of its tensor-parallel group."""
    from sglang_hyperaccel.chip import emulated_chip

    spec = model_spec(server_args)
    chip = emulated_chip()
    per_device = chip.memory_bytes
    devices = tp_devices(server_args)
    weights = spec.weight_bytes
    if weights > per_device * devices:
        _fail(
            f"model {server_args.model_path} needs {weights / 2**30:.2f} GiB of weights but "
            f"{devices} x {chip.name} hold {per_device * devices / 2**30:.2f} GiB "
            f"({per_device / 2**30:.2f} GiB each); use more devices (--tp-size) or a larger chip"
        )


def host_kv_token_cap(server_args: Any) -> int | None:
    """Most KV tokens one server may hold in host RAM, or None when a token takes no KV."""
    spec = model_spec(server_args)
    if spec.kv_bytes_per_token <= 0:
        return None
    # Ranks split each token's KV heads, so the whole server's KV is tokens x kv_bytes_per_token:
    # one budget for the server, whatever its tensor-parallel degree.
    budget = min(psutil.virtual_memory().available * HOST_KV_FRACTION, HOST_KV_CAP_BYTES)
    return max(1024, int(budget / spec.kv_bytes_per_token))


def tp_devices(server_args: Any) -> int:
    """Chips of the tensor-parallel group: `--tp-size`, or the virtual degree it became in timing mode
    (`timing_defaults` rewrote `tp_size` to 1, in this process or the one that spawned it)."""
    from sglang_hyperaccel import env

    tp = max(1, int(server_args.tp_size or 1))
    virtual = env.virtual_tp() if env.is_timing() else None
    return virtual if tp == 1 and virtual else tp


def check_device_count(server_args: Any) -> None:
    """Refuse a tensor-parallel degree larger than the number of emulated chips."""
    from sglang_hyperaccel import env

    tp = tp_devices(server_args)
    wanted = tp * max(1, int(getattr(server_args, "pp_size", 1) or 1))
    have = env.device_count()
    if wanted > have:
        _fail(f"--tp-size {tp} needs {wanted} chips but {have} are emulated; "
              f"set {env.DEVICE_COUNT}={wanted} or lower --tp-size")


def apply_defaults(server_args: Any) -> None:
    """Write the chip's defaults into SGLang's recorder `server_args`."""
    from sglang_hyperaccel import env

    check_device_count(server_args)
    if not env.is_shape_probe():  # the probe is how the shapes are found: it cannot check them
        check_model_fits(server_args)
    if server_args.attention_backend is None:
        server_args.attention_backend = ATTENTION_BACKEND
    if server_args.sampling_backend is None:
        server_args.sampling_backend = "pytorch"  # flashinfer sampling kernels are CUDA-only
    # Overlap scheduling runs the next batch's CPU work beside the device's; the emulated chip's
    # compute *is* the CPU, so overlap only adds thread contention. Forced, not defaulted.
    server_args.disable_overlap_schedule = True
    server_args.disable_custom_all_reduce = True  # a CUDA IPC kernel
    # An idle scheduler otherwise spins on its sockets, taking host cores from the chips it emulates
    # (several replicas share one host).
    server_args.sleep_on_idle = True
    if not server_args.radix_cache_backend:
        server_args.radix_cache_backend = RADIX_CACHE_BACKEND  # SGLang's radix cache with chip counters
    _disable_graphs(server_args)
    if server_args.mem_fraction_static is None:
        # SGLang's default reserves ~0.5 GB + 1.5 MB per prefill token for CUDA activations and
        # graphs, which goes negative on a small chip (SGLANG_HYPERACCEL_MEMORY=16Mi). Activations
        # here are a few MB; a fixed share leaves them ample room on any chip size.
        server_args.mem_fraction_static = MEM_FRACTION_STATIC
    if env.is_timing() and not env.is_shape_probe():
        timing_defaults(server_args)
    elif server_args.max_total_tokens is None and not env.is_shape_probe():
        cap = host_kv_token_cap(server_args)
        if cap is not None:
            server_args.max_total_tokens = cap
            logger.info("hyperaccel: KV pool capped at %d tokens to fit host RAM", cap)
    grammar_defaults(server_args)
    try:  # read here first: a bad SGLANG_HYPERACCEL_LIMITS stops start-up, not each request
        limits = current_limits()
    except ValueError as exc:
        _fail(str(exc))
    if server_args.max_queued_requests is None:
        # SGLang's default is an unbounded queue; beyond this a request gets a 503 with Retry-After.
        server_args.max_queued_requests = limits.max_queued


def timing_defaults(server_args: Any) -> None:
    """Timing-only execution (`timing.py`): no weights, one rank charged as `--tp-size` chips.

    No host KV cap (no host memory backs the KV); the KV budget is the chips' (`timing.py`).
    """
    from sglang_hyperaccel import env

    server_args.load_format = "dummy"  # weights are never read: the loader hook builds on meta
    tp = tp_devices(server_args)
    # Inherited by the scheduler process (as the model spec is); nothing before the platform's
    # defaults in SGLang's resolution pipeline reads tp_size for a plain server (PD and DWDP do).
    os.environ[env.VIRTUAL_TP] = str(tp)
    if int(server_args.tp_size or 1) != 1:
        server_args.tp_size = 1
        logger.info("hyperaccel: timing-only: --tp-size %d charged as %d chips from one rank", tp, tp)
    tokenizer = Path(str(server_args.tokenizer_path or server_args.model_path))
    if tokenizer.is_dir() and not any((tokenizer / name).is_file() for name in TOKENIZER_FILES):
        # A config-only model: requests send input_ids (SGLang answers text with a 400).
        server_args.skip_tokenizer_init = True
        logger.info("hyperaccel: %s has no tokenizer: send input_ids", tokenizer)
    if server_args.max_running_requests is None:
        context = server_args.context_length or _max_positions(str(server_args.model_path))
        if context:
            cap = max(64, REQ_TO_TOKEN_BYTES // (4 * (int(context) + 1)))
            if cap < 4096:  # SGLang's own ceiling
                server_args.max_running_requests = cap
                logger.info("hyperaccel: timing-only: at most %d running requests (%d-token context)",
                            cap, context)


def _max_positions(model_path: str) -> int | None:
    from sglang_hyperaccel.platform.model_spec import full_config
    from sglang_hyperaccel.simulator import SimulatorError

    try:
        config = full_config(model_path)
    except SimulatorError:
        return None
    value = config.get("max_position_embeddings") or (config.get("text_config") or {}).get(
        "max_position_embeddings")
    return int(value) if value else None


def _disable_graphs(server_args: Any) -> None:
    """No graph capture on this chip (decode or prefill), as the XPU platform does in-tree."""
    from sglang.srt.model_executor.cuda_graph_config import Backend, Phase, with_phase

    config = server_args.cuda_graph_config
    if config is None or not hasattr(config, "decode"):
        return
    for phase in Phase.ALL:
        if getattr(config, phase).backend != Backend.DISABLED:
            config = with_phase(config, phase, backend=Backend.DISABLED)
    server_args.cuda_graph_config = config


def grammar_defaults(server_args: Any) -> None:
    """Constrained-decoding defaults: compact JSON unless the user asked for whitespace.

    With "any whitespace" allowed (SGLang's default), xgrammar and llguidance let a small model
    emit whitespace between JSON tokens without end, so a schema-constrained request often runs
    out of tokens before it closes its braces. Compact JSON (json.dumps separators) removes that
    trap. The flag is store-true, so False means unset; a user who sets a whitespace pattern or a
    whitespace count has asked for whitespace, and is left alone.
    """
    wants_whitespace = (server_args.constrained_json_whitespace_pattern is not None
                        or server_args.constrained_json_max_whitespace_cnt is not None)
    if not server_args.constrained_json_disable_any_whitespace and not wants_whitespace:
        server_args.constrained_json_disable_any_whitespace = True
