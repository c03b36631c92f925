"""The episode job on a Dagster instance stored in a real PostgreSQL server (dagster-postgres).

The instance takes its `storage` and `concurrency` sections from deploy/k8s/dagster.yaml, the
file the cluster deployment ships, with the connection from the same environment variables.
"""

from contextlib import closing
from pathlib import Path

import dagster as dg
import yaml

from tests.dagster_helpers import local_defs, run_episode_job
from tests.postgres_fixtures import postgres_db, postgres_server  # noqa: F401  (a real PostgreSQL)

DEPLOYED_INSTANCE = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "dagster.yaml"
EP = "carphone-s01e01"


def postgres_instance(home: Path) -> dg.DagsterInstance:
    shipped = yaml.safe_load(DEPLOYED_INSTANCE.read_text())
    home.mkdir()
    config = {"telemetry": {"enabled": False}, "storage": shipped["storage"], "concurrency": shipped["concurrency"]}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dg.DagsterInstance.from_config(str(home))


def test_an_episode_run_on_a_postgres_backed_instance(tmp_path, data_dir, carphone, postgres_server,
                                                      postgres_db, monkeypatch):
    for name, value in postgres_server.env(postgres_db).items():
        monkeypatch.setenv(name, value)
    with postgres_instance(tmp_path / "home") as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = run_episode_job(local_defs(data_dir), instance, EP, carphone, fps=5)
        assert result.success
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
    assert (data_dir / "artifacts/manifests/carphone/s01/e01/manifest.json").is_file()

    with closing(postgres_server.connect(postgres_db)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1",
                       (result.run_id,))
        events = dict(cursor.fetchall())
        cursor.execute("SELECT status FROM runs WHERE run_id = %s", (result.run_id,))
        run_status = cursor.fetchone()[0]
        cursor.execute("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = 'episodes'")
        partitions = [row[0] for row in cursor.fetchall()]
    assert events["PIPELINE_SUCCESS"] == 1  # RUN_SUCCESS's stored name
    assert events["STEP_SUCCESS"] == 9  # 5 asset steps and the 4 asset checks
    assert events["ASSET_CHECK_EVALUATION"] == 4
    assert events["ASSET_MATERIALIZATION"] == 10  # frames, detections, tracks, crops, shots, faces,
    # embeddings, people, screentime, manifests
    assert run_status == "SUCCESS" and partitions == [EP]
