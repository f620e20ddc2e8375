"""The registries: one table per concept, name -> import path (models, dataset kinds, LR and
momentum schedules, optimizers, samplers, trial schedulers).

They import neither torch, Ray, Optuna nor MLflow: configs check names against them, the CLI
lists them in help and errors, and the code they point to (in the layers above) is imported
only when something is built. Built-ins and the user's own code (`package.module:attr`) take
the same path through `nagexp.core.imports`.
"""
