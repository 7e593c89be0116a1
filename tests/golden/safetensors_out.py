"""Writes a safetensors file for the golden fixtures (make_*_fixture.py): the header, 8-byte aligned,
then the tensors back to back, written to a temporary name and renamed."""

import json
import os
import struct

import numpy as np


def write_safetensors(path, tensors):
    """tensors: (name, dtype, array) in file order; dtype as safetensors names it ("F32", "I64", ...)
    and array already in that type, little-endian."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dt, a in tensors:
        raw = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(path + ".tmp", path)


def f32_i32(tensors):
    """A dict of float32 / int32 arrays as write_safetensors' (name, dtype, little-endian array)."""
    dts = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}
    return [(name, dts[a.dtype], a.astype(a.dtype.newbyteorder("<"))) for name, a in tensors.items()]
