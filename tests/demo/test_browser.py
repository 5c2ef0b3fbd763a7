"""End to end in a real browser: Voila serves 07_retrieval_demo on localhost, Playwright drives Debian's Chromium,
types a query, clicks Search and waits for result thumbnails and scores.

Skipped unless ``/usr/bin/chromium``, playwright and voila are installed (``make browser-test`` installs chromium;
no browser is ever downloaded). The notebook gets its parameters injected with papermill's ``parameterize_notebook``
(no papermill execution: Voila executes it), pointing at a smoke SynthCXR and a smoke shared run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                 "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def test_voila_demo_in_chromium(tmp_path):
    pytest.importorskip("voila")
    sync_api = pytest.importorskip("playwright.sync_api")
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from clinvla_kit.nbrun import ensure_data, ensure_shared_run, make_context, notebook_parameters
    from clinvla_kit.nbrun.execute import KERNEL_ENV, NOTEBOOKS_DIR

    t0 = time.perf_counter()
    ctx = make_context(tmp_path / "runs", "smoke")
    ensure_data(ctx)
    ensure_shared_run(ctx)
    t_prepared = time.perf_counter()
    nb = load_notebook_node(str(NOTEBOOKS_DIR / "07_retrieval_demo.ipynb"))  # adds the tag lists papermill expects
    nb = parameterize_notebook(nb, notebook_parameters("07_retrieval_demo", ctx))
    served = ctx.root / "07_retrieval_demo.ipynb"
    nbformat.write(nb, served)

    port = free_port()
    env = {**os.environ, **KERNEL_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "voila", str(served), "--no-browser", f"--port={port}",
                             "--Voila.ip=127.0.0.1"], cwd=ctx.root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, 60)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
            search = page.locator("button", has_text="Search").first
            search.wait_for(state="visible", timeout=240_000)  # Voila runs every cell before showing widgets
            t_rendered = time.perf_counter()
            box = page.locator(".widget-text input").first
            box.fill("cardiomegaly")
            search.click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.demo-results')].some(e => e.textContent.includes('cardiomegaly'))",
                timeout=120_000)
            hits = page.locator(".demo-results .demo-hit")
            assert hits.count() >= 1
            assert page.locator('.demo-results img[src^="data:image/png;base64,"]').count() >= hits.count()
            assert "score" in hits.first.inner_text()
            t_done = time.perf_counter()
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    print(f"browser test: data+run {t_prepared - t0:.1f} s, voila render {t_rendered - t_prepared:.1f} s, "
          f"search {t_done - t_rendered:.1f} s, total {t_done - t0:.1f} s")
