"""A per-report cache of a frozen text tower's outputs (``model.text.cache_features``).

When nothing in the text tower trains (frozen backbone, no text adapters, no LoRA) and its dropout is 0, the
tower is a fixed function of the report's tokens: every epoch recomputes the same features. On 2 CPU cores the
MiniLM forward was more than half of a ``tiny`` training step, so caching it lets the same wall time buy about twice
the image-tower updates (measured in ``bench/RESULTS.md``). The idea is the one of LiT's locked tower: what does not
learn need not be recomputed.

Keys are the report's real token ids (padding excluded), so a report hits the cache whatever the batch's padded
length. Values are kept on the device they were computed on: ``[Dt]`` global embedding and ``[n, Dt]`` real-token
embeddings, about ``reports x tokens x Dt x 4`` bytes (1,400 SynthCXR reports: ~100 MB); meant for data sets of
CPU size, not for MIMIC-CXR with the paper preset (the presets other than ``tiny`` leave it off).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from clinvla_kit.model.outputs import TextOutput


def static_reason(tower: nn.Module, dropout: float | None) -> str:
    """"" when ``tower`` is a fixed function of its input (cacheable); otherwise why not, naming the config field."""
    trainable = [n for n, p in tower.named_parameters() if p.requires_grad]
    if trainable:
        return (f"the text tower trains ({len(trainable)} tensors, e.g. {trainable[0]}: text adapters, LoRA or "
                "model.text.freeze_backbone=false)")
    if dropout != 0.0:
        return f"model.text.dropout is {dropout} (train-mode outputs are random unless it is 0)"
    return ""


class TextFeatureCache:
    """Report tokens -> cached (global, word) features; computes only the reports it has not seen."""

    def __init__(self) -> None:
        self._store: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()

    def __call__(self, encode: Callable[[torch.Tensor, torch.Tensor], TextOutput], input_ids: torch.Tensor,
                 attention_mask: torch.Tensor, word_mask: torch.Tensor) -> TextOutput:
        """``encode(ids, mask)`` is the uncached tower. input_ids, attention_mask, word_mask [B, T] -> TextOutput.

        ``word_emb`` holds the cached values at real tokens and zeros at padding (which every consumer masks).
        """
        real = attention_mask.bool()
        keys = [input_ids[i][real[i]].cpu().numpy().tobytes() for i in range(len(input_ids))]
        new: dict[bytes, int] = {}  # one row per report not seen before
        for i, k in enumerate(keys):
            if k not in self._store and k not in new:
                new[k] = i
        rows = list(new.values())
        self.misses += len(rows)
        self.hits += len(keys) - len(rows)
        if rows:
            idx = torch.tensor(rows, device=input_ids.device)
            with torch.no_grad():
                out = encode(input_ids[idx], attention_mask[idx])
            for j, i in enumerate(rows):
                self._store[keys[i]] = (out.global_emb[j], out.word_emb[j][real[i]])
        g = torch.stack([self._store[k][0] for k in keys])
        words = g.new_zeros((*input_ids.shape, g.shape[-1]))
        for i, k in enumerate(keys):
            words[i][real[i]] = self._store[k][1]
        return TextOutput(global_emb=g, word_emb=words, word_mask=word_mask)
