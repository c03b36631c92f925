"""Episodes as Dagster partitions: one dynamic partition per episode id (`the-office-s02e07`)."""

import dagster as dg

EPISODES = "episodes"

episode_partitions = dg.DynamicPartitionsDefinition(name=EPISODES)
