"""query_precision: P@k of one query, its Wilson interval (against a grid-scan reference), the base rate."""

import numpy as np
import pytest

from clinvla_kit.config import SLOTS
from clinvla_kit.data.records import StudyRecord
from clinvla_kit.demo.query_precision import query_precision, wilson_interval

Z95 = 1.959963984540054  # standard normal 97.5 % quantile


def grid_wilson(successes, n, z=Z95):
    """Plain reference: every p on a fine grid with |successes/n - p| <= z sqrt(p (1 - p) / n); its min and max."""
    p = np.linspace(0.0, 1.0, 400_001)
    inside = np.abs(successes / n - p) <= z * np.sqrt(p * (1 - p) / n)
    return p[inside].min(), p[inside].max()


@pytest.mark.parametrize("successes,n", [(0, 5), (1, 5), (4, 5), (5, 5), (3, 10), (12, 40)])
def test_wilson_matches_the_grid_reference(successes, n):
    lo, hi = wilson_interval(successes, n)
    ref_lo, ref_hi = grid_wilson(successes, n)
    assert lo == pytest.approx(ref_lo, abs=1e-5) and hi == pytest.approx(ref_hi, abs=1e-5)


def test_wilson_rejects_bad_counts():
    for s, n in ((1, 0), (6, 5), (-1, 5)):
        with pytest.raises(ValueError, match="successes"):
            wilson_interval(s, n)


def record(i, effusion):
    return StudyRecord(subject_id=str(i), study_id=str(i), study_datetime="", images=dict.fromkeys(SLOTS),
                       labels={"Pleural Effusion": 1.0 if effusion else 0.0})


def test_precision_chance_and_verdict():
    archive = [record(i, i < 10) for i in range(50)]  # base rate 10 / 50 = 0.2
    qp = query_precision("pleural effusion", archive, [0, 1, 2, 3, 40], labels="Pleural Effusion")
    assert (qp.k, qp.hits, qp.precision, qp.chance, qp.n_archive) == (5, 4, 0.8, 0.2, 50)
    assert qp.ci == pytest.approx(grid_wilson(4, 5), abs=1e-5)
    assert not qp.includes_chance and "lies above chance" in qp.text() and "chance 0.20" in qp.text()
    low = query_precision("pleural effusion", archive, [40, 41, 42, 43, 0], labels=["Pleural Effusion"])
    assert low.includes_chance and "includes chance" in low.text()
    # the labels are read from the query by the kit's labeler when not given
    assert query_precision("large right pleural effusion", archive, [0]).labels == ("Pleural Effusion",)


def test_clear_errors():
    archive = [record(0, True)]
    with pytest.raises(ValueError, match="no finding recognised"):
        query_precision("hello", archive, [0])
    with pytest.raises(ValueError, match="unknown label"):
        query_precision("x", archive, [0], labels="Effusion")
    with pytest.raises(ValueError, match="no hits"):
        query_precision("x", archive, [], labels="Pleural Effusion")
