"""Plain data across the process boundary: JSON with tensors as dtype/shape/base64, nothing else.

``encode`` runs in the (untrusted) worker and turns probe outputs into JSON-safe values;
``decode`` runs in the trusted parent and accepts only dicts with string keys, lists,
strings, finite-or-not floats, ints, bools, None and well-formed tensors. No pickle anywhere.
"""
from __future__ import annotations

import base64
import math

import numpy as np
import torch

from .errors import PlainDataError  # noqa: F401 - raised here, caught by the runner

TENSOR_KEY = "__tensor__"
OBJECT_KEY = "__object__"
_DTYPES = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
    "uint8": torch.uint8, "bool": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
MAX_ELEMENTS = 5_000_000
MAX_DEPTH = 20


def describe(value) -> str:
    """Short type description for messages (``Tensor(float32, [4, 32])``, ``int``, ...)."""
    if isinstance(value, torch.Tensor):
        return f"Tensor({str(value.dtype).replace('torch.', '')}, {list(value.shape)})"
    if isinstance(value, dict) and OBJECT_KEY in value:
        return str(value[OBJECT_KEY])
    return type(value).__name__


# ---------------------------------------------------------------- worker side
def encode(value, depth: int = 0):
    """Probe outputs -> JSON-safe structure (unknown objects become ``{"__object__": type name}``)."""
    if depth > MAX_DEPTH:
        return {OBJECT_KEY: "too deeply nested"}
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return _float(value)
    if issubclass(type(value), torch.Tensor):  # type(), not isinstance(): a fake __class__ cannot pass
        return _tensor(value)
    if type(value) is np.ndarray:
        return _tensor(torch.from_numpy(np.array(value)))
    if type(value) in _NUMPY_SCALARS:  # np.float64 and friends: honest results of NumPy code
        return encode(np.ndarray.item(np.asarray(value)), depth + 1)
    if type(value) in (list, tuple):
        return [encode(v, depth + 1) for v in value]
    if type(value) is dict and all(type(k) is str for k in value):
        return {k: encode(v, depth + 1) for k, v in value.items()}
    return {OBJECT_KEY: f"{type(value).__module__}.{type(value).__qualname__}"}


_TENSOR_BASE = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase  # the C type (renamed in torch 2.2)


def tensor_facts(value) -> dict | None:
    """``{"shape", "dtype", "requires_grad"}`` of a tensor as PyTorch stores them, or None for anything else.

    Read through the C type's own descriptors, with subclass ``__torch_function__`` off: a tensor subclass
    whose ``requires_grad`` or ``shape`` property lies (``loss.as_subclass(Liar)``) cannot change them.
    """
    if not issubclass(type(value), torch.Tensor):  # type(), not isinstance(): a fake __class__ cannot pass
        return None
    with torch._C.DisableTorchFunctionSubclass():
        return {"shape": [int(n) for n in _TENSOR_BASE.shape.__get__(value)],
                "dtype": str(_TENSOR_BASE.dtype.__get__(value)).replace("torch.", ""),
                "requires_grad": bool(_TENSOR_BASE.requires_grad.__get__(value))}


def _float(x: float):
    if math.isnan(x):
        return {"__float__": "nan"}
    if math.isinf(x):
        return {"__float__": "inf" if x > 0 else "-inf"}
    return x


_NUMPY_SCALARS = {np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_}


def _tensor(t: torch.Tensor):
    with torch._C.DisableTorchFunctionSubclass():  # a subclass's __torch_function__ cannot rewrite values
        return _plain_tensor(torch.Tensor.as_subclass(t, torch.Tensor))


def _plain_tensor(t: torch.Tensor):
    t = torch.Tensor.detach(t)
    if t.device.type == "meta":
        return {TENSOR_KEY: True, "dtype": _NAMES.get(t.dtype, str(t.dtype)), "shape": list(t.shape), "meta": True}
    t = torch.Tensor.cpu(t).as_subclass(torch.Tensor)
    if t.dtype in (torch.bfloat16,):
        t = t.float()
    if t.dtype not in _NAMES:
        return {OBJECT_KEY: f"tensor of dtype {t.dtype}"}
    array = np.ascontiguousarray(t.resolve_conj().resolve_neg().numpy())
    return {
        TENSOR_KEY: True,
        "dtype": _NAMES[t.dtype],
        "shape": list(t.shape),
        "data": base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode("ascii"),
    }


# ---------------------------------------------------------------- parent side
def size_of(value, depth: int = 0) -> int:
    """How much a decoded structure holds: a tensor's elements, one per other value (a meta tensor, having no
    data, counts one). What a judge's work can grow with."""
    if isinstance(value, torch.Tensor):
        return value.numel()
    if depth > MAX_DEPTH + 2:
        return 1
    if isinstance(value, dict):
        return 1 + sum(size_of(v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 1 + sum(size_of(v, depth + 1) for v in value)
    return 1


class MetaTensor:
    """A tensor that lived on the ``meta`` device: only dtype and shape crossed over."""

    def __init__(self, dtype: torch.dtype, shape: tuple[int, ...]):
        self.dtype, self.shape = dtype, torch.Size(shape)

    def __repr__(self):
        return f"MetaTensor({self.dtype}, {list(self.shape)})"


class Opaque:
    """A value the worker could not express as plain data (its type name only)."""

    def __init__(self, type_name: str):
        self.type_name = str(type_name)[:200]

    def __repr__(self):
        return f"<{self.type_name}>"


def decode(value, depth: int = 0):
    """Validate and rebuild a structure produced by ``encode``; raises ``PlainDataError``."""
    if depth > MAX_DEPTH + 2:
        raise PlainDataError("nested too deeply")
    if value is None or type(value) in (bool, str, int, float):
        return value
    if type(value) is list:
        return [decode(v, depth + 1) for v in value]
    if type(value) is not dict:
        raise PlainDataError(f"unexpected JSON value of type {type(value).__name__}")
    if TENSOR_KEY in value:
        return _decode_tensor(value)
    if OBJECT_KEY in value:
        return Opaque(value[OBJECT_KEY])
    if set(value) == {"__float__"}:
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(value["__float__"], math.nan)
    if not all(type(k) is str for k in value):
        raise PlainDataError("dictionary keys must be strings")
    return {k: decode(v, depth + 1) for k, v in value.items()}


def _decode_tensor(value: dict):
    dtype = _DTYPES.get(value.get("dtype"))
    shape = value.get("shape")
    if dtype is None or type(shape) is not list or not all(type(d) is int and 0 <= d for d in shape):
        raise PlainDataError("malformed tensor header")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise PlainDataError(f"tensor of {count} elements is larger than any check produces")
    if value.get("meta") is True:
        return MetaTensor(dtype, tuple(shape))
    data = value.get("data")
    if type(data) is not str:
        raise PlainDataError("tensor without data")
    raw = base64.b64decode(data.encode("ascii"), validate=True)
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype.newbyteorder("<")
    if len(raw) != count * np_dtype.itemsize:
        raise PlainDataError("tensor data does not match its shape")
    array = np.frombuffer(raw, dtype=np_dtype).astype(np_dtype.newbyteorder("=")).reshape(shape)
    return torch.from_numpy(array.copy())
