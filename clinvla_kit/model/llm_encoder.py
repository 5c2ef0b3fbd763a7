"""A decoder-only LLM as a bidirectional text encoder, as LLM2Vec (BehnamGhader et al. 2024) makes one.

Three changes turn a causal language model into a sentence encoder:
1. **bidirectional attention**: every token attends to every real token (the causal mask is replaced by a padding
   mask), so a word's state sees the words after it ("effusion ... no" reads the negation);
2. **pooling**: mean over the report's tokens, or NV-Embed's latent attention (the token states attend to a small
   trained latent array, then an MLP, then the mean); the instruction tokens are left out of the pool;
3. **an instruction prefix** ("Given a chest X-ray report, represent its findings:") prepended to every input.
The adaptation itself (masked next-token prediction + supervised contrastive learning, LoRA) is
``clinvla_kit.train.pretrain_text``.

Why not the ``llm2vec`` package: its release on PyPI (0.2.3) pins ``transformers>=4.43.1,<=4.44.2`` and patches
that version's Llama internals, while the kit runs transformers 5.x; installing it would downgrade transformers for
the whole kit. So the bidirectional forward is written here (about 40 lines): it runs the model's own embedding,
rotary embedding, decoder layers and final norm, with an explicit 4-D padding mask and ``is_causal=False`` on every
attention module. It works for the Llama family (Llama, Mistral, Qwen2 share that layout) and is tested with a tiny
random Llama; a real checkpoint by name takes the same path (``model.text.name_or_path=meta-llama/...``, network).

``LLMEncoder`` looks like a BERT backbone to ``TextTower``: ``.config`` (with ``hidden_size``), ``.embeddings`` (the
token embedding, where the invertible adapter's hook goes), ``get_input_embeddings()`` and
``forward(input_ids, attention_mask) -> .last_hidden_state [B, T, D]`` aligned with the input tokens. The encoder's
settings live in its config as ``clinvla_llm_encoder`` so a saved directory (or a ClinVLA run's ``text_model/``)
rebuilds the same encoder.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

META_KEY = "clinvla_llm_encoder"
LATENT_FILE = "latent_attention.safetensors"
DEFAULT_INSTRUCTION = "Given a chest X-ray report, represent its findings: "
POOLINGS: tuple[str, ...] = ("mean", "latent")


def is_llm_config(config) -> bool:
    """A decoder-only LM config (``*ForCausalLM`` architecture) or one of our saved encoders."""
    if getattr(config, META_KEY, None):
        return True
    return any(str(a).endswith("ForCausalLM") for a in (getattr(config, "architectures", None) or []))


class LatentAttention(nn.Module):
    """NV-Embed's latent attention: token states [B, T, D] attend to ``n_latents`` trained vectors, then an MLP.

    Residual, with the MLP's last layer zero-initialised, so an untrained layer is the identity and pooling starts as
    the plain mean (adding it cannot make a pretrained encoder worse before it trains)."""

    def __init__(self, dim: int, n_latents: int = 32, heads: int = 4) -> None:
        super().__init__()
        heads = heads if dim % heads == 0 else 1
        self.latents = nn.Parameter(torch.randn(n_latents, dim) * dim ** -0.5)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        kv = self.latents.to(h.dtype).expand(h.shape[0], -1, -1)
        a, _ = self.attn(h, kv, kv, need_weights=False)
        return h + self.mlp(a)


def bidirectional_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, T] (1 = real) -> additive [B, 1, T, T]: 0 where the key is a real token, the dtype's minimum elsewhere.

    Every query row may attend to every real key (no causal triangle). Padding queries see the real keys too, so no
    row is all masked (an all-masked softmax row is NaN)."""
    keep = attention_mask[:, None, None, :].bool()
    big = torch.finfo(dtype).min
    return torch.zeros(keep.shape, dtype=dtype, device=attention_mask.device).masked_fill(~keep, big).expand(
        -1, 1, attention_mask.shape[1], -1)


