"""Dagster definitions for Screentime: partitions, jobs, loggers and the `defs` object."""
