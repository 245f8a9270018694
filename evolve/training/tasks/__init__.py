"""Built-in training tasks (see :mod:`evolve.training.task`)."""
