"""What a sweep tries: its Optuna study in optuna.db, a population's first members drawn into it,
warm starts and enqueued configs, and the configs the sampler proposes first (`--dry-run`).
How the trials run (Ray Tune, the driver's checks, the recorder) is `nagexp.sweeps`, above."""
