#!/usr/bin/env python3
"""Regenerates tests/data/safetensors/hostile/: corrupted safetensors files and sharded folders.

Python standard library only. Each case breaks exactly one rule of the format; the C++ test
(tests/io/test_hostile.cpp) holds the table file -> expected error id and fails if a file here is
not in its table, so adding a case means adding its expectation there. The files also seed the
libFuzzer corpus (tests/fuzz/).

Usage: python3 tests/io/make_hostile.py   (from the repository root)
"""
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "safetensors", "hostile")


def pad(header_bytes):
    return header_bytes + b" " * ((8 - len(header_bytes) % 8) % 8)


def file_from_header(header_bytes, data, length=None, do_pad=True):
    h = pad(header_bytes) if do_pad else header_bytes
    n = len(h) if length is None else length
    return struct.pack("<Q", n) + h + data


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def valid(tensors, data, metadata=None):
    h = {}
    if metadata is not None:
        h["__metadata__"] = metadata
    h.update(tensors)
    return file_from_header(compact(h), data)


F32_2 = struct.pack("<2f", 1.0, 2.0)  # 8 bytes


def cases():
    c = {}
    # Lengths and truncation.
    c["truncated_length"] = b"\x10\x00\x00\x00\x00"
    c["empty_file"] = b""
    c["header_len_2_60"] = struct.pack("<Q", 1 << 60) + b"{}      "
    c["header_len_u64_max"] = struct.pack("<Q", (1 << 64) - 1) + b"{}      "
    c["header_len_past_eof"] = struct.pack("<Q", 1000) + b'{"a":{"dtype":"F32"'
    good = valid({"a": entry("F32", [2], 0, 8)}, F32_2)
    c["truncated_data"] = good[:-3]
    # Encoding and JSON.
    c["non_utf8_header"] = file_from_header(b'{"a\xff":' + compact(entry("F32", [2], 0, 8)) + b"}", F32_2)
    c["overlong_utf8_header"] = file_from_header(b'{"\xc0\xaf":' + compact(entry("F32", [2], 0, 8)) + b"}", F32_2)
    c["surrogate_utf8_header"] = file_from_header(b'{"\xed\xa0\x80":' + compact(entry("F32", [2], 0, 8)) + b"}", F32_2)
    c["malformed_json"] = file_from_header(b'{"a":{"dtype":"F32","shape":[2],', F32_2)
    c["trailing_garbage_json"] = file_from_header(compact({"a": entry("F32", [2], 0, 8)}) + b"x", F32_2)
    c["nul_padding"] = struct.pack("<Q", 64) + compact({"a": entry("F32", [2], 0, 8)}).ljust(64, b"\0") + F32_2
    c["deep_nesting"] = file_from_header(b'{"__metadata__":' + b"[" * 300 + b"]" * 300 + b"}", b"")
    c["duplicate_tensor_key"] = file_from_header(
        b'{"a":' + compact(entry("F32", [1], 0, 4)) + b',"a":' + compact(entry("F32", [1], 4, 8)) + b"}", F32_2)
    c["duplicate_field_key"] = file_from_header(
        b'{"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}}', F32_2)
    c["duplicate_metadata_key"] = file_from_header(
        b'{"__metadata__":{"format":"pt","format":"np"},"a":' + compact(entry("F32", [2], 0, 8)) + b"}", F32_2)
    # Structure.
    c["header_not_object"] = file_from_header(b"[1,2,3]", b"")
    c["entry_not_object"] = file_from_header(compact({"a": [0, 8]}), F32_2)
    c["missing_dtype"] = file_from_header(compact({"a": {"shape": [2], "data_offsets": [0, 8]}}), F32_2)
    c["missing_offsets"] = file_from_header(compact({"a": {"dtype": "F32", "shape": [2]}}), F32_2)
    c["negative_shape"] = file_from_header(compact({"a": entry("F32", [-2], 0, 8)}), F32_2)
    c["metadata_not_string"] = valid({"a": entry("F32", [2], 0, 8)}, F32_2, metadata={"epoch": 3})
    c["unknown_dtype"] = valid({"a": entry("F33", [2], 0, 8)}, F32_2)
    c["subbyte_dtype_f4"] = valid({"a": entry("F4", [16], 0, 8)}, F32_2)
    c["lowercase_dtype"] = valid({"a": entry("f32", [2], 0, 8)}, F32_2)
    # Offsets.
    c["negative_offsets"] = valid({"a": entry("F32", [2], -8, 0)}, F32_2)
    c["reversed_offsets"] = valid({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, F32_2)
    c["float_offsets"] = file_from_header(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8.0]}}', F32_2)
    c["three_offsets"] = valid({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}}, F32_2)
    c["huge_offset"] = file_from_header(
        b'{"a":{"dtype":"U8","shape":[8],"data_offsets":[18446744073709551615,18446744073709551623]}}', F32_2)
    c["dtype_shape_mismatch"] = valid({"a": entry("F32", [3], 0, 8)}, F32_2)
    c["shape_overflow"] = valid({"a": entry("F32", [1 << 62, 8], 0, 8)}, F32_2)
    c["out_of_bounds"] = valid({"a": entry("F32", [250], 0, 1000)}, F32_2)
    c["overlapping"] = valid({"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 4, 12)}, F32_2 + F32_2[:4])
    c["gap"] = valid({"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}, F32_2 + F32_2[:4])
    c["trailing_bytes"] = valid({"a": entry("F32", [1], 0, 4)}, F32_2)
    c["bool_not_0_1"] = valid({"m": entry("BOOL", [4], 0, 4)}, b"\x00\x01\x02\x01")
    return c


def shard(tensors):
    """tensors: list of (name, n_f32). Returns file bytes with contiguous F32 data."""
    h = {"__metadata__": {"format": "pt"}}
    data = b""
    for name, n in tensors:
        h[name] = entry("F32", [n], len(data), len(data) + 4 * n)
        data += struct.pack("<%df" % n, *[float(i) for i in range(n)])
    return valid({k: v for k, v in h.items() if k != "__metadata__"}, data, metadata=h["__metadata__"])


def index(weight_map, total=0):
    return (json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2, sort_keys=True)
            + "\n").encode()


S1, S2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"


def folders():
    f = {}
    f["shard_missing"] = {S1: shard([("a", 2)]), "model.safetensors.index.json": index({"a": S1, "b": S2})}
    f["tensor_in_two_shards"] = {S1: shard([("a", 2)]), S2: shard([("a", 2), ("b", 1)]),
                                 "model.safetensors.index.json": index({"a": S1, "b": S2})}
    f["index_wrong_shard"] = {S1: shard([("a", 2)]), S2: shard([("b", 1)]),
                              "model.safetensors.index.json": index({"a": S2, "b": S1})}
    f["index_tensor_absent"] = {S1: shard([("a", 2)]), S2: shard([("b", 1)]),
                                "model.safetensors.index.json": index({"a": S1, "b": S2, "c": S2})}
    f["index_path_traversal"] = {S1: shard([("a", 2)]),
                                 "model.safetensors.index.json": index({"a": "../" + S1})}
    f["index_absolute_path"] = {S1: shard([("a", 2)]),
                                "model.safetensors.index.json": index({"a": "/etc/passwd"})}
    f["index_no_weight_map"] = {S1: shard([("a", 2)]),
                                "model.safetensors.index.json": b'{"metadata": {"total_size": 8}}\n'}
    f["index_weight_map_not_string"] = {S1: shard([("a", 2)]),
                                        "model.safetensors.index.json": b'{"weight_map": {"a": 1}}\n'}
    f["index_duplicate_key"] = {S1: shard([("a", 2)]), S2: shard([("b", 1)]),
                                "model.safetensors.index.json":
                                    b'{"weight_map": {"a": "' + S1.encode() + b'", "a": "' + S2.encode() + b'"}}\n'}
    f["index_malformed"] = {S1: shard([("a", 2)]), "model.safetensors.index.json": b'{"weight_map": {"a": '}
    f["shard_corrupt"] = {S1: shard([("a", 2)]), S2: shard([("b", 1)])[:-2],
                          "model.safetensors.index.json": index({"a": S1, "b": S2})}
    return f


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    for name, data in cases().items():
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as fh:
            fh.write(data)
    for name, files in folders().items():
        d = os.path.join(OUT, name)
        os.makedirs(d)
        for fname, data in files.items():
            with open(os.path.join(d, fname), "wb") as fh:
                fh.write(data)


if __name__ == "__main__":
    main()
