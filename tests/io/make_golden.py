#!/usr/bin/env python3
"""Regenerates tests/data/safetensors/golden/ with the real Python safetensors library.

The C++ writer must produce these files byte for byte. Cross-check only: the C++ build and tests
never run Python. Needs `pip install safetensors numpy huggingface_hub` (written with safetensors
0.8.0, numpy 2.4, huggingface_hub 2.4).

Tensors are passed to safetensors.serialize_file as TensorSpec, exactly what
safetensors.torch.save_file and safetensors.numpy.save_file do internally, so BF16 and FP8 (which
numpy lacks) go through the same code path. Every tensor's bytes follow a formula the C++ test
recomputes (see tensor_bytes below); manifest.json lists name, dtype, shape and seed per file.

The sharded case splits with huggingface_hub's split_state_dict_into_shards_factory (what
transformers' save_pretrained calls) and writes the index the way transformers does:
json.dumps(index, indent=2, sort_keys=True) + "\n".

Usage: python3 tests/io/make_golden.py   (from the repository root)
"""
import json
import os
import sys

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file
from huggingface_hub.serialization import split_state_dict_into_shards_factory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "safetensors", "golden")

# header dtype -> (safetensors TensorSpec dtype name, element size)
DTYPES = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1), "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3": ("float8_e4m3fn", 1), "F8_E8M0": ("float8_e8m0fnu", 1), "I16": ("int16", 2),
    "U16": ("uint16", 2), "F16": ("float16", 2), "BF16": ("bfloat16", 2), "I32": ("int32", 4),
    "U32": ("uint32", 4), "F32": ("float32", 4), "F64": ("float64", 8), "I64": ("int64", 8),
    "U64": ("uint64", 8),
}


def tensor_bytes(dtype, shape, seed):
    """Byte k of the tensor: (k*131 + seed*17 + 3) mod 256; BOOL: (k*7 + seed) mod 2."""
    n = DTYPES[dtype][1]
    for d in shape:
        n *= d
    if dtype == "BOOL":
        return bytes((k * 7 + seed) % 2 for k in range(n))
    return bytes((k * 131 + seed * 17 + 3) % 256 for k in range(n))


def write(path, tensors, metadata):
    """tensors: list of (name, dtype, shape, seed). Keeps the buffers alive during the call."""
    keep = []
    specs = {}
    for name, dtype, shape, seed in tensors:
        buf = np.frombuffer(tensor_bytes(dtype, shape, seed), dtype=np.uint8).copy()
        keep.append(buf)
        specs[name] = TensorSpec(dtype=DTYPES[dtype][0], shape=list(shape), data_ptr=buf.ctypes.data,
                                 data_len=buf.nbytes)
    serialize_file(specs, path, metadata=metadata)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"generator": "safetensors " + safetensors.__version__, "files": {}}

    # Every dtype, names that exercise the sort (same dtype, byte order, digits), JSON escapes,
    # non-ASCII, a scalar and an empty tensor; one metadata key (the library's HashMap order is
    # only deterministic for 0 or 1 keys).
    all_dtypes = [
        ("model.layers.10.mlp.down_proj.weight", "F32", [3, 5], 1),
        ("model.layers.2.mlp.down_proj.weight", "F32", [5, 3], 2),
        ("lm_head.weight", "F32", [4, 4], 3),
        ("Z_upper", "F32", [2], 4),
        ("scalar", "F32", [], 5),
        ("empty", "F32", [0, 3], 6),
        ("w.bf16", "BF16", [3, 7], 7),
        ("w.f16", "F16", [7], 8),
        ("w.f64", "F64", [2, 2], 9),
        ("w.fp8", "F8_E4M3", [5, 3], 10),
        ("w.fp8_e5m2", "F8_E5M2", [9], 11),
        ("w.scale_e8m0", "F8_E8M0", [3], 12),
        ("w.i8", "I8", [11], 13),
        ("w.u8", "U8", [6], 14),
        ("w.i16", "I16", [5], 15),
        ("w.u16", "U16", [3], 16),
        ("w.i32", "I32", [2, 3], 17),
        ("w.u32", "U32", [4], 18),
        ("w.i64", "I64", [2], 19),
        ("w.u64", "U64", [1], 20),
        ("mask", "BOOL", [13], 21),
        ("quote\"back\\slash\ttab\nnl\x01ctl", "I8", [1], 22),
        ("na\u00efve.\u4e2d\u6587.\U0001f600", "U8", [2], 23),
    ]
    files = {
        "all_dtypes.safetensors": (all_dtypes, {"format": "pt"}),
        "no_metadata.safetensors": ([("a", "F32", [3], 1), ("b", "I8", [1], 2)], None),
        "empty.safetensors": ([], None),
        "metadata_only.safetensors": ([], {"format": "pt"}),
    }
    for fname, (tensors, metadata) in files.items():
        write(os.path.join(OUT, fname), tensors, metadata)
        manifest["files"][fname] = {
            "metadata": metadata,
            "tensors": [{"name": n, "dtype": d, "shape": s, "seed": k} for n, d, s, k in tensors],
        }

    # Sharded: caller order matters; 300 bytes per shard; "big" (400 bytes) exceeds the limit.
    sharded = [
        ("model.embed_tokens.weight", "F32", [25], 31),  # 100 bytes
        ("model.layers.0.w", "F32", [40], 32),           # 160 -> 260
        ("model.layers.0.b", "BF16", [30], 33),          # 60 -> 320 > 300: new shard
        ("big", "F32", [100], 34),                       # 400 > 300: a shard of its own
        ("model.layers.1.w", "F32", [50], 35),           # 200 -> 260
        ("model.layers.1.b", "I8", [40], 36),            # 40 -> 300 (== limit: stays)
        ("model.norm.weight", "F32", [4], 37),           # 16 -> new shard
    ]
    max_shard_size = 300
    sdir = os.path.join(OUT, "sharded")
    os.makedirs(sdir, exist_ok=True)
    for f in os.listdir(sdir):
        os.remove(os.path.join(sdir, f))
    by_name = {n: (n, d, s, k) for n, d, s, k in sharded}
    arrays = {n: np.frombuffer(tensor_bytes(d, s, k), dtype=np.uint8) for n, d, s, k in sharded}
    split = split_state_dict_into_shards_factory(
        arrays, get_storage_size=lambda a: a.nbytes,
        max_shard_size=max_shard_size, filename_pattern="model{suffix}.safetensors")
    for fname, names in split.filename_to_tensors.items():
        write(os.path.join(sdir, fname), [by_name[n] for n in names], {"format": "pt"})
    index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
    with open(os.path.join(sdir, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    manifest["sharded"] = {
        "max_shard_size": max_shard_size,
        "metadata": {"format": "pt"},
        "tensors": [{"name": n, "dtype": d, "shape": s, "seed": k} for n, d, s, k in sharded],
        "files": sorted(split.filename_to_tensors.keys()),
    }

    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(manifest, indent=2, ensure_ascii=True) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
