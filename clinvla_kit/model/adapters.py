"""Bottleneck adapters: the Transformer-Adapt stack for text (and optionally vision) and the ViT block adapters.

Every bottleneck adapter is ``x + up(act(down(x)))`` with the up-projection initialised to zero, so a freshly built
adapter is exactly the identity: a frozen pretrained backbone with fresh adapters gives the same output as without
them, and training starts from the pretrained representation instead of a perturbed one (tested).
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}
"""Adapter non-linearities: ReLU (the paper, Houlsby adapters) or GELU (ALTA's vision adapters)."""


class BottleneckAdapter(nn.Module):
    """``x [..., D] -> x + up(act(down(x)))``, bottleneck ``d`` (64 in the paper; ALTA: a quarter of D).

    Args:
        dim: width D of the stream the adapter sits on.
        bottleneck: hidden width d.
        residual: False gives only the branch ``up(act(down(x)))`` (used for the parallel ViT adapter, whose
            residual is the MLP's own).
        activation: "relu" or "gelu".
    """

    def __init__(self, dim: int, bottleneck: int = 64, residual: bool = True, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"model.adapters.activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.down = nn.Linear(dim, bottleneck)
        self.up = nn.Linear(bottleneck, dim)
        self.act = ACTIVATIONS[activation]()
        self.residual = residual
        nn.init.kaiming_normal_(self.down.weight, nonlinearity="relu")
        nn.init.zeros_(self.down.bias)
        # Zero up-projection: the adapter starts as the identity (or a zero branch).
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """The adapter's own contribution ``up(act(down(x)))``, without any residual."""
        return self.up(self.act(self.down(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.branch(x)
        return x + h if self.residual else h


class TransformerAdapt(nn.Module):
    """Language adapter then task adapter, stacked as in MAD-X: ``x + task_branch(language(x))``.

    The language adapter's output is the task adapter's *input*; only the task adapter's branch is added to the
    sub-layer's output ``x`` (which then goes to the residual + layer norm). Consequence (tested): with a fresh task
    adapter (zero up-projection) the output is ``x`` whatever the language adapter's weights, so a language adapter
    trained elsewhere can be plugged in without changing the layer until the task adapter learns to use it.
    Switched off (``enabled=False``, the -Transformer-Adapt ablation) both parts are ``nn.Identity`` and the module
    is the identity. The parameter-group code finds the two parts by their attribute names ``language_adapter`` /
    ``task_adapter`` (they get different learning rates).
    """

    def __init__(self, dim: int, bottleneck: int = 64, enabled: bool = True, activation: str = "relu") -> None:
        super().__init__()
        self.language_adapter: nn.Module = (BottleneckAdapter(dim, bottleneck, activation=activation) if enabled
                                            else nn.Identity())
        self.task_adapter: nn.Module = (BottleneckAdapter(dim, bottleneck, activation=activation) if enabled
                                        else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.task_adapter, BottleneckAdapter):
            return x + self.task_adapter.branch(self.language_adapter(x))
        return self.language_adapter(x)


class AdaptedBertOutput(nn.Module):
    """Wraps a Hugging Face ``BertOutput``-style module (``dense``, ``dropout``, ``LayerNorm``).

    The original computes ``LayerNorm(dropout(dense(h)) + input)``; this inserts Transformer-Adapt after the
    feed-forward output and before the residual + layer norm, as in the paper. Wrapping the submodule (instead of
    subclassing BertLayer) keeps it working for every BERT-family model whose layers have that submodule (BERT,
    MiniLM, BioBERT, RoBERTa, ELECTRA), and leaves the pretrained weights under ``base.``.
    """

    def __init__(self, base: nn.Module, adapt: nn.Module) -> None:
        super().__init__()
        for attr in ("dense", "dropout", "LayerNorm"):
            if not hasattr(base, attr):
                raise TypeError(f"{type(base).__name__} has no {attr!r}: not a BertOutput-style module")
        self.base = base
        self.adapt = adapt

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        h = self.base.dropout(self.base.dense(hidden_states))
        h = self.adapt(h)
        return self.base.LayerNorm(h + input_tensor)


def bert_output_modules(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(parent layer, "output") pairs of every transformer layer whose FFN output can be wrapped."""
    found = []
    for module in model.modules():
        out = getattr(module, "output", None)
        if (
            hasattr(module, "intermediate") and isinstance(out, nn.Module)
            and hasattr(out, "dense") and hasattr(out, "LayerNorm")
        ):
            found.append((module, "output"))
    return found


def add_transformer_adapt(model: nn.Module, dim: int, bottleneck: int, enabled: bool = True,
                          activation: str = "relu") -> int:
    """Wrap every layer's FFN output of a HF encoder with Transformer-Adapt; returns how many layers were wrapped."""
    pairs = bert_output_modules(model)
    if not pairs:
        raise ValueError(f"{type(model).__name__}: found no BertOutput-style layers to place adapters in")
    for parent, attr in pairs:
        adapt = TransformerAdapt(dim, bottleneck, enabled, activation=activation)
        setattr(parent, attr, AdaptedBertOutput(getattr(parent, attr), adapt))
    return len(pairs)
