"""The one door to library internals: every use of a private attribute, private module or
undocumented behaviour of Ray (Tune, Train, Data), Optuna or MLflow lives in a module here,
one per library concern, each naming the versions it was tested on (`versions.Tested`).

Importing one checks the installed version: outside the tested range it says so in one
warning line (what may not hold), and where a public fallback exists the module uses it.
Everything else in nagexp uses the libraries' public APIs only.

    ray_tune       Tune's telemetry, file names, stop signal and settings
    ray_train      a TorchTrainer without the placement-group cleaner; Train's result keys
    ray_placement  placement groups by id (they travel between processes as hex)
    ray_data       scoped Ray Data settings (no global DataContext change)
    ray_pbt        PBT / PB2 with each trial's identity and their own seeded draws
    ray_halving    successive halving on complete rungs (deterministic mode's scheduler)
    ray_actor_reuse  a paused trial's actor kept for the next trial (Tune's search held open)
    optuna_search  OptunaSearch's study and trials; an Optuna trial by storage id
    mlflow_store   the schema snapshot of an empty MLflow store; the UI's runs link
"""
