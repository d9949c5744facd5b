"""Every change this plugin makes to SGLang 0.5.23, in one place, with why and how to remove it.

All go through SGLang's own `HookRegistry` (applied by `load_plugins()` in every server process)
or its public registries; nothing edits SGLang's files.

| target | how | why | remove when |
|---|---|---|---|
| attention backend `hyperaccel` | `register_attention_backend`, `add_attention_backend_choices` | the chip's batched paged attention; the name `torch_native` is special-cased in core | never: public seam |
| radix-cache backend `hyperaccel` | `register_radix_cache_backend` (public registry), default via `--radix-cache-backend` | SGLang's unified radix cache plus hit/eviction counters | never: public seam |
| `ModelRunner.forward` | AROUND | charge every forward batch to the chip clock (needs the batch's shape before the runner mutates it) | SGLang grows a per-batch timing callback for platforms |
| `Scheduler.handle_generate_request` | BEFORE | stamp arrival on the chip clock for queue time and TTFT | as above |
| `Scheduler.get_output_streamer_class` | AFTER | return a subclass that sends chip-time reports as `customized_info` | never: the documented way to add per-request output |
| `ModelRunner.load_model` | AROUND | it sets `torch.set_num_threads(1)` for any device but "cpu" and never restores it; the chip computes on host threads (`threads.py`) | SGLang asks the platform whether host threads compute |
| `Sampler._sync_token_ids_across_tp` | AROUND | with a grammar in the batch it all-reduces the sampled ids even over a one-rank group; skipped there (`sync.py`), ~1% of a constrained decode step | SGLang checks the group size itself |
| `RotaryEmbedding` forward | `BaseFusedOp.register_oot_forward` (public seam), from a BEFORE hook on `ModelRunner.load_model` | same arithmetic as `forward_native` with cos/sin gathered once per forward (`fused_ops.py`) | never: public seam |
| `XGrammarGrammar`, `XGrammarGrammarBackend`, `GuidanceGrammar` `.apply_vocab_mask` | replaced (static methods stay static; `grammar.py`), since HookRegistry's wrappers do not keep `staticmethod` | they raise "Unsupported device" (xgrammar) or compile with inductor (llguidance) for a device they do not list | SGLang dispatches grammar masks through the platform |
| `TokenizerManager._validate_one_request` | BEFORE | prompt `input_ids` outside the vocabulary are not checked and end the scheduler at the embedding; refused with a 400 (`validation.py`) | SGLang range-checks `input_ids` as it does `token_ids_logprob` |
| `TokenizerManager.update_request_meta_info` | AFTER | turn the accumulated report list into one `meta_info["hyperaccel"]` object | SGLang supports request-level dict customized info in streams |
"""

from __future__ import annotations

_installed = False

_SCHEDULER = "sglang.srt.managers.scheduler.Scheduler"
_RUNNER = "sglang.srt.model_executor.model_runner.ModelRunner"
_TOKENIZER = "sglang.srt.managers.tokenizer_manager.TokenizerManager"
_SAMPLER = "sglang.srt.layers.sampler.Sampler"


def install() -> None:
    """Install the backend and hooks in this process; idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    _register_attention_backend()
    _register_chip_time_hooks()
    from sglang_hyperaccel.radix_cache import register as register_radix_cache

    register_radix_cache()
    from sglang_hyperaccel.platform import grammar

    grammar.install()


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


def _register_chip_time_hooks() -> None:
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from sglang_hyperaccel.platform import chiptime, fused_ops, sync, threads, validation

    HookRegistry.register(f"{_RUNNER}.forward", chiptime.forward_around, HookType.AROUND)
    HookRegistry.register(f"{_RUNNER}.load_model", threads.load_model_around, HookType.AROUND)
    HookRegistry.register(f"{_RUNNER}.load_model", fused_ops.register, HookType.BEFORE)
    HookRegistry.register(f"{_SAMPLER}._sync_token_ids_across_tp", sync.token_ids_around, HookType.AROUND)
    HookRegistry.register(f"{_SCHEDULER}.handle_generate_request", chiptime.arrival_before, HookType.BEFORE)
    HookRegistry.register(f"{_SCHEDULER}.get_output_streamer_class", chiptime.output_streamer_class,
                          HookType.AFTER)
    HookRegistry.register(f"{_TOKENIZER}.update_request_meta_info", chiptime.meta_info_after, HookType.AFTER)
    HookRegistry.register(f"{_TOKENIZER}._validate_one_request", validation.input_ids_before, HookType.BEFORE)
