// llmc/method/rtn.hpp — round-to-nearest: LLM Compressor's QuantizationModifier without GPTQ.
//
// Weights are quantized from their own statistics with the scheme's weight observer (min-max or
// MSE; [LC] modifiers/quantization/quantization/base.py, calibration.py; spec §4.7). Static
// activation args (FP8's static per-tensor input, NVFP4's input global scale with dynamic="local")
// get their qparams from calibration batches through an activation_observer, which keeps the
// configured observer's semantics: static_minmax (union of ranges, the FP8 and NVFP4 presets),
// minmax (EMA, constant 0.01, the first batch initialises) or memoryless_minmax (the last batch
// only: HEAD's default for static args without an explicit observer, spec §4.7); an MSE observer on
// an activation keeps its averaging (mse -> minmax, memoryless_mse -> memoryless_minmax) but not the
// grid search, which LLM Compressor runs per observation on the observed batch. Dynamic args need
// no calibration. Invariants: quantize_weight(s, w) is exactly quantize_weight() of the scheme
// layer; the activation scale of a tensor-strategy input is a [1, 1] qparams.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/scheme/observer.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "llmc/scheme/scheme.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

namespace detail {
/// Calls f(type_identity<T>{}) for the model dtype a checkpoint stores.
template <class F>
decltype(auto) with_model_dtype(scalar_type t, F&& f) {
  switch (t) {
    case scalar_type::bfloat16: return f(std::type_identity<bfloat16>{});
    case scalar_type::float16: return f(std::type_identity<float16>{});
    default: return f(std::type_identity<float>{});
  }
}
}  // namespace detail

/// Whether activation args need calibration data (static, or "local" with a static global scale).
constexpr bool needs_activation_calibration(const quant_args& a) noexcept {
  return a.enabled() && (a.dynamic == quant_dynamic::static_ || a.dynamic == quant_dynamic::local);
}

/// Observes calibration batches of one activation ([tokens, features]) and yields its static
/// qparams: scale (and zero point) for the tensor strategy; only the global scale for NVFP4's
/// tensor_group with dynamic="local" (2688 / absmax over the data, spec §4.5).
class activation_observer {
 public:
  /// @throws config_error llmc.method.330 for static activation strategies other than tensor
  /// (and tensor_group local): their scale shapes depend on the token count.
  explicit activation_observer(const quant_args& a, observer_options o = {}) : args_(a), obs_(range_args(a), o) {
    if (needs_activation_calibration(a) && a.strategy != quant_strategy::tensor &&
        !(a.strategy == quant_strategy::tensor_group && a.dynamic == quant_dynamic::local))
      LLMC_THROW(config_error, "llmc.method.330",
                 "activation_observer: static input activations with the " + std::string(to_string(a.strategy)) +
                     " strategy are not supported; use the tensor strategy (or dynamic quantization)");
  }

  [[nodiscard]] const quant_args& args() const noexcept { return args_; }
  /// Whether these args need calibration at all (false for dynamic and unquantized activations).
  [[nodiscard]] bool needed() const noexcept { return needs_activation_calibration(args_); }
  [[nodiscard]] bool has_statistics() const noexcept { return obs_.has_statistics(); }

  /// Folds one batch; rows whose mask entry is 0 are padding and do not count.
  /// @throws shape_error llmc.method.331 when the mask size differs from the batch's rows.
  template <host_matrix M>
  void observe(const M& x_in, std::span<const std::uint8_t> mask = {}) {
    if (!needed()) return;
    auto x = cview(x_in);
    using S = std::remove_cv_t<typename decltype(x)::value_type>;
    if (!mask.empty() && mask.size() != x.rows())
      LLMC_THROW(shape_error, "llmc.method.331",
                 "activation_observer: the token mask has " + std::to_string(mask.size()) + " entries for " +
                     std::to_string(x.rows()) + " tokens");
    if (mask.empty()) {
      obs_.observe(x);
      return;
    }
    matrix<S> kept(static_cast<std::size_t>(std::count_if(mask.begin(), mask.end(), [](auto m) { return m != 0; })), x.cols());
    for (std::size_t r = 0, k = 0; r < x.rows(); ++r) {
      if (mask[r] == 0) continue;
      for (std::size_t c = 0; c < x.cols(); ++c) kept(k, c) = x(r, c);
      ++k;
    }
    if (kept.rows() > 0) obs_.observe(kept);
  }

  /// The observed range (min, max), for reporting.
  [[nodiscard]] std::pair<float, float> range() const {
    require_statistics();
    return {obs_.min_values().data()[0], obs_.max_values().data()[0]};
  }

  /// The static qparams, computed in the activation dtype T: tensor strategy -> scale [1, 1] (and
  /// zero point when asymmetric); tensor_group local -> only global_scale is set.
  /// @throws config_error llmc.method.332 before any observation.
  template <class T = float>
  [[nodiscard]] qparams get_qparams() const {
    require_statistics();
    if (args_.strategy == quant_strategy::tensor_group) {
      qparams p;
      p.global_scale = nvfp4_global_scale(obs_.min_values().data()[0], obs_.max_values().data()[0]);
      return p;
    }
    return obs_.get_qparams<T>();
  }

