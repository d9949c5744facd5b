"""The two sources of model shapes agree: the family readers of config.json and SGLang's own model.

For every family of the matrix, `ModelSpec.from_hf_config` (the simulator's reader of the full
config) and `spec_from_module` over the model SGLang builds on the meta device
(`python -m sglang_hyperaccel.platform.meta_model`) give the same counts and geometry. A family
without a reader (Gemma 3) still gets a spec from SGLang's model, with the window layers it has.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import families
import pytest

from sglang_hyperaccel.simulator import ModelSpec

# Fields only a reader can know (descriptive flags and the label); everything the step model uses
# is compared.
_DESCRIPTIVE = {"name", "gated_ffn", "linear_bias", "qkv_bias", "norm_bias", "embed_proj_dim"}
_EXTRA = {  # families beside the served matrix: a second MoE layout, and one without a reader
    "qwen2_moe": ("Qwen2MoeConfig", "Qwen2MoeForCausalLM", dict(
        num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
        shared_expert_intermediate_size=48)),
    "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM", dict(head_dim=16, sliding_window=64)),
}


def _write_config(root: Path, name: str, config_class: str, architecture: str, kwargs: dict) -> Path:
    import transformers

    config = getattr(transformers, config_class)(**kwargs, architectures=[architecture])
    path = root / name
    path.mkdir()
    config.to_json_file(path / "config.json", use_diff=False)
    return path


@pytest.fixture(scope="module")
def walked(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Each family's config directory and the spec read off SGLang's meta-device model."""
    root = tmp_path_factory.mktemp("configs")
    dirs = {name: _write_config(root, name, f.config_class, f.model_class, f.kwargs)
            for name, f in families.FAMILIES.items()}
    dirs.update({name: _write_config(root, name, cls, arch, families._llama_like(**extra))
                 for name, (cls, arch, extra) in _EXTRA.items()})
    command = [sys.executable, "-m", "sglang_hyperaccel.platform.meta_model", *map(str, dirs.values())]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    specs = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(specs) == len(dirs)
    return {name: (path, spec) for (name, path), spec in zip(dirs.items(), specs)}


@pytest.mark.parametrize("family", sorted(set(families.FAMILIES) | {"qwen2_moe"}))
def test_reader_and_sglang_model_agree(family, walked):
    """Counts and geometry from the family's config reader equal those of SGLang's model."""
    path, spec = walked[family]
    read = ModelSpec.from_hf_config(json.loads((path / "config.json").read_text())).to_dict()
    differ = {k: (spec[k], read[k]) for k in spec if k not in _DESCRIPTIVE and spec[k] != read[k]}
    assert not differ, f"{family}: (SGLang's model, reader) {differ}"


def test_a_family_without_reader_gets_its_shapes_from_sglang(walked):
    """Gemma 3 has no config reader; SGLang's model gives its shapes, windowed layers included."""
    path, spec = walked["gemma3"]
    with pytest.raises(Exception, match="no config reader"):
        ModelSpec.from_hf_config(path)
    assert spec["family"] == "gemma3_text" and spec["num_layers"] == 2 and spec["head_dim"] == 16
    assert spec["sliding_window"] == 64 and spec["window_layers"] >= 1
    assert spec["qkv_params"] == 64 * (4 * 16 + 2 * 2 * 16)  # Q (4 heads) and K, V (2 heads) of 16
