"""The demo models: shapes and training budget as data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoModelConfig:
    """One locally built Llama-architecture demo model.

    `train_steps` > 0 briefly trains the randomly initialised weights on the synthetic corpus so
    the model emits well-formed text (closes strings and braces), which constrained decoding needs
    to finish within a token budget; 0 keeps random weights (parity and speed do not need training).
    """

    name: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    max_position: int = 4096
    train_steps: int = 0
    train_seq_len: int = 128
    train_batch: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError(f"{self.name}: heads must divide hidden size and kv heads must divide heads")


DEMO_MODELS: dict[str, DemoModelConfig] = {
    # Default: small enough that the test suite stays fast on 2 cores. 500 steps (about 160 s of
    # one core) so that, under a JSON-schema grammar, >= 90% of JSONSchemaBench outputs close
    # within 1,024 tokens (300 steps: endless repeated keys and unclosed strings).
    "tiny": DemoModelConfig(
        name="tiny", vocab_size=2048, hidden_size=128, intermediate_size=352, num_layers=4,
        num_heads=4, num_kv_heads=2, train_steps=500,
    ),
    # About 100M parameters, for benchmarks; built on demand, random weights.
    "bench-100m": DemoModelConfig(
        name="bench-100m", vocab_size=8192, hidden_size=768, intermediate_size=2048, num_layers=12,
        num_heads=12, num_kv_heads=12,
    ),
}
DEFAULT_DEMO_MODEL = "tiny"
