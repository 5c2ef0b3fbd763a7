"""The per-finding queries: prompts from annotation rows and the report's positive sentences about a finding."""

from __future__ import annotations

from clinvla_kit.viz.finding_queries import finding_prompt, finding_word_rows, sentences


def test_finding_prompt_keeps_the_side_of_one_sided_findings():
    assert finding_prompt({"finding": "pleural_effusion", "side": "left"}) == "left pleural effusion"
    assert finding_prompt({"finding": "pleural_effusion", "side": "bilateral"}) == "pleural effusion"
    assert finding_prompt({"finding": "cardiomegaly", "side": "left"}) == "cardiomegaly"
    assert finding_prompt({"finding": "pneumothorax", "side": "right"}) == "right pneumothorax"
    assert finding_prompt({"finding": "new_thing"}) == "new thing"


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
