"""The notebook runner on tiny throwaway notebooks written here (no kit notebook, no data, no model)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from clinvla_kit import notebook_params
from clinvla_kit.cli import main
from clinvla_kit.nbrun import (
    NotebookRunError,
    NotebookStructureError,
    check_notebook,
    make_context,
    missing_outputs,
    run_notebook,
)
from clinvla_kit.nbrun.kernel import _spec_runs_this_python, ensure_kernel
from clinvla_kit.notebook_params import NotebookSpec

EXTERNAL = re.compile(r"<(script|link)[^>]*(src|href)\s*=\s*[\"']?(https?:)?//", re.IGNORECASE)


def write_nb(path: Path, *cells: str, params: str | None = "x = 1\nout_dir = ''") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if params is not None:
        nb.cells.append(nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def test_kernel_resolves_to_this_python():
    import sys

    assert ensure_kernel("python3") in ("python3", "clinvla-kit")
    assert _spec_runs_this_python(["python", "-m", "ipykernel_launcher"])
    assert _spec_runs_this_python([sys.executable])
    assert not _spec_runs_this_python(["/nonexistent/env/bin/python"])


def test_injection_cwd_and_offline_html(tmp_path):
    nb = write_nb(
        tmp_path / "01_tiny.ipynb",
        "import os, pathlib\npathlib.Path(out_dir, 'x.txt').write_text(f'{x} {os.getcwd()} {os.environ[\"PLOTLY_RENDERER\"]}')",
        "import plotly.graph_objects as go\ngo.Figure(go.Scatter(x=[1, 2], y=[3, 4]))",
        "import ipywidgets as w\nw.VBox([w.HTML('<i>widget-snapshot-42</i>'), w.Button(description='Go'),\n"
        "        w.Dropdown(options=['aa', 'option-b-17'], value='option-b-17')])",
    )
    ctx = make_context(tmp_path / "out")
    res = run_notebook(nb, ctx, params={"x": 7, "out_dir": str(tmp_path / "o")}, spec=NotebookSpec(), timeout=120)
    x, cwd, renderer = (tmp_path / "o" / "x.txt").read_text().split(" ")
    assert x == "7" and Path(cwd) == ctx.root and renderer == "plotly_mimetype+notebook"
    executed = nbformat.read(res.executed, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    html = res.html.read_text()
    assert "Plotly.newPlot" in html  # plotly.js inline: the figure draws without network
    assert "widget-snapshot-42" in html and "<div>option-b-17</div>" in html and ">Go</button>" in html
    assert not EXTERNAL.search(html), EXTERNAL.search(html).group(0)
    assert "unpkg.com" not in html and "cdnjs" not in html


def test_failure_names_notebook_and_cell(tmp_path):
    nb = write_nb(tmp_path / "02_fail.ipynb", "y = x + 1", "z = 3  # the bad one\nraise ValueError('boom')")
    ctx = make_context(tmp_path / "out")
    with pytest.raises(NotebookRunError) as err:
        run_notebook(nb, ctx, params={"x": 1}, spec=NotebookSpec(), html=False, timeout=120)
    msg = str(err.value)
    assert "02_fail" in msg and "z = 3  # the bad one" in msg and "boom" in msg and "ValueError" in msg
    assert err.value.cell_index == 2  # in the source notebook: parameters, y = ..., the failing cell


def test_timeout_names_the_cell(tmp_path):
    nb = write_nb(tmp_path / "03_slow.ipynb", "import time\ntime.sleep(30)")
    with pytest.raises(NotebookRunError) as err:
        run_notebook(nb, make_context(tmp_path / "out"), params={}, spec=NotebookSpec(), html=False, timeout=2)
    assert "import time" in str(err.value)


@pytest.mark.parametrize("cells,params,injected,match", [
    (["def f():\n    return 1"], "x = 1", (), "defines def 'f'"),
    (["class A:\n    pass"], "x = 1", (), "defines class 'A'"),
    (["x + 1"], None, (), "exactly one code cell tagged 'parameters'"),
    (["x + 1"], "x = 1", ("x", "k"), r"does not declare \['k'\]"),
])
def test_rule_checks(tmp_path, cells, params, injected, match):
    nb = write_nb(tmp_path / "04_bad.ipynb", *cells, params=params)
    with pytest.raises(NotebookStructureError, match=match):
        check_notebook(nb, injected=injected)


def test_magics_and_lambdas_are_allowed(tmp_path):
    nb = write_nb(tmp_path / "05_ok.ipynb", "%matplotlib inline\nf = lambda v: v + 1", params="x: int = 1")
    check_notebook(nb, injected=("x",))


def test_missing_outputs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "fig.png").write_bytes(b"png")
    (tmp_path / "a" / "empty.json").write_text("")
    got = missing_outputs(["{out_dir}/*.png", "{out_dir}/empty.json", "a/none.csv"], {"out_dir": str(tmp_path / "a")},
                          tmp_path)
    assert got == [str(tmp_path / "a" / "empty.json"), str(tmp_path / "a" / "none.csv")]


def test_cli_runs_and_fails_cleanly(tmp_path, monkeypatch, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    (data / "mimic-cxr-2.0.0-metadata.csv").write_text("dicom_id\n")  # an existing data set: no generation
    write_nb(nbs / "98_ok.ipynb", "import pathlib\npathlib.Path(out_dir, 'done.txt').write_text(str(x))",
             params="x = 1\nout_dir = ''\ndata_dir = ''\nrun_dir = ''\ndevice = ''\nseed = 0")
    write_nb(nbs / "99_bad.ipynb", "1 / 0", params="x = 1\nout_dir = ''\ndata_dir = ''\nrun_dir = ''\ndevice = ''\nseed = 0")
    monkeypatch.setitem(notebook_params.NOTEBOOKS, "98_ok", NotebookSpec(smoke={"x": 3}, expected=("{out_dir}/done.txt",)))
    monkeypatch.setitem(notebook_params.NOTEBOOKS, "99_bad", NotebookSpec())
    out = tmp_path / "out"
    assert main(["notebooks", "--out", str(out), "--notebooks-dir", str(nbs), "--data", str(data),
                 "--only", "98", "--no-html"]) == 0
    assert (out / "98_ok" / "done.txt").read_text() == "3" and not (out / "98_ok.html").exists()
    rc = main(["notebooks", "--out", str(out), "--notebooks-dir", str(nbs), "--data", str(data), "--no-html"])
    err = capsys.readouterr().err
    assert rc == 1 and "99_bad" in err and "'1 / 0'" in err and "ZeroDivisionError" in err


def test_kernel_fallback_installs_once(monkeypatch):
    """When python3 runs another interpreter, a kernelspec for this one is installed into sys.prefix, once."""
    import subprocess
    import sys

    from clinvla_kit.nbrun import kernel

    installed: list[list[str]] = []
    monkeypatch.setattr(kernel, "kernel_runs_this_python", lambda name: name == kernel.FALLBACK_KERNEL and bool(installed))

    def fake_run(cmd, **kw):
        installed.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(kernel.subprocess, "run", fake_run)
    assert kernel.ensure_kernel("python3") == kernel.FALLBACK_KERNEL
    assert kernel.ensure_kernel("python3") == kernel.FALLBACK_KERNEL
    assert len(installed) == 1
    cmd = installed[0]
    assert cmd[:4] == [sys.executable, "-m", "ipykernel", "install"] and cmd[cmd.index("--prefix") + 1] == sys.prefix


def test_analysing_notebooks_read_the_chosen_model_and_skip_the_shared_run(tmp_path, monkeypatch):
    """``analysed``: a run directory (or shipped name) replaces the shared run for ``needs_run`` notebooks; a
    ``makes_run`` notebook still gets its own recipe run; a path that is no run is refused by name."""
    from clinvla_kit.nbrun import execute

    run = tmp_path / "my_run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    ctx = make_context(tmp_path / "out", analysed=str(run))
    reader = NotebookSpec(needs_run=True)
    maker = NotebookSpec(makes_run=True)
    assert execute.notebook_parameters("x", ctx, reader)["run_dir"] == str(run.resolve())
    assert execute.notebook_parameters("x", ctx, maker)["run_dir"] == str(ctx.run_dir)
    assert make_context(tmp_path / "o2", analysed="shared").analysed is None
    with pytest.raises(ValueError, match="neither a shipped aligned model nor a run directory"):
        make_context(tmp_path / "o3", analysed=str(tmp_path / "nothing"))
    monkeypatch.setattr(execute, "ensure_shared_run", lambda c: pytest.fail("trained the shared run"))
    nb = write_nb(tmp_path / "04_reads.ipynb", "from pathlib import Path\nPath(out_dir, 'r.txt').write_text(run_dir)",
                  params="run_dir = ''\nout_dir = ''\ndata_dir = ''\ndevice = ''\nseed = 0")
    run_notebook(nb, ctx, params=execute.notebook_parameters("04_reads", ctx, reader) | {"out_dir": str(tmp_path)},
                 spec=reader, html=False, timeout=120)
    assert (tmp_path / "r.txt").read_text() == str(run.resolve())
