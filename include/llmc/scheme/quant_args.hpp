// llmc/scheme/quant_args.hpp — quantization arguments, the vocabulary of every scheme.
//
// quant_args mirrors compressed-tensors' QuantizationArgs field for field
// ([CT] src/compressed_tensors/quantization/quant_args.py; spec §3.1) so that a scheme maps one to
// one onto the `quantization_config` written to disk. It is a structural literal type: schemes take
// it as a template argument, and validate() runs the reference's model validation at compile time.
// Invariant: a quant_args with num_bits == 0 means "not quantized" (no_quantization).
#pragma once

#include <cstdint>
#include <string_view>

namespace llmc {

enum class quant_type : std::uint8_t { int_, float_ };
enum class quant_strategy : std::uint8_t { tensor, channel, group, block, token, tensor_group, attn_head };
/// static: qparams fixed at calibration; dynamic: computed per forward; local: tensor_group with
/// dynamic local scales but a static global scale (NVFP4 activations).
enum class quant_dynamic : std::uint8_t { static_, dynamic, local };
/// GPTQ activation ordering. weight == "static" (column order by Hessian diagonal, groups kept in
/// original order), group == "dynamic" (groups follow the permuted order; writes g_idx).
enum class act_order : std::uint8_t { none, group, weight };
enum class observer_kind : std::uint8_t { none, memoryless_minmax, static_minmax, minmax, memoryless_mse, mse };
/// dtypes that scales and zero points may be forced into. unset = the model's dtype for scales,
/// int8 for integer zero points (serialized as null when symmetric).
enum class qparam_dtype : std::uint8_t { unset, float8_e4m3fn, uint8, int8 };

struct quant_args {
  int num_bits = 8;
  quant_type type = quant_type::int_;
  bool symmetric = true;
  quant_strategy strategy = quant_strategy::tensor;
  int group_size = 0;
  int block_rows = 0;  ///< block_structure[0]
  int block_cols = 0;  ///< block_structure[1]
  quant_dynamic dynamic = quant_dynamic::static_;
  act_order actorder = act_order::none;
  qparam_dtype scale_dtype = qparam_dtype::unset;
  qparam_dtype zp_dtype = qparam_dtype::unset;
  observer_kind observer = observer_kind::memoryless_minmax;

