"""Fetch and verify: the benchmark files, pulled with DVC and checked against ``data.dvc``.

``paths`` (where data and the cache live), ``sources`` (DVC pull, md5 verification, the
content hash that goes into every data key). No Prefect or MLflow here.
"""

from .sources import (
    DataError,
    DataIntegrityError,
    DataMissingError,
    UntrackedDataWarning,
    ensure_files,
    source_hash,
    verify_external,
)

__all__ = ["DataError", "DataMissingError", "DataIntegrityError", "UntrackedDataWarning", "ensure_files",
           "source_hash", "verify_external"]
