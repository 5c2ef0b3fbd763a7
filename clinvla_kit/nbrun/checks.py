"""Static checks every kit notebook must pass before it is executed, and the expected-output check after.

Rules (docs/ARCHITECTURE.md, "Style", rule 14): exactly one cell tagged ``parameters``; no ``def`` or ``class`` in any code cell
(logic lives in the package, where it is tested and importable by DataLoader workers); every parameter the
runner injects is declared in the parameters cell (papermill only warns about unknown names, which would hide
a typo until the notebook silently used its default).
"""

from __future__ import annotations

import ast
import glob
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat


class NotebookStructureError(ValueError):
    """A notebook breaks one of the kit's notebook rules; the message names the notebook and the cell."""


def _code(source: str) -> str:
    """Cell source with IPython magics and shell escapes blanked, so ``ast`` can parse it."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        lines.append("" if stripped.startswith(("%", "!")) else line)
    return "\n".join(lines)


def first_line(source: str) -> str:
    """First non-empty line of a cell (how failures and rule breaks name a cell)."""
    for line in source.splitlines():
        if line.strip():
            return line.strip()
    return "<empty cell>"


def parameter_names(source: str) -> set[str]:
    """Names assigned at top level of a parameters cell (``a = 1``, ``a: int = 1``)."""
    names: set[str] = set()
    for node in ast.parse(_code(source)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                names.add(t.id)
    return names


def check_notebook(path: str | Path, injected: Iterable[str] = ()) -> None:
    """Check the kit's notebook rules; raise ``NotebookStructureError`` naming the notebook and cell.

    Args:
        path: the notebook file.
        injected: names of the parameters the runner will inject (each must be declared in the parameters cell).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    param_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(param_cells) != 1:
        raise NotebookStructureError(
            f"{path.name}: needs exactly one code cell tagged 'parameters', found {len(param_cells)}"
        )
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(_code(cell.source))
        except SyntaxError as e:
            raise NotebookStructureError(f"{path.name}: cell {i} ({first_line(cell.source)!r}) does not parse: {e}") from e
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                kind = "class" if isinstance(node, ast.ClassDef) else "def"
                raise NotebookStructureError(
                    f"{path.name}: cell {i} ({first_line(cell.source)!r}) defines {kind} {node.name!r}; notebooks "
                    "call the library and define no functions or classes (move it into clinvla_kit)"
                )
    declared = parameter_names(nb.cells[param_cells[0]].source)
    missing = sorted(set(injected) - declared)
    if missing:
        raise NotebookStructureError(
            f"{path.name}: the parameters cell does not declare {missing}, which the runner injects "
            f"(declared: {sorted(declared)}); add them or change clinvla_kit/notebook_params.py"
        )


def missing_outputs(expected: Iterable[str], params: dict[str, Any], root: str | Path) -> list[str]:
    """Expected output patterns that match no file.

    Each pattern is formatted with the notebook's parameters (``"{out_dir}/metrics.json"``) and globbed; a
    relative pattern is taken relative to ``root`` (the runner's output directory). Empty files count as missing
    (a figure that failed to draw is often a 0-byte file).
    """
    missing = []
    for pattern in expected:
        p = pattern.format(**params)
        if not Path(p).is_absolute():
            p = str(Path(root) / p)
        hits = [h for h in glob.glob(p) if Path(h).is_file() and Path(h).stat().st_size > 0]
        if not hits:
            missing.append(p)
    return missing
