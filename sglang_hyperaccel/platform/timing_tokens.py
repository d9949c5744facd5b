"""The next tokens of a timing-only batch: drawn from the request, not sampled from logits.

A token is `splitmix64` over a stable hash of the request id and its sequence length, modulo the
vocabulary, drawn again while it is an end-of-sequence id: the same request id gets the same
output on any server and any run, and a request ends only by its length limit (or its grammar).
Grammar-constrained rows take the argmax of deterministic noise under SGLang's own vocab mask, so
every token is one the grammar accepts (a rejected token aborts the request).
"""

from __future__ import annotations

import functools
import logging
import zlib
from pathlib import Path
from typing import Any

from sglang_hyperaccel import env

logger = logging.getLogger(__name__)

_MASK64 = (1 << 64) - 1
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def splitmix64(state: int) -> int:
    """One step of SplitMix64 (Steele, Lea, Flood 2014) on a 64-bit state: a well-mixed 64-bit value."""
    z = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def seed_of(rid: str, seq_len: int) -> int:
    """64-bit seed of request `rid` at `seq_len` (crc32, not Python's per-process salted `hash`)."""
    return ((zlib.crc32(str(rid).encode()) << 32) | (seq_len & 0xFFFFFFFF)) & _MASK64


def token_id(rid: str, seq_len: int, vocab_size: int, eos_ids: frozenset[int]) -> int:
    """The token request `rid` gets at `seq_len`: never one of `eos_ids` (unless the vocabulary
    holds nothing else)."""
    state = seed_of(rid, seq_len)
    for _ in range(64):
        state = splitmix64(state)
        token = state % vocab_size
        if token not in eos_ids:
            return token
    return next((t for t in range(vocab_size) if t not in eos_ids), 0)


@functools.cache
def eos_ids_of(model_path: str, hf_eos: frozenset[int]) -> frozenset[int]:
    """The model's EOS ids (config and generation config) and its tokenizer's, when it has one."""
    ids = set(hf_eos)
    if any((Path(model_path) / name).is_file() for name in _TOKENIZER_FILES):
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model_path)
            if tokenizer.eos_token_id is not None:
                ids.add(int(tokenizer.eos_token_id))
        except Exception as exc:  # the config's ids still apply
            logger.warning("hyperaccel: tokenizer EOS of %s unknown (%s)", model_path, exc)
    return frozenset(ids)


def _eos_ids(runner: Any) -> frozenset[int]:
    config = runner.model_config
    hf_eos = frozenset(int(t) for t in (getattr(config, "hf_eos_token_id", None) or ()))
    return eos_ids_of(str(config.model_path), hf_eos)


def sample_around(original: Any, runner: Any, logits_output: Any, forward_batch: Any,
                  *args: Any, **kwargs: Any) -> Any:
    """AROUND `ModelRunner.sample`: in timing mode, the drawn tokens (int64 `[bs]` on the batch's
    device), with zero logprobs where the batch asks for logprobs."""
    if not env.is_timing():
        return original(runner, logits_output, forward_batch, *args, **kwargs)
    import torch

    rids = list(forward_batch.rids or ())
    seq_lens = [int(n) for n in forward_batch.seq_lens_cpu.tolist()]
    vocab = int(runner.model_config.vocab_size)
    eos = _eos_ids(runner)
    ids = [token_id(rid, n, vocab, eos) for rid, n in zip(rids, seq_lens)]
    device = forward_batch.input_ids.device
    info = forward_batch.sampling_info
    if info is not None and info.grammars and any(info.grammars):
        ids = _grammar_tokens(info, rids, seq_lens, ids, device)
    if forward_batch.return_logprob:
        zero_logprobs(logits_output, forward_batch, ids)
    return torch.tensor(ids, dtype=torch.int64, device=device)


def compute_logprobs_only_around(original: Any, runner: Any, logits_output: Any, forward_batch: Any,
                                 *args: Any, **kwargs: Any) -> None:
    """AROUND `ModelRunner.compute_logprobs_only`: in timing mode there are no logits (no-op)."""
    if not env.is_timing():
        return original(runner, logits_output, forward_batch, *args, **kwargs)
    return None


def _grammar_tokens(info: Any, rids: list[str], seq_lens: list[int], ids: list[int],
                    device: Any) -> list[int]:
    """Rows with a grammar take the argmax of per-request noise under SGLang's vocab mask."""
    import torch

    vocab = int(info.vocab_size)
    rows = []
    for rid, n in zip(rids, seq_lens):
        generator = torch.Generator().manual_seed(splitmix64(seed_of(rid, n)) >> 1)
        rows.append(torch.rand(vocab, generator=generator))
    logits = torch.stack(rows).to(device)
    # SGLang's own path (ModelRunner._preprocess_logits): fill the mask, apply bias and mask.
    info.update_regex_vocab_mask()
    info.apply_logits_bias(logits)
    info.grammar_mask = None
    chosen = logits.argmax(dim=-1).tolist()
    return [int(chosen[i]) if grammar else ids[i] for i, grammar in enumerate(info.grammars)]


def zero_logprobs(logits_output: Any, forward_batch: Any, ids: list[int]) -> None:
    """Fill the logprob fields SGLang's result processor reads with zeros, in its shapes."""
    import torch

    bs = len(ids)
    logits_output.next_token_logprobs = torch.zeros(bs, dtype=torch.float32)
    input_lens = [0] * bs
    if forward_batch.forward_mode.is_extend() and forward_batch.extend_seq_lens_cpu is not None:
        starts = forward_batch.extend_logprob_start_lens_cpu or [0] * bs
        input_lens = [max(0, int(e) - int(s)) for e, s in zip(forward_batch.extend_seq_lens_cpu, starts)]
        logits_output.input_token_logprobs = torch.zeros(sum(input_lens), dtype=torch.float32)
    tops = list(forward_batch.top_logprobs_nums or [0] * bs)
    if any(tops):
        logits_output.next_token_top_logprobs_val = [torch.zeros(k) for k in tops]
        logits_output.next_token_top_logprobs_idx = [torch.zeros(k, dtype=torch.int64) for k in tops]
        logits_output.input_top_logprobs_val = [[[0.0] * k] * n for k, n in zip(tops, input_lens)]
        logits_output.input_top_logprobs_idx = [[[0] * k] * n for k, n in zip(tops, input_lens)]
    wanted = list(forward_batch.token_ids_logprobs or [None] * bs)
    if any(w is not None for w in wanted):
        lists = [list(w or ()) for w in wanted]
        logits_output.next_token_token_ids_logprobs_val = [torch.zeros(len(w)) for w in lists]
        logits_output.next_token_token_ids_logprobs_idx = lists
        logits_output.input_token_ids_logprobs_val = [[[0.0] * len(w)] * n for w, n in zip(lists, input_lens)]
        logits_output.input_token_ids_logprobs_idx = [[w] * n for w, n in zip(lists, input_lens)]
