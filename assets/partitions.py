"""Episodes as Dagster partitions: one dynamic partition per episode id (`the-office-s02e07`)."""

import dagster as dg

from screentime.contracts.names import EPISODES

episode_partitions = dg.DynamicPartitionsDefinition(name=EPISODES)
