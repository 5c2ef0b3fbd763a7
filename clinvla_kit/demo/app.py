"""The retrieval demo as an app (``notebooks/demo_app.ipynb``, served alone by Voila with ``make demo``).

Why a shell that fills itself: Voila shows a page only when every cell has run, and importing torch, loading the
model and embedding the archive take far longer than a first screen may. ``DemoApp`` therefore displays at once
(ipywidgets only) with a loading indicator, then loads in a background thread (``start()``), telling which step it
is in; the archive's embeddings come from a cache file (``demo.cache``; ``python -m clinvla_kit.demo.app
--precompute`` writes it before serving). Searches show the same indicator while they run.

What it offers (the logic is the library's: ``retrieval_app``, ``chance``, ``masks``, ``cards``, ``inference``):
- text search: the top-k studies, each with every view, the query's word heatmap on every view, its report, the
  SynthCXR ground-truth masks on request, and the query's chance level (the base rate of its finding);
- image search: pick an archive study, or upload a PNG/JPG/DICOM file (embedded by ``clinvla_kit.load``'s model);
- "Compare without lateral", the missing-view toggle and view shares, only when the model reads the lateral view;
- closing the page shuts its kernel down (``shutdown_on_close``, displayed by the notebook: Voila's own request is
  refused).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

EXAMPLE_QUERIES: tuple[str, ...] = (
    "large right pleural effusion", "cardiomegaly", "right lower lobe consolidation", "pulmonary edema",
    "small right pneumothorax", "no acute cardiopulmonary process",
)
UPLOAD_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".dcm", ".dicom")
SPINNER_CSS = ("<style>@keyframes demo-spin{to{transform:rotate(360deg)}}.demo-spinner{display:inline-block;"
               "width:14px;height:14px;border:3px solid #ccc;border-top-color:#0072B2;border-radius:50%;"
               "animation:demo-spin 1s linear infinite;vertical-align:middle;margin-right:6px}</style>")


# Closing the page must shut its kernel down. Voila's page sends a shutdown beacon on "beforeunload" with the
# page's `_xsrf` cookie, but Voila never sets that cookie, so the server refuses the beacon ("403 POST
# /voila/api/shutdown/...: '_xsrf' argument missing from POST", voila-dashboards/voila#1458) and the kernel lives
# on until culled. And "beforeunload" is not always dispatched when a tab closes (Chromium closing this page runs
# "pagehide" but not "beforeunload"), so this script, displayed as a cell output (a widget's HTML runs no scripts):
# - sets an `_xsrf` cookie when there is none: a random double-submit token (tornado checks that the POSTed `_xsrf`
#   equals the cookie), so Voila's own beacon is accepted;
# - on "pagehide" (fired on every close, reload or navigation) sends the same shutdown request unless Voila's
#   beacon already went (sendBeacon is wrapped to notice it), so the kernel is asked to shut down exactly once.
# It acts only in a Voila page (the page config names the page's kernel); elsewhere it does nothing.
SHUTDOWN_ON_CLOSE_JS = r"""(() => {
  const el = document.getElementById("jupyter-config-data");
  let config = {};
  try { config = el ? JSON.parse(el.textContent) : {}; } catch (e) { return; }
  if (!config.kernelId || window.__clinvlaShutdownOnClose) return;
  window.__clinvlaShutdownOnClose = true;
  const base = config.baseUrl || "/";
  const url = `${base}voila/api/shutdown/${config.kernelId}`;
  let token = (document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/) || [])[1];
  if (!token) {
    token = Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
    document.cookie = `_xsrf=${token}; path=${base}; SameSite=Strict`;
  }
  let sent = false;
  const beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (target, data) => {
    if (String(target).endsWith(url)) sent = true;
    return beacon(target, data);
  };
  window.addEventListener("pagehide", () => {
    if (sent) return;
    sent = true;
    const data = new FormData();
    data.append("_xsrf", token);
    beacon(url, data);
  });
  // a page restored from the back-forward cache has lost its kernel: load it afresh (a new kernel)
  window.addEventListener("pageshow", event => { if (event.persisted) location.reload(); });
})();"""


def shutdown_on_close() -> Any:
    """Closing the page shuts its kernel down: ``display(shutdown_on_close())`` in the app's notebook.

    ``SHUTDOWN_ON_CLOSE_JS`` as a display object (why Voila's page alone leaves the kernel running: the comment
    above that script)."""
    from IPython.display import HTML

    return HTML(f"<script>{SHUTDOWN_ON_CLOSE_JS}</script>")


def busy_html(message: str) -> str:
    """The loading indicator: a spinning ring and what is being done."""
    return f"{SPINNER_CSS}<div class='demo-busy'><span class='demo-spinner'></span>{html.escape(message)}</div>"


def error_html(e: BaseException) -> str:
    return f"<pre class='demo-error' style='color:#b00'>{html.escape(type(e).__name__ + ': ' + str(e))}</pre>"


def default_cache_dir(run_dir: str | Path) -> Path:
    """``RUN/embeddings`` when the run directory is writable (as ``Embedder.from_run``), else a user cache."""
    run_dir = Path(run_dir)
    if run_dir.is_dir() and os.access(run_dir, os.W_OK):
        return run_dir / "embeddings"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clinvla_kit" / "demo"


def weights_fingerprint(source: str | Path) -> str:
    """What the archive cache is keyed by: the shipped file's sha256 (its ``shipped.json`` marker) for a
    materialised shipped model, else the sha256 of the run's ``model.safetensors``.

    Why the marker first: hashing the materialised 100 MB file costs about a second of CPU on every start, which
    a loaded machine turns into many seconds of first screen; the marker names the shipped file it was built from.
    """
    from clinvla_kit.aligned_weights import MARKER
    from clinvla_kit.eval.embed import file_sha256
    from clinvla_kit.model.clinvla import WEIGHTS

    src = Path(source)
    marker = src / MARKER if src.is_dir() else None
    if marker is not None and marker.is_file():
        try:
            info = json.loads(marker.read_text())
            return f"shipped:{info['name']}:{info['sha256']}"
        except (ValueError, KeyError):
            pass  # an unreadable marker: hash the weights instead
    return file_sha256(src / WEIGHTS if src.is_dir() else src)


class DemoApp:
    """The app. ``widget`` is the top ``VBox`` (display it first); ``start()`` loads in the background,
    ``load()`` in the foreground (tests). After loading, ``controls`` names every control and output.

    Args:
        run_dir: a run directory or shipped model name (``clinvla_kit.load``).
        data_dir: a MIMIC-format archive (SynthCXR: its ``annotations.jsonl`` gives the ground-truth masks).
        max_studies / split: the searchable archive (the first studies of that split).
        cache_dir: where the archive's embeddings are kept (default ``default_cache_dir``).
    """

    def __init__(self, run_dir: str | Path, data_dir: str | Path, max_studies: int = 400, k: int = 5,
                 split: str = "test", cache_dir: str | Path | None = None, device: str = "cpu",
                 examples: tuple[str, ...] = EXAMPLE_QUERIES, search_now: bool = True, inference: Any = None,
                 records: list | None = None, fingerprint: str | None = None) -> None:
        import ipywidgets as W

        self._given = (inference, records, fingerprint)  # tests: a loaded model, in-memory studies, a weights id

        self.run_dir, self.data_dir = run_dir, Path(data_dir)
        self.max_studies, self.k, self.split, self.device = int(max_studies), int(k), split, device
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir(run_dir)
        self.examples, self.search_now = examples, search_now
        self.timings: dict[str, float] = {}
        self.cache_info: dict[str, Any] = {}
        self.controls: dict[str, Any] = {}
        self.error: BaseException | None = None
        self._last: tuple[Any, Any] | None = None  # the last search shown in "results" (re-run to redraw it)
        self.ready = threading.Event()
        self._t0 = time.perf_counter()
        self.status = W.HTML(busy_html("starting"))
        self.body = W.VBox([])
        self.footer = W.HTML()
        self.widget = W.VBox([W.HTML("<h3 style='margin:4px 0'>clinvla-kit: chest X-ray retrieval</h3>"),
                              self.status, self.body, self.footer])
        self.widget.add_class("demo-app")

    # -- loading ---------------------------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        self.status.value = busy_html(f"{message} ({time.perf_counter() - self._t0:.0f} s)")

    def start(self, background: bool = True) -> DemoApp:
        """Load the model and the archive (in a thread when ``background``); errors are shown in the app."""
        if background:
            threading.Thread(target=self._load_safely, name="clinvla-demo-load", daemon=True).start()
        else:
            self.load()
        return self

    def _load_safely(self) -> None:
        try:
            self.load()
        except Exception as e:  # noqa: BLE001 - shown in the page and printed to Voila's log
            self.error = e
            self.status.value = error_html(e)
            traceback.print_exc()
            self.ready.set()

    def load(self) -> None:
        """Every slow step, each announced in the loading indicator, then the controls."""
        t = time.perf_counter()
        self._say("loading the model")
        import clinvla_kit
        from clinvla_kit.data.sources.mimic import load_mimic
        from clinvla_kit.demo.cache import load_or_build_archive
        from clinvla_kit.demo.masks import MaskIndex

        inference, records, fingerprint = self._given
        self.m = inference or clinvla_kit.load(self.run_dir, device=self.device)
        self.model = self.m.model
        self.timings["model"] = time.perf_counter() - t
        t = time.perf_counter()
        self._say("reading the archive")
        if records is None:
            records = list(load_mimic(self.data_dir, splits=[self.split]))[: self.max_studies]
        if not records:
            raise ValueError(f"{self.data_dir}: no {self.split} studies to search")
        if fingerprint is None:
            fingerprint = weights_fingerprint(self.m.source)
        drop_sets = [(), ("lateral",)] if self.m.uses_lateral else [()]
        self.archive, self.cache_info = load_or_build_archive(self.model, records, fingerprint, self.cache_dir,
                                                              drop_sets, status=self._say)
        self.masks = MaskIndex.from_data_dir(self.data_dir)
        self.timings["archive"] = time.perf_counter() - t
        self._build()
        self.timings["first_screen"] = time.perf_counter() - self._t0
        self.footer.value = (f"<small>{len(records)} {self.split} studies of {html.escape(str(self.data_dir))}; "
                             f"model {html.escape(str(self.m.source))} (reads {', '.join(self.m.views_used())}); "
                             f"<span class='demo-cache'>embeddings "
                             f"{'from the cache' if self.cache_info.get('hit') else 'computed and cached'}</span>"
                             f"; ready in {self.timings['first_screen']:.1f} s</small>")
        if self.search_now and self.controls["query"].value:
            # after the first screen, not before it: the example's heatmaps cost one forward pass per hit
            t = time.perf_counter()
            self._run(self.text_html, self.controls["results"], "searching the example query")
            self.timings["first_search"] = time.perf_counter() - t
        self.ready.set()

    # -- the controls ----------------------------------------------------------------------------------------
    def _build(self) -> None:
        import ipywidgets as W

        from clinvla_kit.data.records import CHEXPERT_LABELS

        c = self.controls
        c["query"] = W.Text(value=self.examples[0] if self.examples else "", description="Query",
                            layout=W.Layout(width="420px"))
        c["search"] = W.Button(description="Search", button_style="primary")
        c["examples"] = W.Dropdown(options=["(examples)", *self.examples], value="(examples)", description="Examples")
        c["k"] = W.IntSlider(value=self.k, min=1, max=min(20, len(self.archive.records)), description="k")
        c["label"] = W.Dropdown(options=["(any)", *CHEXPERT_LABELS], value="(any)", description="Label")
        c["show_masks"] = W.Checkbox(value=False, description="show ground-truth masks", disabled=not self.masks)
        c["study"] = W.Dropdown(options=self.archive.study_ids, description="Study")
        c["by_study"] = W.Button(description="Similar studies")
        c["upload"] = W.FileUpload(accept=",".join(UPLOAD_SUFFIXES), multiple=False, description="Upload image")
        c["by_upload"] = W.Button(description="Search with upload")
        c["results"] = W.HTML("<p>Type a finding and press Search.</p>")
        c["change"] = W.HTML()
        rows = [W.HBox([c["query"], c["search"], c["examples"]]), W.HBox([c["k"], c["label"], c["show_masks"]])]
        if self.m.uses_lateral:
            c["drop_lateral"] = W.Checkbox(value=False, description="drop the lateral view")
            c["compare"] = W.Button(description="Compare without lateral")
            c["compare"].on_click(lambda _: self._run(self.compare_html, c["change"]))
            rows.append(W.HBox([c["drop_lateral"], c["compare"]]))
        rows += [W.HTML("<b>Query by image</b>: an archive study, or your own PNG/JPG/DICOM file"),
                 W.HBox([c["study"], c["by_study"]]), W.HBox([c["upload"], c["by_upload"]]), c["results"],
                 c["change"]]
        c["search"].on_click(lambda _: self._run(self.text_html, c["results"]))
        c["by_study"].on_click(lambda _: self._run(self.study_html, c["results"]))
        c["by_upload"].on_click(lambda _: self._run(self.upload_html, c["results"]))
        c["examples"].observe(self._on_example, names="value")
        c["show_masks"].observe(self._on_masks, names="value")
        self.body.children = rows
        self.status.value = ""
        self.widget.add_class("demo-ready")

    def _on_example(self, change: dict) -> None:
        if change["new"] != "(examples)":
            self.controls["query"].value = change["new"]

    def _on_masks(self, change: dict) -> None:
        """Ticking "show ground-truth masks" redraws the hits on screen (the last search, run again)."""
        if self._last is not None:
            self._run(*self._last)

    def _run(self, fn, out, message: str = "working") -> None:
        """Run one action under the loading indicator; an error is shown in ``out`` (and printed)."""
        if out is self.controls.get("results"):
            self._last = (fn, out)
        self.status.value = busy_html(message)
        try:
            out.value = fn()
        except Exception as e:  # noqa: BLE001 - shown to the user, never swallowed silently
            out.value = error_html(e)
            traceback.print_exc()
        finally:
            self.status.value = ""

    # -- actions (plain methods returning HTML: the tests call them) -----------------------------------------
    def _options(self) -> tuple[int, str | None, tuple[str, ...]]:
        c = self.controls
        drop = ("lateral",) if "drop_lateral" in c and c["drop_lateral"].value else ()
        return c["k"].value, (None if c["label"].value == "(any)" else c["label"].value), drop

    def _cards(self, result) -> str:
        from clinvla_kit.demo.cards import results_html

        return results_html(result, len(self.archive.records), self.masks, self.controls["show_masks"].value,
                            self.m.uses_lateral)

    def text_search(self, query: str | None = None):
        """SearchResult of the text query with the word heatmap on every hit and the chance level."""
        from clinvla_kit.demo.chance import chance_level, query_labels
        from clinvla_kit.demo.retrieval_app import heatmaps_for_hits, search_by_text

        k, label, drop = self._options()
        query = self.controls["query"].value if query is None else query
        res = search_by_text(self.archive, self.model, query, k, label, drop, heatmap=False)
        heatmaps_for_hits(self.archive, self.model, res)
        res.chance = chance_level(self.archive.records, query_labels(query), [h.index for h in res.hits])
        return res

    def text_html(self) -> str:
        return self._cards(self.text_search())

    def study_html(self, study_id: str | None = None) -> str:
        """Studies closest to an archive study (itself excluded); chance = base rate of its positive labels."""
        from clinvla_kit.demo.chance import chance_level
        from clinvla_kit.demo.retrieval_app import positive_labels, search_by_image

        k, label, drop = self._options()
        sid = self.controls["study"].value if study_id is None else study_id
        res = search_by_image(self.archive, self.model, sid, k, label, drop)
        own = [x for x in positive_labels(self.archive.records[self.archive.index_of(sid)]) if x != "No Finding"]
        res.chance = chance_level(self.archive.records, own or ["No Finding"], [h.index for h in res.hits])
        return self._cards(res)

    def upload_search(self, name: str, content: bytes):
        """Search with an uploaded file's bytes (written to a temporary file named like the upload)."""
        from clinvla_kit.demo.retrieval_app import search_by_image

        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise ValueError(f"{name}: upload a {', '.join(UPLOAD_SUFFIXES)} file")
        k, label, drop = self._options()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(bytes(content))
            q = self.m.embed_images(path)  # DataError names the file when it cannot be read
        return search_by_image(self.archive, self.model, q, k, label, drop)

    def upload_html(self) -> str:
        files = self.controls["upload"].value
        if not files:
            raise ValueError("choose a PNG, JPG or DICOM file with 'Upload image' first")
        f = files[0]
        return self._cards(self.upload_search(f["name"], f["content"]))

    def compare_html(self) -> str:
        """The text query with and without every study's lateral view: what moved, and the dropped-view hits."""
        from clinvla_kit.demo.retrieval_app import compare_missing_view, heatmaps_for_hits

        k, label, _ = self._options()
        c = compare_missing_view(self.archive, self.model, self.controls["query"].value, k, ("lateral",), label)
        heatmaps_for_hits(self.archive, self.model, c["dropped"])
        moves = ", ".join(f"{s}: {d:+.3f}" for s, d in c["score_change"].items()) or "none"
        return (f"<p><b>Without the lateral view</b>: entered the top {k}: {c['entered'] or 'none'}; left: "
                f"{c['left'] or 'none'}; score changes of studies in both: {moves}</p>" + self._cards(c["dropped"]))


def main(argv: list[str] | None = None) -> int:
    """``python -m clinvla_kit.demo.app --precompute --run RUN --data DATA``: write the archive cache and time it."""
    p = argparse.ArgumentParser(prog="python -m clinvla_kit.demo.app", description=main.__doc__)
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--max-studies", type=int, default=400)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--precompute", action="store_true", help="embed the archive into the cache file and exit")
    args = p.parse_args(argv)
    app = DemoApp(args.run, args.data, max_studies=args.max_studies, cache_dir=args.cache_dir, search_now=False)
    app.load()
    print(f"archive cache {app.cache_info['path']} ({'reused' if app.cache_info['hit'] else 'written'}); "
          f"model {app.timings['model']:.1f} s, archive {app.timings['archive']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
