"""Where every stage reads and writes, relative to the project root (one place)."""

from __future__ import annotations

from pathlib import Path

PREPARED = Path("data/prepared")
POOLS = Path("data/pools")
SELECTED = Path("data/selected")
MODELS = Path("models")
METRICS = Path("metrics")
REPORTS = Path("reports")
LOGS = Path("logs")
RESUME = Path(".synthaug/resume")  # git- and DVC-ignored: state to resume a killed run


def prepared(split: str) -> Path:
    """Prepared split ``train``, ``val`` or ``test`` (only evaluate reads ``test``)."""
    return PREPARED / f"{split}.npz"


def extractor() -> Path:
    """The feature extractor (domain classifier)."""
    return MODELS / "extractor.pt"


def gan_dir(kind: str) -> Path:
    """Checkpoints of one generator kind."""
    return MODELS / "train_gan" / kind


def gan_resume_dir(kind: str) -> Path:
    """Where train_gan@KIND trains: its checkpoints and ``resume.pt`` (not a DVC output)."""
    return RESUME / "train_gan" / kind


def chosen_generator(kind: str) -> Path:
    """The checkpoint select_checkpoint chose for one generator kind."""
    return MODELS / "select_checkpoint" / f"{kind}.pt"


def pool(name: str) -> Path:
    """A synthetic candidate pool."""
    return POOLS / f"{name}.npz"


def selected(name: str) -> Path:
    """Scores and filter subsets of one pool."""
    return SELECTED / f"{name}.npz"


def audit(name: str) -> Path:
    """Per-candidate filter decisions of one pool."""
    return SELECTED / f"{name}_audit.csv"


def classifier(method: str, seed: int) -> Path:
    """One trained classifier of a method and seed."""
    return MODELS / "train_classifier" / method / f"seed_{seed}.pt"


def metrics(stage: str, *parts: str) -> Path:
    """``metrics/<stage>.json`` or ``metrics/<stage>/<parts>.json``."""
    if not parts:
        return METRICS / f"{stage}.json"
    return METRICS.joinpath(stage, *parts[:-1], f"{parts[-1]}.json")


def timing(stage: str, *parts: str) -> Path:
    """``logs/timing/<stage>[/<parts>].json``: wall-clock figures, not tracked."""
    return (LOGS / "timing").joinpath(stage, *parts[:-1], f"{parts[-1]}.json") if parts \
        else LOGS / "timing" / f"{stage}.json"


def live(stage: str, *parts: str) -> Path:
    """dvclive folder of a training loop: ``dvclive/<stage>[/<parts>]``."""
    return Path("dvclive", stage, *parts)



def evaluate_plot(kind: str, method: str) -> Path:
    """Plot data of evaluate: ``metrics/evaluate/<kind>/<method>.csv`` (confusion, roc)."""
    return METRICS / "evaluate" / kind / f"{method}.csv"
