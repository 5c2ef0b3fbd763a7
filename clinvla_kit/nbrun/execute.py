"""Execute the kit's notebooks with papermill, in order, sharing one data set and one trained run.

Layout of an output directory ROOT (``clinvla-kit notebooks --out ROOT``)::

    ROOT/data/synthcxr/         SynthCXR, generated once when missing
    ROOT/recipe/run/            the shared trained run (notebook 03 trains it; later notebooks read it)
    ROOT/<NN_name>.ipynb        executed notebook        ROOT/<NN_name>.html   its offline HTML
    ROOT/<NN_name>/             the notebook's own outputs (``out_dir``)

Notebooks run with ``cwd=ROOT`` and a kernel that runs this interpreter (``kernel.ensure_kernel``). A failing
cell stops everything with a ``NotebookRunError`` naming the notebook, the cell index and the cell's first line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from clinvla_kit.nbrun.checks import check_notebook, first_line, missing_outputs
from clinvla_kit.nbrun.kernel import ensure_kernel
from clinvla_kit.notebook_params import ANALYSED_MODEL, DATA, SHARED_RUN, NotebookSpec, spec_for

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
"""The repository's notebooks folder (the kit is installed editable from the checkout)."""

KERNEL_ENV: dict[str, str] = {
    # plotly.js inlined once per notebook: figures show in JupyterLab and in offline HTML (no CDN)
    "PLOTLY_RENDERER": "plotly_mimetype+notebook",
    # nothing may reach a model hub while notebooks run
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


class NotebookRunError(RuntimeError):
    """A notebook failed; ``notebook``, ``cell_index`` (0-based, in the source notebook) and ``cell_line`` (its
    first line) name where."""

    def __init__(self, notebook: str, cell_index: int | None, cell_line: str, detail: str, executed: Path | None):
        self.notebook, self.cell_index, self.cell_line, self.detail, self.executed = (
            notebook, cell_index, cell_line, detail, executed)
        where = f"cell {cell_index} ({cell_line!r})" if cell_index is not None else "before any cell ran"
        saved = f"; executed copy with the traceback: {executed}" if executed else ""
        super().__init__(f"notebook {notebook} failed in {where}: {detail}{saved}")


@dataclass(frozen=True)
class RunContext:
    """Shared values of one ``notebooks`` invocation (all paths absolute)."""

    root: Path
    params: str  # "smoke" | "tutorial"
    data_dir: Path
    recipe_dir: Path
    device: str = "cpu"
    seed: int = 0
    # What the analysing notebooks (``needs_run``) read: a shipped aligned model's name or a run directory; None =
    # the shared run (trained by notebook 03, or by the runner when 03 is not run).
    analysed: str | None = None

    @property
    def run_dir(self) -> Path:
        return self.recipe_dir / "run"


@dataclass(frozen=True)
class NotebookResult:
    name: str
    executed: Path
    html: Path | None
    seconds: float
    params: dict[str, Any]


def make_context(root: str | Path, params: str = "smoke", data_dir: str | Path | None = None,
                 device: str = "cpu", seed: int = 0, analysed: str | Path | None = "default") -> RunContext:
    """Create ROOT and return the shared values (nothing is generated or trained yet).

    ``analysed``: what the analysing notebooks read: "default" (``notebook_params.ANALYSED_MODEL``), "shared" or
    None (the shared run), a shipped aligned model's name, or a run directory (checked to exist)."""
    if params not in DATA:
        raise ValueError(f"unknown parameter set {params!r}; choose one of {sorted(DATA)}")
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    data = Path(data_dir).resolve() if data_dir else root / "data" / "synthcxr"
    if analysed == "default":
        analysed = ANALYSED_MODEL.get(params)
    if analysed == "shared":
        analysed = None
    if analysed is not None:
        from clinvla_kit.aligned_weights import is_aligned_name

        if not is_aligned_name(analysed):
            path = Path(analysed).expanduser().resolve()
            if not (path / "config.json").is_file():
                raise ValueError(f"{analysed}: neither a shipped aligned model nor a run directory with config.json")
            analysed = str(path)
    return RunContext(root=root, params=params, data_dir=data, recipe_dir=root / "recipe", device=device, seed=seed,
                      analysed=None if analysed is None else str(analysed))


def _run_cli(args: list[str], what: str) -> None:
    """Run ``python -m clinvla_kit ARGS`` in a child process, streaming its output; raise naming ``what``.

    Why a child process: data generation forks worker processes, and forking a process that already ran torch or
    Hugging Face tokenizers (a pytest session, a long ``notebooks`` run) can deadlock the workers; training in a
    child also returns its memory when it ends.
    """
    cmd = [sys.executable, "-m", "clinvla_kit", *args]
    log.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, env={**os.environ, **KERNEL_ENV}, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}")


