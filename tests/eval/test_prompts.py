"""Prompt table and user prompt files."""

import json

import pytest

from clinvla_kit.eval.prompts import (
    build_prompts,
    expand_templates,
    load_prompt_file,
    prompt_table,
    temporal_prompts,
)


def test_table_expands_to_all_combinations():
    table = prompt_table()
    for name in table["five_by_two_hundred"]:
        parts = table["classes"][name]
        want = []
        for sev in parts["severity"]:
            for sub in parts["subtype"]:
                for loc in parts["location"]:
                    t = " ".join(x for x in (sev, sub, loc) if x)
                    if t not in want:
                        want.append(t)
        assert expand_templates(parts) == want
    small = build_prompts(["Edema", "Pleural Effusion"], max_per_class=3, seed=1)
    assert [len(v) for v in small.values()] == [3, 3]
    assert small == build_prompts(["Edema", "Pleural Effusion"], max_per_class=3, seed=1)
    with pytest.raises(ValueError, match="Nodule"):
        build_prompts(["Nodule"])
    assert "worsening pleural effusion" in temporal_prompts("Pleural Effusion")["worsening"]


def test_user_prompt_file(tmp_path):
    p = tmp_path / "prompts.json"
    p.write_text(json.dumps({"A": ["a one", "a two"], "B": {"severity": [""], "subtype": ["b"], "location": ["x"]}}))
    assert load_prompt_file(p) == {"A": ["a one", "a two"], "B": ["b x"]}
    p.write_text(json.dumps({"A": []}))
    with pytest.raises(ValueError, match="class 'A'"):
        load_prompt_file(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="prompts.json"):
        load_prompt_file(p)
