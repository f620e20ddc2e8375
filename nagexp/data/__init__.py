"""A run's data: readers, cleaning, splits, the bundle (memory mode), batch sources, and the
prepared cache (local or object storage) that stream mode reads. `loading.load_train_data` is
the one entry point."""
