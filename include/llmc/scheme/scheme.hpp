// llmc/scheme/scheme.hpp — a quantization scheme as a compile-time policy.
//
// scheme<Weights, InputActivations, OutputActivations> is compressed-tensors' QuantizationScheme
// ([CT] quantization/quant_scheme.py; spec §3.1) with its quant_args as template arguments. Every
// validation rule of QuantizationArgs is a static_assert whose message says which rule failed, so
// an invalid combination (say, token strategy without dynamic) does not compile. runtime_scheme
// holds the same fields as values, for recipes read at run time; both satisfy quantization_scheme,
// which is what methods accept.
#pragma once

#include <concepts>

#include "llmc/scheme/quant_args.hpp"

namespace llmc {

namespace detail {
/// Each rule of validate_quant_args as its own static_assert (C++20 messages must be literals).
template <quant_args A, bool IsActivation>
struct checked_args {
  static constexpr bool on = A.enabled();
  static_assert(!on || !A.is_int() || (A.num_bits >= 1 && A.num_bits <= 8),
                "llmc: integer quantization supports 1 to 8 bits");
  static_assert(!on || !A.is_float() || A.num_bits == 4 || A.num_bits == 8,
                "llmc: float quantization supports 4 (E2M1) or 8 (E4M3) bits");
  static_assert(!on || A.strategy != quant_strategy::token || A.dynamic != quant_dynamic::static_,
                "llmc: the token strategy requires dynamic quantization (set .dynamic = quant_dynamic::dynamic)");
  static_assert(!on || (A.strategy != quant_strategy::group && A.strategy != quant_strategy::tensor_group) || A.group_size > 0,
                "llmc: the group and tensor_group strategies require group_size > 0");
  static_assert(!on || A.group_size <= 0 || A.strategy == quant_strategy::group || A.strategy == quant_strategy::tensor_group,
                "llmc: group_size > 0 requires the group or tensor_group strategy");
  static_assert(!on || ((A.strategy == quant_strategy::block) == (A.block_rows > 0 && A.block_cols > 0)),
                "llmc: the block strategy requires block_rows and block_cols > 0 (and they require it)");
  static_assert(!on || A.actorder != act_order::group || A.strategy == quant_strategy::group || A.strategy == quant_strategy::tensor_group,
                "llmc: actorder=group requires the group or tensor_group strategy");
  static_assert(!on || A.dynamic != quant_dynamic::dynamic || A.strategy == quant_strategy::token || A.strategy == quant_strategy::tensor ||
                    A.strategy == quant_strategy::group || A.strategy == quant_strategy::tensor_group,
                "llmc: dynamic quantization supports only the token, tensor, group and tensor_group strategies");
  static_assert(!on || A.dynamic != quant_dynamic::local || A.strategy == quant_strategy::tensor_group,
                "llmc: dynamic=local is only valid with the tensor_group strategy");
  static_assert(!on || !A.is_float() || A.symmetric, "llmc: asymmetric float quantization is not supported");
  static_assert(!on || A.strategy != quant_strategy::tensor_group || A.is_fp4(),
                "llmc: tensor_group is the NVFP4 strategy: float, 4 bits");
  static_assert(!on || A.scale_dtype != qparam_dtype::uint8 || A.is_mx(),
                "llmc: uint8 (E8M0) scales are only for MX formats: float, group_size 32");
  static_assert(!on || !A.is_fp4() || A.strategy == quant_strategy::tensor_group || A.is_mx(),
                "llmc: FP4 needs NVFP4 (tensor_group 16, fp8 scales) or MXFP4 (group 32, uint8 scales)");
  static_assert(!on || A.dynamic == quant_dynamic::static_ || A.dynamic == quant_dynamic::local || A.observer == observer_kind::none,
                "llmc: dynamic args take no observer (set .observer = observer_kind::none)");
  static_assert(!on || !IsActivation || A.actorder == act_order::none, "llmc: activation ordering applies to weights only");
  static_assert(!on || !IsActivation || (A.strategy != quant_strategy::channel && A.strategy != quant_strategy::block),
                "llmc: input activations may only use the token, tensor, group, tensor_group or attn_head strategies");
  static_assert(!on || IsActivation || (A.strategy != quant_strategy::token && A.strategy != quant_strategy::attn_head),
                "llmc: the token and attn_head strategies are for activations, not weights");
  static_assert(!on || IsActivation || A.dynamic == quant_dynamic::static_, "llmc: weights are quantized statically");
  // Catches anything the rules above do not spell out (keeps the two checks in sync).
  static_assert(validate_quant_args(A) == nullptr, "llmc: invalid quant_args (see validate_quant_args)");
  static constexpr quant_args value = A;
};

constexpr bool needs_calibration(const quant_args& a) noexcept {
  return a.enabled() && (a.dynamic == quant_dynamic::static_ || a.dynamic == quant_dynamic::local);
}
}  // namespace detail

/// Anything with weights / input_activations / output_activations quant_args: a compile-time
/// scheme<...> or a runtime_scheme.
template <class S>
concept quantization_scheme = requires(const S& s) {
  { s.weights } -> std::convertible_to<quant_args>;
  { s.input_activations } -> std::convertible_to<quant_args>;
  { s.output_activations } -> std::convertible_to<quant_args>;
};

template <quant_args Weights, quant_args InputActivations = no_quantization, quant_args OutputActivations = no_quantization>
struct scheme {
  static constexpr quant_args weights = detail::checked_args<Weights, false>::value;
  static constexpr quant_args input_activations = detail::checked_args<InputActivations, true>::value;
  static constexpr quant_args output_activations = detail::checked_args<OutputActivations, true>::value;
  /// Whether calibration data is needed (spec §3.3): static or "local" activation args.
  static constexpr bool requires_calibration_data =
      detail::needs_calibration(input_activations) || detail::needs_calibration(output_activations);
};

/// The same fields as values, validated at run time (schemes from YAML recipes / config_groups).
struct runtime_scheme {
  quant_args weights = no_quantization;
  quant_args input_activations = no_quantization;
  quant_args output_activations = no_quantization;

  /// nullptr when valid, else the reason.
  [[nodiscard]] constexpr const char* validate() const noexcept {
    if (const char* w = validate_quant_args(weights)) return w;
    if (weights.enabled() && (weights.strategy == quant_strategy::token || weights.strategy == quant_strategy::attn_head))
      return "the token and attn_head strategies are for activations, not weights";
    if (weights.enabled() && weights.dynamic != quant_dynamic::static_) return "weights are quantized statically";
    for (const quant_args* a : {&input_activations, &output_activations}) {
      if (const char* why = validate_quant_args(*a)) return why;
      if (a->enabled() && a->actorder != act_order::none) return "activation ordering applies to weights only";
      if (a->enabled() && (a->strategy == quant_strategy::channel || a->strategy == quant_strategy::block))
        return "input activations may only use the token, tensor, group, tensor_group or attn_head strategies";
    }
    return nullptr;
  }
  [[nodiscard]] constexpr bool requires_calibration_data() const noexcept {
    return detail::needs_calibration(input_activations) || detail::needs_calibration(output_activations);
  }
  constexpr bool operator==(const runtime_scheme&) const = default;

  template <class S>
    requires quantization_scheme<S>
  static constexpr runtime_scheme from(const S& s) noexcept {
    return {s.weights, s.input_activations, s.output_activations};
  }
};

}  // namespace llmc
