"""What every layer shares: params, paths, atomic file output, errors, progress, run time."""
