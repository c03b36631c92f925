"""Launching episode runs through the Dagster webserver's GraphQL API, so they show in the UI.

The launch is what the UI does: add the episode's dynamic partition, then launch `episode_job`
for it with `episode_run_config` (the run options plus the progress logger).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from screentime.contracts.episode import EpisodeId
from screentime.contracts.errors import ScreentimeError
from screentime.contracts.names import EPISODE_JOB, EPISODES, LAUNCHED_BY_TAG, PARTITION_TAG
from screentime.contracts.options import RunOptions
from screentime.contracts.run_config import episode_run_config


class DagsterUnavailable(ScreentimeError):
    """The webserver could not be reached or answered with an error."""


class LaunchRejected(ScreentimeError):
    """Dagster refused the launch (unknown job, invalid config, not authorised...)."""


_REPOSITORIES = """
query Repositories {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
    ... on Error { message }
  }
}"""

_ADD_PARTITION = """
mutation AddPartition($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on Error { message }
  }
}"""

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}"""


@dataclass(frozen=True)
class JobLocation:
    location: str
    repository: str


class DagsterClient:
    def __init__(self, url: str, http: httpx.AsyncClient):
        self.url = url.rstrip("/")
        self.http = http

    async def _query(self, query: str, variables: dict | None = None) -> dict:
        try:
            response = await self.http.post(
                f"{self.url}/graphql", json={"query": query, "variables": variables or {}}
            )
        except httpx.HTTPError as exc:
            raise DagsterUnavailable(f"cannot reach the Dagster webserver at {self.url}: {exc}") from exc
        if response.status_code != 200:
            raise DagsterUnavailable(f"Dagster webserver at {self.url} answered HTTP {response.status_code}")
        body = response.json()
        if body.get("errors"):
            raise DagsterUnavailable(f"Dagster GraphQL error: {body['errors'][0].get('message')}")
        return body["data"]

    async def job_location(self, job: str = EPISODE_JOB) -> JobLocation:
        result = (await self._query(_REPOSITORIES))["repositoriesOrError"]
        if result["__typename"] != "RepositoryConnection":
            raise DagsterUnavailable(f"Dagster could not list its code: {result.get('message')}")
        for repo in result["nodes"]:
            if any(j["name"] == job for j in repo["jobs"]):
                return JobLocation(location=repo["location"]["name"], repository=repo["name"])
        raise LaunchRejected(f"the Dagster webserver at {self.url} has no job {job!r}: is it serving Screentime?")

    async def launch_episode(self, ep: EpisodeId, options: RunOptions, video: str) -> str:
        """Add the episode's partition and launch its run; returns the run id."""
        where = await self.job_location()
        repo = {"repositoryLocationName": where.location, "repositoryName": where.repository}
        added = (await self._query(_ADD_PARTITION, {"repo": repo, "name": EPISODES, "key": str(ep)}))
        added = added["addDynamicPartition"]
        if added["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
            raise LaunchRejected(f"Dagster refused partition {ep}: {added.get('message')}")
        params = {
            "selector": {**repo, "jobName": EPISODE_JOB},
            "runConfigData": episode_run_config(options, video),
            "executionMetadata": {"tags": [
                {"key": PARTITION_TAG, "value": str(ep)},
                {"key": LAUNCHED_BY_TAG, "value": "api"},
            ]},
        }
        launched = (await self._query(_LAUNCH, {"params": params}))["launchRun"]
        if launched["__typename"] == "LaunchRunSuccess":
            return launched["run"]["runId"]
        reasons = [e["message"] for e in launched.get("errors") or []] or [launched.get("message")]
        raise LaunchRejected(f"Dagster refused the run ({launched['__typename']}): {'; '.join(map(str, reasons))}")
