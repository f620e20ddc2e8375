"""Sweeps: how a sweep runs: checks, resources, plan, Ray Tune setup, trainable, recorder,
interrupt, outcome, resume, `--dry-run`; what it tries (the study, warm starts) is `nagexp.search`."""
