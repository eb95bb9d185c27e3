// llmc/io/compressed_tensors_format.hpp — compressed-tensors compression formats, the versions llmc
// can target, per-module format inference, and the exact tensors each format stores.
//
// Facts read in vllm-project/compressed-tensors at the release tags (spec §8.2, §8.3):
//  - format names: config/base.py `CompressionFormat`; mxfp4-pack-quantized appears in 0.13.0,
//    mxfp8-quantized in 0.15.0.
//  - inference, 0.11–0.14: config/format.py `_get_quant_compression_format` (fp4 -> mxfp4 when
//    group_size 32 [0.13+] else nvfp4; weight-only int 4/8 bits -> pack-quantized, other weight-only
//    -> naive; with input activations: fp8 -> float-quantized, int -> int-quantized, else naive).
//    0.15+: compressors/format.py `COMPRESSION_FORMAT_PRIORITY` with each compressor's
//    `can_compress` (0.15–0.17 try pack before int; 0.18 tries int first; pack takes 4/8 bits and
//    Linear only before 0.17, 1..8 bits and Linear/Embedding from 0.17).
//  - tensors: compressors/{naive_quantized,pack_quantized,nvfp4,mxfp4,mxfp8}/base.py `compress`,
//    qparam creation in quantization/lifecycle/initialize.py `initialize_qparams` (input qparams are
//    registered before weight qparams; weight_g_idx before weight_scale; global scales first), and
//    utils/module.py `replace_direct_state_dict` (every entry is re-registered in the order of the
//    compressed dict, so new entries such as weight_packed come last). module_tensor_specs() lists
//    the tensors in that order, which is the order transformers shards them in.
//  - integer packing (compressors/pack_quantized/helpers.py pack_to_int32): dense cross-word packing
//    from 0.18.0 (PR #732, "CT support for humming"); every older release, 0.17.x included, puts
//    floor(32/b) values in each int32 word (PR #715 in 0.17.0 only widened pack-quantized to any
//    1..8 bits, still per word). The spec §8.4 and scheme/pack.hpp date dense packing to 0.17: the
//    tags say 0.18.
//  - QuantizationArgs.block_structure as a [rows, cols] list, QuantizationScheme.format and
//    transform_config all appear in 0.11.0, the oldest release llmc targets (0.10 used "RxC").
// Invariant: every function here is pure; errors are config_error llmc.io.201/202/203.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/dtype.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/numeric/packing.hpp"
#include "llmc/scheme/pack.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/scheme.hpp"

namespace llmc {

/// compressed-tensors `CompressionFormat` (config/base.py). The sparse and marlin-24 formats are
/// named so that configs naming them are recognized (and refused) rather than misread.
enum class compression_format : std::uint8_t {
  dense,
  sparse_bitmask,
  sparse_24_bitmask,
  int_quantized,
  float_quantized,
  naive_quantized,
  pack_quantized,
  marlin_24,
  mixed_precision,
  nvfp4_pack_quantized,
  mxfp4_pack_quantized,
  mxfp8_quantized,
};

constexpr std::string_view to_string(compression_format f) noexcept {
  switch (f) {
    case compression_format::dense: return "dense";
    case compression_format::sparse_bitmask: return "sparse-bitmask";
    case compression_format::sparse_24_bitmask: return "sparse-24-bitmask";
    case compression_format::int_quantized: return "int-quantized";
    case compression_format::float_quantized: return "float-quantized";
    case compression_format::naive_quantized: return "naive-quantized";
    case compression_format::pack_quantized: return "pack-quantized";
    case compression_format::marlin_24: return "marlin-24";
    case compression_format::mixed_precision: return "mixed-precision";
    case compression_format::nvfp4_pack_quantized: return "nvfp4-pack-quantized";
    case compression_format::mxfp4_pack_quantized: return "mxfp4-pack-quantized";
    case compression_format::mxfp8_quantized: return "mxfp8-quantized";
  }
  return "?";
}

inline constexpr compression_format all_compression_formats[] = {
    compression_format::dense,           compression_format::sparse_bitmask,       compression_format::sparse_24_bitmask,
    compression_format::int_quantized,   compression_format::float_quantized,      compression_format::naive_quantized,
    compression_format::pack_quantized,  compression_format::marlin_24,            compression_format::mixed_precision,
    compression_format::nvfp4_pack_quantized, compression_format::mxfp4_pack_quantized, compression_format::mxfp8_quantized};

/// The format named `s` ("pack-quantized", ...); std::nullopt for anything else.
constexpr std::optional<compression_format> compression_format_from_string(std::string_view s) noexcept {
  for (compression_format f : all_compression_formats)
    if (to_string(f) == s) return f;
  return std::nullopt;
}

/// A compressed-tensors release to write for: what config fields exist, how integers are packed,
/// how formats are inferred. `text` is what "version" in quantization_config says.
struct ct_version {
  int minor = 18;           ///< 0.<minor>; llmc supports 0.11 .. 0.18
  std::string text = "0.18.0";

