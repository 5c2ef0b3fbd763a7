"""The widget retrieval demo: logic as plain functions (``archive``, ``retrieval_app``, ``panels``, ``render``,
``cards``, ``chance``, ``masks``, ``cache``), a thin ipywidgets view (``view.build_demo``, notebook 07) and the app
(``app.DemoApp``, served by ``make demo``).

Names are imported on first access (PEP 562), so ``from clinvla_kit.demo.app import DemoApp`` can draw the app's
loading screen before torch is imported.
"""

from __future__ import annotations

from typing import Any

_LAZY: dict[str, str] = {
    "Archive": "clinvla_kit.demo.archive", "build_archive": "clinvla_kit.demo.archive",
    "Hit": "clinvla_kit.demo.retrieval_app", "ReportHit": "clinvla_kit.demo.retrieval_app",
    "ReportResult": "clinvla_kit.demo.retrieval_app", "SearchResult": "clinvla_kit.demo.retrieval_app",
    "compare_missing_view": "clinvla_kit.demo.retrieval_app", "query_heatmap": "clinvla_kit.demo.retrieval_app",
    "reports_for_study": "clinvla_kit.demo.retrieval_app", "search_by_text": "clinvla_kit.demo.retrieval_app",
    "search_by_image": "clinvla_kit.demo.retrieval_app",
}

__all__ = ["Archive", "Hit", "ReportHit", "ReportResult", "SearchResult", "build_archive", "compare_missing_view",
           "query_heatmap", "reports_for_study", "search_by_image", "search_by_text"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'clinvla_kit.demo' has no attribute {name!r}")