def ensure_data(ctx: RunContext) -> Path:
    """Generate SynthCXR into ``ctx.data_dir`` (``clinvla-kit synth``) unless it already holds a data set."""
    if (ctx.data_dir / "mimic-cxr-2.0.0-metadata.csv").exists():
        return ctx.data_dir
    size = DATA[ctx.params]
    _run_cli(["synth", "--out", str(ctx.data_dir), "--studies", str(size["studies"]), "--seed", str(ctx.seed),
              "--image-size", str(size["image_size"]), "--overwrite"],  # replaces an interrupted generation
             f"generating SynthCXR in {ctx.data_dir}")
    if not (ctx.data_dir / "mimic-cxr-2.0.0-metadata.csv").exists():
        raise RuntimeError(f"clinvla-kit synth finished but {ctx.data_dir} holds no mimic-cxr-2.0.0-metadata.csv")
    return ctx.data_dir


def recipe_args(ctx: RunContext) -> list[str]:
    """``clinvla-kit recipe`` arguments of the shared run (the same settings notebook 03 receives)."""
    cfg = SHARED_RUN[ctx.params]
    args = ["recipe", "--data", str(ctx.data_dir), "--out", str(ctx.recipe_dir), "--preset", cfg["preset"]]
    if cfg["max_steps"] is not None:
        args += ["--max-steps", str(cfg["max_steps"])]
    if cfg["overrides"]:
        args += ["--set", *cfg["overrides"]]
    return args


def ensure_shared_run(ctx: RunContext) -> Path:
    """Train the shared run (``clinvla-kit recipe``, as notebook 03) unless ``ctx.run_dir`` already holds one."""
    if (ctx.run_dir / "config.json").exists():
        return ctx.run_dir
    # --overwrite: only reached without a finished run, so what is there is an interrupted one (e.g. its mae/)
    _run_cli(recipe_args(ctx) + ["--overwrite"], f"training the shared run in {ctx.recipe_dir}")
    if not (ctx.run_dir / "config.json").exists():
        raise RuntimeError(f"recipe finished but {ctx.run_dir} holds no config.json")
    return ctx.run_dir


def notebook_parameters(name: str, ctx: RunContext, spec: NotebookSpec | None = None) -> dict[str, Any]:
    """Everything injected into notebook ``name``: shared values, then its own (its own win on a clash)."""
    spec = spec or spec_for(name)
    params: dict[str, Any] = {
        "data_dir": str(ctx.data_dir), "run_dir": str(ctx.run_dir), "out_dir": str(ctx.root / name),
        "device": ctx.device, "seed": ctx.seed,
    }
    if spec.makes_run:
        params["recipe_dir"] = str(ctx.recipe_dir)
    elif spec.needs_run and ctx.analysed is not None:
        params["run_dir"] = ctx.analysed
    params.update(spec.params(ctx.params))
    return params


@contextlib.contextmanager
def kernel_environment(extra: dict[str, str] | None = None) -> Iterator[None]:
    """Set ``KERNEL_ENV`` (inherited by the kernel process) for the duration, then restore."""
    env = {**KERNEL_ENV, **(extra or {})}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_ADDED_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _failed_cell(executed: Path) -> tuple[int | None, str]:
    """Index (in the *source* notebook, i.e. not counting the cells papermill adds: injected parameters and
    error banners) and first line of the cell that failed, as papermill marks it in the executed notebook."""
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - the notebook may not have been written at all
        return None, ""
    source_cells = [c for c in nb.cells if not _ADDED_TAGS & set(c.metadata.get("tags", []))]
    for status in ("exception", "running"):
        for i, cell in enumerate(source_cells):
            meta = cell.metadata.get("papermill", {})
            if (status == "exception" and meta.get("exception")) or (status == "running" and meta.get("status") == "running"):
                return i, first_line(cell.source)
    # a timeout leaves no mark: the cell that ran last is the one that was interrupted
    started = [i for i, c in enumerate(source_cells) if c.metadata.get("papermill", {}).get("start_time")]
    if started:
        return started[-1], first_line(source_cells[started[-1]].source)
    return None, ""


