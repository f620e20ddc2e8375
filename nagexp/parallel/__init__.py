"""Data-parallel trials: a trial (or `nagexp train`) as a Ray Train run of K workers."""
