"""Framework-free image analysis on the sampled frames (no Dagster, no model weights)."""
