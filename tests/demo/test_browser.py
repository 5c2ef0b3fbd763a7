"""End to end in a real browser: Voila serves the demo app (``notebooks/demo_app.ipynb``) on 127.0.0.1, Playwright
drives Debian's Chromium: the loading indicator first, then the app; a text query with per-hit heatmaps, click to
enlarge, an image query; the kernel is shut down when the page closes (Voila culls a kernel once no page is
connected and it is idle: ``--MappingKernelManager.cull_idle_timeout``, as ``make demo`` sets it).

Skipped unless ``/usr/bin/chromium``, playwright and voila are installed (``make browser-test`` installs them; no
browser is ever downloaded). Written for a loaded 2-core machine: the page is awaited by its widgets (a selector
with a long timeout), not by ``Page.goto``'s load event, and Voila's log is printed when anything fails. The
archive embeddings are precomputed first, as ``make demo`` does, so the first screen is what a user sees.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                 "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only"]
APP = Path(__file__).resolve().parents[2] / "notebooks" / "demo_app.ipynb"
READY = ".demo-ready button:has-text('Search')"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float) -> None:
    """Until Voila accepts connections (a TCP connect: an HTTP GET of "/" would start a kernel and run the app)."""
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout} s")


def kernel_children(pid: int) -> list[int]:
    """Process ids of the ipykernel processes Voila started (children whose command line names ipykernel)."""
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            try:
                if b"ipykernel" in Path(f"/proc/{child}/cmdline").read_bytes():
                    out.append(int(child))
            except OSError:
                continue
    return out


def test_demo_app_in_chromium(tmp_path):
    pytest.importorskip("voila")
    sync_api = pytest.importorskip("playwright.sync_api")
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from clinvla_kit.nbrun import ensure_data, ensure_shared_run, make_context
    from clinvla_kit.nbrun.execute import KERNEL_ENV

    t0 = time.perf_counter()
    ctx = make_context(tmp_path / "runs", "smoke")
    ensure_data(ctx)
    ensure_shared_run(ctx)
    params = {"run_dir": str(ctx.run_dir), "data_dir": str(ctx.data_dir), "max_studies": 40, "k": 3,
              "cache_dir": str(ctx.root / "demo_cache")}
    subprocess.run([sys.executable, "-m", "clinvla_kit.demo.app", "--run", params["run_dir"], "--data",
                    params["data_dir"], "--max-studies", "40", "--cache-dir", params["cache_dir"]], check=True,
                   env={**os.environ, **KERNEL_ENV})
    t_prepared = time.perf_counter()
    nb = parameterize_notebook(load_notebook_node(str(APP)), params)
    served = ctx.root / "demo_app.ipynb"
    nbformat.write(nb, served)

    port = free_port()
    log_path = ctx.root / "voila.log"
    log = open(log_path, "w")  # noqa: SIM115 - Voila writes to it for the whole test; closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "voila", str(served), "--no-browser", f"--port={port}",
                             "--Voila.ip=127.0.0.1", "--MappingKernelManager.cull_idle_timeout=10",
                             "--MappingKernelManager.cull_interval=5"], cwd=ctx.root, env={**os.environ, **KERNEL_ENV},
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    timings: dict[str, float] = {}
    try:
        wait_listening(port, proc, 300)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            t_open = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=120_000)
            page.locator(".demo-busy").first.wait_for(state="visible", timeout=300_000)
            timings["loading_indicator"] = time.perf_counter() - t_open
            page.locator(f"{READY}, .demo-app .demo-error").first.wait_for(state="visible", timeout=300_000)
            assert page.locator(".demo-app .demo-error").count() == 0, page.locator(".demo-error").first.inner_text()
            timings["first_screen"] = time.perf_counter() - t_open

            results = page.locator(".demo-results").first
            results.wait_for(state="visible", timeout=120_000)
            box = page.locator(".widget-text input").first
            box.fill("cardiomegaly")
            page.locator("button", has_text="Search").first.click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.demo-results')].some(e => e.textContent.includes('cardiomegaly'))",
                timeout=180_000)
            hits = page.locator(".demo-results .demo-hit")
            n = hits.count()
            assert n == 3
            assert page.locator('.demo-results img[src^="data:image/png;base64,"]').count() >= 2 * n
            assert "score" in hits.first.inner_text() and "chance" in results.inner_text()
            zoom = page.locator(".demo-results .demo-zoom").first
            zoom.click()
            page.wait_for_function(
                "() => document.querySelector('.demo-results .demo-zoom img').getBoundingClientRect().width > 300",
                timeout=30_000)
            timings["text_search"] = time.perf_counter() - t_open - timings["first_screen"]

            page.locator("button", has_text="Similar studies").first.click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.demo-results')].some(e => e.textContent.includes('Top 3 for study'))",
                timeout=180_000)
            assert page.locator(".demo-results .demo-hit").count() == 3
            page.close(run_before_unload=True)
            end = time.time() + 60
            while kernel_children(proc.pid) and time.time() < end:
                time.sleep(0.5)
            assert kernel_children(proc.pid) == [], "the kernel outlived the page"
            browser.close()
    except BaseException:
        print(f"timings so far: {timings}")
        log.flush()
        print(f"---- voila log ({log_path}) ----\n{log_path.read_text()[-20000:]}\n---- end of voila log ----")
        raise
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    print(f"browser test: data+run+cache {t_prepared - t0:.1f} s; loading indicator after "
          f"{timings['loading_indicator']:.1f} s, first screen after {timings['first_screen']:.1f} s, "
          f"text search {timings['text_search']:.1f} s")
