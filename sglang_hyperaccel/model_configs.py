"""Config-only model directories: the simulator's bundled configs, servable in timing-only execution.

A bundled name (`llama-3-70b`, `qwen2.5-7b`, `opt-1.3b`, ...; `bundled_names()`) becomes a directory
holding its Hugging Face `config.json` and nothing else, under `<model dir>/configs/<name>/`
(`SGLANG_HYPERACCEL_MODEL_DIR`). Such a directory has no weights and no tokenizer: serve it with
`SGLANG_HYPERACCEL_EXECUTION=timing` and send `input_ids`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sglang_hyperaccel import env
from sglang_hyperaccel.simulator import list_models
from sglang_hyperaccel.simulator.models import CONFIG_DIR


def bundled_names() -> tuple[str, ...]:
    """Names of the bundled model configs."""
    return tuple(list_models())


def config_dir(name_or_path: str) -> Path:
    """A directory with a `config.json` for `name_or_path`: a bundled name (written on first use),
    or an existing directory holding a config.json (returned as is).

    Raises ValueError, listing the bundled names, for anything else.
    """
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    key = name_or_path.strip().lower()
    source = CONFIG_DIR / f"{key}.json"
    if not source.is_file():
        raise ValueError(f"unknown model {name_or_path!r}: not a directory with a config.json nor a "
                         f"bundled name ({', '.join(bundled_names())})")
    config = {k: v for k, v in json.loads(source.read_text()).items() if k != "_comment"}
    text = json.dumps(config, indent=2) + "\n"
    target = env.model_dir() / "configs" / key
    written = target / "config.json"
    if not written.is_file() or written.read_text() != text:
        target.mkdir(parents=True, exist_ok=True)
        partial = target / f".config.json.{os.getpid()}"
        partial.write_text(text)
        partial.replace(written)  # atomic: a concurrent reader sees the old file or the new one
    return target
