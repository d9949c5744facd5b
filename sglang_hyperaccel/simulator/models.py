"""Model shapes as the time model needs them, and the bundled configs (shapes only, no weights).

A `ModelSpec` holds counts, not a family: parameters per decoder layer by role (attention input
projections, attention output, dense FFN, norms), the attention geometry the KV cache and the
attention FLOPs follow from, an optional mixture-of-experts FFN (`MoESpec`) and the embedding and
LM head. Two readers fill it: `ModelSpec.from_hf_config` (Hugging Face `config.json`, exact for the
families in `hf_config.py`) and, in the server, the model SGLang built (`platform/model_shapes.py`,
any architecture SGLang implements). Both must agree where both apply (tested).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Union

from .errors import SimulatorError, UnknownNameError
from .hf_config import read_fields

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_DTYPE_BYTES = 2  # FP16, the LPU's native precision, when a config names no dtype

ConfigSource = Union[str, Path, Mapping[str, Any]]


@dataclass(frozen=True)
class MoESpec:
    """The mixture-of-experts FFN of `layers` decoder layers (the model's other layers are dense).

    Per MoE layer: `num_experts` routed experts of `expert_params` parameters each (all their
    matrices; intermediate width `expert_intermediate`), of which each token activates `top_k`;
    `shared_params` of shared experts every token passes through (width `shared_intermediate`);
    `router_params` of the gate. A batch reads the weights of the distinct experts its tokens
    activate (`active_experts`), and every token computes `top_k` experts.
    """

    layers: int
    num_experts: int
    top_k: int
    expert_params: int
    expert_intermediate: int
    shared_params: int = 0
    shared_intermediate: int = 0
    router_params: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.top_k <= self.num_experts or self.layers < 1 or self.expert_params < 1:
            raise SimulatorError(f"bad MoE shape: {self}")

    def active_experts(self, tokens: int) -> float:
        """Expected distinct experts that `tokens` tokens activate in one layer.

        Routing is taken as uniform and independent per token (an assumption: real routers are
        skewed, which activates fewer experts): E * (1 - (1 - k/E)^tokens).
        """
        e, k = self.num_experts, self.top_k
        return e * (1.0 - (1.0 - k / e) ** tokens)


@dataclass(frozen=True)
class ModelSpec:
    """The shapes of a decoder-only transformer, enough to count its bytes and FLOPs.

    Counts per decoder layer (biases included): `qkv_params` (every projection into attention:
    Q, K, V, or MLA's low-rank Q and latent KV), `out_params` (attention output), `ffn_params`
    (a dense layer's FFN; MoE layers use `moe`), `norm_params`. Attention: `num_heads` query heads of
    `head_dim` (the width scores are computed over) and `v_head_dim` (0: same), `num_kv_heads`;
    `kv_latent_dim` > 0 means one latent vector of that width per token and layer is cached and
    replicated on every tensor-parallel device (MLA), else each KV head caches K and V.
    `window_layers` of the layers attend only the last `sliding_window` positions.
    `learned_positions` adds a position-table row read per token (OPT, GPT-2).
    """

    name: str
    family: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_position: int
    qkv_params: int
    out_params: int
    ffn_params: int
    norm_params: int
    embed_params: int
    lm_head_params: int
    final_norm_params: int
    dtype_bytes: int = DEFAULT_DTYPE_BYTES
    v_head_dim: int = 0
    kv_latent_dim: int = 0
    sliding_window: int = 0
    window_layers: int = 0
    position_params: int = 0
    learned_positions: bool = False
    tie_embeddings: bool = False
    moe: MoESpec | None = None
    # Descriptive flags of the dense families' readers (the counts above already include them).
    gated_ffn: bool = True
    linear_bias: bool = False
    qkv_bias: bool = False
    norm_bias: bool = False
    embed_proj_dim: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                     "vocab_size", "max_position", "dtype_bytes", "qkv_params", "out_params",
                     "embed_params", "lm_head_params"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SimulatorError(f"model {self.name}: {name} must be a positive int, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise SimulatorError(
                f"model {self.name}: num_heads={self.num_heads} is not a multiple of "
                f"num_kv_heads={self.num_kv_heads}")
        if not 0 <= self.window_layers <= self.num_layers or (self.window_layers and self.sliding_window < 1):
            raise SimulatorError(f"model {self.name}: bad sliding window ({self.window_layers} layers of "
                                 f"{self.sliding_window} positions)")
        if self.moe is not None and self.moe.layers > self.num_layers:
            raise SimulatorError(f"model {self.name}: {self.moe.layers} MoE layers of {self.num_layers}")

    # --- derived counts --------------------------------------------------------------------
    @property
    def value_dim(self) -> int:
        """Width of one head's values (MLA and some models differ from `head_dim`)."""
        return self.v_head_dim or self.head_dim

    @property
    def dense_layers(self) -> int:
        """Decoder layers whose FFN is dense."""
        return self.num_layers - (self.moe.layers if self.moe else 0)

    @cached_property
    def moe_layer_params(self) -> int:
        """Parameters of one MoE layer's FFN: every expert, shared experts and the router."""
        m = self.moe
        return 0 if m is None else m.num_experts * m.expert_params + m.shared_params + m.router_params

    @cached_property
    def num_params(self) -> int:
        """Parameters stored (a tied LM head counted once, every expert counted)."""
        layers = self.num_layers * (self.qkv_params + self.out_params + self.norm_params)
        ffn = self.dense_layers * self.ffn_params
        if self.moe is not None:
            ffn += self.moe.layers * self.moe_layer_params
        head = 0 if self.tie_embeddings else self.lm_head_params
        return layers + ffn + self.embed_params + self.position_params + self.final_norm_params + head

    @cached_property
    def weight_bytes(self) -> int:
        return self.num_params * self.dtype_bytes

    @cached_property
    def kv_elems_per_layer(self) -> int:
        """Cached elements per token in one layer (K and V of every KV head, or MLA's latent)."""
        if self.kv_latent_dim:
            return self.kv_latent_dim
        return self.num_kv_heads * (self.head_dim + self.value_dim)

    @cached_property
    def kv_bytes_per_token(self) -> int:
        """KV cache of one token over all layers (the whole model, before any TP split)."""
        return self.kv_elems_per_layer * self.num_layers * self.dtype_bytes

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (`from_dict` reads it back)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """The spec `to_dict` wrote."""
        fields = dict(data)
        if fields.get("moe") is not None:
            fields["moe"] = MoESpec(**fields["moe"])
        return cls(**fields)

    def with_dtype_bytes(self, dtype_bytes: int) -> ModelSpec:
        """The same shapes stored at another precision."""
        return dataclasses.replace(self, dtype_bytes=int(dtype_bytes))

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_hf_config(cls, source: ConfigSource, *, name: str | None = None,
                       dtype_bytes: int | None = None) -> ModelSpec:
        """Read a Hugging Face config: a model directory, a config.json path, or its dict.

        `dtype_bytes` overrides the precision read from `torch_dtype` (or `dtype`). Raises
        SimulatorError for a missing file, a `model_type` the reader does not know (the server reads
        those from the model SGLang builds instead) or missing fields.
        """
        config, default_name = read_config(source)
        fields = read_fields(config, default_name)
        if fields.get("moe") is not None:
            fields["moe"] = MoESpec(**fields["moe"])
        if dtype_bytes is None:
            dtype_bytes = dtype_bytes_of(config)
        label = name or str(config.get("_name_or_path") or default_name).rstrip("/").split("/")[-1]
        return cls(name=label, dtype_bytes=int(dtype_bytes), **fields)


# torch_dtype names in config.json -> bytes per parameter.
_DTYPE_BYTES = {
    "float16": 2, "half": 2, "fp16": 2, "bfloat16": 2, "bf16": 2,
    "float32": 4, "float": 4, "fp32": 4, "float64": 8, "double": 8,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1,
}


def read_config(source: ConfigSource) -> tuple[dict[str, Any], str]:
    """A config dict and a default model name from a directory, a config.json path or a dict."""
    if isinstance(source, Mapping):
        return dict(source), "config"
    path = Path(source)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise SimulatorError(f"no model config at {str(source)!r} (expected config.json)")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SimulatorError(f"cannot read {path}: {exc}") from None
    if not isinstance(config, dict):
        raise SimulatorError(f"{path} is not a JSON object")
    default = path.parent.name if path.name == "config.json" else path.stem
    return config, default


def dtype_bytes_of(config: Mapping[str, Any]) -> int:
    """Bytes per parameter named by a config's `torch_dtype` (or `dtype`); FP16 when absent."""
    text = config.get("torch_dtype") or config.get("dtype")
    if text is None:
        return DEFAULT_DTYPE_BYTES
    key = str(text).lower().removeprefix("torch.")
    if key not in _DTYPE_BYTES:
        raise SimulatorError(f"unknown torch_dtype {text!r}; known: {', '.join(_DTYPE_BYTES)}")
    return _DTYPE_BYTES[key]


def list_models() -> list[str]:
    """Names of the bundled model configs (shapes only, no weights)."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.json"))


def get_model(name: str, *, dtype_bytes: int | None = None) -> ModelSpec:
    """A bundled model by name (case-insensitive); UnknownNameError lists the bundled ones."""
    key = name.strip().lower()
    path = CONFIG_DIR / f"{key}.json"
    if not path.is_file():
        raise UnknownNameError(
            f"unknown model {name!r}; bundled models: {', '.join(list_models())} "
            "(or give a model directory or config.json path)")
    return ModelSpec.from_hf_config(path, name=key, dtype_bytes=dtype_bytes)


def load_model(source: ConfigSource | ModelSpec, *, dtype_bytes: int | None = None) -> ModelSpec:
    """A ModelSpec from a bundled name, a directory / config.json path, a config dict or a spec."""
    if isinstance(source, ModelSpec):
        return source if dtype_bytes is None else source.with_dtype_bytes(dtype_bytes)
    if isinstance(source, Mapping):
        return ModelSpec.from_hf_config(source, dtype_bytes=dtype_bytes)
    text = str(source)
    if (CONFIG_DIR / f"{text.strip().lower()}.json").is_file():
        return get_model(text, dtype_bytes=dtype_bytes)
    if Path(text).exists():
        return ModelSpec.from_hf_config(text, dtype_bytes=dtype_bytes)
    return get_model(text, dtype_bytes=dtype_bytes)  # raises with the list of bundled names
