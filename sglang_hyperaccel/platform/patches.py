"""Every change this plugin makes to SGLang 0.5.23, in one place, with why and how to remove it.

| what | how | why | remove when |
|---|---|---|---|
| attention backend `hyperaccel` | `register_attention_backend` + `add_attention_backend_choices` (public registry) | the chip's paged attention; `torch_native` is special-cased in core | never (public seam) |
"""

from __future__ import annotations

_installed = False


def install() -> None:
    """Install the backend and hooks in this process; idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    _register_attention_backend()


def _register_attention_backend() -> None:
    from sglang.srt.arg_groups.choices import ATTENTION_BACKEND_CHOICES, add_attention_backend_choices
    from sglang.srt.layers.attention.attention_registry import register_attention_backend

    from sglang_hyperaccel.platform.hyperaccel import ATTENTION_BACKEND

    def factory(runner):
        from sglang_hyperaccel.platform.attention import create_backend

        return create_backend(runner)

    register_attention_backend(ATTENTION_BACKEND)(factory)
    if ATTENTION_BACKEND not in ATTENTION_BACKEND_CHOICES:
        add_attention_backend_choices([ATTENTION_BACKEND])
