"""``clinvla-kit synth`` end to end (tiny)."""

import json

from clinvla_kit.cli import main


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--studies", "12", "--seed", "1", "--image-size", "32",
                 "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["archive_studies"] == 12 and (out / "mimic-cxr-2.0.0-metadata.csv").is_file()


def test_synth_refuses_a_non_empty_folder_unless_overwrite(tmp_path, capsys):
    """Issue 16 s4: `synth` into a non-empty folder left old images beside the new CSVs."""
    out = tmp_path / "s"
    args = ["synth", "--out", str(out), "--studies", "12", "--image-size", "32", "--workers", "1"]
    assert main(args) == 0
    stale = out / "files" / "p99" / "old.jpg"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(args) == 1
    assert "not empty" in capsys.readouterr().err and stale.exists()
    assert main(args + ["--overwrite"]) == 0
    assert not stale.exists() and (out / "notes.txt").read_text() == "mine"  # only what synth writes is replaced
    other = tmp_path / "real"
    other.mkdir()
    (other / "mimic-cxr-2.0.0-metadata.csv").write_text("x")
    assert main(["synth", "--out", str(other), "--studies", "12", "--overwrite"]) == 1
    assert "does not look like a SynthCXR output" in capsys.readouterr().err
    assert (other / "mimic-cxr-2.0.0-metadata.csv").read_text() == "x"
    killed = tmp_path / "killed"  # a synth killed before writing its CSVs: --overwrite may clean it
    (killed / "files" / "p10").mkdir(parents=True)
    assert main(["synth", "--out", str(killed), "--studies", "12", "--image-size", "32", "--workers", "1",
                 "--overwrite"]) == 0
