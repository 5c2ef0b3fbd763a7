"""End to end in a real browser: Voila serves the demo app (``notebooks/demo_app.ipynb``) on 127.0.0.1 with the
shipped aligned model ``synthcxr-clinvla-tiny`` (it reads the lateral view, so "Compare without lateral" and view
shares must appear), Playwright drives Debian's Chromium: the loading indicator first, then the app; a text query
with per-hit heatmaps and view shares, the ground-truth masks, click to enlarge, compare without lateral, a query
by study and by an uploaded PNG (through the file chooser the upload button opens, as a user picks it); the kernel
is shut down when the page closes, by the page's own shutdown request, which Voila must not refuse (the app's page
script ``demo.app.shutdown_on_close``: Voila's own request is refused for want of an ``_xsrf`` cookie; culling, set
as ``make demo`` sets it, is only the backstop).

Skipped unless ``/usr/bin/chromium``, playwright and voila are installed (``make browser-test`` installs the
Python packages; no browser is ever downloaded).

Written for a loaded 2-core machine, where Voila may take minutes to run the app's cells:
- the page is awaited by what it shows (the loading indicator, then the controls), each with one generous budget
  (``CLINVLA_BROWSER_TIMEOUT`` seconds, default 600), never by ``Page.goto``'s load event (``goto`` waits only for
  the response to start);
- a wait ends at once when the app shows an error instead (the error is the failure message);
- each step is printed with its time as it starts; the step it stopped in, Voila's log (the kernel's tracebacks
  included) and the timings reached so far are printed when anything fails;
- the archive embeddings are precomputed first, as ``make demo`` does, and the page must say it read them from the
  cache, so the first screen measured is what a user sees.

What it serves, by default: 40 test studies of a 120-study SynthCXR archive made in the test's folder (hermetic).
``CLINVLA_DEMO_DATA=runs/data/synthcxr CLINVLA_DEMO_STUDIES=400`` serves what ``make demo`` serves instead (the
archive cache in the user cache, shared with ``make demo``); ``CLINVLA_DEMO_RUN`` names another model or run.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(3600),
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                 "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only"]
APP = Path(__file__).resolve().parents[2] / "notebooks" / "demo_app.ipynb"
READY = ".demo-ready button:has-text('Search')"
# Closing the page shuts its kernel down (the page's shutdown beacon, ``demo.app.shutdown_on_close``); culling is only
# the backstop for a page that vanished without it, and must spare a kernel that is still starting: jupyter_server
# culls a "starting" kernel with no connection like an idle one, and on a loaded machine a kernel start takes
# minutes (a 10 s timeout culled it 13 s after it was started, before the page could connect). As `make demo`.
CULL = ["--MappingKernelManager.cull_idle_timeout=900", "--MappingKernelManager.cull_interval=60"]
BUDGET_MS = int(float(os.environ.get("CLINVLA_BROWSER_TIMEOUT", "600")) * 1000)


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
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            try:
                if b"ipykernel" in Path(f"/proc/{child}/cmdline").read_bytes():
                    out.append(int(child))
            except OSError:
                continue
    return out


def until(page, condition: str, what: str, arg=None) -> None:
    """Wait until the JavaScript predicate ``condition`` (of ``arg``) holds, or the app shows an error instead: then
    fail at once with the error's text rather than wait out the budget for something that will never come."""
    page.wait_for_function(f"a => ({condition})(a) || document.querySelector('.demo-app .demo-error') !== null",
                           arg=arg, timeout=BUDGET_MS)
    errors = page.locator(".demo-app .demo-error")
    assert errors.count() == 0, f"the app showed an error instead of {what}: {errors.first.inner_text()}"


def results_contain(page, text: str) -> None:
    """Wait until some ``.demo-results`` element contains ``text`` (the app replaces the results' HTML)."""
    until(page, "t => [...document.querySelectorAll('.demo-results')].some(e => e.textContent.includes(t))",
          repr(text), text)


