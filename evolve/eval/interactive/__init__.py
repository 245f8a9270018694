"""The DAVIS interactive protocol: robot, sessions over a dataset, AUC and J&F@60s (docs/interactive.md)."""
