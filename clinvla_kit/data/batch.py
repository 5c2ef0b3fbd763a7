"""The batch that the collate function produces and the model consumes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class Batch:
    """A collated batch of studies.

    Attributes:
        images: [B, 4, C, H, W] float, normalised; slots in ``SLOTS`` order, zeros where a slot is missing.
        present: [B, 4] bool, which slots hold a real image.
        input_ids: [B, T] long, tokenised cleaned report (T = max_tokens).
        attention_mask: [B, T] long/bool, 1 for real tokens.
        labels: [B, 14] float, CheXpert observations (1, 0, -1; NaN where blank).
        study_ids: list of B study ids (strings), for logging, retrieval and error messages.
        texts: list of B cleaned report strings (what was tokenised).
    """

    images: torch.Tensor
    present: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor
    study_ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Move every tensor field to ``device``."""
        return replace(
            self,
            images=self.images.to(device, non_blocking=non_blocking),
            present=self.present.to(device, non_blocking=non_blocking),
            input_ids=self.input_ids.to(device, non_blocking=non_blocking),
            attention_mask=self.attention_mask.to(device, non_blocking=non_blocking),
            labels=self.labels.to(device, non_blocking=non_blocking),
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])
