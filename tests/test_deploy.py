"""deploy/: the Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate,
offline), the cluster's dagster.yaml against Dagster's own config schemas, and the run pod that
dagster-k8s would create from it. (tests/test_postgres.py runs its storage for real.)"""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config_schema

K8S = Path(__file__).resolve().parents[1] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def cluster_instance() -> dict:
    return yaml.safe_load((K8S / "dagster.yaml").read_text())


@pytest.mark.parametrize("name", [*kustomization()["resources"], "secrets.example.yaml"])
def test_every_manifest_is_valid_kubernetes(name):
    for resource in documents(K8S / name):
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_broken_manifest():
    deployment = documents(K8S / "daemon.yaml")[0]
    deployment["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_names_files_that_exist_and_the_launcher_its_config_map():
    kustom = kustomization()
    generated = kustom["configMapGenerator"][0]
    assert all((K8S / name).is_file() for name in [*kustom["resources"], *generated["files"]])
    launcher = cluster_instance()["run_launcher"]["config"]
    assert generated["name"] == launcher["instance_config_map"] and kustom["generatorOptions"]["disableNameSuffixHash"]
    account = documents(K8S / "rbac.yaml")[0]["metadata"]["name"]
    assert launcher["service_account_name"] == account
    for name in ("daemon.yaml", "webserver.yaml"):
        assert documents(K8S / name)[0]["spec"]["template"]["spec"]["serviceAccountName"] == account


def test_the_cluster_instance_matches_dagsters_schemas():
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage

    config = cluster_instance()
    assert validate_config(dagster_instance_config_schema(), config).success
    for cls, section in ((K8sRunLauncher, config["run_launcher"]["config"]),
                         (DagsterPostgresStorage, config["storage"]["postgres"]),
                         (S3ComputeLogManager, config["compute_logs"]["config"])):
        result = validate_config(cls.config_type(), section)
        assert result.success, [error.message for error in result.errors]
    broken = {**config["run_launcher"]["config"], "gpus": 1}
    assert not validate_config(K8sRunLauncher.config_type(), broken).success


def test_each_run_pod_asks_for_one_gpu():
    """The Job dagster-k8s builds for a run from the shipped run_k8s_config, as the API receives it."""
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job
    from kubernetes.client import ApiClient

    launcher = cluster_instance()["run_launcher"]["config"]
    job_config = DagsterK8sJobConfig(
        job_image="screentime:0.1.0", dagster_home=launcher["dagster_home"],
        image_pull_policy=launcher["image_pull_policy"], instance_config_map=launcher["instance_config_map"],
        service_account_name=launcher["service_account_name"], env_config_maps=launcher["env_config_maps"],
        env_secrets=launcher["env_secrets"],
    )
    user_config = UserDefinedDagsterK8sConfig.from_dict(launcher["run_k8s_config"])
    job = construct_dagster_k8s_job(job_config, ["dagster", "api", "execute_run", "{}"], "dagster-run-1",
                                    user_defined_k8s_config=user_config, component="run_worker")
    body = {"apiVersion": "batch/v1", "kind": "Job", **ApiClient().sanitize_for_serialization(job)}
    kubernetes_validate.validate(body, KUBERNETES_VERSION, strict=True)
    pod = body["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["serviceAccountName"] == launcher["service_account_name"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
