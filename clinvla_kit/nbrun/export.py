"""HTML export of executed notebooks that loads nothing from the network.

nbconvert's ``lab`` template pulls require.js, MathJax, Mermaid and the widget manager from CDNs. We extend it
with those blocks emptied, so the page is self-contained:
- plotly figures carry plotly.js inline (the kernel runs with ``PLOTLY_RENDERER=plotly_mimetype+notebook``);
- widgets cannot be live without the widget manager, so each widget view is replaced by a *static* HTML snapshot
  of its saved state (HTML/Label values, text boxes, buttons, sliders, containers). Widget views in the exported
  HTML are therefore frozen at their state when execution ended: nothing reacts to clicks;
- LaTeX is shown as source (no MathJax): plotly's HTML output asks for MathJax from a CDN for LaTeX labels;
  that script tag is removed from outputs (figures without LaTeX are unaffected).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import jinja2
import nbformat

_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_CDN_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"'](?:https?:)?//[^\"']*mathjax[^\"']*[\"'][^>]*>\s*</script>", re.IGNORECASE)


def _render_widget(model_id: str, state: dict[str, Any], depth: int = 0) -> str:
    """Static HTML for one widget model and its children (``IPY_MODEL_<id>`` references)."""
    entry = state.get(model_id)
    if entry is None or depth > 20:
        return ""
    name = entry.get("model_name", "")
    s = entry.get("state", {})
    desc = html.escape(str(s.get("description", "")))
    label = f"<b>{desc}</b> " if desc else ""
    if name in {"VBoxModel", "HBoxModel", "BoxModel", "GridBoxModel", "AccordionModel", "TabModel"}:
        kids = [_render_widget(str(c).removeprefix("IPY_MODEL_"), state, depth + 1) for c in s.get("children", [])]
        direction = "row" if name == "HBoxModel" else "column"
        return f'<div style="display:flex;flex-direction:{direction};gap:4px">{"".join(kids)}</div>'
    if name in {"HTMLModel", "HTMLMathModel"}:
        return f"<div>{label}{s.get('value', '')}</div>"  # the widget's value is HTML by design
    if name == "LabelModel":
        return f"<div>{label}{html.escape(str(s.get('value', '')))}</div>"
    if name in {"TextModel", "TextareaModel", "IntTextModel", "FloatTextModel"}:
        return f'<div>{label}<input disabled value="{html.escape(str(s.get("value", "")))}"></div>'
    if name == "ButtonModel":
        return f"<button disabled>{desc}</button>"
    if name in {"CheckboxModel", "ToggleButtonModel"}:
        return f"<div>{label}{'on' if s.get('value') else 'off'}</div>"
    options = s.get("_options_labels")
    if options and isinstance(s.get("index"), int) and 0 <= s["index"] < len(options):  # dropdowns, selects
        return f"<div>{label}{html.escape(str(options[s['index']]))}</div>"
    if "value" in s:  # sliders, ...
        return f"<div>{label}{html.escape(str(s.get('value')))}</div>"
    return ""


def staticize_widgets(nb: nbformat.NotebookNode) -> int:
    """Replace every widget view output by a static ``text/html`` snapshot and drop the widget state metadata
    (which would make nbconvert load the widget manager from a CDN). Returns the number of views replaced."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    replaced = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                model_id = data[WIDGET_VIEW].get("model_id", "")
                snap = _render_widget(model_id, state)
                note = '<div style="color:#888;font-size:small">(static snapshot of a widget: interactive only in Jupyter or Voila)</div>'
                out["data"] = {"text/html": snap + note, "text/plain": data.get("text/plain", "")}
                replaced += 1
    nb.metadata.pop("widgets", None)
    return replaced


def strip_cdn_scripts(nb: nbformat.NotebookNode) -> int:
    """Remove CDN MathJax ``<script src=...>`` tags from ``text/html`` outputs (plotly adds one per figure)."""
    removed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                text = data["text/html"] if isinstance(data["text/html"], str) else "".join(data["text/html"])
                new, n = _CDN_SCRIPT.subn("", text)
                if n:
                    data["text/html"] = new
                    removed += n
    return removed


def export_html(executed: str | Path, html_path: str | Path | None = None) -> Path:
    """Write a self-contained HTML file next to (or at) ``html_path`` for an executed notebook; return its path."""
    from nbconvert import HTMLExporter

    executed = Path(executed)
    html_path = Path(html_path) if html_path else executed.with_suffix(".html")
    nb = nbformat.read(executed, as_version=4)
    staticize_widgets(nb)
    strip_cdn_scripts(nb)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"clinvla_offline.html.j2": _TEMPLATE})],
        template_file="clinvla_offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": executed.stem}})
    html_path.write_text(body, encoding="utf-8")
    return html_path
