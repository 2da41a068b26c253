"""Typed configuration: dataclasses loaded from YAML, overridden with ``key=value`` on the command line.

Unknown keys and values of the wrong type are errors that name the key. The resolved config is
written next to every run's output (:func:`save_config`). Names that a registry owns (encoders)
are checked against that registry (``choices`` in a field's metadata), so a name lives in one place.
"""
from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional

import yaml

from edgedepth.errors import ConfigError
from edgedepth.utils.io import atomic_write_text


def _choices(source: str):
    """A field whose value must be one of ``module:function()``'s names (the registry that owns them)."""
    return {"choices": source}


@dataclass
class ModelConfig:
    # a registered encoder: resnet18/34/50, mobilenet_v3_large, or the edge family edge_s/edge_l
    # (plain 3x3 convs built for INT8 engines and 2-core CPUs, edgedepth/models/edge.py)
    encoder: str = field(default="resnet18", metadata=_choices("edgedepth.models.encoders:encoder_names"))
    encoder_weights: Optional[str] = None  # a local torchvision state_dict file; random init when None
    # depth decoder: "auto" = the encoder's own ("concat" for ResNet/MobileNet, "add" for edge_s/edge_l)
    decoder: str = field(default="auto", metadata=_choices("edgedepth.models.depth:decoder_names"))
    min_depth: float = 0.5
    max_depth: float = 80.0
    semantic_backbone: str = field(default="resnet18", metadata=_choices("edgedepth.models.encoders:dilatable_encoder_names"))
    # S runs on D's encoder (the paper gives S its own backbone): then S's cross-entropy on both domains
    # shapes the features D's decoder reads, which measurably helps on the target (benchmarks/results/da_ablation.md)
    shared_backbone: bool = True
    semantic_channels: int = 256  # ASPP/decoder width of S (DeepLabv3+: 256; narrower for CPU budgets)
    num_classes: int = 19
    semantics: bool = True  # train S and show its features to F (False: F sees depth features + image only)
    discriminator: Literal["patch", "semantic"] = "patch"
    disc_channels: int = 64


@dataclass
class DataConfig:
    # a name registered in edgedepth.data.registry ("vkitti2", "kitti", "cityscapes", ...), "synthetic"
    # (the built-in world of that domain) or a dataset folder (e.g. written by `data synth`)
    source: str = "synthetic"
    target: str = "synthetic"
    source_root: Optional[str] = None
    target_root: Optional[str] = None
    split_file: Optional[str] = None  # KITTI Eigen split file for the target
    test_split_file: Optional[str] = None
    size: tuple[int, int] = (96, 320)  # H, W
    train_length: int = 512  # synthetic: samples per domain
    test_length: int = 64
    views: Literal["stereo", "temporal", "both"] = "stereo"
    batch_size: int = 4
    num_workers: Optional[int] = None  # loader processes; None: 0 for the render cache, up to 4 for datasets on disk
    cache: bool = True  # read the synthetic training split from the render cache (rendered there on first use)
    cache_dir: Optional[str] = None  # None: $EDGEDEPTH_CACHE_DIR, else $XDG_CACHE_HOME/edgedepth, else ~/.cache/edgedepth
    flip: bool = True
    color_jitter: float = 0.0
    seed: int = 0


