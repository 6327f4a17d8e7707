"""Keyed pseudonyms of client ids: HMAC-SHA256 with a key kept outside the project.

The key comes from an environment variable (``governance.pseudonymise.key_env``,
default ``SEGMINT_PSEUDONYM_KEY``) or, when that is unset, a secret file
(``governance.pseudonymise.key_file``); never from the project file or the warehouse.
A pseudonym is the lowercase hex HMAC-SHA256 of the id's UTF-8 bytes (RFC 2104).

Two forms compute the same value:

- :func:`pseudonymise` in Python (the standard library's :mod:`hmac`), for frames;
- :func:`pseudonym_sql`, a DuckDB expression built from ``sha256`` over the padded key
  (HMAC's definition: ``H((K ^ opad) || H((K ^ ipad) || m))``), so exports are written
  by ``COPY`` without the ids passing through Python.

Rotation: pseudonyms change with the key; :func:`rotation_map` gives partners the
old-to-new mapping, and :func:`key_id` names a key without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from segmint.config._governance import ErasureConfig, PseudonymConfig
from segmint.errors import ConfigError, ParameterError

_BLOCK = 64  # SHA-256 block size in bytes


def pseudonym_key(
    config: PseudonymConfig | ErasureConfig | None = None,
    root: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """The pseudonymisation key (or, given ``governance.erasure``, the erasure key): the
    environment variable, else the secret file.

    Raises
    ------
    ConfigError
        Neither is set, the file is missing, or the key is shorter than 16 bytes.
    """
    config = config or PseudonymConfig()
    section = "governance.erasure" if isinstance(config, ErasureConfig) else "governance.pseudonymise"
    what = "erasure" if isinstance(config, ErasureConfig) else "pseudonymisation"
    env = os.environ if env is None else env
    value = env.get(config.key_env)
    if value:
        key = value.encode()
        where = f"environment variable {config.key_env}"
    elif config.key_file:
        path = Path(config.key_file)
        if root is not None and not path.is_absolute():
            path = Path(root) / path
        if not path.exists():
            raise ConfigError(
                f"{section}.key_file: {path} does not exist (and {config.key_env} "
                "is unset)"
            )
        key = path.read_bytes().strip()
        where = str(path)
    else:
        raise ConfigError(
            f"{section}: set the environment variable {config.key_env} or "
            f"key_file to the {what} key"
        )
    if len(key) < 16:
        raise ConfigError(f"{where}: the {what} key must be at least 16 bytes")
    return key


def optional_key(
    config: PseudonymConfig | ErasureConfig | None = None, root: str | Path | None = None
) -> bytes | None:
    """:func:`pseudonym_key`, or None when neither the variable nor the file is set."""
    config = config or PseudonymConfig()
    if not os.environ.get(config.key_env) and not config.key_file:
        return None
    return pseudonym_key(config, root)


def key_id(key: bytes) -> str:
    """A short public name of a key (12 hex digits), to record which key made a file."""
    return hashlib.sha256(b"segmint-pseudonym-key-id:" + key).hexdigest()[:12]


def pseudonymise(ids: Iterable[object], key: bytes) -> np.ndarray:
    """HMAC-SHA256 pseudonyms (hex) of ``ids``; nulls stay null.

    Examples
    --------
    >>> pseudonymise(["c1"], b"0123456789abcdef")[0][:16]
    'e13ed6f9e1b47fab'
    """
    if not isinstance(key, bytes | bytearray) or not key:
        raise ParameterError("pseudonymise: the key must be non-empty bytes")
    values = pd.Series(list(ids) if not isinstance(ids, pd.Series) else ids, dtype=object)
    uniq = values.dropna().unique()
    digests = {
        u: hmac.new(key, str(u).encode(), hashlib.sha256).hexdigest() for u in uniq
    }
    out = values.map(digests).to_numpy(dtype=object)
    out[values.isna().to_numpy()] = None
    return out


def _blob(data: bytes) -> str:
    return "'" + "".join(f"\\x{b:02X}" for b in data) + "'::BLOB"


def pseudonym_sql(column: str, key: bytes) -> str:
    """A DuckDB expression computing :func:`pseudonymise` of ``column`` in the engine.

    The key appears in the query text (as the padded inner and outer blocks); the
    query is not stored by segmint.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in k)
    opad = bytes(b ^ 0x5C for b in k)
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE sha256({_blob(opad)} || "
        f"unhex(sha256({_blob(ipad)} || encode({column}::VARCHAR)))) END"
    )


def rotation_map(ids: Iterable[object], old_key: bytes, new_key: bytes) -> pd.DataFrame:
    """Old and new pseudonym of every id, for the holders of files made with the old key."""
    ids = list(ids)
    return pd.DataFrame(
        {"old_pseudonym": pseudonymise(ids, old_key), "new_pseudonym": pseudonymise(ids, new_key)}
    )


def copy_pseudonymised(con, query: str, path: str | Path, key: bytes, *, columns: tuple[str, ...] = ("client_id",)) -> Path:
    """Write ``query``'s rows to a CSV or Parquet file (by suffix) with its client-id
    columns replaced by pseudonyms, in the engine (``COPY``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ParameterError(f"--out {path}: expected a .parquet or .csv file")
    present = [r[0] for r in con.execute(f"DESCRIBE ({query})").fetchall()]
    swap = [c for c in columns if c in present]
    replace = ", ".join(f'{pseudonym_sql(_qi(c), key)} AS {_qi(c)}' for c in swap)
    select = f"SELECT * REPLACE ({replace}) FROM ({query})" if swap else query
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PARQUET" if suffix == ".parquet" else "CSV, HEADER"
    target = str(path).replace("'", "''")
    con.execute(f"COPY ({select}) TO '{target}' (FORMAT {fmt})")
    return path


def _qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