 private:
  // The range statistic is one per-tensor min/max, whatever the args' strategy.
  static quant_args range_args(const quant_args& a) noexcept {
    quant_args r{.num_bits = 8, .strategy = quant_strategy::tensor};
    if (a.enabled() && a.strategy == quant_strategy::tensor) r = a;
    r.observer = a.observer == observer_kind::none ? observer_kind::memoryless_minmax : a.observer;
    if (r.observer == observer_kind::mse || r.observer == observer_kind::memoryless_mse)
      r.observer = r.observer == observer_kind::mse ? observer_kind::minmax : observer_kind::memoryless_minmax;
    r.dynamic = quant_dynamic::static_;
    return r;
  }
  void require_statistics() const {
    if (!obs_.has_statistics())
      LLMC_THROW(config_error, "llmc.method.332",
                 "activation_observer: no calibration batch was observed; feed the layer's inputs first");
  }

  quant_args args_;
  observer obs_;
};

/// Round-to-nearest as a policy over a quantization scheme.
template <quantization_scheme Scheme>
struct rtn {
  static constexpr std::string_view name = "rtn";
  static constexpr bool quantizes = true;
  /// Compile-time schemes that need no calibration ask for nothing; others for channel min/max,
  /// from which apply() derives static per-tensor input ranges.
  static constexpr statistic_set statistics = [] {
    if constexpr (requires { requires !Scheme::requires_calibration_data; }) return statistic_set{};
    else return statistic_set(statistic::channel_minmax);
  }();

  Scheme scheme{};
  observer_options observer{};

  /// RTN of a weight with the scheme's weight args (global_scale: a shared NVFP4 global scale, or 0).
  template <host_matrix W>
  [[nodiscard]] quantized_tensor quantize_weight(const W& w, float global_scale = 0.0f) const {
    return quantize_weight_with(static_cast<quant_args>(scheme.weights), w, global_scale);
  }
  template <host_matrix W>
  [[nodiscard]] quantized_tensor quantize_weight_with(const quant_args& a, const W& w, float global_scale = 0.0f) const {
    // The min-max observer takes the fused single pass of the scheme layer (the same bytes as
    // observer + quantize, tested there); the MSE observer searches first.
    if (weight_observer_kind(a.observer) == observer_kind::memoryless_minmax)
      return detail::fused_minmax_quantize([&a] { return a; }, cview(w), global_scale);
    return quantize(a, w, weight_qparams(a, w, global_scale, observer));
  }

  /// An observer for the scheme's input activations (feed it calibration batches).
  [[nodiscard]] activation_observer input_observer() const { return activation_observer(scheme.input_activations, observer); }

  /// Quantizes every Linear of the layer (joint NVFP4 global scale per shared input) and notes the
  /// static input range of each input the scheme calibrates (from its channel min/max: the
  /// union over all calibration tokens, i.e. the static_minmax observer).
  void apply(layer_context& ctx) const {
    std::vector<std::string> done;
    for (const linear_weight& first : ctx.linears) {
      if (std::find(done.begin(), done.end(), first.input) != done.end()) continue;
      done.push_back(first.input);
      float joint_min = 0.0f, joint_max = 0.0f;
      for (const linear_weight& l : ctx.linears) {
        if (l.input != first.input || weight_args_for(scheme, l).strategy != quant_strategy::tensor_group) continue;
        detail::with_model_dtype(l.dtype, [&](auto tag) {
          using T = typename decltype(tag)::type;
          for (float v : l.weight.storage()) {
            joint_min = std::min(joint_min, compute_dtype<T>::round(v));
            joint_max = std::max(joint_max, compute_dtype<T>::round(v));
          }
        });
      }
      for (linear_weight& l : ctx.linears) {
        if (l.input != first.input) continue;
        const quant_args a = weight_args_for(scheme, l);
        if (!a.enabled()) continue;
        const float gs = a.strategy == quant_strategy::tensor_group ? nvfp4_global_scale(joint_min, joint_max) : 0.0f;
        detail::with_model_dtype(l.dtype, [&](auto tag) {
          using T = typename decltype(tag)::type;
          const auto wt = matrix<T>::from(l.weight, [](float v) { return compute_dtype<T>::from_float(v); });
          quantized_tensor q = quantize_weight_with(a, wt, gs);
          if (ctx.keep_float_weights) {
            const matrix<T> dq = dequantize<T>(q);
            l.weight = matrix<float>::from(dq, [](T v) { return static_cast<float>(compute_dtype<T>::to_float(v)); });
          }
          l.quantized = std::move(q);
        });
      }
      const quant_args in = scheme.input_activations;
      if (needs_activation_calibration(in)) {
        const input_statistics& st = ctx.input_of(first);
        if (st.minmax.channels() == 0)
          LLMC_THROW(config_error, "llmc.method.333",
                     ctx.full_name(first.name) + ": the scheme has static input activations but no channel min/max was "
                                                 "collected for input \"" + first.input + "\"; calibrate with statistic::channel_minmax");
        float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
        for (float v : st.minmax.min()) mn = std::min(mn, v);
        for (float v : st.minmax.max()) mx = std::max(mx, v);
        matrix<float> x(1, 2);
        x(0, 0) = mn;
        x(0, 1) = mx;
        activation_observer ao(in, observer_options{});
        ao.observe(x);
        // The input scale is stored in the model's dtype, like the weight scale (spec §4.8).
        const qparams p = detail::with_model_dtype(first.dtype, [&](auto tag) {
          return ao.get_qparams<typename decltype(tag)::type>();
        });
        for (linear_weight& l : ctx.linears)
          if (l.input == first.input) l.input_qparams = p;
        const std::string what = p.scale.empty() ? "input_global_scale " + std::to_string(p.global_scale)
                                                 : "input_scale " + std::to_string(p.scale(0, 0));
        ctx.note(name, first.input, what + " from the range [" + std::to_string(mn) + ", " + std::to_string(mx) + "]", mn,
                 mx);
      }
    }
  }
};

}  // namespace llmc
