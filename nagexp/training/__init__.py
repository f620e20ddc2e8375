"""Training: dataset registry and readers, data pipeline, model registry and architectures,
schedules, optimizer, and the Nesterov trainer. Import the module you need: several of them
(schedules, dataset specs, the model registry) import no torch, so configs can use them."""
