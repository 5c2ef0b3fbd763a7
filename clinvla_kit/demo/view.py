"""The thin ipywidgets view over the demo logic (``retrieval_app``, ``panels``, ``render``).

Every result is written into a widget value (``HTML`` widgets holding ``<img src="data:image/png;base64,...">``
thumbnails and score text), so a headless test can set values, ``click()`` buttons and read the outcome, and Voila
serves the same view as a web app. ``build_demo`` returns the top ``VBox``; its ``demo`` attribute is a dict of the
named controls (``query``, ``search``, ``results``, ...) for tests and notebooks.
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Sequence
from typing import Any

import ipywidgets as W

from clinvla_kit.data.records import CHEXPERT_LABELS
from clinvla_kit.demo import panels, render
from clinvla_kit.demo.archive import Archive
from clinvla_kit.demo.retrieval_app import compare_missing_view, reports_for_study, search_by_text

EXAMPLE_QUERIES: tuple[str, ...] = (
    "left pleural effusion", "cardiomegaly", "right lower lobe consolidation", "pulmonary edema",
    "small right pneumothorax", "no acute cardiopulmonary process",
)


def _error_html(e: Exception) -> str:
    return f"<pre style='color:#b00'>{html.escape(type(e).__name__ + ': ' + str(e))}</pre>"


def build_demo(archive: Archive, model: Any, zeroshot_set: dict[str, Any] | None = None, mae: Any | None = None,
               examples: Sequence[str] = EXAMPLE_QUERIES, k: int = 5, search_now: bool = False) -> W.VBox:
    """The retrieval demo as one widget.

    Args:
        archive: studies and embeddings (``build_archive``).
        model: the ClinVLA model (``encode_text``/``encode_image``/``parameter_groups``).
        zeroshot_set: ``{"image_emb": [N, D], "labels": [N], "classes": [...], "prompts": {class: [...]}}`` for the
            prompt editor (e.g. the 5x200 set); the panel is omitted when None.
        mae: an MAE model for reconstructions under the mask-ratio slider (masking only when None).
        search_now: run the first example query at once (so a saved or exported notebook shows results).
    """
    query = W.Text(value=examples[0] if examples else "", description="Query", layout=W.Layout(width="420px"))
    example = W.Dropdown(options=["(examples)", *examples], value="(examples)", description="Examples")
    k_slider = W.IntSlider(value=k, min=1, max=min(20, len(archive.records)), description="k")
    label = W.Dropdown(options=["(any)", *CHEXPERT_LABELS], value="(any)", description="Label")
    drop_lateral = W.Checkbox(value=False, description="drop the lateral view")
    adapters_on = W.Checkbox(value=True, description="adapters on")
    search = W.Button(description="Search", button_style="primary")
    compare = W.Button(description="Compare without lateral")
    results = W.HTML(value="<p>Type a finding and press Search.</p>")
    change = W.HTML()
    adapter_info = W.HTML()

    study = W.Dropdown(options=archive.study_ids, description="Study")
    show_reports = W.Button(description="Top reports")
    reports = W.HTML()

    mask_ratio = W.FloatSlider(value=0.75, min=0.0, max=0.95, step=0.05, description="mask ratio")
    mask_view = W.HTML()

    state: dict[str, Any] = {"no_adapter_archive": None}

    def current_archive() -> Archive:
        if adapters_on.value:
            return archive
        if state["no_adapter_archive"] is None:
            state["no_adapter_archive"] = archive.without_embeddings()
        return state["no_adapter_archive"]

    def run(fn, out: W.HTML):
        try:
            if adapters_on.value:
                out.value = fn()
            else:
                with panels.adapters_disabled(model):
                    out.value = fn()
        except Exception as e:  # noqa: BLE001 - shown to the user in the widget, never swallowed silently
            out.value = _error_html(e)
            traceback.print_exc()

    def on_search(_=None):
        drop = ("lateral",) if drop_lateral.value else ()
        lf = None if label.value == "(any)" else label.value
        run(lambda: render.search_html(search_by_text(current_archive(), model, query.value, k_slider.value, lf, drop)),
            results)

    def on_compare(_=None):
        lf = None if label.value == "(any)" else label.value

        def body() -> str:
            c = compare_missing_view(current_archive(), model, query.value, k_slider.value, ("lateral",), lf)
            moves = ", ".join(f"{s}: {d:+.3f}" for s, d in c["score_change"].items()) or "none"
            return (f"<p><b>Without the lateral view</b>: entered top {k_slider.value}: {c['entered'] or 'none'}; "
                    f"left: {c['left'] or 'none'}; score changes of studies in both: {moves}</p>"
                    + render.search_html(c["dropped"]))
        run(body, change)

    def on_reports(_=None):
        drop = ("lateral",) if drop_lateral.value else ()
        run(lambda: render.reports_html(reports_for_study(current_archive(), model, study.value, k_slider.value, drop)),
            reports)

    def on_mask(_=None):
        def body() -> str:
            images, _ = archive.load_batch([archive.index_of(study.value)])
            patch = int(model.cfg.model.vision.patch_size) if hasattr(model, "cfg") else 16
            m = panels.masked_reconstruction(images[0, 0], mask_ratio.value, patch=patch, mae=mae,
                                             normalization=archive.normalization)
            pics = [render.img_tag(render.png_bytes(m[n]), n, 160) for n in ("original", "masked", "reconstruction")
                    if m[n] is not None]
            note = "" if m["reconstruction"] is not None else "<small>(no MAE model given: masking only)</small>"
            return f"<div>{''.join(pics)} {note}</div>"
        run(body, mask_view)

    def on_adapters(_=None):
        s = panels.adapter_summary(model)
        state_txt = "on" if adapters_on.value else "off (adapter weights zeroed: frozen backbones + trained heads)"
        adapter_info.value = (f"<p>Adapters {state_txt}. Trainable parameters: {s['trainable']:,} of {s['total']:,} "
                              f"({100 * s['trainable_share']:.2f}%), of which adapters {s['adapter']:,}.</p>")
        on_search()

    def on_example(change_):
        if change_["new"] != "(examples)":
            query.value = change_["new"]

    search.on_click(on_search)
    compare.on_click(on_compare)
    show_reports.on_click(on_reports)
    mask_ratio.observe(lambda _: on_mask(), names="value")
    study.observe(lambda _: on_mask(), names="value")
    adapters_on.observe(on_adapters, names="value")
    example.observe(on_example, names="value")

    controls: dict[str, Any] = {
        "query": query, "examples": example, "k": k_slider, "label": label, "drop_lateral": drop_lateral,
        "adapters_on": adapters_on, "search": search, "compare": compare, "results": results, "change": change,
        "adapter_info": adapter_info, "study": study, "show_reports": show_reports, "reports": reports,
        "mask_ratio": mask_ratio, "mask_view": mask_view,
    }
    sections = [
        W.HTML("<h3>Text-to-image search</h3>"),
        W.HBox([query, search]), W.HBox([example, k_slider, label]), W.HBox([drop_lateral, compare, adapters_on]),
        adapter_info, results, change,
        W.HTML("<h3>Image-to-report: a study's closest reports</h3>"), W.HBox([study, show_reports]), reports,
        W.HTML("<h3>Patch masking (MAE)</h3>"), mask_ratio, mask_view,
    ]
    if zeroshot_set is not None:
        prompts = W.Textarea(value=panels.format_prompts(zeroshot_set["prompts"]), description="Prompts",
                             layout=W.Layout(width="720px", height="140px"))
        rescore = W.Button(description="Re-score zero-shot")
        zs = W.HTML()

        def on_rescore(_=None):
            def body() -> str:
                r = panels.zeroshot_rescore(model, archive.tokenize, zeroshot_set["image_emb"], zeroshot_set["labels"],
                                            zeroshot_set["classes"], panels.parse_prompts(prompts.value))
                head = "".join(f"<th>{html.escape(c[:6])}</th>" for c in r["classes"])
                body_rows = "".join(f"<tr><th>{html.escape(c)}</th>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>"
                                    for c, row in zip(r["classes"], r["confusion"]))
                return (f"<p>Zero-shot accuracy on {len(zeroshot_set['labels'])} images: <b>{r['acc']:.3f}</b></p>"
                        f"<table><tr><th>true \\ pred</th>{head}</tr>{body_rows}</table>")
            run(body, zs)

        rescore.on_click(on_rescore)
        controls.update({"prompts": prompts, "rescore": rescore, "zeroshot": zs})
        sections += [W.HTML("<h3>Zero-shot prompt editor</h3>"), prompts, rescore, zs]

    on_adapters_info = panels.adapter_summary(model)
    adapter_info.value = (f"<p>Adapters on. Trainable parameters: {on_adapters_info['trainable']:,} of "
                          f"{on_adapters_info['total']:,} ({100 * on_adapters_info['trainable_share']:.2f}%), "
                          f"of which adapters {on_adapters_info['adapter']:,}.</p>")
    box = W.VBox(sections)
    box.demo = controls  # type: ignore[attr-defined]
    on_mask()
    if search_now:
        on_search()
    return box
