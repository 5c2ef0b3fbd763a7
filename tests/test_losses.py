"""Losses against plain loop references written here (never numbers copied from the code under test)."""

from __future__ import annotations

import math

import pytest
import torch

from clinvla_kit import distributed
from clinvla_kit.config import LossCfg
from clinvla_kit.losses import global_contrastive_loss, local_alignment_loss, total_loss
from clinvla_kit.model.outputs import ClinVLAOutput


def _ce(logits: list[float], target: int) -> float:
    m = max(logits)
    return -(logits[target] - m - math.log(sum(math.exp(v - m) for v in logits)))


def _norm(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / max(n, 1e-12) for x in v]


def global_reference(img: torch.Tensor, txt: torch.Tensor, s: float) -> float:
    a = [_norm(r) for r in img.tolist()]
    t = [_norm(r) for r in txt.tolist()]
    n = len(a)
    sim = [[s * sum(x * y for x, y in zip(a[i], t[j])) for j in range(n)] for i in range(n)]
    rows = sum(_ce(sim[i], i) for i in range(n)) / n
    cols = sum(_ce([sim[i][j] for i in range(n)], j) for j in range(n)) / n
    return 0.5 * (rows + cols)


def _softmax(v):
    m = max(v)
    e = [math.exp(x - m) for x in v]
    return [x / sum(e) for x in e]


def local_reference(patches, words, word_mask, patch_mask, temps):
    """Per-report, per-image loop of GLoRIA's formulation (docs/ARCHITECTURE.md, "Contracts")."""
    t1, t2, t3 = temps
    b = len(words)
    scores = [[0.0] * b for _ in range(b)]
    own_attn = []
    for i in range(b):
        ws = [w for w, m in zip(words[i], word_mask[i]) if m]
        for j in range(b):
            vs = [v for v, m in zip(patches[j], patch_mask[j]) if m]
            s = [[sum(x * y for x, y in zip(w, v)) for v in vs] for w in ws]
            # softmax over words, separately for each patch
            a = [[0.0] * len(vs) for _ in ws]
            for p in range(len(vs)):
                col = _softmax([s[k][p] for k in range(len(ws))])
                for k in range(len(ws)):
                    a[k][p] = col[k]
            r_terms = []
            alphas = []
            for k, w in enumerate(ws):
                alpha = _softmax([t1 * x for x in a[k]])
                alphas.append(alpha)
                c = [sum(alpha[p] * vs[p][d] for p in range(len(vs))) for d in range(len(w))]
                cos = sum(x * y for x, y in zip(w, c)) / (
                    max(math.sqrt(sum(x * x for x in w)) * math.sqrt(sum(x * x for x in c)), 1e-8))
                r_terms.append(t2 * cos)
            m = max(r_terms)
            scores[i][j] = t3 * (m + math.log(sum(math.exp(x - m) for x in r_terms)))
            if i == j:
                own_attn.append(alphas)
    rows = sum(_ce(scores[i], i) for i in range(b)) / b
    cols = sum(_ce([scores[i][j] for i in range(b)], j) for j in range(b)) / b
    return 0.5 * (rows + cols), own_attn


def test_global_matches_loop():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    got = global_contrastive_loss(img, txt, torch.tensor(3.0))
    assert got.item() == pytest.approx(global_reference(img, txt, 3.0), abs=1e-5)


def test_gather_is_noop_at_world_one():
    x = torch.randn(4, 3, requires_grad=True)
    assert distributed.world_size() == 1
    assert distributed.all_gather_with_grad(x) is x


@pytest.mark.parametrize("chunk", [1, 2, 16])
def test_local_matches_per_pair_loop_with_masks(chunk):
    g = torch.Generator().manual_seed(1)
    b, w, p, d = 4, 5, 6, 3
    patches, words = torch.randn(b, p, d, generator=g), torch.randn(b, w, d, generator=g)
    word_mask = torch.rand(b, w, generator=g) > 0.3
    word_mask[:, 0] = True
    patch_mask = torch.rand(b, p, generator=g) > 0.4
    patch_mask[:, -1] = True
    temps = (4.0, 5.0, 10.0)
    loss, attn = local_alignment_loss(patches, words, word_mask, patch_mask, temps, chunk=chunk)
    ref, ref_attn = local_reference(patches.tolist(), words.tolist(), word_mask.tolist(), patch_mask.tolist(), temps)
    assert loss.item() == pytest.approx(ref, abs=1e-5)
    assert attn.shape == (b, w, p)
    for i in range(b):
        valid_w = word_mask[i].nonzero().flatten()
        valid_p = patch_mask[i].nonzero().flatten()
        got = attn[i][valid_w][:, valid_p]
        assert torch.allclose(got, torch.tensor(ref_attn[i]), atol=1e-5)
        assert torch.allclose(attn[i][valid_w][:, ~patch_mask[i]], torch.zeros(1))


