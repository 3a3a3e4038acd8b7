"""Training loops (classifiers, generators), the optimiser and the training curves."""
