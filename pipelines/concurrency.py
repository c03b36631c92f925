"""The `gpu` pool's limit, created on the instance before any episode run is queued.

Dagster's queue reads the pool limits at the start of each pass and creates a missing pool's
limit from `default_limit` during that pass, so with `granularity: run` the first batch of runs
of a pool that has no limit yet would all start at once. Every path that queues episode runs
(the sensor, the schedule, `screentime backfill`, `make ui`) calls `ensure_pool_limits` first.
A limit someone set by hand (`dagster instance concurrency set gpu N`) is left as it is.

Run as `python -m screentime.pipelines.concurrency` it does this for the DAGSTER_HOME instance.
"""

import dagster as dg

from screentime.contracts.names import GPU_POOL


def ensure_pool_limits(instance: dg.DagsterInstance) -> None:
    storage = instance.event_log_storage
    if instance.global_op_concurrency_default_limit is None or not storage.supports_global_concurrency_limits:
        return
    if GPU_POOL not in {pool.name for pool in storage.get_pool_limits()}:
        storage.initialize_concurrency_limit_to_default(GPU_POOL)


if __name__ == "__main__":
    with dg.DagsterInstance.get() as current:
        ensure_pool_limits(current)