class LLMEncoder(nn.Module):
    """A causal LM's base model (``LlamaModel``-like) run bidirectionally with an instruction prefix and pooling.

    Args:
        model: the base decoder (``embed_tokens``, ``rotary_emb``, ``layers``, ``norm``), e.g. ``LlamaModel``.
        meta: ``{"pooling": "mean" | "latent", "instruction": str, "instruction_ids": [int], "n_latents": int}``.
    """

    is_llm_encoder = True

    def __init__(self, model: nn.Module, meta: dict) -> None:
        super().__init__()
        for need in ("embed_tokens", "rotary_emb", "layers", "norm"):
            if not hasattr(model, need):
                raise ValueError(f"{type(model).__name__}: not a Llama-family decoder (no .{need}); the bidirectional "
                                 "encoder supports Llama, Mistral and Qwen2-style models")
        if meta.get("pooling", "mean") not in POOLINGS:
            raise ValueError(f"LLM encoder pooling must be one of {POOLINGS}, got {meta.get('pooling')!r}")
        self.model = model
        self.meta = dict(meta)
        setattr(model.config, META_KEY, self.meta)
        self.config = model.config
        for layer in model.layers:
            if hasattr(layer, "self_attn"):
                layer.self_attn.is_causal = False
        self.register_buffer("instruction_ids", torch.tensor(self.meta.get("instruction_ids", []), dtype=torch.long),
                             persistent=False)
        dim = int(model.config.hidden_size)
        self.latent = LatentAttention(dim, int(self.meta.get("n_latents", 32))) if self.meta["pooling"] == "latent" \
            else None

    @property
    def embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, causal: bool = False
                      ) -> torch.Tensor:
        """[B, T] -> [B, P + T, D]: the bidirectional decoder's last states with the P instruction tokens first.

        ``causal=True`` adds the causal triangle back (the tests compare that with the library's own forward)."""
        b = input_ids.shape[0]
        p = self.instruction_ids.numel()
        if p:
            input_ids = torch.cat([self.instruction_ids.to(input_ids.device).expand(b, -1), input_ids], dim=1)
            attention_mask = torch.cat([attention_mask.new_ones(b, p), attention_mask], dim=1)
        h = self.model.embed_tokens(input_ids)
        pos = torch.arange(h.shape[1], device=h.device)[None].expand(b, -1)
        rope = self.model.rotary_emb(h, pos)
        mask = bidirectional_mask(attention_mask, h.dtype)
        if causal:
            t = h.shape[1]
            tri = torch.ones(t, t, dtype=torch.bool, device=h.device).triu(1)
            mask = mask.masked_fill(tri, torch.finfo(h.dtype).min)
        for layer in self.model.layers:
            out = layer(h, attention_mask=mask, position_ids=pos, position_embeddings=rope)
            h = out[0] if isinstance(out, tuple) else out
        return self.model.norm(h)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs) -> SimpleNamespace:
        """-> ``.last_hidden_state`` [B, T, D] for the input tokens only (instruction states dropped), after the
        latent attention when ``pooling == "latent"``; ``TextTower`` then takes the masked mean."""
        h = self.hidden_states(input_ids, attention_mask)[:, self.instruction_ids.numel():]
        if self.latent is not None:
            h = self.latent(h)
        return SimpleNamespace(last_hidden_state=h)


def make_meta(tokenizer, pooling: str = "mean", instruction: str = DEFAULT_INSTRUCTION, n_latents: int = 32) -> dict:
    ids = tokenizer(instruction, add_special_tokens=False)["input_ids"] if instruction else []
    return {"pooling": pooling, "instruction": instruction, "instruction_ids": [int(i) for i in ids],
            "n_latents": int(n_latents)}


def load_causal_lm(source: str):
    """(causal LM with its head, tokenizer with a pad token) from a hub name or local directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return AutoModelForCausalLM.from_pretrained(source), tok


def maybe_llm_encoder(source: str, config_only: bool) -> LLMEncoder | None:
    """The ``LLMEncoder`` of ``source`` when its config is a decoder LM (else None: a BERT-family encoder).

    A plain causal-LM checkpoint gets mean pooling and no instruction (its tokenizer is not at hand here); a
    directory written by ``save_llm_encoder`` brings its own settings and latent-attention weights."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(source)
    if not is_llm_config(config):
        return None
    meta = getattr(config, META_KEY, None) or {"pooling": "mean", "instruction": "", "instruction_ids": []}
    if config_only:
        base = AutoModel.from_config(config)
    else:
        base = AutoModel.from_pretrained(source)
        base = getattr(base, "model", base) if not hasattr(base, "layers") else base
    enc = LLMEncoder(base, meta)
    latent = Path(source) / LATENT_FILE
    if enc.latent is not None and not config_only and latent.is_file():
        from safetensors.torch import load_file

        enc.latent.load_state_dict(load_file(str(latent)))
    return enc


def save_llm_encoder(enc: LLMEncoder, tokenizer, out: str | Path) -> None:
    """Save the base model (weights + config with the encoder settings), latent weights and tokenizer to ``out``."""
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    setattr(enc.model.config, META_KEY, enc.meta)
    enc.model.save_pretrained(str(out))
    if enc.latent is not None:
        save_file({k: v.detach().contiguous().cpu() for k, v in enc.latent.state_dict().items()}, str(out / LATENT_FILE))
    tokenizer.save_pretrained(str(out))