  static constexpr int oldest_minor = 11;
  static constexpr int newest_minor = 18;

  /// "0.12" (the newest patch release of 0.12 is written), "0.12.2", "0.14.0.1", "0.12.3.a20251030".
  /// @throws config_error llmc.io.201 for anything else or a release outside 0.11 .. 0.18.
  static ct_version parse(std::string_view s) {
    auto fail = [&](const std::string& why) -> ct_version {
      LLMC_THROW(config_error, io_errc::ct_version,
                 "compressed-tensors version \"" + std::string(s) + "\": " + why +
                     "; target one of 0.11 .. 0.18, e.g. \"0.12\" or \"0.18\"");
    };
    std::size_t i = 0;
    auto number = [&](int& out) {
      const std::size_t b = i;
      long v = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - b < 6) v = v * 10 + (s[i++] - '0');
      out = static_cast<int>(v);
      return i > b;
    };
    int major = -1, minor = -1;
    if (!number(major) || i >= s.size() || s[i] != '.') return fail("not of the form 0.<minor>[.<patch>...]");
    ++i;
    if (!number(minor)) return fail("not of the form 0.<minor>[.<patch>...]");
    if (major != 0 || minor < oldest_minor || minor > newest_minor) return fail("release not supported by llmc");
    ct_version v;
    v.minor = minor;
    if (i == s.size()) {
      v.text = latest_release(minor);
    } else {
      if (s[i] != '.') return fail("not of the form 0.<minor>[.<patch>...]");
      for (std::size_t k = i; k < s.size(); ++k) {
        const char c = s[k];
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                        c == '+' || c == '-';
        if (!ok) return fail("unexpected character in the version text");
      }
      v.text = std::string(s);
    }
    return v;
  }

  /// The newest patch release of 0.<minor> (from the repository's tags).
  static std::string latest_release(int minor) {
    switch (minor) {
      case 11: return "0.11.0";
      case 12: return "0.12.2";
      case 13: return "0.13.0";
      case 14: return "0.14.0.1";
      case 15: return "0.15.0.1";
      case 16: return "0.16.0";
      case 17: return "0.17.1";
      default: return "0.18.0";
    }
  }

  // --- the feature table (tag where each appeared) ---
  /// QuantizationArgs.scale_dtype / zp_dtype (0.13.0). Older releases reject configs that carry them
  /// (pydantic extra="forbid"), so they are left out.
  [[nodiscard]] constexpr bool has_scale_zp_dtype() const noexcept { return minor >= 13; }
  /// Default observer "memoryless_minmax" (0.14.0); before, static args defaulted to "minmax" and
  /// LLM Compressor's observers of that era were named minmax / mse.
  [[nodiscard]] constexpr bool memoryless_observer_names() const noexcept { return minor >= 14; }
  /// Dense cross-word integer packing (0.18.0); before, floor(32/b) values per int32 word.
  [[nodiscard]] constexpr bool dense_int_packing() const noexcept { return minor >= 18; }
  [[nodiscard]] constexpr int_packing packing() const noexcept {
    return dense_int_packing() ? int_packing::dense : int_packing::legacy_per_word;
  }
  /// mxfp4-pack-quantized (0.13.0) and mxfp8-quantized (0.15.0).
  [[nodiscard]] constexpr bool has_mxfp4() const noexcept { return minor >= 13; }
  [[nodiscard]] constexpr bool has_mxfp8() const noexcept { return minor >= 15; }
  /// Format inference by compressor priority list (0.15.0) instead of the older if-chain.
  [[nodiscard]] constexpr bool priority_inference() const noexcept { return minor >= 15; }
};

