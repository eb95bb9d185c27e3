// llmc/scheme/presets.hpp — LLM Compressor's preset schemes, by the names recipes use.
//
// Field for field the presets of compressed-tensors HEAD ([CT] quantization/quant_scheme.py,
// tag 0.18.0; spec §3.2). Notable choices of the reference kept here: W8A16 is group 128 (it was
// channel before CT 0.16; W8A16_CHANNEL keeps that older form), FP8 has static per-tensor inputs
// with the static_minmax observer, NVFP4 inputs are tensor_group with dynamic="local".
// A user composes a scheme of their own from quant_args the same way.
#pragma once

#include "llmc/scheme/scheme.hpp"

namespace llmc::presets {

namespace args {
inline constexpr quant_args int8_channel{.num_bits = 8, .strategy = quant_strategy::channel};
inline constexpr quant_args int8_token_dynamic{.num_bits = 8, .strategy = quant_strategy::token,
                                               .dynamic = quant_dynamic::dynamic, .observer = observer_kind::none};
inline constexpr quant_args int4_group128{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 128};
inline constexpr quant_args int4_group128_asym{.num_bits = 4, .symmetric = false, .strategy = quant_strategy::group,
                                               .group_size = 128, .zp_dtype = qparam_dtype::int8};
inline constexpr quant_args int8_group128{.num_bits = 8, .strategy = quant_strategy::group, .group_size = 128};
inline constexpr quant_args fp8_tensor{.num_bits = 8, .type = quant_type::float_};
inline constexpr quant_args fp8_tensor_static_input{.num_bits = 8, .type = quant_type::float_,
                                                    .observer = observer_kind::static_minmax};
inline constexpr quant_args fp8_channel{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::channel};
inline constexpr quant_args fp8_token_dynamic{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::token,
                                              .dynamic = quant_dynamic::dynamic, .observer = observer_kind::none};
inline constexpr quant_args fp8_block128{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::block,
                                         .block_rows = 128, .block_cols = 128};
inline constexpr quant_args fp8_group128_dynamic{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::group,
                                                 .group_size = 128, .dynamic = quant_dynamic::dynamic,
                                                 .observer = observer_kind::none};
inline constexpr quant_args nvfp4_weight{.num_bits = 4, .type = quant_type::float_, .strategy = quant_strategy::tensor_group,
                                         .group_size = 16, .scale_dtype = qparam_dtype::float8_e4m3fn,
                                         .zp_dtype = qparam_dtype::float8_e4m3fn};
inline constexpr quant_args nvfp4_input{.num_bits = 4, .type = quant_type::float_, .strategy = quant_strategy::tensor_group,
                                        .group_size = 16, .dynamic = quant_dynamic::local,
                                        .scale_dtype = qparam_dtype::float8_e4m3fn, .zp_dtype = qparam_dtype::float8_e4m3fn,
                                        .observer = observer_kind::static_minmax};
inline constexpr quant_args mxfp4_weight{.num_bits = 4, .type = quant_type::float_, .strategy = quant_strategy::group,
                                         .group_size = 32, .scale_dtype = qparam_dtype::uint8, .zp_dtype = qparam_dtype::uint8};
inline constexpr quant_args mxfp4_input{.num_bits = 4, .type = quant_type::float_, .strategy = quant_strategy::group,
                                        .group_size = 32, .dynamic = quant_dynamic::dynamic, .scale_dtype = qparam_dtype::uint8,
                                        .zp_dtype = qparam_dtype::uint8, .observer = observer_kind::none};
}  // namespace args

/// INT8 weights per channel, INT8 activations per token, dynamic (W8A8 = INT8).
using W8A8 = scheme<args::int8_channel, args::int8_token_dynamic>;
using INT8 = W8A8;
/// INT8 weight-only, group 128 (CT >= 0.16).
using W8A16 = scheme<args::int8_group128>;
/// INT8 weight-only per channel: W8A16 as CT <= 0.15 defined it.
using W8A16_CHANNEL = scheme<args::int8_channel>;
/// INT4 weight-only, symmetric, group 128.
using W4A16 = scheme<args::int4_group128>;
/// INT4 weight-only, asymmetric (int8 zero points), group 128.
using W4A16_ASYM = scheme<args::int4_group128_asym>;
/// INT4 group-128 weights, INT8 dynamic per-token activations.
using W4A8 = scheme<args::int4_group128, args::int8_token_dynamic>;
/// FP8 E4M3 per-tensor weights and static per-tensor inputs (needs calibration data).
using FP8 = scheme<args::fp8_tensor, args::fp8_tensor_static_input>;
/// FP8 per-channel weights, dynamic per-token inputs (data-free).
using FP8_DYNAMIC = scheme<args::fp8_channel, args::fp8_token_dynamic>;
/// FP8 128x128 block weights, dynamic group-128 inputs (DeepSeek-style).
using FP8_BLOCK = scheme<args::fp8_block128, args::fp8_group128_dynamic>;
/// NVFP4 weight-only: E2M1 in groups of 16, FP8 local scales, an fp32 global scale.
using NVFP4A16 = scheme<args::nvfp4_weight>;
/// NVFP4 weights and activations (activation global scale calibrated, local scales dynamic).
using NVFP4 = scheme<args::nvfp4_weight, args::nvfp4_input>;
/// MXFP4 weight-only: E2M1 in groups of 32 with E8M0 scales.
using MXFP4A16 = scheme<args::mxfp4_weight>;
/// MXFP4 weights and dynamic MXFP4 activations.
using MXFP4 = scheme<args::mxfp4_weight, args::mxfp4_input>;

}  // namespace llmc::presets