  [[nodiscard]] constexpr bool enabled() const noexcept { return num_bits > 0; }
  [[nodiscard]] constexpr bool is_int() const noexcept { return type == quant_type::int_; }
  [[nodiscard]] constexpr bool is_float() const noexcept { return type == quant_type::float_; }
  [[nodiscard]] constexpr bool is_fp8() const noexcept { return is_float() && num_bits == 8; }
  [[nodiscard]] constexpr bool is_fp4() const noexcept { return is_float() && num_bits == 4; }
  /// MX formats: float 4/8 bits, groups of 32, power-of-two scales stored as E8M0 bytes (spec §4.6).
  [[nodiscard]] constexpr bool is_mx() const noexcept {
    return is_float() && (num_bits == 4 || num_bits == 8) && group_size == 32 && scale_dtype == qparam_dtype::uint8;
  }
  /// Smallest / largest quantized value (spec §4.1).
  [[nodiscard]] constexpr float q_min() const noexcept {
    if (is_int()) return -static_cast<float>(1 << (num_bits - 1));
    return num_bits == 8 ? -448.0f : -6.0f;
  }
  [[nodiscard]] constexpr float q_max() const noexcept {
    if (is_int()) return static_cast<float>((1 << (num_bits - 1)) - 1);
    return num_bits == 8 ? 448.0f : 6.0f;
  }
  constexpr bool operator==(const quant_args&) const = default;
};

/// "Not quantized": the input/output activation args of a weight-only scheme.
inline constexpr quant_args no_quantization{.num_bits = 0, .observer = observer_kind::none};

/// Returns nullptr when `a` is a valid QuantizationArgs, else the reason (the reference's rules,
/// spec §3.1). Schemes turn each rule into its own static_assert so the compiler prints the reason.
constexpr const char* validate_quant_args(const quant_args& a) noexcept {
  if (!a.enabled()) return nullptr;
  if (a.is_int() && (a.num_bits < 1 || a.num_bits > 8)) return "integer quantization supports 1 to 8 bits";
  if (a.is_float() && a.num_bits != 4 && a.num_bits != 8) return "float quantization supports 4 (E2M1) or 8 (E4M3) bits";
  if (a.strategy == quant_strategy::token && a.dynamic == quant_dynamic::static_) return "token strategy requires dynamic quantization";
  if ((a.strategy == quant_strategy::group || a.strategy == quant_strategy::tensor_group) && a.group_size <= 0)
    return "group and tensor_group strategies require group_size > 0";
  if (a.group_size > 0 && a.strategy != quant_strategy::group && a.strategy != quant_strategy::tensor_group)
    return "group_size > 0 requires the group or tensor_group strategy";
  if ((a.strategy == quant_strategy::block) != (a.block_rows > 0 && a.block_cols > 0))
    return "the block strategy and block_structure go together";
  if (a.actorder == act_order::group && a.strategy != quant_strategy::group && a.strategy != quant_strategy::tensor_group)
    return "actorder=group requires the group or tensor_group strategy";
  if (a.dynamic == quant_dynamic::dynamic && a.strategy != quant_strategy::token && a.strategy != quant_strategy::tensor &&
      a.strategy != quant_strategy::tensor_group && a.strategy != quant_strategy::group)
    return "dynamic quantization supports only the token, tensor, group and tensor_group strategies";
  if (a.dynamic == quant_dynamic::local && a.strategy != quant_strategy::tensor_group)
    return "dynamic=local is only valid with the tensor_group strategy";
  if (a.is_float() && !a.symmetric) return "asymmetric float quantization is not supported";
  if (a.strategy == quant_strategy::tensor_group && !a.is_fp4()) return "tensor_group is the NVFP4 strategy: float, 4 bits";
  if (a.scale_dtype == qparam_dtype::uint8 && !a.is_mx()) return "uint8 (E8M0) scales are only for MX formats: float, group_size 32";
  if (a.is_fp4() && a.strategy != quant_strategy::tensor_group && !a.is_mx())
    return "FP4 needs NVFP4 (tensor_group 16, fp8 scales) or MXFP4 (group 32, uint8 scales)";
  if (a.dynamic != quant_dynamic::static_ && a.observer != observer_kind::none && a.dynamic != quant_dynamic::local)
    return "dynamic args take no observer";
  return nullptr;
}

constexpr std::string_view to_string(quant_type t) noexcept { return t == quant_type::int_ ? "int" : "float"; }
constexpr std::string_view to_string(quant_strategy s) noexcept {
  switch (s) {
    case quant_strategy::tensor: return "tensor";
    case quant_strategy::channel: return "channel";
    case quant_strategy::group: return "group";
    case quant_strategy::block: return "block";
    case quant_strategy::token: return "token";
    case quant_strategy::tensor_group: return "tensor_group";
    case quant_strategy::attn_head: return "attn_head";
  }
  return "?";
}
constexpr std::string_view to_string(act_order a) noexcept {
  switch (a) {
    case act_order::none: return "none";
    case act_order::group: return "group";
    case act_order::weight: return "static";
  }
  return "?";
}
constexpr std::string_view to_string(observer_kind o) noexcept {
  switch (o) {
    case observer_kind::none: return "none";
    case observer_kind::memoryless_minmax: return "memoryless_minmax";
    case observer_kind::static_minmax: return "static_minmax";
    case observer_kind::minmax: return "minmax";
    case observer_kind::memoryless_mse: return "memoryless_mse";
    case observer_kind::mse: return "mse";
  }
  return "?";
}
constexpr std::string_view to_string(qparam_dtype d) noexcept {
  switch (d) {
    case qparam_dtype::unset: return "unset";
    case qparam_dtype::float8_e4m3fn: return "torch.float8_e4m3fn";
    case qparam_dtype::uint8: return "torch.uint8";
    case qparam_dtype::int8: return "torch.int8";
  }
  return "?";
}

}  // namespace llmc
