import subprocess
import sys

from clinvla_kit.cli import COMMANDS, build_parser, main


def test_every_command_is_registered_with_help():
    parser = build_parser()
    text = parser.format_help()
    for name in COMMANDS:
        assert name in text


def test_no_command_prints_help_and_returns_2(capsys):
    assert main([]) == 2
    assert "synth" in capsys.readouterr().out


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "clinvla_kit", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "recipe" in out.stdout
