"""SearchSpace -> Optuna: the define-by-run function (`sampling`), and the registries of
samplers and Tune schedulers, which import neither Optuna nor Ray until one is made."""
