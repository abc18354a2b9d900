"""Pooled activations on disk, keyed by rollout id: Parquet or safetensors, never pickle.

    save_activations(activations_path(store_dir, "step100"), ids, {"0.5": vectors}, pooling="last_prompt")
    ids, vectors, meta = load_activations(path)

- Parquet (``.parquet``): a ``rollout_id`` string column and one ``fixed_size_list<float32>`` column
  per layer spec, named ``layer:<spec>``; the pooling, the layer -> module names and the caller's
  metadata in the schema's key-value metadata (``rlaudit.*``).
- safetensors (``.safetensors``): one float32 tensor per layer spec, named by the spec; the rollout
  ids (a JSON list) and the rest in the header's string metadata.

A file is written to a temporary name beside it and renamed into place, so a reader sees all of it or
none. `activations_path` puts it in ``<store>/activations/`` (beside ``rollouts/``, which the store's
readers never list), under a name checked to be a plain file name.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("parquet", "safetensors")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PREFIX = "layer:"


def activations_path(store: str | os.PathLike[str], name: str, fmt: str = "parquet") -> Path:
    """``<store>/activations/<name>.<fmt>``; `name` must be a plain file name (letters, digits, ``_.-``)."""
    if not _NAME.match(name) or ".." in name:
        raise ValueError(f"activation file name {name!r}: use letters, digits, '_', '.', '-' only")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return Path(store) / "activations" / f"{name}.{fmt}"


def save_activations(
    path: str | os.PathLike[str],
    rollout_ids: Sequence[str],
    vectors: Mapping[str, np.ndarray],
    *,
    pooling: str,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write `vectors` (layer spec -> ``(n, hidden)``) keyed by `rollout_ids` to `path`, in the format
    its suffix names. Ids must be unique strings, one per row of every array."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{path}: name a .parquet or .safetensors file")
    ids = [str(i) for i in rollout_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("rollout ids must be unique")
    arrays = {spec: np.ascontiguousarray(v, dtype=np.float32) for spec, v in vectors.items()}
    for spec, v in arrays.items():
        if v.ndim != 2 or v.shape[0] != len(ids):
            raise ValueError(f"layer {spec!r}: expected ({len(ids)}, hidden) vectors, got {v.shape}")
    meta = {"pooling": pooling, **(metadata or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if fmt == "parquet":
            columns = {"rollout_id": pa.array(ids, pa.string())}
            for spec, v in arrays.items():
                flat = pa.array(v.reshape(-1), pa.float32())
                columns[_PREFIX + spec] = pa.FixedSizeListArray.from_arrays(flat, v.shape[1])
            table = pa.table(columns)
            kv = {f"rlaudit.{k}": json.dumps(val) for k, val in meta.items()}
            pq.write_table(table.replace_schema_metadata(kv), tmp)
        else:
            from safetensors.numpy import save_file

            header = {k: json.dumps(val) for k, val in meta.items()}
            header["rollout_ids"] = json.dumps(ids)
            save_file(arrays, tmp, metadata=header)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_activations(path: str | os.PathLike[str]) -> tuple[list[str], dict[str, np.ndarray], dict[str, Any]]:
    """``(rollout_ids, {layer spec: (n, hidden) float32}, metadata)`` of a file `save_activations` wrote."""
    path = Path(path)
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        raw = table.schema.metadata or {}
        meta = {
            k.decode()[len("rlaudit.") :]: json.loads(v) for k, v in raw.items() if k.startswith(b"rlaudit.")
        }
        ids = [str(x) for x in table.column("rollout_id").to_pylist()]
        vectors = {}
        for name in table.column_names:
            if name.startswith(_PREFIX):
                column = table.column(name).combine_chunks()
                width = column.type.list_size
                flat = column.flatten().to_numpy(zero_copy_only=False)
                vectors[name[len(_PREFIX) :]] = flat.astype(np.float32).reshape(len(ids), width)
        return ids, vectors, meta
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        ids = json.loads(header.pop("rollout_ids", "[]"))
        return ids, tensors, {k: json.loads(v) for k, v in header.items()}
    raise ValueError(f"{path}: not a .parquet or .safetensors activation file")
