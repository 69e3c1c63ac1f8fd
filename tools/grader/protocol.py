"""The wire between the grader and a sandboxed worker: framed messages of plain data.

A **frame** is ``MAGIC``, the length of a JSON header (4 bytes, big-endian), the number of binary
buffers (4 bytes), the header, then each buffer as its length (8 bytes) and its bytes. Nothing is
pickled in either direction: the grader decodes only JSON and raw tensor bytes, checked against
limits, so a worker that writes garbage, oversized or hand-made frames gets a :class:`WireError`,
never code execution or an object it built.

Values (:func:`encode` / :func:`decode`), as JSON with tensors referring to buffers:

=================================  ===============================================================
Python value                       on the wire
=================================  ===============================================================
None, bool, int, str               ``{"v": value}`` (ints within 2**62, strings within 100,000)
float                              ``{"f": value}``, ``"nan"``, ``"inf"``, ``"-inf"`` as strings
tensor (any subclass: sent plain)  ``{"T": buffer, "dtype": ..., "shape": [...], "rg": bool}``
numpy array                        as a tensor, ``"np": true``
tuple, list, dict (str keys)       ``{"tuple": [...]}``, ``{"list": [...]}``, ``{"dict": [[k, v]...]}``
torch.dtype                        ``{"dtype": "float64"}``
a callable of the grader's         ``{"cb": id}`` (grader -> worker only: calling it asks the grader)
a module of the course             ``{"mod": class, "cfg": {...}, "state": {...}, "grads": {...}}``
                                   (weights, never a live object; see :mod:`grader.modules`)
anything else                      ``{"opaque": type name}`` (decodes to :class:`Opaque`)
=================================  ===============================================================
"""

from __future__ import annotations

import json
import math
import struct

MAGIC = b"NRG1"
MAX_HEADER = 16 * 2**20
MAX_BUFFERS = 10_000
MAX_TOTAL = 512 * 2**20
MAX_ELEMENTS = 50_000_000
MAX_DEPTH = 20
MAX_ITEMS = 10_000
DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "bool")


class WireError(Exception):
    """A frame or value that breaks the protocol (the worker wrote garbage, or was tampered with)."""


class Opaque:
    """Stands for a value the other side could not send as data (a student object, a module...)."""

    def __init__(self, kind: str):
        self.kind = str(kind)[:200]

    def __repr__(self):
        return f"<unsendable {self.kind}>"


# --------------------------------------------------------------------------------- frames

def write_frame(fd: int, header: dict, buffers: list[bytes] = ()) -> None:
    """Write one frame to the file descriptor ``fd`` (blocking until all is written)."""
    import os

    head = json.dumps(header, allow_nan=False).encode()
    parts = [MAGIC, struct.pack(">II", len(head), len(buffers)), head]
    for b in buffers:
        parts += [struct.pack(">Q", len(b)), b]
    view = memoryview(b"".join(parts))
    while view:
        view = view[os.write(fd, view):]


class FrameReader:
    """Incremental parser of frames from bytes fed as they arrive; :meth:`feed` returns the
    complete frames so far as ``(header, buffers)`` and raises :class:`WireError` on garbage."""

    def __init__(self):
        self.buf = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> list[tuple[dict, list[bytes]]]:
        self.buf += data
        self.total += len(data)
        frames = []
        while True:
            frame = self._one()
            if frame is None:
                break
            frames.append(frame)
        return frames

    def _one(self):
        b = self.buf
        if len(b) < 12:
            if b and not MAGIC.startswith(bytes(b[:4])):
                raise WireError("the worker's output is not a frame of the grading protocol")
            return None
        if bytes(b[:4]) != MAGIC:
            raise WireError("the worker's output is not a frame of the grading protocol")
        hlen, nbuf = struct.unpack(">II", b[4:12])
        if hlen > MAX_HEADER or nbuf > MAX_BUFFERS:
            raise WireError(f"a frame too large (header {hlen} bytes, {nbuf} buffers)")
        pos = 12 + hlen
        if len(b) < pos:
            return None
        sizes, at = [], pos
        for _ in range(nbuf):
            if len(b) < at + 8:
                return None
            (n,) = struct.unpack(">Q", b[at:at + 8])
            if n > MAX_TOTAL:
                raise WireError("a buffer too large")
            sizes.append((at + 8, n))
            at += 8 + n
            if at - pos > MAX_TOTAL:
                raise WireError("a frame too large")
        if len(b) < at:
            return None
        try:
            header = json.loads(bytes(b[12:pos]))
        except ValueError as e:
            raise WireError(f"a frame header is not JSON: {e}") from None
        if not isinstance(header, dict):
            raise WireError("a frame header is not a JSON object")
        buffers = [bytes(b[s:s + n]) for s, n in sizes]
        del b[:at]
        return header, buffers


# --------------------------------------------------------------------------------- values

