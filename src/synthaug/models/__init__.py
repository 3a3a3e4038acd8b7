"""Neural networks: the ResNet domain classifier and the class-conditional generators."""
