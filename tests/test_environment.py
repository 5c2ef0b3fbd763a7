"""environment.yml (conda) and pyproject.toml must list the same dependencies."""

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _env_pip_deps() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    deps = []
    for line in lines[start + 1 :]:
        if not line.startswith("      - "):
            break
        deps.append(line.strip()[2:].strip().strip('"'))
    return deps


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = _env_pip_deps()
    assert "-e ." in env, "environment.yml must install the kit itself"
    assert sorted(d for d in env if d != "-e .") == sorted(pyproject)


def test_environment_yml_pins_python_311():
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text
