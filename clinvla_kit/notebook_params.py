"""Parameter sets for every notebook: ``smoke`` (tests: tiny sizes, seconds) and ``tutorial`` (``make tutorial``:
the real teaching sizes on 2 CPU cores).

The runner (``clinvla_kit.nbrun``) injects, into each notebook's ``parameters`` cell:
- shared values (``SHARED_PARAMS``): ``data_dir`` (one SynthCXR, generated once), ``run_dir`` (the shared trained
  run: notebook 03 makes it by ``recipe(data_dir, recipe_dir)``, later notebooks read it; the runner trains it
  itself when a later notebook runs without 03), ``out_dir`` (this notebook's own output folder), ``device``,
  ``seed``;
- the notebook's own values from ``NOTEBOOKS[name].smoke`` / ``.tutorial``.
Every injected name must be declared in the notebook's parameters cell (checked before running).
``expected`` lists files each notebook must leave behind (formatted with the parameters, globbed; relative paths
are under the runner's output directory): the notebook test checks them, so a notebook that "ran" but drew
nothing fails. The lead tunes sizes here, in one place, never inside the notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PARAM_SETS: tuple[str, ...] = ("smoke", "tutorial")

DATA: dict[str, dict[str, Any]] = {
    # SynthCXR generated once per output directory (clinvla_kit.synth.generate)
    "smoke": {"studies": 120, "image_size": 64},
    "tutorial": {"studies": 600, "image_size": 128},
}
"""SynthCXR size per parameter set."""

SHOW_EVERY_PART: list[str] = []
"""Overrides the notebooks' run adds to ``tiny``. None: ``tiny`` is the full method (the shipped masked encoder
``synthcxr-mrmc-vit6`` frozen, vision bottleneck adapters, Transformer-Adapt and the invertible adapter in the text
tower, frontal + lateral + prior slots, 75 % patch masking, global + 0.8 local loss), so the notebooks count, plot
and explain exactly what ``clinvla-kit recipe --preset tiny`` trains. Before the encoder was shipped the notebooks
switched these parts on over a bare from-scratch CLIP, now the ``clip-scratch`` preset."""

SHARED_RUN: dict[str, dict[str, Any]] = {
    # the shared run: notebook 03 trains it with these values; the runner uses the same when 03 is not run
    "smoke": {"preset": "tiny", "max_steps": 2, "overrides": ["data.image_size=64", "train.batch_size=8",
                                                               "mae.batch_size=8", *SHOW_EVERY_PART]},
    "tutorial": {"preset": "tiny", "max_steps": None,
                 "overrides": ["train.batch_size=16", "train.max_steps=60", "train.log_every=5", "mae.max_steps=60",
                               *SHOW_EVERY_PART]},
}
"""Preset, step budget and ``--set`` overrides of the shared run (``recipe(..., overrides=...)``)."""

SHIPPED_ALIGNED = "synthcxr-clinvla-tiny"
"""The aligned full-method model shipped in the package (``model_cards/synthcxr-clinvla-tiny.md``)."""

ANALYSED_MODEL: dict[str, str | None] = {"smoke": SHIPPED_ALIGNED, "tutorial": SHIPPED_ALIGNED}
"""What the analysing notebooks (``needs_run``: 04-08, 10) receive as ``run_dir``, per parameter set: a shipped
aligned model's name (``clinvla_kit/weights/registry.json``), so they explain a model that learned, or None for the
shared run (notebook 03's). ``clinvla-kit notebooks --model RUN_OR_NAME`` overrides it."""

SHARED_PARAMS: tuple[str, ...] = ("data_dir", "run_dir", "out_dir", "device", "seed")


@dataclass(frozen=True)
class NotebookSpec:
    """What the runner injects into one notebook and what it must produce.

    Attributes:
        smoke / tutorial: per-notebook parameters (beyond ``SHARED_PARAMS``).
        expected: output patterns (see module docstring).
        timeout: per-cell execution timeout in seconds, per parameter set.
        needs_run: the notebook reads the shared run (the runner makes sure it exists first).
        makes_run: the notebook trains the shared run itself (it receives ``recipe_dir`` as well).
    """

    smoke: dict[str, Any] = field(default_factory=dict)
    tutorial: dict[str, Any] = field(default_factory=dict)
    expected: tuple[str, ...] = ()
    timeout: dict[str, int] = field(default_factory=lambda: {"smoke": 300, "tutorial": 900})
    needs_run: bool = False
    makes_run: bool = False  # this notebook trains the shared run (gets ``recipe_dir``; run_dir = recipe_dir/run)

    def params(self, which: str) -> dict[str, Any]:
        if which not in PARAM_SETS:
            raise ValueError(f"unknown parameter set {which!r}; choose one of {PARAM_SETS}")
        return dict(getattr(self, which))


_RUN_SMOKE = {"preset": SHARED_RUN["smoke"]["preset"], "max_steps": SHARED_RUN["smoke"]["max_steps"],
              "overrides": SHARED_RUN["smoke"]["overrides"]}
_RUN_TUTORIAL = {"preset": SHARED_RUN["tutorial"]["preset"], "max_steps": SHARED_RUN["tutorial"]["max_steps"],
                 "overrides": SHARED_RUN["tutorial"]["overrides"]}

NOTEBOOKS: dict[str, NotebookSpec] = {
    "00_quickstart": NotebookSpec(
        # searches with the shipped aligned model (no training unless max_steps > 0: then its own quick run under
        # out_dir/recipe); studies/image_size are used only when data_dir holds no data set yet
        smoke={**DATA["smoke"], "model_name": SHIPPED_ALIGNED, "preset": "tiny", "max_steps": 0, "overrides": [],
               "max_archive": 40, "query": "pleural effusion", "query_label": "Pleural Effusion", "k": 3},
        tutorial={**DATA["tutorial"], "model_name": SHIPPED_ALIGNED, "preset": "tiny", "max_steps": 0,
                  "overrides": [], "max_archive": 300, "query": "pleural effusion",
                  "query_label": "Pleural Effusion", "k": 5},
        expected=("{out_dir}/study.png", "{out_dir}/top_results.png", "{out_dir}/results.csv"),
    ),
    "01_data_and_preprocessing": NotebookSpec(
        # no training; studies/synth_image_size are used only when data_dir holds no data set yet
        smoke={"image_size": 224, "max_tokens": 128, "cut_tokens": 24, "n_quality": 4},
        tutorial={"image_size": 224, "max_tokens": 128, "cut_tokens": 24, "n_quality": 8},
        expected=("{out_dir}/study.png", "{out_dir}/markers.png", "{out_dir}/quality.png", "{out_dir}/dicom.png",
                  "{out_dir}/resize.png", "{out_dir}/normalization.png", "{out_dir}/masked_views.png",
                  "{out_dir}/report_diff.html", "{out_dir}/labels.csv", "{out_dir}/tokens.html")),
    "02_masked_pretraining": NotebookSpec(
        # its own MAE under out_dir/mae (the trained decoder is needed for the figures; the run keeps the encoder)
        smoke={"preset": "tiny", "overrides": ["data.image_size=64", "mae.batch_size=8"], "max_steps": 2,
               "n_images": 2, "ratios": [0.25, 0.5, 0.75, 0.9]},
        tutorial={"preset": "tiny", "overrides": [], "max_steps": 50, "n_images": 3,
                  "ratios": [0.25, 0.5, 0.75, 0.9]},
        expected=("{out_dir}/reconstructions.png", "{out_dir}/reconstructions_untrained.png",
                  "{out_dir}/mae_loss.html", "{out_dir}/mae/encoder.safetensors")),
    "03_alignment_training": NotebookSpec(
        # recipe_dir is filled in by the runner: run_dir == recipe_dir/run; the same values as SHARED_RUN, so the
        # run it trains is the one the runner would train (ensure_shared_run) when 03 is not run
        smoke={**_RUN_SMOKE, "init_vision": None, "progress_every": 1, "probe_per_class": 4, "n_boot": 20},
        tutorial={**_RUN_TUTORIAL, "init_vision": None, "progress_every": 20, "probe_per_class": 20, "n_boot": 200},
        makes_run=True,
        expected=("{run_dir}/config.json", "{run_dir}/model.safetensors", "{run_dir}/log.jsonl",
                  "{out_dir}/params.csv", "{out_dir}/loss_curves.html", "{out_dir}/progress.csv",
                  "{out_dir}/progress.png", "{run_dir}/progress.csv")),
    "04_retrieval_and_zeroshot": NotebookSpec(
        smoke={"n_boot": 50, "batch_size": 16, "n_examples": 2, "k_examples": 3},
        tutorial={"n_boot": 300, "batch_size": 32, "n_examples": 3, "k_examples": 4},
        needs_run=True,
        expected=("{out_dir}/metrics.json", "{out_dir}/metrics.md", "{out_dir}/retrieval_examples.png",
                  "{out_dir}/confusion.png", "{out_dir}/pneumonia_protocols.csv")),
    "05_attention_maps": NotebookSpec(
        smoke={"per_finding": 3, "random_draws": 5, "n_boot": 50, "control_n": 3},
        tutorial={"per_finding": 20, "random_draws": 20, "n_boot": 1000, "control_n": 30},
        needs_run=True, expected=("{out_dir}/*.png", "{out_dir}/attention_summary.csv")),
    "06_embeddings": NotebookSpec(
        smoke={"k_agreement": 5, "n_shuffles": 5, "n_boot": 50},
        tutorial={"k_agreement": 10, "n_shuffles": 20, "n_boot": 500},
        needs_run=True, expected=("{out_dir}/*.html", "{out_dir}/neighbour_agreement.csv")),
    "07_retrieval_demo": NotebookSpec(
        smoke={"max_studies": 40, "k": 3, "query": "pleural effusion", "n_boot": 50},
        tutorial={"max_studies": 200, "k": 5, "query": "pleural effusion", "n_boot": 300},
        needs_run=True, expected=("{out_dir}/demo_results.html", "{out_dir}/zeroshot.json")),
    "08_ablations_and_complexity": NotebookSpec(
        # the measured Table 6 is the committed result (eval/ablation_result.json); live: full + 1 variant x 1 seed,
        # smoke 2 steps, tutorial 40 steps, each from the shipped masked encoder (tiny's checkpoint)
        smoke={"preset": "tiny", "overrides": ["data.image_size=64", "train.batch_size=8"], "variants": ["no-local"],
               "seeds": 1, "max_steps": 2, "tasks": ["8x200", "5x200"], "n_boot": 20,
               "complexity_variants": ["full", "full-ft"], "complexity_batch": 2, "complexity_repeats": 1},
        tutorial={"preset": "tiny", "overrides": ["train.batch_size=16"], "variants": ["no-local"], "seeds": 1,
                  "max_steps": 40, "tasks": ["8x200", "5x200"], "n_boot": 200,
                  "complexity_variants": ["full", "full-ft", "lora"], "complexity_batch": 8, "complexity_repeats": 2},
        needs_run=True,
        expected=("{out_dir}/ablation.csv", "{out_dir}/ablation.md", "{out_dir}/complexity.csv",
                  "{out_dir}/complexity.md", "{out_dir}/ablation_vs_paper.csv")),
    "10_report_styles_and_text_encoders": NotebookSpec(
        # its own small site B and adapted encoder under out_dir; the degradation table is the committed result
        smoke={"site_b_studies": 10, "image_size": 64, "text_model": "minilm", "text_steps": 1, "text_batch": 2,
               "max_text_studies": 6, "n_studies_figure": 3, "n_boot": 10, "llm_steps": 1},
        tutorial={"site_b_studies": 80, "image_size": 64, "text_model": "minilm", "text_steps": 15, "text_batch": 8,
                  "max_text_studies": 25, "n_studies_figure": 8, "n_boot": 200, "llm_steps": 3},
        needs_run=True,
        expected=("{out_dir}/styles.csv", "{out_dir}/embedding_space.png", "{out_dir}/text_benchmarks.csv",
                  "{out_dir}/style_shift.md")),
    "09_real_data": NotebookSpec(
        # real-data paths (mimic_dir, chexpert_dir, chexpert_5x200_csv, chexpert_8x200_dir, rsna_dir, openi_dir,
        # nih_dir, ms_cxr_dir, ms_cxr_t_dir) stay None here: every loader runs on its example copy
        expected=("{out_dir}/real_data_summary.csv", "{out_dir}/commands.sh")),
}
"""Specs by notebook stem (``notebooks/<stem>.ipynb``)."""


def spec_for(name: str) -> NotebookSpec:
    """The spec of notebook ``name`` (stem); a notebook without one fails loudly so nobody forgets to declare
    its parameters and expected outputs."""
    try:
        return NOTEBOOKS[name]
    except KeyError:
        raise KeyError(
            f"notebook {name!r} has no entry in clinvla_kit/notebook_params.py NOTEBOOKS; declare its smoke and "
            "tutorial parameters and its expected outputs there"
        ) from None
