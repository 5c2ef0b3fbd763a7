"""Drawing rules: lateral-only small effusions, retrocardiac opacity, masks per view, cardiomegaly agreement."""

from dataclasses import replace

import numpy as np

from clinvla_kit.synth.findings import Finding
from clinvla_kit.synth.plan import make_plan
from clinvla_kit.synth.render import render_view

S = 64


def _plan_with(*findings):
    p = make_plan(5, 2)[0]
    return replace(p, findings=tuple(findings), has_lateral=True, unusable="", view="PA")


def test_small_effusion_is_lateral_only_in_posterior_sulcus():
    p = _plan_with(Finding("pleural_effusion", 0.15, side="right", hidden_frontal=True))
    fr, la = render_view(p, "frontal", 0, S), render_view(p, "lateral", 0, S)
    assert fr.masks[0].sum() == 0
    ys, xs = np.nonzero(la.masks[0])
    assert len(xs) > 0
    # posterior (image right of the lung centre on the lateral) and low
    assert xs.mean() > S * 0.5 and ys.mean() > S * 0.5


def test_small_effusions_exist_at_larger_n():
    plans = make_plan(2000, 0)
    hidden = [f for p in plans for f in p.findings if f.kind == "pleural_effusion" and f.hidden_frontal]
    assert hidden and all(f.severity < 0.3 for f in hidden)


def test_retrocardiac_lll_is_faint_on_frontal_but_drawn_on_lateral():
    f = Finding("consolidation", 0.9, side="left", lobe="LLL", hidden_frontal=True)
    plain = _plan_with()
    p = _plan_with(f)
    fr0, fr1 = render_view(plain, "frontal", 0, S), render_view(p, "frontal", 0, S)
    la0, la1 = render_view(plain, "lateral", 0, S), render_view(p, "lateral", 0, S)
    m_fr, m_la = fr1.masks[0].astype(bool), la1.masks[0].astype(bool)
    assert m_la.sum() > 0
    d_fr = np.abs(fr1.image.astype(float) - fr0.image)[m_fr].mean() if m_fr.any() else 0.0
    d_la = np.abs(la1.image.astype(float) - la0.image)[m_la].mean()
    assert d_la > 3 * max(d_fr, 1.0)


def test_every_finding_has_masks_on_both_views_where_expected():
    kinds = [Finding("cardiomegaly", 0.8), Finding("pneumothorax", 0.7, side="left"),
             Finding("pneumonia", 0.7, side="right", lobe="RUL"), Finding("atelectasis", 0.7, side="bilateral"),
             Finding("edema", 0.7, side="bilateral"), Finding("nodule", 0.6, side="left", lobe="LUL", size_cm=2.5,
                                                              pos=(0.5, 0.3)),
             Finding("support_devices", 1.0, device="ett+pacemaker")]
    for f in kinds:
        p = _plan_with(f)
        for view in ("frontal", "lateral"):
            assert render_view(p, view, 0, S).masks[0].sum() > 0, (f.kind, view)
    fx = _plan_with(Finding("fracture", 0.7, side="left", pos=(0.6, 5)))
    assert render_view(fx, "frontal", 0, S).masks[0].sum() > 0
    assert render_view(fx, "lateral", 0, S).masks[0].sum() == 0  # ribs overlap on the lateral


def test_cardiomegaly_enlarges_heart_on_both_views():
    big = _plan_with(Finding("cardiomegaly", 1.0))
    for view in ("frontal", "lateral"):
        area_big = render_view(big, view, 0, S).masks[0].sum()
        p = _plan_with(Finding("cardiomegaly", 0.01))
        area_small = render_view(p, view, 0, S).masks[0].sum()
        assert area_big > area_small


def test_deterministic_and_unusable_images_differ():
    p = _plan_with(Finding("edema", 0.5, side="bilateral"))
    a, b = render_view(p, "frontal", 1, S), render_view(p, "frontal", 1, S)
    assert np.array_equal(a.image, b.image)
    blur = render_view(replace(p, unusable="motion_blur"), "frontal", 1, S)
    assert blur.unusable == "motion_blur" and not np.array_equal(blur.image, a.image)
