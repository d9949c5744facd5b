"""Model shapes read from a Hugging Face `config.json`, and the bundled configs (shapes only).

Only what the time model needs: matrix shapes, layer count, KV width, vocabulary, and bytes per
parameter. Families: OPT, and the Llama-like decoders (Llama, Mistral, Qwen2, Qwen3).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Union

from .errors import SimulatorError, UnknownNameError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

# torch_dtype names in config.json -> bytes per parameter. A config without one is taken as FP16,
# the LPU's native precision.
_DTYPE_BYTES = {
    "float16": 2, "half": 2, "fp16": 2, "bfloat16": 2, "bf16": 2,
    "float32": 4, "float": 4, "fp32": 4, "float64": 8, "double": 8,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1,
}
DEFAULT_DTYPE_BYTES = 2

_LLAMA_LIKE = ("llama", "mistral", "qwen2", "qwen3")
SUPPORTED_FAMILIES = ("opt",) + _LLAMA_LIKE

ConfigSource = Union[str, Path, Mapping[str, Any]]


@dataclass(frozen=True)
class ModelSpec:
    """The shapes of a decoder-only transformer, enough to count its bytes and FLOPs.

    `gated_ffn` means three FFN matrices (SwiGLU), else two; `linear_bias` adds a bias to every
    linear layer (OPT), `qkv_bias` only to Q/K/V (Qwen2); `norm_bias` means LayerNorm (OPT)
    rather than RMSNorm. `embed_proj_dim` is OPT's word_embed_proj_dim (0 when equal to hidden).
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
    dtype_bytes: int = DEFAULT_DTYPE_BYTES
    gated_ffn: bool = True
    tie_embeddings: bool = False
    learned_positions: bool = False
    linear_bias: bool = False
    qkv_bias: bool = False
    norm_bias: bool = False
    embed_proj_dim: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
                     "intermediate_size", "vocab_size", "max_position", "dtype_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SimulatorError(f"model {self.name}: {name} must be a positive int, got {value!r}")
        if self.num_heads % self.num_kv_heads:
            raise SimulatorError(
                f"model {self.name}: num_heads={self.num_heads} is not a multiple of "
                f"num_kv_heads={self.num_kv_heads}")

    # --- parameter counts (per layer, then whole model) ---------------------------------------
    @cached_property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @cached_property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @cached_property
    def qkv_params(self) -> int:
        width = self.q_dim + 2 * self.kv_dim
        return self.hidden_size * width + (width if self.qkv_bias or self.linear_bias else 0)

    @cached_property
    def out_params(self) -> int:
        return self.q_dim * self.hidden_size + (self.hidden_size if self.linear_bias else 0)

    @cached_property
    def ffn_params(self) -> int:
        matrices = 3 if self.gated_ffn else 2
        bias = self.intermediate_size + self.hidden_size if self.linear_bias else 0
        return matrices * self.hidden_size * self.intermediate_size + bias

    @cached_property
    def norm_params(self) -> int:
        """Both norms of one layer (LayerNorm has a bias, RMSNorm has not)."""
        return 2 * self.hidden_size * (2 if self.norm_bias else 1)

    @cached_property
    def layer_params(self) -> int:
        return self.qkv_params + self.out_params + self.ffn_params + self.norm_params

    @cached_property
    def embed_params(self) -> int:
        """Token embedding (+ OPT's projections in and out when its width differs)."""
        width = self.embed_proj_dim or self.hidden_size
        proj = 2 * width * self.hidden_size if width != self.hidden_size else 0
        return self.vocab_size * width + proj

    @cached_property
    def position_params(self) -> int:
        # OPT's learned position table has 2 extra rows (its padding offset).
        return (self.max_position + 2) * self.hidden_size if self.learned_positions else 0

    @cached_property
    def lm_head_params(self) -> int:
        """The LM head matrix, read in full for every step whether tied to the embedding or not."""
        return self.vocab_size * (self.embed_proj_dim or self.hidden_size)

    @cached_property
    def final_norm_params(self) -> int:
        return self.hidden_size * (2 if self.norm_bias else 1)

    @cached_property
    def num_params(self) -> int:
        """Parameters stored (a tied LM head counted once)."""
        head = 0 if self.tie_embeddings else self.lm_head_params
        return (self.num_layers * self.layer_params + self.embed_params + self.position_params
                + self.final_norm_params + head)

    @cached_property
    def weight_bytes(self) -> int:
        return self.num_params * self.dtype_bytes

    @cached_property
    def kv_bytes_per_token(self) -> int:
        """K and V of one token over all layers."""
        return 2 * self.kv_dim * self.num_layers * self.dtype_bytes

    def with_dtype_bytes(self, dtype_bytes: int) -> ModelSpec:
        """The same shapes stored at another precision."""
        return dataclasses.replace(self, dtype_bytes=int(dtype_bytes))

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_hf_config(cls, source: ConfigSource, *, name: str | None = None,
                       dtype_bytes: int | None = None) -> ModelSpec:
        """Read a Hugging Face config: a model directory, a config.json path, or its dict.

        `dtype_bytes` overrides the precision read from `torch_dtype` (or `dtype`). Raises
        SimulatorError for a missing file, an unsupported `model_type` or missing fields.
        """
        config, default_name = _read_config(source)
        family = str(config.get("model_type", "")).lower()
        try:
            if family == "opt":
                fields = _opt_fields(config)
            elif family in _LLAMA_LIKE:
                fields = _llama_fields(config, family)
            else:
                raise SimulatorError(
                    f"unsupported model_type {family or '(none)'!r} in {default_name}; supported: "
                    f"{', '.join(SUPPORTED_FAMILIES)}")
        except KeyError as exc:
            raise SimulatorError(f"config of {default_name} lacks {exc.args[0]!r}") from None
        if dtype_bytes is None:
            dtype_bytes = _dtype_bytes(config)
        label = name or str(config.get("_name_or_path") or default_name).rstrip("/").split("/")[-1]
        return cls(name=label, family=family, dtype_bytes=int(dtype_bytes), **fields)


