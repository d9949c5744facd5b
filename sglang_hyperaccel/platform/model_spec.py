"""The served model's shapes for the chip, worked out once at start-up and handed to the schedulers.

At start-up (the launching process, before any scheduler exists) the shapes come from the model's
config through the simulator's family readers when one applies (exact, instant), else from the
model SGLang builds for that config on the `meta` device, in a process of its own (any
architecture SGLang implements; ~15 s). A model whose shapes cannot be read ends start-up there,
with one line and exit code 2. The result is exported in `SGLANG_HYPERACCEL_MODEL_SPEC`, which the
scheduler processes inherit, so every rank times the same spec.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from sglang_hyperaccel import env
from sglang_hyperaccel.names import DEVICE_TYPE
from sglang_hyperaccel.simulator import ModelSpec, SimulatorError

META_BUILD_TIMEOUT_S = 300


def full_config(model_path: str) -> dict[str, Any]:
    """The model's config with every default filled in (transformers' `AutoConfig`).

    A `config.json` written by `save_pretrained` leaves out values equal to the family's defaults.
    """
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(model_path).to_dict()
    except Exception as exc:  # unreadable, missing, or a hub id without network
        raise SimulatorError(f"cannot read the config of {model_path}: {exc}") from None


def resolve(model_path: str) -> ModelSpec:
    """The model's `ModelSpec` (see the module docstring); SimulatorError says why it cannot be read."""
    config = full_config(model_path)
    name = os.path.basename(os.path.normpath(model_path))
    try:
        return ModelSpec.from_hf_config(config, name=name)
    except SimulatorError:
        pass  # no config reader for this family: ask SGLang's own model class
    return built_on_meta(model_path)


def built_on_meta(model_path: str) -> ModelSpec:
    """The spec of the model SGLang builds for `model_path` on `meta`, from a child process."""
    environ = {**os.environ, "SGLANG_PLATFORM": DEVICE_TYPE, env.SHAPE_PROBE: "1"}
    try:
        out = subprocess.run([sys.executable, "-m", "sglang_hyperaccel.platform.meta_model", model_path],
                             capture_output=True, text=True, env=environ, timeout=META_BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SimulatorError(f"building {model_path} on the meta device took over "
                             f"{META_BUILD_TIMEOUT_S} s") from None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
        tail = out.stderr.strip().splitlines() or ["no output"]
        reason = errors[-1].removeprefix("error: ") if errors else tail[-1]
        raise SimulatorError(reason)
    return ModelSpec.from_dict(json.loads(lines[-1]))


def export(model_path: str, spec: ModelSpec) -> None:
    """Hand `spec`, the shapes of `model_path`, to the processes this one spawns."""
    os.environ[env.MODEL_SPEC] = json.dumps({"model_path": model_path, "spec": spec.to_dict()})


def exported(model_path: str) -> ModelSpec | None:
    """The spec the launching process exported for `model_path`, or None (none, or another model's)."""
    text = env.model_spec_json()
    if text is None:
        return None
    data = json.loads(text)
    return ModelSpec.from_dict(data["spec"]) if data.get("model_path") == model_path else None
