#!/usr/bin/env python3
"""Writes the quantization_config goldens of tests/io/test_compressed_tensors_config.cpp.

The dictionaries below are written by hand from the compressed-tensors sources (they are NOT produced
by compressed-tensors, which needs torch): QuantizationArgs fields and serializers in
src/compressed_tensors/quantization/quant_args.py (0.12.2: no scale_dtype/zp_dtype, default observer
"minmax"; 0.13+: scale_dtype/zp_dtype, zp_dtype null when symmetric; 0.14+: default observer
"memoryless_minmax"), the presets in quantization/quant_scheme.py, QuantizationConfig in
quantization/quant_config.py and ModelCompressor.update_config (version, quant_method,
sparsity_config {}, transform_config {}). Python's json module only formats them: json.dumps(indent=2,
sort_keys=True), the way update_config dumps config.json. Run: python3 make_config_goldens.py
"""
import json
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config")


def args(num_bits, type_, strategy, *, symmetric=True, group_size=None, block=None, dynamic=False,
         actorder=None, observer="minmax-default", scale_dtype=None, zp_dtype=None, version):
    new = version != "0.12.2"
    if observer == "minmax-default":
        observer = "memoryless_minmax" if new else "minmax"
    d = {
        "num_bits": num_bits,
        "type": type_,
        "symmetric": symmetric,
        "group_size": group_size,
        "strategy": strategy,
        "block_structure": block,
        "dynamic": dynamic,
        "actorder": actorder,
        "observer": observer,
        "observer_kwargs": {},
    }
    if new:
        d["scale_dtype"] = scale_dtype
        d["zp_dtype"] = None if symmetric else zp_dtype
    return d


def config(weights, inputs, fmt, version):
    return {
        "config_groups": {
            "group_0": {
                "format": fmt,
                "input_activations": inputs,
                "output_activations": None,
                "targets": ["Linear"],
                "weights": weights,
            }
        },
        "format": fmt,
        "global_compression_ratio": None,
        "ignore": ["lm_head"],
        "kv_cache_scheme": None,
        "quant_method": "compressed-tensors",
        "quantization_status": "compressed",
        "sparsity_config": {},
        "transform_config": {},
        "version": version,
    }


def presets(v):
    old = v == "0.12.2"
    static_act = "minmax" if old else "static_minmax"  # FP8 / NVFP4 input observer (preset: static_minmax)
    out = {}
    out["W8A8"] = config(args(8, "int", "channel", version=v),
                         args(8, "int", "token", dynamic=True, observer=None, version=v), "int-quantized", v)
    out["W4A16_GPTQ_STATIC"] = config(args(4, "int", "group", group_size=128, actorder="static", version=v), None,
                                      "pack-quantized", v)
    out["W4A16_ASYM"] = config(args(4, "int", "group", group_size=128, symmetric=False, zp_dtype="torch.int8", version=v),
                               None, "pack-quantized", v)
    out["FP8"] = config(args(8, "float", "tensor", version=v),
                        args(8, "float", "tensor", observer=static_act, version=v), "float-quantized", v)
    out["FP8_DYNAMIC"] = config(args(8, "float", "channel", version=v),
                                args(8, "float", "token", dynamic=True, observer=None, version=v), "float-quantized", v)
    out["FP8_BLOCK"] = config(args(8, "float", "block", block=[128, 128], version=v),
                              args(8, "float", "group", group_size=128, dynamic=True, observer=None, version=v),
                              "float-quantized", v)
    nv_w = args(4, "float", "tensor_group", group_size=16, scale_dtype="torch.float8_e4m3fn", version=v)
    out["NVFP4A16"] = config(nv_w, None, "nvfp4-pack-quantized", v)
    out["NVFP4"] = config(nv_w, args(4, "float", "tensor_group", group_size=16, dynamic="local", observer=static_act,
                                     scale_dtype="torch.float8_e4m3fn", version=v), "nvfp4-pack-quantized", v)
    if not old:  # MXFP4 (uint8 scale_dtype) cannot be expressed before 0.13
        out["MXFP4A16"] = config(args(4, "float", "group", group_size=32, scale_dtype="torch.uint8", version=v), None,
                                 "mxfp4-pack-quantized", v)
    return out


for version, tag in (("0.12.2", "0.12"), ("0.18.0", "0.18")):
    for name, cfg in presets(version).items():
        with open(os.path.join(HERE, f"{name}-{tag}.json"), "w") as f:
            f.write(json.dumps(cfg, indent=2, sort_keys=True))
