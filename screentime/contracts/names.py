"""The names the Dagster layer and every launcher share: job, op, partitions, pool, tags.

Plain strings, so the CLI and the progress API can launch and find runs without importing the
Dagster definitions.
"""

EPISODE_JOB = "episode_job"
ANALYSIS_OP = "episode_analysis"  # the multi-asset whose op config holds the run options
EPISODES = "episodes"  # the dynamic partitions set: one partition per episode id
EPISODE_GROUP = "episodes"  # the asset group the episode job materialises
GPU_POOL = "gpu"  # one analysis at a time per GPU slot (pipelines/dagster.yaml)
PROGRESS_LOGGER = "progress"

PARTITION_TAG = "dagster/partition"  # Dagster's own tag: the run's partition key
CODE_VERSION_TAG = "dagster/code_version"  # Dagster's own tag on materialisations
LAUNCHED_BY_TAG = "screentime/launched_by"  # cli, api, sensor, schedule or backfill
REASON_TAG = "screentime/reason"  # why a run was asked for (the nightly catch-up, a reviewer's edit)
REGISTRY_VERSION_TAG = "screentime/registry_version"  # the people registry version an edit run rolls up
SHOW_TAG = "screentime/show"
SEASONS_TAG = "screentime/seasons"

SHOWS = "shows"  # the dynamic partitions set of the show-level assets: one per show slug
SHOW_GROUP = "shows"
SHOW_JOB = "show_job"
QUARANTINED_TAG = "screentime/quarantined"  # on the failed run that quarantined its episode: why
FAILED_CHECKS_TAG = "screentime/failed_checks"  # on a run whose asset checks failed: their names
PROCESS_TAG = "screentime/process"  # <host>:<pid> of an in-process (CLI) run, to tell when it died