/// Whether a module of `module_type` ("Linear", "Embedding") can hold a quantized weight in this
/// release: every quantized module before 0.15, Linear only in 0.15–0.16, Linear and Embedding from
/// 0.17 (compressors/base.py COMPRESSIBLE_MODULE_TYPES).
constexpr bool ct_compressible_module(std::string_view module_type, const ct_version& v) noexcept {
  if (!v.priority_inference()) return true;
  if (v.minor < 17) return module_type == "Linear";
  return module_type == "Linear" || module_type == "Embedding";
}

namespace detail {
[[noreturn]] inline void ct_unsupported(const std::string& what) {
  LLMC_THROW(config_error, io_errc::ct_unsupported_scheme, what);
}

/// The format the 0.15+ priority list picks (compressors/format.py + each can_compress).
inline compression_format ct_priority_format(const runtime_scheme& s, const ct_version& v, std::string_view type) {
  const quant_args& w = s.weights;
  const quant_args& in = s.input_activations;
  const bool typed = ct_compressible_module(type, v);
  const bool has_w = w.enabled();
  const bool has_in = in.enabled();
  const bool mxfp4 = typed && has_w && w.is_fp4() && w.group_size == 32;
  const bool mxfp8 = typed && has_w && w.is_fp8() && w.group_size == 32 && w.scale_dtype == qparam_dtype::uint8;
  const bool nvfp4 = typed && has_w && w.is_fp4() && w.group_size == 16;
  bool pack = false;
  if (v.minor < 17) pack = typed && has_w && !has_in && (w.num_bits == 4 || w.num_bits == 8) && w.is_int();
  else if (v.minor == 17) pack = typed && has_w && !has_in && w.is_int();
  else pack = typed && has_w && !(has_in && in.is_float()) && w.is_int();
  const bool int_q = typed && has_in && has_w && w.is_int();
  const bool float_q = typed && has_in && has_w && w.is_float();
  const bool naive = typed && has_w;
  if (mxfp4) return compression_format::mxfp4_pack_quantized;
  if (mxfp8) return compression_format::mxfp8_quantized;
  if (nvfp4) return compression_format::nvfp4_pack_quantized;
  if (v.minor >= 18) {
    if (int_q) return compression_format::int_quantized;
    if (pack) return compression_format::pack_quantized;
  } else {
    if (pack) return compression_format::pack_quantized;
    if (int_q) return compression_format::int_quantized;
  }
  if (float_q) return compression_format::float_quantized;
  if (naive) return compression_format::naive_quantized;
  return compression_format::dense;
}

/// The format 0.11–0.14 pick (config/format.py _get_quant_compression_format).
inline compression_format ct_legacy_format(const runtime_scheme& s, const ct_version& v) {
  const quant_args& w = s.weights;
  if (w.is_fp4()) return v.has_mxfp4() && w.group_size == 32 ? compression_format::mxfp4_pack_quantized
                                                              : compression_format::nvfp4_pack_quantized;
  if (!s.input_activations.enabled()) {
    if (w.is_int() && (w.num_bits == 4 || w.num_bits == 8)) return compression_format::pack_quantized;
    return compression_format::naive_quantized;
  }
  if (w.is_fp8()) return compression_format::float_quantized;
  if (w.is_int()) return compression_format::int_quantized;
  return compression_format::naive_quantized;
}
}  // namespace detail

/// Checks that `s` can be written for a module of `module_type` in release `v` (beyond the scheme's
/// own validity). @throws config_error llmc.io.202 naming the rule.
inline void check_scheme_writable(const runtime_scheme& s, const ct_version& v, std::string_view module_type = "Linear") {
  if (const char* why = s.validate()) detail::ct_unsupported(std::string("invalid scheme: ") + why);
  const quant_args& w = s.weights;
  if (!w.enabled())
    detail::ct_unsupported("a config group without weight quantization has no compressed form; leave such modules dense");
  for (const quant_args* a : {&s.weights, &s.input_activations, &s.output_activations}) {
    if (a->enabled() && a->scale_dtype == qparam_dtype::uint8 && !v.has_mxfp4())
      detail::ct_unsupported("MX formats (uint8 E8M0 scales) need compressed-tensors >= 0.13; target " + v.text +
                             " cannot express scale_dtype");
  }
  if (w.is_mx() && w.is_fp8() && !v.has_mxfp8())
    detail::ct_unsupported("MXFP8 weights (mxfp8-quantized) need compressed-tensors >= 0.15; target is " + v.text);
  if (w.is_fp4() && w.actorder == act_order::group)
    detail::ct_unsupported("FP4 weights with actorder=group: the FP4 compressors ignore weight_g_idx, the checkpoint "
                           "would not dequantize as quantized; use actorder=weight (\"static\") or none");
  if (s.output_activations.enabled() && s.output_activations.dynamic == quant_dynamic::static_)
    detail::ct_unsupported("static output activation quantization (output_scale) is not written by llmc; use dynamic "
                           "outputs or none");
  const quant_args& in = s.input_activations;
  if (in.enabled() && in.dynamic == quant_dynamic::static_ && in.strategy != quant_strategy::tensor)
    detail::ct_unsupported("static input activations are written only with the tensor strategy (input_scale [1]); "
                           "this scheme has " + std::string(to_string(in.strategy)));
  if (in.enabled() && in.dynamic == quant_dynamic::local && !in.is_fp4())
    detail::ct_unsupported("dynamic=\"local\" input activations are the NVFP4 (FP4 tensor_group) form only");
  if (!ct_compressible_module(module_type, v))
    detail::ct_unsupported("compressed-tensors " + v.text + " compresses only Linear modules, not \"" +
                           std::string(module_type) + "\"; target >= 0.17 or leave the module dense");
}

