"""The example sets for notebook 09 load with every loader and pass every validator."""

from __future__ import annotations

from clinvla_kit.data.sources.benchmarks import load_chexpert_5x200, load_chexpert_8x200
from clinvla_kit.data.sources.chexpert import load_chexpert
from clinvla_kit.data.sources.examples import write_examples
from clinvla_kit.data.sources.ms_cxr import load_ms_cxr, load_ms_cxr_t
from clinvla_kit.data.sources.nih import load_nih
from clinvla_kit.data.sources.openi import load_openi_csv, load_openi_xml
from clinvla_kit.data.sources.rsna import load_rsna
from clinvla_kit.data.validation import VALIDATORS


def test_examples_load_and_validate(tmp_path):
    made = write_examples(tmp_path)
    assert len(load_chexpert(made["chexpert"] / "CheXpert-v1.0-small" / "train.csv")) == 2
    assert len(load_chexpert_5x200(made["chexpert-5x200"] / "chexpert_5x200.csv")) == 10
    assert len(load_chexpert_8x200(made["chexpert-8x200"] / "chexpert_8x200", made["chexpert-8x200"])[1]) == 16
    rsna = load_rsna(made["rsna"], check_headers=True)
    assert rsna.target.tolist() == [0, 1, 0, 1, 1, 0] and rsna.split.tolist() == ["train"] * 4 + ["test"] * 2
    xml, csv = load_openi_xml(made["openi"]), load_openi_csv(made["openi"])
    assert [r.present for r in xml] == [r.present for r in csv] == [(True, True, False, False)] * 3
    assert xml[1].labels["Cardiomegaly"] == 1.0 and xml[2].labels["Pneumonia"] == -1.0
    assert load_nih(made["nih"]).split.tolist() == ["train", "train", "test"]
    assert len(load_ms_cxr(made["ms-cxr"] / "MS_CXR_Local_Alignment_v1.1.0.csv", made["ms-cxr"])) == 2
    assert len(load_ms_cxr_t(made["ms-cxr-t"] / "MS_CXR_T_temporal_image_classification_v1.0.0.csv",
                             made["ms-cxr-t"])) == 2
    for kind, root in made.items():
        rep = VALIDATORS[kind](root, known={})
        assert rep.ok, rep.format()
