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
    # An Arrow buffer, not a Python file object: Arrow's reader threads then never call back into Python,
    # which at interpreter exit aborted the process now and then ("terminate called without an active
    # exception", apache/arrow#34314). Tables here are small; one thread reads them as fast.
    return pq.read_table(pa.BufferReader(data), use_threads=False)
