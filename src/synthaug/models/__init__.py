"""Neural networks: the ResNet domain classifier and the class-conditional generators."""

from synthaug.models.classifier import BasicBlock, ClassifierConfig, ResNetClassifier, mc_dropout
from synthaug.models.generators import (
    GENERATORS,
    AutoEncoder,
    CGANGenerator,
    ConditionalVAE,
    ProjectionDiscriminator,
    build_generator,
    d_hinge_loss,
    diff_augment,
    g_hinge_loss,
    row_normals,
)

__all__ = [
    "GENERATORS",
    "AutoEncoder",
    "BasicBlock",
    "CGANGenerator",
    "ClassifierConfig",
    "ConditionalVAE",
    "ProjectionDiscriminator",
    "ResNetClassifier",
    "build_generator",
    "d_hinge_loss",
    "diff_augment",
    "g_hinge_loss",
    "mc_dropout",
    "row_normals",
]
