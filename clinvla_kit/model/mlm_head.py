"""The auxiliary masked-language term of alignment (``loss.mlm_weight``): BERT's MLM head, conditioned on the image.

What BERT scores a masked position with is not ``h @ E.T``: its head first applies a transform (dense, GELU,
LayerNorm) and adds an output bias per vocabulary entry, then multiplies by the tied word-embedding matrix ``E``.
Scoring raw hidden states against ``E`` skips that transform and gives a loss that a pretrained encoder cannot
lower well. ALTA's MLM also reads the image: the image's global embedding is added to every text hidden state
before the head, so masked finding words are predicted from the image as well as from the report's context, and
half of the words are masked (``loss.mlm_mask_prob``, 0.5) rather than BERT's 15 %.

``ConditionedMLMHead.from_source`` takes the transform and bias from a BERT checkpoint that has them
(``cls.predictions.*`` of BertForMaskedLM); a sentence encoder such as all-MiniLM-L6-v2 has none, and the head then
starts fresh (dense near identity is not needed: the term only regularises the adapters).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

PREFIX = "cls.predictions."


class ConditionedMLMHead(nn.Module):
    """hidden [B, T, Dt], image [B, Dv] (or None), word embeddings [V, Dt] -> logits [B, T, V].

    ``image`` is projected by a zero-initialised linear map, so at initialisation the head is the plain
    text-only BERT head and the image's contribution is learned.
    """

    def __init__(self, text_dim: int, image_dim: int, vocab_size: int, eps: float = 1e-12) -> None:
        super().__init__()
        self.image = nn.Linear(image_dim, text_dim)
        nn.init.zeros_(self.image.weight)
        nn.init.zeros_(self.image.bias)
        self.dense = nn.Linear(text_dim, text_dim)
        self.norm = nn.LayerNorm(text_dim, eps=eps)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor,
                image: torch.Tensor | None = None) -> torch.Tensor:
        h = hidden if image is None else hidden + self.image(image)[:, None]
        h = self.norm(nn.functional.gelu(self.dense(h)))
        return h @ word_embeddings.T + self.bias

    def load_bert_head(self, state: dict[str, torch.Tensor]) -> bool:
        """Copy ``cls.predictions.transform.*`` and ``cls.predictions.bias`` from a BertForMaskedLM state dict;
        returns False (and changes nothing) when ``state`` has no MLM head."""
        keys = {
            "dense.weight": "transform.dense.weight", "dense.bias": "transform.dense.bias",
            "norm.weight": "transform.LayerNorm.weight", "norm.bias": "transform.LayerNorm.bias", "bias": "bias",
        }
        if not all(PREFIX + src in state for src in keys.values()):
            return False
        own = self.state_dict()
        for dst, src in keys.items():
            if own[dst].shape != state[PREFIX + src].shape:
                raise ValueError(f"MLM head {PREFIX + src}: shape {tuple(state[PREFIX + src].shape)} does not fit "
                                 f"{tuple(own[dst].shape)}")
            own[dst] = state[PREFIX + src]
        self.load_state_dict(own)
        return True

    @classmethod
    def from_source(cls, source: str | Path, text_dim: int, image_dim: int, vocab_size: int) -> ConditionedMLMHead:
        """A head whose transform and bias come from ``source``'s ``model.safetensors`` where it has them."""
        head = cls(text_dim, image_dim, vocab_size)
        weights = Path(source) / "model.safetensors"
        if weights.is_file():
            from safetensors import safe_open

            with safe_open(str(weights), "pt") as fh:
                state = {k: fh.get_tensor(k) for k in fh.keys() if k.startswith(PREFIX)}
            head.load_bert_head(state)
        return head


def conditioned_mlm_loss(tower: nn.Module, head: ConditionedMLMHead, input_ids: torch.Tensor,
                         attention_mask: torch.Tensor, image: torch.Tensor | None, prob: float = 0.5,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy over the masked real words of a second, masked pass through the text tower.

    input_ids, attention_mask [B, T]; image [B, Dv] (the image tower's global embedding) or None. The hidden
    states go back through the invertible adapter's inverse (MAD-X), then the head; only masked positions are
    scored (the others cost nothing)."""
    from clinvla_kit.model.text import mask_for_mlm

    mask_id = tower.tokenizer.mask_token_id
    if mask_id is None:
        raise ValueError(f"text.name_or_path={tower.cfg.name_or_path!r}: tokenizer has no [MASK] token for the MLM term")
    masked, labels = mask_for_mlm(input_ids, tower.word_mask(input_ids, attention_mask), mask_id, prob, generator)
    h = tower.backbone(input_ids=masked, attention_mask=attention_mask).last_hidden_state
    if hasattr(tower.invertible, "inverse"):
        h = tower.invertible.inverse(h)
    sel = labels != -100  # [B, T]
    rows = sel.nonzero()[:, 0]
    img = None if image is None else image[rows]  # [N, Dv]: each masked word's own study
    emb = tower.backbone.get_input_embeddings().weight
    logits = head(h[sel][:, None], emb, img)[:, 0]  # [N, V]
    return nn.functional.cross_entropy(logits, labels[sel])
