"""The widget retrieval demo: logic as plain functions (``archive``, ``retrieval_app``, ``panels``, ``render``) and a
thin ipywidgets view (``view.build_demo``, imported on demand so the logic never needs ipywidgets)."""

from clinvla_kit.demo.archive import Archive, build_archive
from clinvla_kit.demo.retrieval_app import (
                                            Hit,
                                            ReportHit,
                                            ReportResult,
                                            SearchResult,
                                            compare_missing_view,
                                            query_heatmap,
                                            reports_for_study,
                                            search_by_text,
)

__all__ = ["Archive", "Hit", "ReportHit", "ReportResult", "SearchResult", "build_archive", "compare_missing_view",
           "query_heatmap", "reports_for_study", "search_by_text"]
