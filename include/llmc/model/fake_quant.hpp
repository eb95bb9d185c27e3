// llmc/model/fake_quant.hpp — run a model as its compressed version would compute: Linear weights
// replaced by dequantize(quantize(W)) and, for schemes with dynamic input activations, every
// Linear input fake-quantized on the fly.
//
// Weights: quantize_weight() of the scheme layer (RTN with the scheme's weight observer, exactly
// what a compressed-tensors checkpoint written by llmc would hold), computed in the checkpoint's
// dtype (compute_dtype: float32, bfloat16 or float16, as compressed-tensors quantizes in the model
// dtype) and dequantized back to fp32. Activations: compressed-tensors' dynamic path
// ([CT] quantization/lifecycle/forward.py; spec §4.4): per call, min-max qparams of the input in
// the args' strategy (token: one scale per row), then quantize-dequantize. Static activation args
// (FP8's calibrated per-tensor input, NVFP4's calibrated global scale) need calibration data,
// which is the pipeline's job: they are rejected (llmc.model.140) rather than silently ignored.
// The selector decides per Linear (by its name) which scheme applies; nullopt leaves it alone.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "llmc/core/error.hpp"
#include "llmc/model/causal_lm.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/scalar_type.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "llmc/scheme/scheme.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// The scheme of one Linear, by its full name ("model.layers.0.mlp.down_proj"); nullopt: keep fp32.
using linear_scheme_selector = std::function<std::optional<runtime_scheme>(std::string_view linear_name)>;

/// Every Linear gets `s`.
inline linear_scheme_selector every_linear(runtime_scheme s) {
  return [s](std::string_view) { return std::optional<runtime_scheme>(s); };
}

namespace detail {
template <class T>
matrix<float> fake_quantized_weight(const runtime_scheme& s, const matrix<float>& w) {
  if constexpr (std::is_same_v<T, float>) {
    return dequantize<float>(quantize_weight(s, w));
  } else {
    const matrix<T> narrow = matrix<T>::from(w, [](float v) { return T(v); });
    const matrix<T> dq = dequantize<T>(quantize_weight(s, narrow));
    return matrix<float>::from(dq, [](T v) { return static_cast<float>(v); });
  }
}
}  // namespace detail

/// Replaces the weight of each selected Linear of `layer` by its quantize-dequantize round trip.
/// @param compute_dtype the checkpoint dtype the quantization is computed in (float32, bfloat16, float16)
/// @throws config_error llmc.scheme.001 for invalid args (and the scheme layer's other errors)
inline void fake_quantize_weights(decoder_layer_weights& layer, const linear_scheme_selector& select,
                                  scalar_type compute_dtype = scalar_type::float32) {
  for (linear_weights* l : layer.linears()) {
    const std::optional<runtime_scheme> s = select(l->name);
    if (!s || !s->weights.enabled()) continue;
    if (const char* why = s->validate()) {
      LLMC_THROW(config_error, "llmc.scheme.001", l->name + ": invalid scheme: " + why);
    }
    switch (compute_dtype) {
      case scalar_type::bfloat16: l->weight = detail::fake_quantized_weight<bfloat16>(*s, l->weight); break;
      case scalar_type::float16: l->weight = detail::fake_quantized_weight<float16>(*s, l->weight); break;
      default: l->weight = detail::fake_quantized_weight<float>(*s, l->weight); break;
    }
  }
}

/// The same on every layer of a model.
inline void fake_quantize_weights(causal_lm& m, const linear_scheme_selector& select,
                                  scalar_type compute_dtype = scalar_type::float32) {
  for (std::size_t i = 0; i < m.num_layers(); ++i) fake_quantize_weights(m.layer(i), select, compute_dtype);
}

/// Hooks that fake-quantize the input of every selected Linear whose scheme has dynamic input
/// activations (schemes without input activation args leave the input unchanged).
/// @throws config_error llmc.model.140 (at the first forward) for static or "local" input args
inline forward_hooks activation_fake_quant_hooks(linear_scheme_selector select) {
  forward_hooks h;
  h.transform_linear_input = [select = std::move(select)](const linear_weights& l, matrix_view<float> x,
                                                          std::span<const std::uint8_t>) {
    const std::optional<runtime_scheme> s = select(l.name);
    if (!s || !s->input_activations.enabled()) return;
    const quant_args& a = s->input_activations;
    if (a.dynamic != quant_dynamic::dynamic) {
      LLMC_THROW(config_error, model_errc::static_activation,
                 l.name + ": the scheme's input activations are static (or NVFP4 \"local\"); their scales come from "
                          "calibration, which fake quantization does not run — calibrate with the pipeline or use a dynamic scheme");
    }
    fake_quantize(a, x, minmax_qparams(a, x));
  };
  return h;
}

}  // namespace llmc
