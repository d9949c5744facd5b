"""Offline, deterministic demo models (Llama architecture, locally trained BPE tokenizer)."""

from sglang_hyperaccel.demo.build import ensure_demo_model, model_path
from sglang_hyperaccel.demo.configs import DEFAULT_DEMO_MODEL, DEMO_MODELS, DemoModelConfig

__all__ = ["DEFAULT_DEMO_MODEL", "DEMO_MODELS", "DemoModelConfig", "ensure_demo_model", "model_path"]
