"""Where artifacts live, from the environment (the Dagster storage resource mirrors these)."""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, Field, field_validator

# What botocore accepts as a region name (a DNS label); anything else fails deep inside it.
_REGION = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")


class StorageSettings(BaseModel):
    backend: str = Field("local", description="local or s3 (STORAGE_BACKEND)")
    data_dir: str = Field("./data", description="Root of local artifacts (SCREENTIME_DATA_DIR)")
    s3_bucket: str = Field("", description="Bucket for STORAGE_BACKEND=s3 (S3_BUCKET)")
    s3_prefix: str = Field("", description="Optional key prefix inside the bucket (S3_PREFIX)")
    aws_region: str = Field("", description="AWS region (AWS_REGION)")
    endpoint_url: str = Field("", description="S3-compatible endpoint (AWS_ENDPOINT_URL_S3)")

    @field_validator("aws_region")
    @classmethod
    def _check_region(cls, region: str) -> str:
        region = region.strip()
        if region and not _REGION.fullmatch(region):
            raise ValueError(f"AWS_REGION {region[:64]!r} is not a region name: letters, digits and '-', "
                             "e.g. us-east-1")
        return region

    @classmethod
    def from_env(cls) -> "StorageSettings":
        env = os.environ
        return cls(
            backend=env.get("STORAGE_BACKEND", "local") or "local",
            data_dir=env.get("SCREENTIME_DATA_DIR", "./data") or "./data",
            s3_bucket=env.get("S3_BUCKET", ""),
            s3_prefix=env.get("S3_PREFIX", ""),
            aws_region=env.get("AWS_REGION", "") or env.get("AWS_DEFAULT_REGION", ""),
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3", "") or env.get("AWS_ENDPOINT_URL", ""),
        )

    def storage_settings(self) -> "StorageSettings":
        return StorageSettings(**{name: getattr(self, name) for name in StorageSettings.model_fields})
