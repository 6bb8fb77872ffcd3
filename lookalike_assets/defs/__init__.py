"""Dagster definitions: a thin layer that wires the pipeline modules to partitions, resources, jobs,
sensors and schedules. One folder per domain, as in dagster-open-platform."""