def _read_config(source: ConfigSource) -> tuple[dict[str, Any], str]:
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


def _dtype_bytes(config: Mapping[str, Any]) -> int:
    text = config.get("torch_dtype") or config.get("dtype")
    if text is None:
        return DEFAULT_DTYPE_BYTES
    key = str(text).lower().removeprefix("torch.")
    if key not in _DTYPE_BYTES:
        raise SimulatorError(f"unknown torch_dtype {text!r}; known: {', '.join(_DTYPE_BYTES)}")
    return _DTYPE_BYTES[key]


def _opt_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    proj = int(config.get("word_embed_proj_dim") or hidden)
    return dict(
        hidden_size=hidden, num_layers=int(config["num_hidden_layers"]), num_heads=heads,
        num_kv_heads=heads, head_dim=hidden // heads, intermediate_size=int(config["ffn_dim"]),
        vocab_size=int(config["vocab_size"]),
        max_position=int(config.get("max_position_embeddings", 2048)),
        gated_ffn=False, tie_embeddings=bool(config.get("tie_word_embeddings", True)),
        learned_positions=True, linear_bias=bool(config.get("enable_bias", True)),
        norm_bias=True, embed_proj_dim=proj if proj != hidden else 0,
    )


def _llama_fields(config: Mapping[str, Any], family: str) -> dict[str, Any]:
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    return dict(
        hidden_size=hidden, num_layers=int(config["num_hidden_layers"]), num_heads=heads,
        num_kv_heads=kv_heads, head_dim=int(config.get("head_dim") or hidden // heads),
        intermediate_size=int(config["intermediate_size"]), vocab_size=int(config["vocab_size"]),
        max_position=int(config.get("max_position_embeddings", 4096)),
        gated_ffn=True, tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        linear_bias=bool(config.get("mlp_bias", False)),
        qkv_bias=family == "qwen2" or bool(config.get("attention_bias", False)),
        norm_bias=False,
    )


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
