"""Data sources (digits, MedMNIST, class folders) and limited-data splits."""

from .sources import (
    Dataset,
    SplitData,
    load_digits,
    load_folder,
    load_medmnist,
    load_source,
    resize_images,
    validate_dataset,
)
from .splits import (
    class_count_table,
    limit_training,
    load_split,
    make_splits,
    save_split,
    stratified_split,
    take_per_class,
)

__all__ = [
    "Dataset",
    "SplitData",
    "class_count_table",
    "limit_training",
    "load_digits",
    "load_folder",
    "load_medmnist",
    "load_source",
    "load_split",
    "make_splits",
    "resize_images",
    "save_split",
    "stratified_split",
    "take_per_class",
    "validate_dataset",
]
