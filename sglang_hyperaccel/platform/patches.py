"""Every change this package makes to SGLang 0.5.23 (and the libraries it pins), as data.

`PATCHES` is the ledger: one `Patch` record per change, with why, the internals it relies on, when
to remove it and the upstream issue or pull request (GitHub `owner/repo#N`) where one exists.
`install()` registers the hooks from the same records, so the ledger cannot drift from what runs.
Most changes go through SGLang's own `HookRegistry` (applied by `load_plugins()` in every server
process) or its public registries; the `how` field says where one does not. Nothing edits SGLang's
files. `python -m sglang_hyperaccel.platform.patches` prints the ledger as a Markdown table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

_SCHEDULER = "sglang.srt.managers.scheduler.Scheduler"
_RUNNER = "sglang.srt.model_executor.model_runner.ModelRunner"
_TOKENIZER = "sglang.srt.managers.tokenizer_manager.TokenizerManager"
_SAMPLER = "sglang.srt.layers.sampler.Sampler"
_HOOKS = "sglang_hyperaccel.platform"
_SOFTCAP = "sglang.kernels.ops.activation.softcap"


@dataclass(frozen=True)
class Patch:
    """One change to SGLang or a library it pins.

    `hook` (`module:function`) and `hook_type` (`BEFORE`, `AFTER`, `AROUND`) are set for changes
    installed through SGLang's `HookRegistry` on `target`; other changes are made where `how` says.
    """

    target: str
    how: str
    why: str
    relies_on: str
    remove_when: str
    upstream: str = "-"
    hook: str | None = None
    hook_type: str | None = None


_CLOCK_CALLBACK = "SGLang grows a per-batch timing callback for platforms"

PATCHES: tuple[Patch, ...] = (
    Patch(
        "attention backend `hyperaccel`", "`register_attention_backend`, `add_attention_backend_choices`",
        "the chip's batched paged attention (`attention.py`); the name `torch_native` is special-cased "
        "in core",
        "subclasses `TorchNativeAttnBackend`; reads `ForwardBatch.seq_lens_cpu/extend_seq_lens_cpu/"
        "req_pool_indices/out_cache_loc`, `req_to_token_pool`, `KVWriteLoc`",
        "never: public seam"),
    Patch(
        "radix-cache backend `hyperaccel`",
        "`register_radix_cache_backend`, default via `--radix-cache-backend`",
        "SGLang's unified radix cache plus hit and eviction counters (`radix_cache/`)",
        "overrides `UnifiedRadixCache.match_prefix/evict/evict_for_alloc`; reads `device_prefix_len`, "
        "`num_tokens_evicted`",
        "never: public seam"),
    Patch(
        f"{_RUNNER}.load_model", "HookRegistry AFTER",
        "build the chip clock from the model config SGLang loaded (`clock_hooks.py`)",
        "`runner.model_config.hf_config/dtype/model_path`, `is_draft_worker`, `server_args`; "
        "`runtime_context.get_parallel().tp_size/tp_rank`",
        _CLOCK_CALLBACK, "sgl-project/sglang#21891 (simulator roadmap)",
        hook=f"{_HOOKS}.clock_hooks:load_model_after", hook_type="AFTER"),
    Patch(
        f"{_RUNNER}.forward", "HookRegistry AROUND",
        "charge every forward batch to the chip clock (needs the batch's shape before the runner mutates "
        "it); in timing-only execution the batch is charged and not run (`timing.py`)",
        "`ForwardBatch.forward_mode/batch_size/rids/seq_lens_cpu/extend_seq_lens_cpu/extend_prefix_lens_cpu`",
        _CLOCK_CALLBACK, "sgl-project/sglang#21891",
        hook=f"{_HOOKS}.clock_hooks:forward_around", hook_type="AROUND"),
    Patch(
        "sglang.srt.model_loader.loader.DummyModelLoader.load_model", "HookRegistry AROUND",
        "timing-only execution: build the model on `meta` from its config, with no dummy weights "
        "allocated or initialised (`timing.py`); the defaults write `load_format=dummy` in that mode",
        "keyword arguments `model_config`, `device_config`; `loader.load_config`; `_initialize_model`",
        "SGLang grows a platform hook for model loaders", "sgl-project/sglang#33824 (its own mock model)",
        hook=f"{_HOOKS}.timing:load_model_around", hook_type="AROUND"),
    Patch(
        f"{_RUNNER}.sample", "HookRegistry AROUND",
        "timing-only execution: draw each request's next token from its rid and length (never EOS), "
        "grammar rows by SGLang's vocab mask over noise, zero logprobs when asked (`timing_tokens.py`)",
        "`ForwardBatch.rids/seq_lens_cpu/input_ids/return_logprob/top_logprobs_nums/token_ids_logprobs/"
        "extend_logprob_start_lens_cpu`, `SamplingBatchInfo.grammars/vocab_size/update_regex_vocab_mask/"
        "apply_logits_bias`, the `LogitsProcessorOutput` logprob fields the result processor reads",
        _CLOCK_CALLBACK, "sgl-project/sglang#33824",
        hook=f"{_HOOKS}.timing_tokens:sample_around", hook_type="AROUND"),
    Patch(
        f"{_RUNNER}.compute_logprobs_only", "HookRegistry AROUND",
        "timing-only execution has no logits: a no-op (the worker calls it only when logits exist, so "
        "this guards a path, `timing_tokens.py`)", "its signature `(logits_output, forward_batch)`",
        _CLOCK_CALLBACK, hook=f"{_HOOKS}.timing_tokens:compute_logprobs_only_around", hook_type="AROUND"),
    Patch(
        "sglang.srt.mem_cache.kv_cache_configurator.KVCacheConfigurator._profile_available_bytes",
        "HookRegistry AROUND",
        "timing-only execution: the KV budget is the tensor-parallel group's chip memory times "
        "`mem_fraction_static` less the weights, not chip 0's free memory (`timing.py`)",
        "returns bytes; `configurator.model_config`; `get_schedule().mem_fraction_static`",
        "SGLang asks the platform for the KV budget", "sgl-project/sglang#33824 (overrides the same method)",
        hook=f"{_HOOKS}.timing:available_bytes_around", hook_type="AROUND"),
    Patch(
        f"{_TOKENIZER}._tokenize_one_request", "HookRegistry BEFORE",
        "timing-only execution of a config-only model (no tokenizer, so `skip_tokenizer_init`): a text "
        "prompt is a 400 naming the missing tokenizer and `input_ids` (`timing.py`)",
        "`manager.tokenizer` is None with `skip_tokenizer_init`; `obj.input_ids/input_embeds`",
        "never: request validation the platform owns",
        hook=f"{_HOOKS}.timing:text_without_tokenizer_before", hook_type="BEFORE"),
    Patch(
        "`SRTPlatform.get_kv_pool_cls`", "platform method (`srt_platform.py`)",
        "timing-only execution: SGLang's `NoOpMHATokenToKVPool` (MHA) or a page-sized placeholder "
        "`MLATokenToKVPool` subclass (MLA), so no host memory backs the KV (`timing.py`)",
        "`NoOpMHATokenToKVPool`, `MLATokenToKVPool._create_buffers/kv_cache_dim`",
        "never: the platform contract"),
    Patch(
        f"{_SCHEDULER}.handle_generate_request", "HookRegistry BEFORE",
        "stamp arrival on the chip clock for queue time and TTFT", "`recv_req.rid`",
        _CLOCK_CALLBACK, hook=f"{_HOOKS}.clock_hooks:arrival_before", hook_type="BEFORE"),
    Patch(
        f"{_SCHEDULER}.send_abort_output", "HookRegistry AFTER",
        "a request the scheduler ends outside the output stream (queue full, timed out, rejected) "
        "leaves the chip clock: its arrival stamp leaked otherwise, one per refused request; it is "
        "not counted as served", "the method's `req` argument (`req.rid`)",
        _CLOCK_CALLBACK, hook=f"{_HOOKS}.clock_hooks:abort_output_after", hook_type="AFTER"),
    Patch(
        f"{_SCHEDULER}.process_input_requests", "HookRegistry AROUND",
        "virtual time: hold requests carrying `custom_params[\"hyperaccel\"]` until the chip clock reaches "
        "their arrival, jump an idle clock to the next arrival, wait for missing requests of a trace "
        "(`virtual_time.py`); also samples the run statistics each loop pass",
        "called once per loop pass with the pass's received list; `request_receiver.recv_requests`, "
        "`ipc_channels.recv_from_tokenizer/recv_from_rpc`, `waiting_queue`, `running_batch`, "
        "`last_batch`, `chunked_req`, `grammar_manager.grammar_queue`, `return_health_check_ipcs`, "
        "`maybe_send_health_check_signal`, `token_to_kv_pool_allocator.size/available_size`",
        "SGLang grows an admission-time hook for simulated arrivals", "sgl-project/sglang#21891",
        hook=f"{_HOOKS}.virtual_time:process_input_around", hook_type="AROUND"),
    Patch(
        f"{_SCHEDULER}.get_internal_state", "HookRegistry AFTER",
        "add the scheduler's chip-clock statistics as `internal_state[\"hyperaccel\"]` (`run_stats.py`), "
        "read by `/server_info`",
        "the result's `internal_state` dict", "never: additive, read through a public endpoint",
        hook=f"{_HOOKS}.virtual_time:internal_state_after", hook_type="AFTER"),
    Patch(
        "sglang.srt.managers.schedule_batch.ScheduleBatch.retract_decode", "HookRegistry AFTER",
        "count preempted requests for the run statistics",
        "its result `(retracted_reqs, new_token_ratio, reqs_to_abort)`",
        "SGLang exposes a retraction counter without `--enable-metrics`",
        hook=f"{_HOOKS}.virtual_time:retract_after", hook_type="AFTER"),
    Patch(
        f"{_TOKENIZER}._validate_one_request", "HookRegistry BEFORE",
        "fields that reach tensor code or the scheduler unbounded end the scheduler or monopolise it "
        "(prompt ids outside the vocabulary, `top_logprobs_num` above it, `top_k` >= 2**31, "
        "`stop_token_ids` outside the vocabulary, inf temperature or logit bias, ...): refused with a "
        "400 naming the field (`validation.py`, limits in `request_limits.py`)",
        "`manager.model_config.vocab_size`; the sub-request's raw `sampling_params` dict, "
        "`top_logprobs_num`, `token_ids_logprob`, `logprob_start_len`",
        "SGLang bounds these fields itself", "sgl-project/sglang#31597, #35903",
        hook=f"{_HOOKS}.validation:request_before", hook_type="BEFORE"),
    Patch(
        "sglang.srt.managers.io_struct.GenerateReqInput.normalize_batch_and_arguments",
        "HookRegistry BEFORE",
        "`n` and prompts per request are unbounded: one request with n=100000 starved every other "
        "client; checked before SGLang expands the request into n copies (`validation.py`)",
        "`GenerateReqInput.sampling_params/text/input_ids` before normalisation",
        "SGLang bounds `n` and batch size", "-",
        hook=f"{_HOOKS}.validation:batch_before", hook_type="BEFORE"),
    Patch(
        "sglang.srt.managers.io_struct.GenerateReqInput.__getitem__", "HookRegistry AROUND",
        "a per-prompt list field shorter than the batch raises IndexError inside SGLang (a 500, found by "
        "fuzzing); a 400 naming the fields (`validation.py`)",
        "`GenerateReqInput.__getitem__(i)` indexing its list fields; `batch_size`",
        "SGLang checks per-prompt list lengths", "-",
        hook=f"{_HOOKS}.validation:batch_item_around", hook_type="AROUND"),
    Patch(
        "sglang.srt.managers.io_struct.EmbeddingReqInput.__getitem__", "HookRegistry AROUND",
        "the same for /encode and /classify (`multi_item_delimiter_indices` shorter than the batch, "
        "found by the long fuzz run)",
        "`EmbeddingReqInput.__getitem__(i)` indexing its list fields; `batch_size`",
        "SGLang checks per-prompt list lengths", "-",
        hook=f"{_HOOKS}.validation:embedding_item_around", hook_type="AROUND"),
    Patch(
        "sglang.srt.managers.io_struct.EmbeddingReqInput.normalize_batch_and_arguments",
        "HookRegistry BEFORE",
        "a `sampling_params` list shorter than the batch (or not of objects) raises IndexError/TypeError "
        "inside SGLang: a 500 on /encode and /classify (`validation.py`)",
        "`EmbeddingReqInput.sampling_params/text/input_ids` before normalisation",
        "SGLang validates the list", "-",
        hook=f"{_HOOKS}.validation:embedding_batch_before", hook_type="BEFORE"),
    Patch(
        f"{_SCHEDULER}.run_batch", "HookRegistry AROUND",
        "an exception in one batch's forward SIGQUITs the server and loses every client's requests; "
        "it now aborts that batch's requests (500 naming the error) and the scheduler serves on "
        "(`fault_isolation.py`; one rank only)",
        "`batch.reqs/forward_mode/return_logprob`, `FINISH_ABORT`, `scheduler.chunked_req`, "
        "`batch_result_processor._handle_sampling_mask_abort`, `output_streamer.stream_output`, `tp_size`",
        "SGLang isolates per-batch failures in its scheduler loop", "-",
        hook=f"{_HOOKS}.fault_isolation:run_batch_around", hook_type="AROUND"),
    Patch(
        f"{_SCHEDULER}.process_batch_result", "HookRegistry AROUND",
        "skip the result processing of a batch whose requests `run_batch_around` aborted",
        "the call order `run_batch` then `process_batch_result(batch, result)` in the event loop",
        "with the `run_batch` hook", "-",
        hook=f"{_HOOKS}.fault_isolation:process_batch_result_around", hook_type="AROUND"),
    Patch(
        "FastAPI app of `sglang.srt.entrypoints.http_server`",
        "`app.add_middleware(InputErrorsAre400)`, `app.add_middleware(RetryAfter)` in `install()`",
        "several routes let a `ValueError` (SGLang's input-error convention) escape as a 500; a full "
        "queue answers 503 without `Retry-After` (`http_edge.py`)",
        "the module-level `app`, imported by the HTTP process before `load_plugins()`",
        "SGLang maps `ValueError` to 400 on every route and sends `Retry-After` with its 503s", "-"),
    Patch(
        "sglang.srt.entrypoints.openai.serving_tokenize.OpenAIServingDetokenize._handle_non_streaming_request",
        "HookRegistry BEFORE",
        "token ids outside the vocabulary overflow in the tokenizer's decode (a 500); refused with a "
        "400 (`http_edge.py`)",
        "`serving.tokenizer_manager.model_config.vocab_size`, `request.tokens`",
        "SGLang range-checks detokenize input", "-",
        hook=f"{_HOOKS}.http_edge:detokenize_before", hook_type="BEFORE"),
    Patch(
        f"{_SCHEDULER}.get_output_streamer_class", "HookRegistry AFTER",
        "return a subclass that sends chip-time reports as `customized_info` (`streamer.py`)",
        "`has_additional_customized_info`, `build_additional_customized_info(reqs)`, `req.rid`, "
        "`req.finished()`",
        "never: the documented way to add per-request output",
        hook=f"{_HOOKS}.clock_hooks:output_streamer_class", hook_type="AFTER"),
    Patch(
        f"{_TOKENIZER}.update_request_meta_info", "HookRegistry AFTER",
        "turn the accumulated report list into one `meta_info[\"hyperaccel\"]` object; the hook also "
        "removes the key from SGLang's per-request state, which it writes directly",
        "`ReqState.customized_info_accumulated` and `.customized_info_reported_keys` (private state)",
        "SGLang supports request-level dict customized info in streams",
        "sgl-project/sglang#18654 (why lists are sliced)",
        hook=f"{_HOOKS}.clock_hooks:meta_info_after", hook_type="AFTER"),
    Patch(
        f"{_RUNNER}.load_model", "HookRegistry AROUND",
        "it sets `torch.set_num_threads(1)` for any device but \"cpu\" and never restores it; the chip "
        "computes on host threads (`threads.py`)",
        "the `set_num_threads(1)` call inside `load_model`",
        "SGLang asks the platform whether host threads compute", "none found",
        hook=f"{_HOOKS}.threads:load_model_around", hook_type="AROUND"),
    Patch(
        f"{_RUNNER}.load_model", "HookRegistry BEFORE, which registers a `RotaryEmbedding` forward "
        "through `BaseFusedOp.register_oot_forward` (public seam)",
        "same arithmetic as `forward_native` with cos/sin gathered once per forward (`fused_ops.py`)",
        "`RotaryEmbedding.cos_sin_cache`, the `forward_native` signature",
        "never: public seam", hook=f"{_HOOKS}.fused_ops:register", hook_type="BEFORE"),
    Patch(
        f"{_SAMPLER}._sync_token_ids_across_tp", "HookRegistry AROUND",
        "with a grammar in the batch it all-reduces the sampled ids even over a one-rank group; skipped "
        "there (`token_sync.py`), ~1% of a constrained decode step",
        "`sampler.tp_sync_group`", "SGLang checks the group size itself",
        "sgl-project/sglang#35124, #38146",
        hook=f"{_HOOKS}.token_sync:token_ids_around", hook_type="AROUND"),
    Patch(
        f"{_TOKENIZER}._validate_one_request", "HookRegistry BEFORE",
        "refuse a malformed virtual-time field with a 400 before it reaches the scheduler (`arrivals.py`)",
        "`obj.sampling_params` as a dict with `custom_params`",
        "never: request validation the platform owns",
        hook=f"{_HOOKS}.virtual_time:arrival_field_before", hook_type="BEFORE"),
    Patch(
        f"{_SOFTCAP}._softcap_logits", "HookRegistry AROUND",
        "the logits processor caps final logits (Gemma 2) with a Triton kernel on any device but NPU "
        "and CPU; Triton has no driver for the chip, so the first batch ended the scheduler "
        "(`logits.py`: the same arithmetic in tensor ops)",
        "the helper's signature `(full_logits, final_logit_softcapping, output=None)`",
        "SGLang picks the kernel by the tensor's device", "none found",
        hook=f"{_HOOKS}.logits:softcap_around", hook_type="AROUND"),
    Patch(
        "DeepSeek `AttentionBackendRegistry` handler `hyperaccel`", "its public `register`",
        "without a handler the backend gets the Triton one, which runs a prefill without cached prefix "
        "through per-head MHA; the pool holds MLA's latent, so attention read K of the wrong width. "
        "The handler always picks the absorbed MLA path (`mla.py`)",
        "`AttnForwardMethod.MLA`", "the attention backend runs MLA's MHA prefill",
        "none found"),
    Patch(
        "`XGrammarGrammar`, `XGrammarGrammarBackend`, `GuidanceGrammar` `.apply_vocab_mask`",
        "`setattr` on the class (`grammar.py`), not HookRegistry: its wrappers do not keep `staticmethod`",
        "they raise \"Unsupported device\" (xgrammar) or compile with inductor (llguidance) for a device "
        "they do not list",
        "the method names and their static/bound kinds; xgrammar's private "
        "`xgrammar.base._core.kernels.apply_token_bitmask_inplace_cpu` (0.2.x; device ops when absent)",
        "SGLang dispatches grammar masks through the platform",
        "sgl-project/sglang#35356; public kernel choice: mlc-ai/xgrammar#494"),
    Patch(
        "`SRTPlatform.get_torch_profiler_activity[_str]`", "platform methods (`srt_platform.py`)",
        "`/start_profile` calls them and the base class raises, which ended the scheduler; the chip's "
        "kernels run on host threads, so torch's CPU activity records them",
        "the profiler's activity lookup", "never: the platform contract",
        "sgl-project/sglang#31580 (the seam)"),
    Patch(
        "`SRTPlatform.apply_server_args_defaults`", "platform method (`defaults.py`)",
        "overlap schedule, custom all-reduce and graph capture forced off; idle sleep on; "
        "`mem_fraction_static` and a host KV cap",
        "the server-args fields it writes", "never: the platform contract"),
    Patch(
        "`sglang.lang` `RuntimeEndpoint` (client side)", "a subclass, `deploy/dsl.py` `RouterEndpoint`",
        "`select` sends a list-valued `text`, which the router (smg 1.13.0) refuses with HTTP 422; "
        "`fork` in 0.5.23 tests `text_` before its queue ran, so its prefix commit is usually skipped",
        "`RuntimeEndpoint` request building", "the router accepts batched `/generate` and `fork` commits "
        "its prefix", "none found"),
    Patch(
        "PyTorch `torch._inductor.utils/codegen.common.get_current_backend`",
        "replaced by a wrapper, in `device/compile.py`, when hyperaccel is first compiled for",
        "it answers \"triton\" for any device that is not cpu, which breaks the embedding gather; the "
        "chip's kernels are Inductor's C++ ones, so it answers `config.cpu_backend` for hyperaccel",
        "the function's signature and both module attributes",
        "Inductor asks the device's registered scheduling for its backend", "none found"),
    Patch(
        "PyTorch `torch._inductor.config.loop_reindexing_after_fusion`",
        "set False for the process, in `device/compile.py`, when hyperaccel is first compiled for",
        "the scheduler re-indexes fused loops for any non-cpu device assuming GPU loop grouping; with "
        "C++ kernels that raises a TypeError (an optimisation only)",
        "the setting's name and meaning",
        "the re-indexing checks the device's scheduling instead of `device.type != 'cpu'`", "none found"),
)

_installed = False


def install() -> None:
    """Install the backends and every hook of `PATCHES` in this process; idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from sglang_hyperaccel.platform import grammar, http_edge, mla
    from sglang_hyperaccel.radix_cache import register as register_radix_cache

    _register_attention_backend()
    mla.register()
    for patch in PATCHES:
        if patch.hook is not None:
            module, _, name = patch.hook.partition(":")
            function = getattr(importlib.import_module(module), name)
            HookRegistry.register(patch.target, function, HookType[patch.hook_type])
    register_radix_cache()
    grammar.install()
    http_edge.install()


def _register_attention_backend() -> None:
    from sglang.srt.arg_groups.choices import ATTENTION_BACKEND_CHOICES, add_attention_backend_choices
    from sglang.srt.layers.attention.attention_registry import register_attention_backend

    from sglang_hyperaccel.names import ATTENTION_BACKEND

    def factory(runner):
        from sglang_hyperaccel.platform.attention import create_backend

        return create_backend(runner)

    register_attention_backend(ATTENTION_BACKEND)(factory)
    if ATTENTION_BACKEND not in ATTENTION_BACKEND_CHOICES:
        add_attention_backend_choices([ATTENTION_BACKEND])


def ledger_table() -> str:
    """The ledger as a Markdown table (for docs and reviews)."""
    rows = ["| target | how | why | relies on | remove when | upstream |", "|---|---|---|---|---|---|"]
    rows += [f"| {p.target} | {p.how} | {p.why} | {p.relies_on} | {p.remove_when} | {p.upstream} |"
             for p in PATCHES]
    return "\n".join(rows)


if __name__ == "__main__":
    print(ledger_table())
