"""Sweeps: Ray Tune runner, trainable adapter, searcher, recorder, resume, compare, reproduce."""
