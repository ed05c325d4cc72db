"""Against the past: statistics, the comparison with a baseline, the history of runs and its
change points."""
