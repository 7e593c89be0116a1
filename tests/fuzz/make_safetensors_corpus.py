#!/usr/bin/python3
"""The hand-made part of tests/fuzz/corpus/safetensors: one valid file and the nasty ones the reader must
refuse. test_safetensors checks each of these against the error it expects (by file name); the fuzzer may
add more files next to them.

    /usr/bin/python3 tests/fuzz/make_safetensors_corpus.py
"""
import json
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "safetensors")
os.makedirs(out, exist_ok=True)

def image(header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data

def entry(dtype, shape, b, e):
    return {"dtype": dtype, "shape": shape, "data_offsets": [b, e]}

f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
files = {
    # a good one: F32, F16 (with a subnormal and an infinity), BF16, an empty tensor and metadata
    "valid": image({"__metadata__": {"format": "pt"}, "w": entry("F32", [2, 2], 0, 16),
                    "h": entry("F16", [3], 16, 22), "b": entry("BF16", [2], 22, 26), "empty": entry("F32", [0, 4], 26, 26)},
                   f32 + struct.pack("<3H", 0x0001, 0x7C00, 0x3C00) + struct.pack("<2H", 0x3F80, 0xC000)),
    "short_file": b"\x05\x00\x00",
    "truncated_header": image({"w": entry("F32", [4], 0, 16)}, f32)[:30],
    "header_len_2p63": struct.pack("<Q", 1 << 63) + b'{"w":{}}',
    "offsets_past_end": image({"w": entry("F32", [1000], 0, 4000)}, f32),
    "overlapping": image({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, f32[:12]),
    "shape_offset_mismatch": image({"w": entry("F32", [2, 3], 0, 16)}, f32),
    "hole": image({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, f32[:12]),
    "trailing_bytes": image({"a": entry("F32", [2], 0, 8)}, f32),
    "bad_json": image(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},}', f32),
    "unterminated_json": image(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}', f32),
    "wrong_dtype": image({"w": entry("F33", [4], 0, 16)}, f32),
    "negative_dim": image({"w": entry("F32", [-4], 0, 16)}, f32),
    "shape_overflow": image({"w": entry("F32", [1 << 32, 1 << 32, 1 << 32], 0, 16)}, f32),
    "huge_offsets": image({"w": entry("F32", [4], 18446744073709551600, 18446744073709551615)}, f32),
    "duplicate_name": image(b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                            b'"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', f32),
    "not_object": image(b'[1,2,3]'),
    "deep_nesting": image(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"),
    "nul_in_name": image(b'{"a\\u0000b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', f32),
    "metadata_not_string": image({"__metadata__": {"format": 3}, "w": entry("F32", [4], 0, 16)}, f32),
    "offsets_reversed": image({"w": entry("F32", [0], 16, 0)}, f32),
    "float_offset": image(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16.0]}}', f32),
}
for name, data in files.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print(f"wrote {len(files)} files to {out}")
