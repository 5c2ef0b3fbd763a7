import pytest
import torch
from torch import nn

from clinvla_kit.config import TrainCfg
from clinvla_kit.train.optim import build_optimizer, build_param_groups, group_lr, no_weight_decay


@pytest.mark.parametrize("name,shape,expected", [
    ("text.backbone.encoder.layer.0.output.adapt.language.down.weight", (64, 384), False),
    ("text.backbone.encoder.layer.0.output.adapt.language.down.bias", (64,), True),
    ("text.backbone.embeddings.word_embeddings.weight", (100, 384), True),
    ("text.backbone.encoder.layer.0.attention.output.LayerNorm.weight", (384,), True),
    ("vision.vit.blocks.0.norm1.weight", (192,), True),
    ("vision.vit.pos_embed", (1, 65, 192), True),
    ("vision.vit.cls_token", (1, 1, 192), True),
    ("vision.missing_token", (4, 192), True),
    ("vision.view_embed", (4, 192), True),
    ("vision.vit.patch_embed.proj.weight", (192, 3, 16, 16), False),
    ("logit_scale", (), True),
    ("loss_temps.local_temps", (3,), True),
    ("heads.global_img.weight", (128, 192), False),
    ("vision.temporal_adapter.weight", (8, 192), False),  # "temporal" is not a temperature
    ("text.invertible.f.0.weight", (96, 192), False),
])
def test_no_decay_rule(name, shape, expected):
    assert no_weight_decay(name, torch.zeros(shape)) is expected


def test_groups_learning_rates_and_decay():
    cfg = TrainCfg(lr=1e-3, lr_language_adapter=5e-5, lr_task_adapter=1e-4, lr_backbone=1e-6, weight_decay=1e-4)
    lang, task, head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
    scale = nn.Parameter(torch.tensor(1.0))
    frozen = nn.Linear(4, 4).requires_grad_(False)
    groups = {
        "language_adapter": list(lang.named_parameters()),
        "task_adapter": list(task.named_parameters()),
        "heads": list(head.named_parameters()) + [("frozen.weight", frozen.weight)],
        "temperature": [("logit_scale", scale)],
        "backbone": [],
    }
    pg = {g["name"]: g for g in build_param_groups(groups, cfg)}
    assert set(pg) == {"language_adapter", "language_adapter/no_decay", "task_adapter", "task_adapter/no_decay",
                       "heads", "heads/no_decay", "temperature/no_decay"}
    assert pg["language_adapter"]["lr"] == 5e-5 and pg["language_adapter/no_decay"]["lr"] == 5e-5
    assert pg["task_adapter"]["lr"] == 1e-4 and pg["heads"]["lr"] == 1e-3 and pg["temperature/no_decay"]["lr"] == 1e-3
    assert pg["heads"]["weight_decay"] == 1e-4 and pg["heads/no_decay"]["weight_decay"] == 0.0
    assert pg["heads"]["params"] == [head.weight] and pg["heads/no_decay"]["params"] == [head.bias]  # frozen skipped
    assert group_lr("backbone", cfg) == 1e-6 and group_lr("vision_adapter", cfg) == 1e-3


def test_duplicate_and_empty_are_errors():
    lin = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="in groups"):
        build_param_groups({"heads": [("w", lin.weight)], "lora": [("w", lin.weight)]}, TrainCfg())
    with pytest.raises(ValueError, match="no trainable"):
        build_param_groups({"heads": []}, TrainCfg())
    with pytest.raises(TypeError, match="parameter_groups"):
        build_optimizer(lin, TrainCfg())


def test_decay_really_skips_no_decay_params():
    """One AdamW step on zero gradients: only decayed weights shrink (by lr * wd), biases stay."""
    cfg = TrainCfg(lr=0.1, weight_decay=0.5)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def parameter_groups(self):
            return {"heads": list(self.named_parameters())}

    m = M()
    w0, b0 = m.lin.weight.detach().clone(), m.lin.bias.detach().clone()
    opt = build_optimizer(m, cfg)
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(m.lin.weight, w0 * (1 - 0.1 * 0.5))
    assert torch.equal(m.lin.bias, b0)