@dataclass
class LossConfig:
    # supervised L1 on labelled source pixels, on log depth: a 10 % error weighs the same at 3 m and at 60 m (in metres
    # the far pixels outweigh the near ones); 10x the metric weight keeps its share of the loss. Measured with the
    # cycle pyramid below, edge_l, 3 seeds: target AbsRel 0.217 (metric) -> 0.205 (log) -> 0.200 (log + pyramid),
    # and the 0-10 m bin 0.173 -> 0.169 -> 0.158 (benchmarks/results/da_recipe_near.md)
    depth: float = 10.0
    depth_space: Literal["metric", "log"] = "log"
    # cross-entropy on both domains. With S on D's encoder it teaches D where the standing objects are on the target,
    # which adaptation otherwise pushes back to ~1.4x their depth (benchmarks/results/near_range_probe.md). From the
    # same warm starts, 3 seeds, 5 against 1: edge_l target AbsRel -4.4 %, 0-10 m -8.3 %, better on every seed
    # (3: -3.0 / -6.9 %; 10: -5.4 / -7.4 %, 10-20 m +5 %; da_near_screen.md); ResNet-18 -5.0 / -10.2 %, every seed
    # (da_near_screen_r18.md). 0.1 closed 6 points less of the gap than 1 (da_recipe_search.md). ResNet-18 at 600
    # steps per variant: 5 broke one seed's adversarial_semantic near range (0-10 m 0.329; 1: 0.188, 3: 0.209,
    # da_screen_r18_600_seg.md): use 1-3 with ResNet-18 on longer runs
    seg: float = 5.0
    adv: float = 0.01  # adversarial weight for D,S
    adv_kind: Literal["lsgan", "bce"] = "lsgan"
    # photometric cycle loss, both domains. Its error (~0.1) is small next to the L1 depth loss in metres
    # (~5): at 1.0 the source labels drown it (25 % of the gap closed), at 10 it closes 62 %
    cycle: float = 10.0
    cycle_source: bool = True
    automask: bool = False  # monodepth2 auto-masking: no cycle loss where the unwarped views match better
    # with several views (data.views=both): the first (stereo) view decides where it sees the pixel, the temporal
    # views only fill in the pixels it does not (its blind border); false: the per-pixel minimum over all views.
    # With train.ema, edge_l, 3 seeds (da_drift.md): target AbsRel a further -1 %, -5 %, -2 %; the plain minimum
    # over stereo + temporal views lost the far range (40-80 m 0.606 vs 0.376, da_recipe_near.md)
    view_fallback: bool = False
    # levels of the image pyramid the cycle loss compares (full resolution, 1/2, 1/4): at 1/4 a near object's
    # disparity error of 3 px is within bilinear sampling's reach (1: full resolution only, the paper's loss)
    cycle_scales: int = 3
    smooth: float = 1e-3
    target_depth: float = 0.0  # > 0 only for the oracle: supervise target depth too
    kernel: Literal["auto", "fused", "reference"] = "auto"


@dataclass
class CurriculumConfig:
    enabled: bool = False
    stages: int = 3  # target pool grows from the simplest 1/stages to all samples
    warmup_fraction: float = 0.6  # fraction of training spent growing the pool


@dataclass
class OptimConfig:
    lr: float = 2e-4
    disc_lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    scheduler: Literal["none", "cosine", "step"] = "cosine"
    warmup_steps: int = 0


@dataclass
class TrainConfig:
    steps: int = 1000
    out: str = "runs/train"
    log_every: int = 10
    eval_every: int = 0  # 0: only at the end
    ckpt_every: int = 200
    keep_last: int = 3
    # > 0: evaluate, keep as best and deploy an exponential moving average of D's weights with this decay per step
    # (edgedepth/train/ema.py); 0: the last step's weights. edge_l, 64x192, 3 seeds, evaluations at steps 500-1000
    # of a 2,000-step run: target AbsRel -4 %, -11 %, -9 %, 0-10 m -4 %, -12 %, -11 % (benchmarks/results/da_drift.md)
    ema: float = 0.995
    amp: bool = True  # used on CUDA only
    device: str = "auto"
    seed: int = 0
    resume: Optional[str] = None
    init_from: Optional[str] = None  # start from this checkpoint's weights (fresh optimisers, step 0): warm starts
    tensorboard: bool = True
    progress: bool = True
    max_steps_per_run: int = 0  # > 0: stop (with a checkpoint) after this many steps; used to test resume


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ---------------------------------------------------------------- conversion


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists -> tuples etc.)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            raise ConfigError(
                f"config key '{key}' is {value!r}, which is not allowed",
                fix=f"use one of: {', '.join(repr(a) for a in args)}",
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise ConfigError(
                f"config key '{key}' must be a list of {len(args)} values, got {value!r}",
                fix=f"write it as {key}=[{', '.join(_type_name(a) for a in args)}]",
            )
        item_types = [args[0]] * len(value) if args and args[-1] is Ellipsis else args
        return tuple(_coerce(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, item_types)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if tp is float:
        return _number(value, key)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}", fix=f"write it as {key}=100")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' must be true or false, got {value!r}", fix=f"write it as {key}=true")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}", fix=f"quote it: {key}='...'")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"config section '{key}' must be a mapping, got {value!r}")
        return _build(tp, value, key)
    raise ConfigError(f"config key '{key}' has an unsupported type {tp!r}")  # a bug in the schema


def _number(value: Any, key: str) -> float:
    # YAML 1.1 reads "1e-3" (no dot) as a string; a user who writes optim.lr=1e-3 means the number.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config key '{key}' must be a number, got {value!r}", fix=f"write it as {key}=0.001")
    return float(value)


