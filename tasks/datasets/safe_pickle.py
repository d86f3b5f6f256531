"""A restricted unpickler for data files that hold only arrays and plain containers.

The original CIFAR archives (``cifar-10-python.tar.gz``, ``cifar-100-python.tar.gz``) and
RSRAE's processed files (``20news.data``, ``reuters.data``, ``caltech101.data``) are pickles.
Unpickling runs whatever callable a pickle names, so :func:`safe_loads` resolves every global
a pickle names against a fixed allow-list and refuses anything else (``os.system``,
``builtins.eval``, ``subprocess.Popen``, a class with a hostile ``__reduce__`` ...) with an
:class:`UnsafePickleError` that names the global, BEFORE anything is called: the refusal
happens while the global is being looked up, so the callable is never even obtained.

Allowed (the names resolve to the objects below; nothing is imported by name):

* numpy arrays and scalars, as numpy pickles them: ``numpy.core.multiarray._reconstruct``,
  ``numpy._core.multiarray._reconstruct`` (numpy 1 / numpy 2 module paths),
  ``numpy.ndarray``, ``numpy.dtype``, ``numpy.core.multiarray.scalar`` /
  ``numpy._core.multiarray.scalar``, ``numpy.core.numeric._frombuffer`` /
  ``numpy._core.numeric._frombuffer`` (protocol 5);
* ``_codecs.encode``, which Python 3 uses to pickle ``bytes`` at protocol 2, restricted to
  ``encode(<str>, "latin1")`` (any other call is refused);
* scipy CSR/CSC matrices (``scipy.sparse._csr.csr_matrix``, ``scipy.sparse.csr.csr_matrix``,
  ``csr_array`` and the CSC equivalents), only with ``allow_sparse=True``: the object is
  created empty (``object.__new__``), filled with its pickled attributes, then REBUILT from
  its ``data``/``indices``/``indptr`` arrays and shape with a full format check, so nothing
  but those arrays survives.

Plain containers and scalars (dict, list, tuple, str, bytes, int, float, bool, None) need no
global and are always allowed. Object-dtype arrays are refused after loading (they could only
hold allowed objects, but no benchmark file has them).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from ..fetch.sources import DataError

__all__ = ["UnsafePickleError", "safe_load", "safe_loads", "ALLOWED_GLOBALS"]


class UnsafePickleError(DataError):
    """A pickle names a global outside the allow-list (or misuses an allowed one)."""


def _numpy_attr(*candidates: tuple[str, str]):
    import importlib

    for mod, name in candidates:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"none of {candidates} exists in this numpy")


_reconstruct = _numpy_attr(("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"))
_scalar = _numpy_attr(("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"))
try:
    _frombuffer = _numpy_attr(("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"))
except ImportError:  # pragma: no cover - very old numpy
    _frombuffer = None


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` as Python 3 uses it to pickle bytes at protocol 2, and nothing else."""
    if isinstance(obj, str) and encoding in ("latin1", "latin-1") and errors == "strict":
        return obj.encode("latin1")
    raise UnsafePickleError(f"refusing _codecs.encode({type(obj).__name__}, {encoding!r}): only encode(str, 'latin1') is allowed")


ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs_encode,
}
if _frombuffer is not None:
    ALLOWED_GLOBALS[("numpy.core.numeric", "_frombuffer")] = _frombuffer
    ALLOWED_GLOBALS[("numpy._core.numeric", "_frombuffer")] = _frombuffer

_SPARSE_NAMES = {
    ("scipy.sparse._csr", "csr_matrix"), ("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse", "csr_matrix"),
    ("scipy.sparse._csr", "csr_array"), ("scipy.sparse", "csr_array"),
    ("scipy.sparse._csc", "csc_matrix"), ("scipy.sparse.csc", "csc_matrix"), ("scipy.sparse", "csc_matrix"),
    ("scipy.sparse._csc", "csc_array"), ("scipy.sparse", "csc_array"),
}  # fmt: skip


def _sparse_classes() -> dict[tuple[str, str], type]:
    import scipy.sparse as sp

    out = {}
    for mod, name in _SPARSE_NAMES:
        cls = getattr(sp, name, None)
        if cls is not None:
            out[(mod, name)] = cls
    return out


class _Restricted(pickle.Unpickler):
    def __init__(self, file, *, encoding: str, allow_sparse: bool, what: str):
        super().__init__(file, encoding=encoding, fix_imports=True)
        self._allowed = dict(ALLOWED_GLOBALS)
        if allow_sparse:
            self._allowed.update(_sparse_classes())
        self._what = what

    def find_class(self, module: str, name: str):
        obj = self._allowed.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"{self._what}: refusing to unpickle the global {module}.{name}: this file may hold only "
                "numpy arrays and plain containers (lists, dicts, strings, numbers); nothing was executed"
            )
        return obj

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self._what}: refusing a persistent id in the pickle; nothing was executed")


def _sanitise(obj, what: str, depth: int = 0):
    """Check what was loaded: arrays (no object dtype), sparse (rebuilt), containers, scalars."""
    if depth > 50:
        raise UnsafePickleError(f"{what}: nesting deeper than 50 levels")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError(f"{what}: refusing an object-dtype array")
        return obj
    if isinstance(obj, (str, bytes, int, float, bool, complex, type(None), np.generic)):
        if isinstance(obj, np.generic) and obj.dtype.hasobject:
            raise UnsafePickleError(f"{what}: refusing an object-dtype scalar")
        return obj
    if isinstance(obj, dict):
        return {_sanitise(k, what, depth + 1): _sanitise(v, what, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_sanitise(v, what, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_sanitise(v, what, depth + 1) for v in obj)
    import scipy.sparse as sp

    if isinstance(obj, tuple(_sparse_classes().values())):
        st = vars(obj)
        try:
            data, indices, indptr = (np.asarray(st[k]) for k in ("data", "indices", "indptr"))
            shape = tuple(int(s) for s in st.get("_shape", st.get("shape")))
            for a in (data, indices, indptr):
                if a.dtype.hasobject:
                    raise TypeError("object-dtype array")
            cls = sp.csc_matrix if obj.format == "csc" else sp.csr_matrix
            out = cls((data, indices, indptr), shape=shape)
            out.check_format(full_check=True)
        except UnsafePickleError:
            raise
        except Exception as e:  # noqa: BLE001
            raise UnsafePickleError(f"{what}: a pickled sparse matrix is malformed: {type(e).__name__}: {e}") from e
        return out
    raise UnsafePickleError(f"{what}: refusing an object of type {type(obj).__module__}.{type(obj).__qualname__}")


def safe_load(file, *, encoding: str = "latin1", allow_sparse: bool = False, what: str = "pickle") -> Any:
    """Unpickle from a binary file object with the allow-list (see the module docstring).

    ``encoding`` decodes Python 2 ``str`` objects ('latin1' as numpy recommends for Python 2
    array pickles, or 'bytes'). ``what`` names the file in error messages.
    """
    try:
        obj = _Restricted(file, encoding=encoding, allow_sparse=allow_sparse, what=what).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated/garbage pickles
        raise DataError(f"{what}: corrupt or unreadable pickle: {type(e).__name__}: {e}") from e
    return _sanitise(obj, what)


def safe_loads(data: bytes, **kw) -> Any:
    """:func:`safe_load` on bytes."""
    return safe_load(io.BytesIO(data), **kw)
