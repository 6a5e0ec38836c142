"""Reads and writes safetensors files: with the `safetensors` package when it is installed,
else directly (the format is an 8-byte little-endian header length, a JSON header of
{name: {dtype, shape, data_offsets}} and the raw little-endian data), as Debian's python has
no `safetensors` package."""
import json
import os
import struct

import torch

_DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I32": torch.int32,
    "I64": torch.int64,
}
_NAMES = {v: k for k, v in _DTYPES.items()}

try:  # pragma: no cover - depends on the environment
    from safetensors.torch import load_file as _load_file
    from safetensors.torch import save_file as _save_file
except ImportError:
    _load_file = None
    _save_file = None


def load(path):
    """{name: tensor} of a safetensors file."""
    if _load_file is not None:
        return _load_file(path)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than its header length)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    body = memoryview(data)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has dtype {info['dtype']}, which this reader does not know")
        start, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def save(tensors, path, metadata=None):
    """Writes {name: tensor} atomically (a temporary file renamed over `path`)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    tmp = f"{path}.tmp-{os.getpid()}"
    if _save_file is not None:
        _save_file(tensors, tmp, metadata=metadata)
    else:
        header = {}
        chunks = []
        offset = 0
        for name in sorted(tensors):
            t = tensors[name]
            raw = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
            header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
            chunks.append(raw)
            offset += len(raw)
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        text = json.dumps(header, separators=(",", ":")).encode("utf-8")
        text += b" " * (-len(text) % 8)
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
