"""Arrow tables as Parquet bytes (zstd), the one format of every table in storage."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET = "application/vnd.apache.parquet"


def table_to_parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def table_from_parquet(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))