def run_notebook(path: str | Path, ctx: RunContext, params: dict[str, Any] | None = None, html: bool = True,
                 timeout: int | None = None, spec: NotebookSpec | None = None) -> NotebookResult:
    """Check, execute (papermill) and export one notebook.

    Args:
        path: the source notebook.
        ctx: shared values (``make_context``).
        params: injected parameters; default ``notebook_parameters(stem, ctx)``.
        html: also write ``ROOT/<stem>.html`` (offline).
        timeout: per-cell timeout in seconds; default the spec's for ``ctx.params``.
        spec: the notebook's spec; default from ``notebook_params`` by stem.
    Raises:
        NotebookStructureError: the notebook breaks a notebook rule (no cell ran).
        NotebookRunError: a cell raised or timed out.
    """
    import papermill as pm

    path = Path(path).resolve()
    name = path.stem
    spec = spec or spec_for(name)
    params = params if params is not None else notebook_parameters(name, ctx, spec)
    check_notebook(path, injected=params)
    if spec.needs_run and ctx.analysed is None:
        ensure_shared_run(ctx)
    Path(params.get("out_dir", ctx.root / name)).mkdir(parents=True, exist_ok=True)
    executed = ctx.root / f"{name}.ipynb"
    timeout = timeout or spec.timeout.get(ctx.params, 600)
    kernel = ensure_kernel("python3")
    t0 = time.perf_counter()
    try:
        with kernel_environment():
            pm.execute_notebook(str(path), str(executed), parameters=params, kernel_name=kernel, cwd=str(ctx.root),
                                execution_timeout=timeout, progress_bar=False, log_output=False)
    except Exception as e:
        idx, line = _failed_cell(executed)
        if idx is None and getattr(e, "cell_index", None) is not None:
            idx, line = e.cell_index, first_line(getattr(e, "source", ""))  # type: ignore[attr-defined]
        detail = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', str(e))}".strip()
        raise NotebookRunError(name, idx, line, detail.splitlines()[0] if detail else type(e).__name__,
                               executed if executed.exists() else None) from e
    seconds = time.perf_counter() - t0
    html_path = None
    if html:
        from clinvla_kit.nbrun.export import export_html

        html_path = export_html(executed)
    return NotebookResult(name=name, executed=executed, html=html_path, seconds=seconds, params=params)


def discover_notebooks(notebooks_dir: str | Path | None = None, only: Sequence[str] = ()) -> list[Path]:
    """``NN_*.ipynb`` files in order; ``only`` keeps those whose stem equals or starts with one of the names."""
    folder = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS_DIR
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())
    if only:
        found = [p for p in found if any(p.stem == o or p.stem.startswith(o) for o in only)]
        unknown = [o for o in only if not any(p.stem == o or p.stem.startswith(o) for p in found)]
        if unknown:
            raise ValueError(f"no notebook in {folder} matches {unknown}")
    return found


def run_all(root: str | Path, params: str = "smoke", only: Sequence[str] = (), html: bool = True,
            timeout: int | None = None, notebooks_dir: str | Path | None = None,
            data_dir: str | Path | None = None, analysed: str | Path | None = "default") -> list[NotebookResult]:
    """Generate data if needed, then execute every (selected) notebook in order; stop at the first failure.

    Also checks each notebook's expected outputs (``notebook_params``) and raises ``NotebookRunError`` naming
    the missing files.
    """
    ctx = make_context(root, params, data_dir=data_dir, analysed=analysed)
    notebooks = discover_notebooks(notebooks_dir, only)
    ensure_data(ctx)
    results = []
    for nb in notebooks:
        spec = spec_for(nb.stem)
        res = run_notebook(nb, ctx, html=html, timeout=timeout, spec=spec)
        missing = missing_outputs(spec.expected, res.params, ctx.root)
        if missing:
            raise NotebookRunError(nb.stem, None, "", f"ran, but these expected outputs are missing: {missing}",
                                   res.executed)
        log.info("%s: %.1f s", nb.stem, res.seconds)
        results.append(res)
    return results
