"""The rollout record and where rollouts are kept: `schema` (the fields, the stored Arrow schema and
`normalize`, which validates raw records into it) and `store` (the append-only `RolloutStore`, Parquet
parts under a DuckDB view)."""

from rlaudit.records.ledger import SCHEMA_VERSION, SourceRecord, file_sha256
from rlaudit.records.schema import (
    FIELDS,
    METRICS_SCHEMA,
    REQUIRED,
    STORE_SCHEMA,
    RecordError,
    normalize,
    normalize_many,
)
from rlaudit.records.store import RolloutStore, jsonable_row

__all__ = [
    "FIELDS",
    "METRICS_SCHEMA",
    "REQUIRED",
    "SCHEMA_VERSION",
    "STORE_SCHEMA",
    "RecordError",
    "RolloutStore",
    "SourceRecord",
    "file_sha256",
    "jsonable_row",
    "normalize",
    "normalize_many",
]
