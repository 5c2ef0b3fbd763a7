"""The per-finding queries: prompts from annotation rows and the report's positive sentences about a finding."""

from __future__ import annotations

from clinvla_kit.viz.finding_queries import finding_prompt, finding_word_rows, sentences


def test_finding_prompt_keeps_the_side_of_one_sided_findings():
    assert finding_prompt({"finding": "pleural_effusion", "side": "left"}) == "left pleural effusion"
    assert finding_prompt({"finding": "pleural_effusion", "side": "bilateral"}) == "bilateral pleural effusion"
    assert finding_prompt({"finding": "cardiomegaly", "side": "left"}) == "cardiomegaly"
    assert finding_prompt({"finding": "pneumothorax", "side": "right"}) == "right pneumothorax"
    assert finding_prompt({"finding": "new_thing"}) == "new thing"


def test_finding_prompt_reads_like_the_report_with_grade_and_lobe():
    row = {"finding": "consolidation", "side": "right", "lobe": "RLL", "severity_word": "moderate"}
    assert finding_prompt(row) == "moderate consolidation in the right lower lobe"
    assert finding_prompt({**row, "finding": "pneumonia", "lobe": "lingula"}) == "moderate pneumonia in the lingula"
    assert finding_prompt({"finding": "pleural_effusion", "side": "left", "severity_word": "small"}) == \
        "small left pleural effusion"
    assert finding_prompt({"finding": "cardiomegaly", "side": "", "severity_word": "severe"}) == "severe cardiomegaly"
    # a nodule is measured, not graded; an unknown lobe falls back to the side
    assert finding_prompt({"finding": "nodule", "side": "left", "lobe": "LUL", "severity_word": "small"}) == \
        "pulmonary nodule in the left upper lobe"
    assert finding_prompt({"finding": "consolidation", "side": "left", "lobe": "XYZ"}) == "left consolidation"


def test_finding_prompt_matches_every_synthcxr_report_phrase():
    """A prompt's grade and place words are those the report generator writes for the same finding
    (``synth.reports.describe``), so the prompt asks in the words the model was trained on."""
    import numpy as np

    from clinvla_kit.synth.findings import Finding
    from clinvla_kit.synth.reports import describe

    for kind, side, lobe in [("consolidation", "right", "RML"), ("pneumonia", "left", "LLL"),
                             ("pleural_effusion", "left", ""), ("pneumothorax", "right", ""),
                             ("edema", "bilateral", "")]:
        f = Finding(kind=kind, severity=0.5, side=side, lobe=lobe)
        phrase = describe(f, np.random.default_rng(0), abbr=False)
        prompt = finding_prompt({"finding": kind, "side": side, "lobe": lobe, "severity_word": f.severity_word})
        # the grade and place words of the prompt are the report's (the noun is one of several synonyms)
        place = prompt.replace(finding_prompt({"finding": kind}), "").split()
        assert place and all(w in phrase.split() for w in place), (prompt, phrase)


def test_finding_word_rows_takes_positive_sentences_only():
    text = ("mild enlargement of the cardiac silhouette is seen . there is no pleural effusion . "
            "moderate left pleural fluid collection . heart size is normal . mild enlargement of the cardiac "
            "silhouette is seen .")
    words = text.split()
    assert sentences(["a", ".", "b"]) == [[0, 1], [2]]
    got = [words[i] for i in finding_word_rows(words, "cardiomegaly")]
    # plain reference: the two positive heart sentences without filler; "heart size is normal" is a negation
    assert got == ["mild", "enlargement", "cardiac", "silhouette"] * 2
    assert [words[i] for i in finding_word_rows(words, "pleural_effusion")] == ["moderate", "left", "pleural",
                                                                                 "fluid", "collection"]
    assert finding_word_rows(words, "pneumothorax") == []