def encode(obj, buffers: list[bytes], callables: dict | None = None, modules=None, depth: int = 0):
    """``obj`` as a JSON-able value; tensor bytes are appended to ``buffers``.

    ``callables`` (grader side) collects callables as callback ids; ``modules`` is a function
    turning a course module into its ``{"mod": ...}`` spec (or None when ``obj`` is not one).
    """
    import numpy as np
    import torch

    if depth > MAX_DEPTH:
        return {"opaque": "too deeply nested"}
    if obj is None or isinstance(obj, (bool, str)):
        return {"v": obj if not isinstance(obj, str) else obj[:100_000]}
    if isinstance(obj, int):
        return {"v": int(obj)} if abs(obj) <= 2**62 else {"opaque": "huge int"}
    if isinstance(obj, float):
        return {"f": obj if math.isfinite(obj) else repr(float(obj))}
    if isinstance(obj, torch.dtype):
        return {"dtype": str(obj).replace("torch.", "")}
    if isinstance(obj, torch.Tensor):
        t = torch.Tensor.as_subclass(obj, torch.Tensor)
        rg = bool(t.requires_grad)
        t = t.detach().cpu().contiguous()
        dtype = str(t.dtype).replace("torch.", "")
        if dtype not in DTYPES or t.layout != torch.strided:
            return {"opaque": f"tensor of {t.dtype} ({t.layout})"}
        if t.numel() > MAX_ELEMENTS:
            return {"opaque": "tensor too large"}
        buffers.append(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return {"T": len(buffers) - 1, "dtype": dtype, "shape": list(t.shape), "rg": rg}
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf" and str(obj.dtype) in DTYPES:
        spec = encode(torch.from_numpy(np.ascontiguousarray(obj)), buffers, callables, modules, depth + 1)
        spec["np"] = True
        return spec
    if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
        return encode(obj.item(), buffers, callables, modules, depth + 1)
    if isinstance(obj, torch.Size):
        return {"tuple": [{"v": int(s)} for s in obj]}
    if modules is not None:
        spec = modules(obj, lambda v: encode(v, buffers, callables, modules, depth + 1))
        if spec is not None:
            return spec
    if isinstance(obj, (tuple, list)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [encode(x, buffers, callables, modules, depth + 1) for x in list(obj)[:MAX_ITEMS]]}
    if isinstance(obj, dict):
        return {"dict": [[str(k), encode(v, buffers, callables, modules, depth + 1)]
                         for k, v in list(obj.items())[:MAX_ITEMS]]}
    if callables is not None and callable(obj):
        callables[len(callables)] = obj
        return {"cb": len(callables) - 1}
    return {"opaque": type(obj).__name__}


def _int(x, what):
    if isinstance(x, bool) or not isinstance(x, int):
        raise WireError(f"{what} is not an int")
    return x


def decode(spec, buffers: list[bytes], callback=None, module=None, depth: int = 0,
           keep_grad: bool = True):
    """The value ``spec`` describes (the inverse of :func:`encode`), checked strictly.

    ``callback(id)`` makes the stand-in for a ``{"cb": id}``; ``module(spec, decode)`` rebuilds a
    ``{"mod": ...}`` spec; without them those specs are a :class:`WireError`. ``keep_grad=False``
    returns every tensor without ``requires_grad`` (results: the grader compares values).
    """
    import torch

    if depth > MAX_DEPTH + 2:
        raise WireError("a value nested too deeply")
    if not isinstance(spec, dict) or len(spec) == 0:
        raise WireError("a value is not an object")
    if "v" in spec:
        v = spec["v"]
        if v is not None and not isinstance(v, (bool, int, str)):
            raise WireError("a plain value of the wrong type")
        return v
    if "f" in spec:
        v = spec["f"]
        if isinstance(v, str):
            if v not in ("nan", "inf", "-inf"):
                raise WireError("a float that is not a number")
            return float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise WireError("a float of the wrong type")
        return float(v)
    if "T" in spec:
        i = _int(spec["T"], "a buffer index")
        dtype = spec.get("dtype")
        if dtype not in DTYPES:
            raise WireError(f"a tensor of unknown dtype {dtype!r}")
        shape = spec.get("shape")
        if not isinstance(shape, list) or len(shape) > 16:
            raise WireError("a tensor shape is not a short list")
        n = 1
        for s in shape:
            if _int(s, "a tensor dimension") < 0:
                raise WireError("a negative tensor dimension")
            n *= s
        if n > MAX_ELEMENTS or not 0 <= i < len(buffers):
            raise WireError("a tensor too large, or without its bytes")
        t_dtype = getattr(torch, dtype)
        raw = buffers[i]
        if len(raw) != n * torch.empty((), dtype=t_dtype).element_size():
            raise WireError("a tensor's bytes do not match its shape")
        flat = (torch.frombuffer(bytearray(raw), dtype=torch.uint8) if raw
                else torch.empty(0, dtype=torch.uint8))
        t = flat.view(t_dtype).reshape(shape).clone()
        if spec.get("np"):
            return t.numpy()
        if keep_grad and spec.get("rg") is True and t.is_floating_point():
            t.requires_grad_(True)
        return t
    if "tuple" in spec or "list" in spec:
        items = spec.get("tuple", spec.get("list"))
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise WireError("a sequence is not a short list")
        out = [decode(x, buffers, callback, module, depth + 1, keep_grad) for x in items]
        return tuple(out) if "tuple" in spec else out
    if "dict" in spec:
        items = spec["dict"]
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise WireError("a dict is not a short list")
        out = {}
        for kv in items:
            if not (isinstance(kv, list) and len(kv) == 2 and isinstance(kv[0], str)):
                raise WireError("a dict item is not a [key, value] pair")
            out[kv[0]] = decode(kv[1], buffers, callback, module, depth + 1, keep_grad)
        return out
    if "dtype" in spec:
        if spec["dtype"] not in DTYPES:
            raise WireError("an unknown dtype")
        return getattr(torch, spec["dtype"])
    if "cb" in spec:
        if callback is None:
            raise WireError("a callable where only data may be sent")
        return callback(_int(spec["cb"], "a callback id"))
    if "mod" in spec:
        if module is None:
            raise WireError("a module where only data may be sent")
        return module(spec, lambda s: decode(s, buffers, callback, module, depth + 1))
    if "opaque" in spec:
        return Opaque(spec["opaque"])
    raise WireError(f"an unknown kind of value {sorted(spec)[:3]}")
