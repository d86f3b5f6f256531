"""Fetching benchmark files through DVC and verifying them against what ``data.dvc`` pins.

Chain of trust
--------------
``data.dvc`` (in git) pins the whole ``data/`` folder by the md5 of a DVC ``.dir`` manifest.
That manifest (a JSON list of ``{"relpath", "md5"}``, one per file) lives in the DVC cache at
``.dvc/cache/files/md5/<first 2 hex>/<rest>.dir`` (and in the remote under the same path).
We read it, check that its own md5 equals the pin in ``data.dvc`` (so the manifest cannot be
swapped), and then check each file we load against its per-file md5 from the manifest.
``data/SOURCES.md`` also lists a sha256 per file for humans; it lives inside the folder it
describes, so it is documentation, not the reference we verify against.

* A missing file under the project's own ``data/`` is pulled alone with DVC's Python API
  (``dvc.repo.Repo(root).pull(targets=["data/<file>"])``); under any other data folder (an
  explicit ``data_dir=`` or ``$SLA2P_DATA_DIR``) nothing is pulled and the error names the
  ``dvc pull`` to run.
* A file whose md5 differs from the manifest is refused (:class:`DataIntegrityError`), naming
  the ``dvc checkout``/``dvc pull`` that restores it.
* A file that the manifest does not list (a dataset dropped into ``data/`` but not yet
  ``dvc add``-ed) is loaded with an :class:`UntrackedDataWarning`; its own md5 still feeds the
  content hash, so caches stay correct.
* Verification is memoised in ``<cache dir>/verified.json`` keyed by (absolute path, size,
  mtime in ns): a file is re-hashed only when one of those changes. A tampering that keeps
  size and mtime is caught only with ``full_check=True`` (or by deleting the memo).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path

from ..env import telemetry_off
from ..files import atomic_write_text, file_lock
from . import paths

__all__ = [
    "DataError",
    "DataMissingError",
    "DataIntegrityError",
    "UntrackedDataWarning",
    "dvc_pin",
    "manifest",
    "fetch",
    "ensure_files",
    "source_hash",
    "file_md5",
    "verify_external",
    "PUBLISHED_MD5",
]


class DataError(RuntimeError):
    """A benchmark input cannot be used (missing, corrupt, unverifiable)."""


class DataMissingError(DataError, FileNotFoundError):
    """A benchmark file is absent and could not be restored."""


class DataIntegrityError(DataError):
    """A benchmark file's content differs from what ``data.dvc`` pins."""


class UntrackedDataWarning(UserWarning):
    """A file is loaded that ``data.dvc`` does not pin (so it cannot be verified)."""


SOURCES = "SOURCES.md"  # provenance and sha256 of every file, for people
_LOCK = threading.Lock()
_MANIFESTS: dict[tuple[str, str], dict[str, str]] = {}


def _dvc_env() -> None:
    telemetry_off()


