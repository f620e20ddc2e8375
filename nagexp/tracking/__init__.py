"""MLflow: the store, runs for sweeps, trials and trainings, models, datasets."""
