"""``clinvla-kit synth`` end to end (tiny)."""

import json

from clinvla_kit.cli import main


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", "--out", str(out), "--studies", "12", "--seed", "1", "--image-size", "32",
                 "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["archive_studies"] == 12 and (out / "mimic-cxr-2.0.0-metadata.csv").is_file()
