"""Data: the prepared data set (dataset), its sources (digits, MedMNIST, folders) and splits."""