def test_local_without_patch_mask_and_tensor_temps_gradients():
    g = torch.Generator().manual_seed(2)
    patches = torch.randn(3, 4, 2, generator=g, requires_grad=True)
    words = torch.randn(3, 3, 2, generator=g)
    temps = torch.tensor([4.0, 5.0, 10.0], requires_grad=True)
    loss, _ = local_alignment_loss(patches, words, torch.ones(3, 3, dtype=torch.bool), None, temps)
    ref, _ = local_reference(patches.tolist(), words.tolist(), [[True] * 3] * 3, [[True] * 4] * 3, (4.0, 5.0, 10.0))
    assert loss.item() == pytest.approx(ref, abs=1e-5)
    loss.backward()
    assert patches.grad is not None and temps.grad is not None and torch.isfinite(temps.grad).all()


def test_local_empty_report_names_the_row():
    words, patches = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    with pytest.raises(ValueError, match=r"\[1\].*no valid words"):
        local_alignment_loss(patches, words, mask, None)


def _out(b=3, d=4, extra=None):
    g = torch.Generator().manual_seed(3)
    return ClinVLAOutput(
        img_global=torch.randn(b, d, generator=g), txt_global=torch.randn(b, d, generator=g),
        img_local=torch.randn(b, 5, d, generator=g), txt_local=torch.randn(b, 6, d, generator=g),
        patch_mask=torch.ones(b, 5, dtype=torch.bool), word_mask=torch.ones(b, 6, dtype=torch.bool),
        logit_scale=torch.tensor(10.0), local_temps=torch.tensor([4.0, 5.0, 10.0]), extra_losses=extra or {},
    )


def test_total_loss_weights_terms():
    out = _out(extra={"mae": torch.tensor(2.0)})
    cfg = LossCfg(global_weight=1.0, local_weight=0.8, mae_weight=0.5)
    loss, terms = total_loss(out, cfg)
    assert set(terms) == {"global", "local", "mae"}
    expected = terms["global"] + 0.8 * terms["local"] + 0.5 * 2.0
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    g = global_contrastive_loss(out.img_global, out.txt_global, out.logit_scale)
    assert terms["global"].item() == pytest.approx(g.item())


def test_local_batch_uses_the_first_studies_as_the_local_negatives():
    out = _out(b=5)
    _, terms = total_loss(out, LossCfg(local_weight=1.0, local_batch=3))
    ref, _ = local_alignment_loss(out.img_local[:3], out.txt_local[:3], out.word_mask[:3], out.patch_mask[:3],
                                  out.local_temps)
    assert terms["local"].item() == pytest.approx(ref.item(), abs=1e-6)
    g = global_contrastive_loss(out.img_global, out.txt_global, out.logit_scale)  # the global term keeps all 5
    assert terms["global"].item() == pytest.approx(g.item())
    _, full = total_loss(out, LossCfg(local_weight=1.0))
    assert full["local"].item() != pytest.approx(terms["local"].item())


def test_total_loss_missing_term_is_an_error():
    with pytest.raises(ValueError, match="mlm"):
        total_loss(_out(), LossCfg(mlm_weight=0.1))


def test_chunked_checkpointed_gradients_equal_unchunked():
    g = torch.Generator().manual_seed(4)
    p0, w0 = torch.randn(5, 6, 4, generator=g), torch.randn(5, 3, 4, generator=g)
    wm = torch.rand(5, 3, generator=g) > 0.2
    wm[:, 0] = True
    grads = []
    for chunk in (2, 5):
        p, w = p0.clone().requires_grad_(True), w0.clone().requires_grad_(True)
        loss, _ = local_alignment_loss(p, w, wm, None, chunk=chunk)
        loss.backward()
        grads.append((loss.detach(), p.grad, w.grad))
    for a, b in zip(grads[0], grads[1]):
        assert torch.allclose(a, b, atol=1e-6)
