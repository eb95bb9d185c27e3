// llmc/scheme/quantize_weight.hpp — quantize a weight from its own statistics, the way the
// compressed-tensors compressor does at save time.
//
// The weight observer of the args is used, with LLM Compressor's override for weights
// ([LC] modifiers/quantization/calibration.py initialize_observer; spec §4.7): minmax and
// static_minmax become memoryless_minmax, mse becomes memoryless_mse, since a weight is observed once.
#pragma once

#include "llmc/scheme/observer.hpp"
#include "llmc/scheme/scheme.hpp"

namespace llmc {

/// The observer kind LLM Compressor actually uses for a weight with these args.
constexpr observer_kind weight_observer_kind(observer_kind k) noexcept {
  switch (k) {
    case observer_kind::mse:
    case observer_kind::memoryless_mse: return observer_kind::memoryless_mse;
    default: return observer_kind::memoryless_minmax;
  }
}

/// qparams of a weight (global_scale: a shared NVFP4 global scale, or 0 to compute it).
template <host_matrix M>
qparams weight_qparams(const quant_args& a, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  using T = std::remove_cv_t<element_of_t<M>>;
  quant_args obs_args = a;
  obs_args.observer = weight_observer_kind(a.observer);
  observer obs(obs_args, o);
  obs.observe(w);
  return obs.get_qparams<T>(global_scale);
}

/// Round-to-nearest quantization of a weight with the scheme's weight args.
template <quantization_scheme S, host_matrix M>
quantized_tensor quantize_weight(const S& s, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  return quantize(s.weights, w, weight_qparams(s.weights, w, global_scale, o));
}

}  // namespace llmc