/// The format compressed-tensors release `v` infers for a module of `module_type` quantized with
/// `s` (spec §8.2; see the file comment for the per-release rules).
/// @throws config_error llmc.io.202 when the scheme cannot be written (check_scheme_writable).
inline compression_format infer_module_format(const runtime_scheme& s, const ct_version& v,
                                              std::string_view module_type = "Linear") {
  check_scheme_writable(s, v, module_type);
  return v.priority_inference() ? detail::ct_priority_format(s, v, module_type) : detail::ct_legacy_format(s, v);
}

/// The global `format`: the single format of all quantized modules, mixed-precision when they
/// differ, dense when there are none (dense modules are not counted; compressors/format.py
/// _flatten_formats).
template <class Range>
compression_format summarize_formats(const Range& module_formats) {
  std::optional<compression_format> one;
  for (compression_format f : module_formats) {
    if (f == compression_format::dense) continue;
    if (!one) one = f;
    else if (*one != f) return compression_format::mixed_precision;
  }
  return one.value_or(compression_format::dense);
}

/// Throws unless format `f` can store weights quantized with `s` (a forced format must still be
/// one whose compressor handles the weight's type). @throws config_error llmc.io.203
inline void check_format_fits(compression_format f, const runtime_scheme& s, std::string_view module) {
  const quant_args& w = s.weights;
  auto fail = [&](const std::string& why) {
    LLMC_THROW(config_error, io_errc::ct_format_mismatch,
               "module \"" + std::string(module) + "\": format " + std::string(to_string(f)) + " cannot store " + why +
                   "; drop the format override or choose a format that fits");
  };
  switch (f) {
    case compression_format::int_quantized:
    case compression_format::pack_quantized:
      if (!w.is_int()) fail("non-integer weights");
      return;
    case compression_format::float_quantized:
      if (!w.is_fp8() || w.is_mx()) fail("weights other than FP8 with model-dtype scales");
      return;
    case compression_format::naive_quantized:
      if (w.is_fp4()) fail("FP4 weights (they must be packed)");
      if (w.is_mx()) fail("MX weights (E8M0 scales need mxfp8-quantized)");
      return;
    case compression_format::nvfp4_pack_quantized:
      if (!w.is_fp4() || w.strategy != quant_strategy::tensor_group) fail("weights other than NVFP4 (FP4 tensor_group)");
      return;
    case compression_format::mxfp4_pack_quantized:
      if (!w.is_fp4() || !w.is_mx()) fail("weights other than MXFP4 (FP4, group 32, uint8 scales)");
      return;
    case compression_format::mxfp8_quantized:
      if (!w.is_fp8() || !w.is_mx()) fail("weights other than MXFP8 (FP8, group 32, uint8 scales)");
      return;
    default:
      fail("a quantized module (dense is the save_compressed=False form, mixed-precision only a global summary, "
           "sparse formats are not supported)");
  }
}

/// One tensor a compressed module stores: "<module>.<suffix>".
struct ct_tensor_spec {
  std::string suffix;               ///< "weight_packed", "weight_scale", ...
  llmc::dtype dtype = dtype::f32;
  std::vector<std::int64_t> shape;
};

