"""Notebook execution machinery: kernel resolution, rule checks, papermill execution and offline HTML export."""

from clinvla_kit.nbrun.checks import NotebookStructureError, check_notebook, missing_outputs
from clinvla_kit.nbrun.execute import (
    NotebookResult,
    NotebookRunError,
    RunContext,
    discover_notebooks,
    ensure_data,
    ensure_shared_run,
    make_context,
    notebook_parameters,
    run_all,
    run_notebook,
)
from clinvla_kit.nbrun.export import export_html, staticize_widgets
from clinvla_kit.nbrun.kernel import ensure_kernel

__all__ = [
    "NotebookResult", "NotebookRunError", "NotebookStructureError", "RunContext", "check_notebook",
    "discover_notebooks", "ensure_data", "ensure_kernel", "ensure_shared_run", "export_html", "make_context",
    "missing_outputs", "notebook_parameters", "run_all", "run_notebook", "staticize_widgets",
]
