"""An own training function for `trainer: own_trainer.softmax:run` (see docs/guide/own-trainer.md)."""
