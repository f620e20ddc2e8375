"""Runs made of trainings and sweeps: one training (`nagexp train`), a sweep's best trial rerun
on other seeds (`reproduce`), and sweeps compared arm by arm (`compare`)."""
