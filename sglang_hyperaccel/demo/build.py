"""Builds a demo model offline: a locally trained BPE tokenizer with a chat template, and a
Llama-architecture model in Hugging Face format (fp32), deterministic for a given config."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from sglang_hyperaccel import env
from sglang_hyperaccel.demo.configs import DEFAULT_DEMO_MODEL, DEMO_MODELS, DemoModelConfig
from sglang_hyperaccel.demo.corpus import documents

CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]
_CORPUS_DOCS = 20000
_MARKER = "BUILD_OK"  # written last, so a half-built directory is never taken for a model


def fingerprint(config: DemoModelConfig) -> str:
    """Identity of what a build produces: the config, the corpus and this builder's code.

    Stored in the marker, so a checkout whose demo-model recipe changed rebuilds instead of
    serving a stale model.
    """
    import hashlib
    import inspect

    from sglang_hyperaccel.demo import build as build_module
    from sglang_hyperaccel.demo import corpus

    digest = hashlib.sha256(repr(config).encode())
    for module in (corpus, build_module):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:16]


def model_path(name: str = DEFAULT_DEMO_MODEL) -> Path:
    """Where the demo model `name` lives (built or not)."""
    return env.model_dir() / name


def ensure_demo_model(name: str = DEFAULT_DEMO_MODEL) -> Path:
    """Return the path of demo model `name`, building it first if it is missing."""
    if name not in DEMO_MODELS:
        raise ValueError(f"unknown demo model {name!r}; known: {', '.join(DEMO_MODELS)}")
    path = model_path(name)
    marker = path / _MARKER
    if not marker.exists() or marker.read_text().strip() != fingerprint(DEMO_MODELS[name]):
        build(DEMO_MODELS[name], path)
    return path


def _train_tokenizer(config: DemoModelConfig, texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>", additional_special_tokens=SPECIAL_TOKENS[4:],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _train(model, tokenizer, config: DemoModelConfig, texts: list[str]) -> None:
    """A short next-token training run so outputs are well-formed; deterministic on one thread."""
    import torch

    ids: list[int] = []
    for text in texts:
        ids += [tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False),
                tokenizer.eos_token_id]
    data = torch.tensor(ids, dtype=torch.long)
    gen = torch.Generator().manual_seed(config.seed)
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=3e-3, total_steps=config.train_steps)
    model.train()
    span = config.train_seq_len + 1
    for _ in range(config.train_steps):
        starts = torch.randint(0, len(data) - span, (config.train_batch,), generator=gen)
        batch = torch.stack([data[s : s + span] for s in starts.tolist()])
        loss = model(input_ids=batch[:, :-1], labels=batch[:, :-1].clone()).loss
        loss.backward()
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
    model.eval()


def build(config: DemoModelConfig, path: Path) -> Path:
    """Build `config` into `path` (replacing anything there) and return `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = list(documents(_CORPUS_DOCS, seed=config.seed))
    tokenizer = _train_tokenizer(config, texts)
    vocab = len(tokenizer)
    hf_config = LlamaConfig(
        vocab_size=vocab, hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads, max_position_embeddings=config.max_position,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, rms_norm_eps=1e-5,
        rope_theta=10000.0, torch_dtype="float32",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread keeps reductions, hence weights, identical run to run
    try:
        torch.manual_seed(config.seed)
        model = LlamaForCausalLM(hf_config).to(torch.float32)
        if config.train_steps:
            _train(model, tokenizer, config, texts)
    finally:
        torch.set_num_threads(threads)

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{config.name}-", dir=path.parent))
    staging.chmod(0o755)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "demo_model.json").write_text(
        json.dumps({"name": config.name, "train_steps": config.train_steps}))
    (staging / _MARKER).write_text(fingerprint(config) + "\n")
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)
    return path