/// Shape of a qparam tensor of `l`: [1] for the tensor strategy, else [slot_rows, slot_cols].
inline std::vector<std::int64_t> ct_qparam_shape(const qparam_layout& l) {
  if (l.strategy == quant_strategy::tensor) return {1};
  return {static_cast<std::int64_t>(l.slot_rows), static_cast<std::int64_t>(l.slot_cols)};
}

/// The stored dtype of model-dtype scales (the weight's dtype when it is fp16/bf16/fp32, as
/// initialize_qparams does; llmc computes fp64 models in fp32).
inline llmc::dtype ct_scale_dtype(scalar_type model_dtype) {
  switch (model_dtype) {
    case scalar_type::bfloat16: return dtype::bf16;
    case scalar_type::float16: return dtype::f16;
    default: return dtype::f32;
  }
}

/// The tensors format `f` stores for a [rows, cols] weight quantized with `s` in a `model_dtype`
/// model, in compressed-tensors' state-dict order (file comment). `f` must fit (check_format_fits).
inline std::vector<ct_tensor_spec> module_tensor_specs(compression_format f, const runtime_scheme& s, std::size_t rows,
                                                       std::size_t cols, scalar_type model_dtype, const ct_version& v) {
  const quant_args& w = s.weights;
  const quant_args& in = s.input_activations;
  const qparam_layout l(w, rows, cols);
  const llmc::dtype sd = ct_scale_dtype(model_dtype);
  const auto R = static_cast<std::int64_t>(rows), C = static_cast<std::int64_t>(cols);
  std::vector<ct_tensor_spec> out;
  // Input qparams are registered before the weight's (initialize_module_for_quantization).
  if (in.enabled() && in.dynamic == quant_dynamic::local) out.push_back({"input_global_scale", dtype::f32, {1}});
  if (in.enabled() && in.dynamic == quant_dynamic::static_) {
    out.push_back({"input_scale", sd, {1}});
    if (!in.symmetric) out.push_back({"input_zero_point", dtype::i8, {1}});
  }
  const bool g_idx = w.actorder == act_order::group;
  switch (f) {
    case compression_format::int_quantized:
    case compression_format::float_quantized:
    case compression_format::naive_quantized:
      if (g_idx) out.push_back({"weight_g_idx", dtype::i32, {C}});
      out.push_back({"weight_scale", sd, ct_qparam_shape(l)});
      if (!w.symmetric) out.push_back({"weight_zero_point", dtype::i8, ct_qparam_shape(l)});
      out.push_back({"weight", w.is_int() ? dtype::i8 : dtype::f8_e4m3, {R, C}});
      break;
    case compression_format::pack_quantized: {
      if (g_idx) out.push_back({"weight_g_idx", dtype::i32, {C}});
      out.push_back({"weight_scale", sd, ct_qparam_shape(l)});
      if (!w.symmetric) {
        if (w.strategy == quant_strategy::group || w.strategy == quant_strategy::channel) {
          const std::size_t zp_words = detail::words_for(l.slot_rows, w.num_bits, v.packing());
          out.push_back({"weight_zero_point", dtype::i32,
                         {static_cast<std::int64_t>(zp_words), static_cast<std::int64_t>(l.slot_cols)}});
        } else {
          out.push_back({"weight_zero_point", dtype::i8, ct_qparam_shape(l)});
        }
      }
      const std::size_t words = detail::words_for(cols, w.num_bits, v.packing());
      out.push_back({"weight_packed", dtype::i32, {R, static_cast<std::int64_t>(words)}});
      out.push_back({"weight_shape", dtype::i64, {2}});
      break;
    }
    case compression_format::nvfp4_pack_quantized:
      out.push_back({"weight_global_scale", dtype::f32, {1}});
      out.push_back({"weight_packed", dtype::u8, {R, C / 2}});
      out.push_back({"weight_scale", dtype::f8_e4m3, ct_qparam_shape(l)});
      break;
    case compression_format::mxfp4_pack_quantized:
      out.push_back({"weight_packed", dtype::u8, {R, C / 2}});
      out.push_back({"weight_scale", dtype::u8, ct_qparam_shape(l)});
      break;
    case compression_format::mxfp8_quantized:
      out.push_back({"weight_scale", dtype::u8, ct_qparam_shape(l)});
      out.push_back({"weight", dtype::f8_e4m3, {R, C}});
      break;
    default:
      check_format_fits(f, s, "?");  // throws llmc.io.203
  }
  return out;
}

}  // namespace llmc
