"""Every notebook in notebooks/ executed with the ``smoke`` parameters, and its declared outputs checked.

Parametrised over the notebooks that exist, so a new notebook is picked up automatically; it then needs an entry
in ``clinvla_kit/notebook_params.py`` (parameters and expected outputs) or its test fails saying so. One SynthCXR
and one shared run serve the whole session (the runner trains the shared run on the first notebook needing it,
or notebook 03 does when present: pytest runs the parameters in file order).
"""

from __future__ import annotations

import nbformat
import pytest

from clinvla_kit.nbrun import (
    check_notebook,
    discover_notebooks,
    ensure_data,
    make_context,
    missing_outputs,
    notebook_parameters,
    run_notebook,
)
from clinvla_kit.notebook_params import PARAM_SETS, spec_for

NOTEBOOKS = discover_notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def test_notebooks_exist():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_rules_and_no_outputs(path, tmp_path):
    """Parameters cell, no def/class, every injected name declared (both parameter sets); committed clean."""
    spec = spec_for(path.stem)
    for which in PARAM_SETS:
        ctx = make_context(tmp_path / which, which)
        check_notebook(path, injected=notebook_parameters(path.stem, ctx, spec))
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; commit notebooks without outputs"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{path.name}: kernelspec must be python3"


@pytest.fixture(scope="session")
def smoke_ctx(tmp_path_factory):
    ctx = make_context(tmp_path_factory.mktemp("notebooks-smoke"), "smoke")
    ensure_data(ctx)
    return ctx


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_and_produces_outputs(path, smoke_ctx):
    spec = spec_for(path.stem)
    res = run_notebook(path, smoke_ctx, html=True, spec=spec)
    missing = missing_outputs(spec.expected, res.params, smoke_ctx.root)
    assert not missing, f"{path.stem} ran but did not produce {missing}"
    assert res.html is not None and res.html.stat().st_size > 0
