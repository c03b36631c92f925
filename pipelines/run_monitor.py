"""The run monitor: a run whose process is gone is marked failed within seconds, not left STARTED.

A run executed in-process (`screentime run`) has no run worker that Dagster could health-check:
killed, it would stay STARTED for good, holding its episode (the queue's one run per episode) and
the `gpu` pool's slot, so every queued episode run would wait behind it. Dagster's own run
monitoring (`run_monitoring:` in dagster.yaml) health-checks run workers only where the run
launcher can (Kubernetes, Docker, ECS); on one machine the code server fails a run whose run
worker it launched dies, but nothing fails an in-process run, nor a run worker's run once its code
server is gone. So every episode run records the process that runs it (`screentime/process`,
`<host>:<pid>`), and this sensor marks each run in progress whose process on this host has ended
as failed (`RunWorkerDied`) and frees its concurrency slots (`screentime.assets.guard`). The
failure sensor then ends its progress with `error` and removes its partial files; the failure is
not counted against the file (`screentime.library.failures`).
"""

import dagster as dg

from screentime.assets.guard import reap_dead_runs
from screentime.contracts.names import PARTITION_TAG, PROCESS_TAG

RUN_MONITOR = "episode_run_monitor"
# A dead run holds the queue until this notices: a check of the runs in progress is cheap.
INTERVAL_S = 10


@dg.sensor(
    name=RUN_MONITOR,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a run whose process is gone (a killed `screentime run` or run worker) as failed "
    "and frees its pool slot, so it does not hold the run queue (see docs/deployment.md).",
)
def episode_run_monitor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = reap_dead_runs(context.instance)
    for run in failed:
        context.log.warning(f"run {run.run_id} of {run.tags.get(PARTITION_TAG, run.job_name)}: its process "
                            f"({run.tags.get(PROCESS_TAG)}) is gone; marked failed, its slots freed")
    if failed:
        return dg.SkipReason(f"marked {len(failed)} run(s) whose process is gone as failed: "
                             + ", ".join(run.run_id for run in failed))
    return dg.SkipReason("every run in progress has its process")
