"""Datasets prepared once into shards on disk (decoded, cleaned), reused by every later
sweep and run, and read whole (memory mode) or streamed in batches (stream mode)."""
