"""Finding a Jupyter kernel that runs *this* Python (the venv the kit is installed in).

Why: papermill starts the kernel named in the notebook (``python3``). If that name resolved to another Python
(a system Jupyter, a conda base), the notebook would import a different, possibly missing, ``clinvla_kit``. We
keep the notebooks' kernelspec ``python3`` and only fall back to a kernelspec of our own, installed into
``sys.prefix``, when ``python3`` does not point here. The install is idempotent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FALLBACK_KERNEL = "clinvla-kit"
"""Name of the kernelspec installed into ``sys.prefix`` when ``python3`` does not resolve to this interpreter."""

# jupyter_client replaces these argv[0] values by sys.executable of the process that launches the kernel
_SELF_NAMES = {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}


def _spec_runs_this_python(argv: list[str]) -> bool:
    """True when a kernelspec's argv starts the interpreter we are running in (without resolving symlinks:
    every venv's python is a symlink to the same base interpreter, yet imports differ)."""
    if not argv:
        return False
    exe = argv[0]
    if exe in _SELF_NAMES:
        return True
    here = Path(os.path.abspath(sys.executable)).parent
    return Path(os.path.abspath(exe)).parent == here


def kernel_runs_this_python(name: str) -> bool:
    """Whether the kernelspec ``name`` exists and starts this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return False
    return _spec_runs_this_python(list(spec.argv))


def ensure_kernel(name: str = "python3") -> str:
    """Return a kernel name that runs this interpreter: ``name`` when it does, else ``FALLBACK_KERNEL``
    (installed with ``sys.executable -m ipykernel install --prefix sys.prefix`` the first time).

    Raises:
        RuntimeError: the fallback install failed (its output is included).
    """
    if kernel_runs_this_python(name):
        return name
    if kernel_runs_this_python(FALLBACK_KERNEL):
        return FALLBACK_KERNEL
    cmd = [sys.executable, "-m", "ipykernel", "install", "--prefix", sys.prefix, "--name", FALLBACK_KERNEL,
           "--display-name", f"Python ({FALLBACK_KERNEL})"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not kernel_runs_this_python(FALLBACK_KERNEL):
        raise RuntimeError(
            f"kernel {name!r} does not run {sys.executable} and installing {FALLBACK_KERNEL!r} failed:\n"
            f"{' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )
    return FALLBACK_KERNEL
