#!/usr/bin/env bash
# One set-up from a fresh clone: .venv at the repo root, SGLang 0.5.23 (torch 2.14.1), this project
# in editable mode with its native device extension, and the default demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
# sglang first: it pins torch, which the native extension is then compiled against.
.venv/bin/python -m pip install -q "sglang==0.5.23"
MAX_JOBS=${MAX_JOBS:-2} .venv/bin/python -m pip install -q --no-build-isolation -e ".[dev]"
.venv/bin/sglang-hyperaccel demo-model