class Steps:
    """Names the step the test is in and prints it with the time since the page was opened (``-s`` or ``-rP``
    shows them; a failure names the step it stopped in)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.current = "start"

    def __call__(self, name: str) -> None:
        self.current = name
        print(f"[browser test {time.perf_counter() - self.t0:7.1f} s] {name}", flush=True)


def demo_params(tmp_path: Path) -> dict:
    """The app's parameters: the shipped model on a small archive made here, or what the environment names."""
    from clinvla_kit.nbrun import ensure_data, make_context

    data = os.environ.get("CLINVLA_DEMO_DATA")
    params = {"run_dir": os.environ.get("CLINVLA_DEMO_RUN", "synthcxr-clinvla-tiny"),
              "max_studies": int(os.environ.get("CLINVLA_DEMO_STUDIES", "40")), "k": 3}
    if data:
        params.update(data_dir=str(Path(data).resolve()), cache_dir="")  # "" = the cache `make demo` fills
    else:
        ctx = make_context(tmp_path / "runs", "smoke")
        ensure_data(ctx)
        params.update(data_dir=str(ctx.data_dir), cache_dir=str(ctx.root / "demo_cache"))
    return params


def test_demo_app_in_chromium(tmp_path):
    pytest.importorskip("voila")
    sync_api = pytest.importorskip("playwright.sync_api")
    import cv2
    import nbformat
    import numpy as np
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from clinvla_kit.nbrun.execute import KERNEL_ENV

    t0 = time.perf_counter()
    params = demo_params(tmp_path)
    precompute = [sys.executable, "-m", "clinvla_kit.demo.app", "--precompute", "--run", params["run_dir"],
                  "--data", params["data_dir"], "--max-studies", str(params["max_studies"])]
    if params["cache_dir"]:
        precompute += ["--cache-dir", params["cache_dir"]]
    subprocess.run(precompute, check=True, env={**os.environ, **KERNEL_ENV})
    t_prepared = time.perf_counter()
    served = tmp_path / "demo_app.ipynb"
    nbformat.write(parameterize_notebook(load_notebook_node(str(APP)), params), served)

    port = free_port()
    log_path = tmp_path / "voila.log"
    log = open(log_path, "w")  # noqa: SIM115 - Voila writes to it for the whole test; closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "voila", str(served), "--no-browser", f"--port={port}",
                             "--Voila.ip=127.0.0.1", *CULL], cwd=tmp_path,
                            env={**os.environ, **KERNEL_ENV}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timings: dict[str, float] = {}
    step = None
    try:
        wait_listening(port, proc, BUDGET_MS / 1000)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(BUDGET_MS)
            t_open = time.perf_counter()
            step = Steps()
            step("open the page")
            page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=BUDGET_MS)
            page.locator(f".demo-busy, {READY}").first.wait_for(state="visible")
            timings["loading_indicator"] = time.perf_counter() - t_open
            step("first screen (the app loads the model and the cached archive)")
            page.locator(f"{READY}, .demo-app .demo-error").first.wait_for(state="visible")
            assert page.locator(".demo-app .demo-error").count() == 0, page.locator(".demo-error").first.inner_text()
            timings["first_screen"] = time.perf_counter() - t_open
            assert "from the cache" in page.locator(".demo-cache").first.inner_text()  # the precomputed file
            assert page.locator("button", has_text="Compare without lateral").count() == 1  # the model reads it

            step("the example query's hits")
            until(page, "() => document.querySelector('.demo-results .demo-hit') !== null", "the example's hits")
            timings["full_page"] = time.perf_counter() - t_open
            step("text query")
            page.locator(".widget-text input").first.fill("cardiomegaly")
            page.locator("button", has_text="Search").first.click()
            results_contain(page, "Top 3 for cardiomegaly")
            results = page.locator(".demo-results").first
            hits = page.locator(".demo-results .demo-hit")
            assert hits.count() == 3
            # the query's heatmap on every view: a frontal map on each hit, lateral maps too (the model reads them)
            assert page.locator('.demo-results .demo-zoom[title^="frontal heatmap"]').count() == hits.count()
            assert page.locator('.demo-results .demo-zoom[title^="lateral heatmap"]').count() >= 1
            text = results.inner_text()
            assert "score" in hits.first.inner_text() and "chance" in text and "view share" in text
            assert all(r.strip() for r in page.locator(".demo-results .demo-report").all_inner_texts())  # reports
            step("click to enlarge")
            page.locator(".demo-results .demo-zoom").first.click()
            page.wait_for_function(
                "() => document.querySelector('.demo-results .demo-zoom img').getBoundingClientRect().width > 300")
            timings["text_search"] = time.perf_counter() - t_open - timings["full_page"]

            # hits positive for cardiomegaly have its SynthCXR mask; ticking the box redraws them with the outlines
            step("ground-truth masks")
            page.locator(".widget-dropdown", has_text="Label").locator("select").select_option("Cardiomegaly")
            page.locator(".widget-checkbox", has_text="show ground-truth masks").locator("input").check()
            until(page, "() => [...document.querySelectorAll('.demo-results .demo-zoom')]"
                  ".some(e => e.title.includes('mask:'))", "the hits with their masks")

            step("compare without lateral")
            page.locator("button", has_text="Compare without lateral").first.click()
            until(page, "() => document.body.textContent.includes('Without the lateral view')", "the comparison")

            step("image query: similar studies")
            page.locator("button", has_text="Similar studies").first.click()
            results_contain(page, "Top 3 for study")
            # the compare panel keeps its own cards below; count the hits of the study search only
            assert page.locator(".demo-results", has_text="Top 3 for study").locator(".demo-hit").count() == 3

            step("upload a PNG")
            upload = tmp_path / "mine.png"  # any readable PNG is a valid query image
            cv2.imwrite(str(upload), np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1)))
            # ipywidgets 8's FileUpload is a <button> whose <input type=file> is never attached to the page (the
            # button's click calls the detached input's click()): no selector finds that input, so pick the file
            # the way a user does, through the file chooser the button opens
            upload_button = page.locator(".demo-app .widget-upload").first
            with page.expect_file_chooser() as chooser:
                upload_button.click()
            chooser.value.set_files(str(upload))
            # the button counts the files its model holds: the file was read and sent to the kernel (the click
            # below travels the same websocket after it, so the kernel has the upload when it runs the search)
            page.wait_for_function("e => e.textContent.includes('(1)')", arg=upload_button.element_handle())
            step("search with the upload")
            page.locator("button", has_text="Search with upload").first.click()
            results_contain(page, "Top 3 for uploaded image")
            assert page.locator(".demo-results", has_text="Top 3 for uploaded image").locator(".demo-hit").count() == 3

            step("close the page: its kernel must shut down")
            page.close(run_before_unload=True)
            t_closed = time.perf_counter()
            end = time.time() + BUDGET_MS / 1000
            while kernel_children(proc.pid) and time.time() < end:
                time.sleep(0.5)
            assert kernel_children(proc.pid) == [], "the kernel outlived the page"
            log.flush()
            refused = re.findall(r"\b4\d\d POST /voila/api/shutdown/\S*", log_path.read_text())
            assert not refused, f"Voila refused the page's shutdown request: {refused}"
            timings["kernel_shut_down_after_close"] = time.perf_counter() - t_closed
            step("done")
            browser.close()
    except BaseException:
        print(f"stopped in step: {step.current if step else 'before the page was opened'}")
        print(f"timings so far (s after opening the page): {timings}")
        log.flush()
        print(f"---- voila log ({log_path}) ----\n{log_path.read_text()[-20000:]}\n---- end of voila log ----")
        raise
    finally:
        kernels = kernel_children(proc.pid)  # each in its own session (jupyter_client): not in Voila's group
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in kernels:  # a kernel that outlived a failed test must not outlive the test
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
    print(f"browser test ({params['run_dir']}, {params['max_studies']} studies of {params['data_dir']}): "
          f"data+precompute {t_prepared - t0:.1f} s; after opening the page: loading indicator "
          f"{timings['loading_indicator']:.1f} s, first screen {timings['first_screen']:.1f} s, full page (example "
          f"hits) {timings['full_page']:.1f} s; text search {timings['text_search']:.1f} s; kernel shut down "
          f"{timings['kernel_shut_down_after_close']:.1f} s after the page closed")