def _build(cls: type, values: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            full = f"{prefix}.{key}" if prefix else key
            raise ConfigError(
                f"unknown config key '{full}'",
                fix=f"known keys{' in ' + prefix if prefix else ''}: {', '.join(sorted(names))}",
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            full = f"{prefix}.{f.name}" if prefix else f.name
            kwargs[f.name] = _coerce(values[f.name], hints[f.name], full)
            _check_choice(f, kwargs[f.name], full)
    return cls(**kwargs)


def _check_choice(f: dataclasses.Field, value: Any, key: str) -> None:
    if "choices" not in f.metadata:
        return
    module, function = f.metadata["choices"].split(":")
    allowed = getattr(importlib.import_module(module), function)()
    if value not in allowed:
        raise ConfigError(f"config key '{key}' is {value!r}, which is not allowed", fix=f"use one of: {', '.join(map(repr, allowed))}")


def to_dict(cfg: Any) -> dict:
    """A plain dict (tuples as lists) suitable for YAML, JSON and checkpoints."""

    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))


def from_dict(values: dict, cls: type = Config):
    return _build(cls, values or {})


def _set_path(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{dotted}': '{p}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict:
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value", fix="for example: train.steps=200")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        _set_path(tree, key.strip(), value)
    return tree


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or the defaults when ``path`` is None) and apply ``key=value`` overrides."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file '{path}' does not exist", fix="pass an existing YAML file, e.g. configs/synthetic_demo.yaml")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file '{path}' is not valid YAML", why=str(e)) from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file '{path}' must hold a mapping of sections, got {type(values).__name__}")
    values = _merge(values, parse_overrides(overrides or []))
    cfg = check_values(from_dict(values))
    _check_dataset_names(cfg.data)
    return cfg


def _check_dataset_names(data: DataConfig) -> None:
    from edgedepth.data.registry import check_dataset_name

    for key in ("source", "target"):
        check_dataset_name(getattr(data, key), what=f"config key 'data.{key}'", error=ConfigError)


def save_config(cfg: Config, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def packaged_config(name: str) -> Path:
    """A config shipped inside the package (so `edgedepth demo` works from any install)."""
    return Path(__file__).parent / "configs" / f"{name}.yaml"


# ---------------------------------------------------------------- values the types allow but a run cannot use

ENCODER_STRIDE = 32  # the encoder halves the resolution 5 times; the decoder's skips line up at multiples of it


def _at_least(minimum: int, meaning: str = ""):
    return lambda v: None if v is None or v >= minimum else f"must be at least {minimum}{meaning}"


VALUE_RULES = {
    "train.steps": _at_least(1),
    "train.log_every": _at_least(1),
    "train.keep_last": _at_least(1),
    "train.ckpt_every": _at_least(0, " (0: a checkpoint at the end only)"),
    "train.eval_every": _at_least(0, " (0: evaluate at the end only)"),
    "train.max_steps_per_run": _at_least(0, " (0: no limit)"),
    "data.batch_size": _at_least(1),
    "data.train_length": _at_least(1),
    "data.num_workers": _at_least(0, " (unset: chosen for the data)"),
    "train.ema": lambda v: None if 0.0 <= v < 1.0 else "must be in [0, 1) (0: off; 0.99-0.999: the decay per step)",
    "loss.cycle_scales": lambda v: None if 1 <= v <= 4 else "must be 1 to 4 (the image pyramid's levels, full resolution first)",
}


def _size_fix(size: tuple[int, int]) -> str:
    nearest = [max(ENCODER_STRIDE, round(v / ENCODER_STRIDE) * ENCODER_STRIDE) for v in size]
    return f"use multiples of {ENCODER_STRIDE}, e.g. data.size=[{nearest[0]},{nearest[1]}]"


def check_values(cfg: Config) -> Config:
    """Refuse, before any work, values that would fail minutes later or train nothing with exit code 0."""
    for key, rule in VALUE_RULES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        problem = rule(value)
        if problem:
            raise ConfigError(f"config key '{key}' is {value!r}; it {problem}", fix=f"set {key} to a valid value")
    if any(v < ENCODER_STRIDE or v % ENCODER_STRIDE for v in cfg.data.size):
        raise ConfigError(
            f"config key 'data.size' is {list(cfg.data.size)}; height and width must be multiples of {ENCODER_STRIDE}",
            why=f"the encoder halves the resolution 5 times, so the decoder's skip connections only line up at "
            f"multiples of {ENCODER_STRIDE} (export checks the same rule)",
            fix=_size_fix(cfg.data.size),
        )
    if cfg.loss.view_fallback and cfg.data.views != "both":
        raise ConfigError(
            f"config key 'loss.view_fallback' is true but data.views is {cfg.data.views!r}",
            why="the fallback lets temporal views fill in the pixels the stereo view does not see; it needs both kinds",
            fix="set data.views=both, or loss.view_fallback=false",
        )
    return cfg