def file_md5(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def dvc_pin(root: Path | None = None) -> tuple[str, str]:
    """(md5 of the ``.dir`` manifest, tracked folder name) from ``data.dvc``."""
    import yaml

    root = Path(root) if root else paths.project_root()
    try:
        doc = yaml.safe_load((root / paths.DVC_FILE).read_text())
        out = doc["outs"][0]
        md5, path = str(out["md5"]), str(out["path"])
    except Exception as e:  # noqa: BLE001
        raise DataError(f"cannot read the pin in {root / paths.DVC_FILE}: {e}") from e
    if not md5.endswith(".dir"):
        raise DataError(f"{root / paths.DVC_FILE} pins {path!r} by {md5!r}, not by a .dir manifest")
    return md5[: -len(".dir")], path


def _remote_dir(root: Path) -> Path | None:
    """The default remote's folder when the remote is a local path (else None)."""
    try:
        import dvc.repo

        _dvc_env()
        with dvc.repo.Repo(str(root)) as repo:
            cfg = repo.config
            name = cfg["core"].get("remote")
            url = cfg["remote"][name]["url"] if name else None
    except Exception:  # noqa: BLE001
        return None
    if url and "://" not in url and Path(url).is_dir():
        return Path(url)
    return None


def manifest(root: Path | None = None, *, pull_targets: list[str] | None = None) -> dict[str, str] | None:
    """Per-file md5s (path relative to ``data/`` -> md5) of the folder ``data.dvc`` pins.

    Looked up in the local DVC cache, then in the default remote when it is a local folder,
    then (only if ``pull_targets`` is given) by pulling those targets, which also fetches the
    manifest. Returns None when it cannot be found; raises :class:`DataIntegrityError` when a
    manifest is found whose md5 is not the pinned one.
    """
    root = Path(root) if root else paths.project_root()
    md5, _ = dvc_pin(root)
    key = (str(root), md5)
    with _LOCK:
        if key in _MANIFESTS:
            return _MANIFESTS[key]
    rel = Path("files", "md5", md5[:2], md5[2:] + ".dir")
    candidates = [root / ".dvc" / "cache" / rel]
    blob = candidates[0].read_bytes() if candidates[0].is_file() else None
    if blob is None:
        remote = _remote_dir(root)
        if remote is not None and (remote / rel).is_file():
            blob = (remote / rel).read_bytes()
    if blob is None and pull_targets:
        fetch(pull_targets, root=root)
        if candidates[0].is_file():
            blob = candidates[0].read_bytes()
    if blob is None:
        return None
    got = hashlib.md5(blob).hexdigest()
    if got != md5:
        raise DataIntegrityError(
            f"the DVC manifest {rel} has md5 {got}, but data.dvc pins {md5}.dir; "
            "delete it from .dvc/cache and run `dvc fetch`"
        )
    entries = {e["relpath"]: e["md5"] for e in json.loads(blob)}
    with _LOCK:
        _MANIFESTS[key] = entries
    return entries


def fetch(relpaths: list[str], *, root: Path | None = None) -> None:
    """Pull just these files (paths relative to ``data/``) from the DVC remote."""
    import dvc.repo

    _dvc_env()
    root = Path(root) if root else paths.project_root()
    _, out = dvc_pin(root)
    try:
        with _fetch_lock(root):
            # Only what is still absent once the lock is ours: another process may have pulled it
            # while this one waited, and DVC 3 pulling a file of the tracked folder a second time
            # leaves the folder's next granular checkout failing ("Checkout failed ... data").
            targets = [str(root / out / r) for r in relpaths if not (root / out / r).is_file()]
            if not targets:
                return
            with dvc.repo.Repo(str(root)) as repo:
                repo.pull(targets=targets)  # absolute targets: no chdir (thread-safe)
    except Exception as e:  # noqa: BLE001
        raise DataMissingError(
            f"`dvc pull {' '.join(f'{out}/{r}' for r in relpaths)}` failed in {root}: {type(e).__name__}: {e}. "
            "Check the remote with `dvc remote list`; point it elsewhere with "
            "`dvc remote modify --local store url <path-or-url>`."
        ) from e


def _fetch_lock(root: Path):
    """Serialise our DVC pulls across threads and processes (DVC's own repo lock fails fast)."""
    return file_lock(root / ".dvc" / "tmp" / "sla2p-fetch.lock")


# ---------------------------------------------------------------- verification memo
def _memo_path(cache_dir: Path) -> Path:
    return cache_dir / "verified.json"


def _load_memo(cache_dir: Path) -> dict:
    try:
        return json.loads(_memo_path(cache_dir).read_text())
    except Exception:  # noqa: BLE001 - a missing or broken memo only costs re-hashing
        return {}


def _save_memo(cache_dir: Path, memo: dict) -> None:
    try:
        atomic_write_text(_memo_path(cache_dir), json.dumps(memo))
    except OSError:
        pass  # read-only cache: verification still works, only slower


def _md5_memoised(path: Path, memo: dict, full_check: bool) -> tuple[str, bool]:
    st = path.stat()
    k = str(path)
    rec = memo.get(k)
    if not full_check and rec and rec[0] == st.st_size and rec[1] == st.st_mtime_ns:
        return rec[2], False
    md5 = file_md5(path)
    memo[k] = [st.st_size, st.st_mtime_ns, md5]
    return md5, True


def ensure_files(
    relpaths: list[str] | tuple[str, ...],
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    pull: bool = True,
    full_check: bool = False,
) -> dict[str, str]:
    """Make sure these files (relative to the data folder) are present and verified.

    Returns ``{relpath: md5}``. Raises :class:`DataMissingError` or :class:`DataIntegrityError`.
    """
    root = paths.project_root()
    ddir = paths.data_dir(data_dir)
    cdir = paths.cache_dir(cache_dir)
    _, out = dvc_pin(root)
    is_project_data = ddir == (root / out).resolve()
    relpaths = list(relpaths)
    _restore_missing(relpaths, ddir, root, out, pull=pull, is_project_data=is_project_data)
    man = manifest(root, pull_targets=[r for r in relpaths] if is_project_data and pull else None)
    if man is None:
        raise DataError(
            f"cannot verify {', '.join(relpaths)}: the DVC manifest that data.dvc pins is neither in "
            f"{root}/.dvc/cache nor in the remote; run `dvc fetch` (or `dvc pull`) in {root}"
        )
    return _verify_pinned(relpaths, man, ddir, cdir, root, out, full_check)


def _restore_missing(
    relpaths: list[str], ddir: Path, root: Path, out: str, *, pull: bool, is_project_data: bool
) -> None:
    """Pull the absent files (only into the project's own data folder, and only with ``pull``); raise
    :class:`DataMissingError` naming the ``dvc pull`` to run for any still absent."""
    missing = [r for r in relpaths if not (ddir / r).is_file()]
    if missing and pull and is_project_data:
        # The provenance of the files comes with the first of them, as `make data` would give it.
        extra = [SOURCES] if not (ddir / SOURCES).is_file() and SOURCES in (manifest(root) or {}) else []
        fetch(missing + extra, root=root)
        missing = [r for r in relpaths if not (ddir / r).is_file()]
    if missing:
        where = "" if is_project_data else f" (data folder {ddir} is not the project's {out}/: copy the file there)"
        raise DataMissingError(
            "missing benchmark file(s): "
            + ", ".join(str(ddir / r) for r in missing)
            + f"; restore with `dvc pull {' '.join(f'{out}/{r}' for r in missing)}` in {root}{where}"
        )


def _verify_pinned(
    relpaths: list[str], man: dict[str, str], ddir: Path, cdir: Path, root: Path, out: str, full_check: bool
) -> dict[str, str]:
    """``{relpath: md5}`` of present files, each checked against the manifest (memoised)."""
    with _LOCK:
        memo = _load_memo(cdir)
        dirty = False
        result: dict[str, str] = {}
        try:
            for r in relpaths:
                p = ddir / r
                md5, changed = _md5_memoised(p, memo, full_check)
                dirty |= changed
                expected = man.get(r)
                if expected is None:
                    warnings.warn(
                        f"{p} is not pinned by data.dvc, so it cannot be verified; "
                        f"pin it with `dvc add {out}` and commit data.dvc",
                        UntrackedDataWarning,
                        stacklevel=3,  # the caller of ensure_files
                    )
                elif md5 != expected:
                    memo.pop(str(p), None)
                    raise DataIntegrityError(
                        f"refusing {p}: its md5 is {md5} but data.dvc pins {expected}; restore it with "
                        f"`dvc checkout --force {out}/{r}` (or `dvc pull --force {out}/{r}`) in {root}, "
                        f"or, if the change is intended, `dvc add {out}` and commit data.dvc"
                    )
                result[r] = md5
        finally:
            if dirty:
                _save_memo(cdir, memo)
    return result


# md5 of files as their authors distribute them (the CIFAR page lists these; torchvision checks them)
PUBLISHED_MD5 = {
    "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
    "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
}


def verify_external(
    files: list[str | os.PathLike] | tuple[str | os.PathLike, ...],
    *,
    cache_dir: str | os.PathLike | None = None,
    full_check: bool = False,
) -> dict[str, str]:
    """Content hashes of files that ``data.dvc`` does not pin (the paper's own formats).

    Returns ``{file name: md5}`` (names, not locations, so the cache key does not depend on
    where the file lies). Each file is hashed (memoised like :func:`ensure_files`); a file
    whose name has a published md5 (:data:`PUBLISHED_MD5`) and matches it passes silently,
    any other is loaded with an :class:`UntrackedDataWarning` giving its md5 (and, where one
    is published, saying that it differs). Raises :class:`DataMissingError` if one is absent.
    """
    cdir = paths.cache_dir(cache_dir)
    result: dict[str, str] = {}
    with _LOCK:
        memo = _load_memo(cdir)
        dirty = False
        try:
            for f in files:
                p = Path(f).resolve()
                if not p.is_file():
                    raise DataMissingError(f"missing file {p} (not tracked by DVC: copy it back or point the config at it)")
                md5, changed = _md5_memoised(p, memo, full_check)
                dirty |= changed
                published = PUBLISHED_MD5.get(p.name)
                if published is None:
                    warnings.warn(
                        f"{p} is not pinned by data.dvc and has no published checksum; it is used as it is, "
                        f"identified by its md5 {md5} (part of the cache key)",
                        UntrackedDataWarning,
                        stacklevel=2,
                    )
                elif md5 != published:
                    warnings.warn(
                        f"{p} has md5 {md5}, not the published {published} of the original {p.name}: it is "
                        "not the authors' file (results on it are not the paper's inputs)",
                        UntrackedDataWarning,
                        stacklevel=2,
                    )
                if p.name in result and result[p.name] != md5:
                    raise DataError(f"two different files named {p.name} in one dataset")
                result[p.name] = md5
        finally:
            if dirty:
                _save_memo(cdir, memo)
    return result


def source_hash(md5s: dict[str, str]) -> str:
    """Content hash of a set of source files: sha256 over sorted ``relpath<TAB>md5`` lines."""
    h = hashlib.sha256()
    for r in sorted(md5s):
        h.update(f"{r}\t{md5s[r]}\n".encode())
    return h.hexdigest()
