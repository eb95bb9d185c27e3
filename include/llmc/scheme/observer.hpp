// llmc/scheme/observer.hpp — observers: the statistics that turn tensors into qparams.
//
// LLM Compressor's observers ([LC] src/llmcompressor/observers/; spec §4.7): memoryless_minmax
// (the latest observation only; the default for weights), static_minmax (running min of mins and
// max of maxes), minmax (an EMA of min/max with averaging constant 0.01, the first observation
// initialising it) and the MSE grid search (memoryless_mse / mse: shrink the range by p = 1 - i/grid
// for i < maxshrink*grid, keep per slot the candidate minimising sum |fq(x) - x|^norm, stop after
// `patience` steps where no slot improved; mse additionally EMAs the result). Statistics are per
// qparam slot (qparams.hpp), so one observer serves every strategy.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <vector>

#include "llmc/scheme/quantize.hpp"

namespace llmc {

struct mse_options {
  float maxshrink = 0.20f;
  int grid = 100;
  int patience = 5;
  float norm = 2.4f;
  float expand = 1.0f;
};

struct observer_options {
  float averaging_constant = 0.01f;
  mse_options mse;
};

/// MSE grid search over shrunken ranges for every slot of x (memoryless). Returns the chosen
/// per-slot (min, max) in mins/maxs.
template <host_matrix M>
void mse_search(const quant_args& a, const M& x_in, matrix<float>& mins, matrix<float>& maxs, const mse_options& o = {}) {
  auto x = cview(x_in);
  using T = std::remove_cv_t<typename decltype(x)::value_type>;
  using D = compute_dtype<T>;
  slot_minmax(a, x, mins, maxs);
  const qparam_layout l(a, x.rows(), x.cols());
  // The search ignores the fp8 rounding of NVFP4 local scales and the global scale (as the reference does).
  quant_args search_args = a;
  if (search_args.strategy == quant_strategy::tensor_group) search_args.scale_dtype = qparam_dtype::unset;
  const std::size_t n_slots = l.slots();
  std::vector<float> min0(n_slots), max0(n_slots);
  for (std::size_t i = 0; i < n_slots; ++i) {
    min0[i] = mins.data()[i] * o.expand;
    max0[i] = maxs.data()[i] * o.expand;
  }
  std::vector<double> best_err(n_slots, std::numeric_limits<double>::infinity()), err(n_slots);
  const int steps = static_cast<int>(o.maxshrink * static_cast<float>(o.grid));
  int no_improve = 0;
  qparams cand;
  cand.layout = l;
  cand.scale = matrix<float>(l.slot_rows, l.slot_cols);
  if (!a.symmetric) cand.zero_point = matrix<std::int8_t>(l.slot_rows, l.slot_cols);
  for (int i = 0; i < steps; ++i) {
    const float p = 1.0f - static_cast<float>(i) / static_cast<float>(o.grid);
    for (std::size_t s = 0; s < n_slots; ++s) {
      // tensor_group searches with plain (fp32-valued) local scales: compute them as fp32.
      const slot_qparams q = a.strategy == quant_strategy::tensor_group
                                 ? calculate_qparams<float>(search_args, p * min0[s], p * max0[s])
                                 : calculate_qparams<T>(search_args, D::round(p * min0[s]), D::round(p * max0[s]));
      cand.scale.data()[s] = q.scale;
      if (!a.symmetric) cand.zero_point.data()[s] = static_cast<std::int8_t>(q.zero_point);
    }
    const quantized_tensor qt = quantize(search_args, x, cand);
    std::fill(err.begin(), err.end(), 0.0);
    detail::with_family(search_args, [&](auto fam) {
      constexpr auto F = decltype(fam)::value;
      detail::for_each_run(l, [&](std::size_t r, std::size_t c0, std::size_t c1, std::size_t sr, std::size_t sc) {
        const float s = cand.scale(sr, sc);
        const float zp = a.symmetric ? 0.0f : static_cast<float>(cand.zero_point(sr, sc));
        double e = 0.0;
        for (std::size_t c = c0; c < c1; ++c) {
          const float fq = detail::dequantize_element<F, T>(qt.codes(r, c), s, zp, false);
          e += std::pow(std::fabs(static_cast<double>(fq) - static_cast<double>(D::to_float(x(r, c)))), o.norm);
        }
        err[sr * l.slot_cols + sc] += e;
      });
    });
    bool improved = false;
    for (std::size_t s = 0; s < n_slots; ++s) {
      if (err[s] < best_err[s]) {
        best_err[s] = err[s];
        mins.data()[s] = p * min0[s];
        maxs.data()[s] = p * max0[s];
        improved = true;
      }
    }
    no_improve = improved ? 0 : no_improve + 1;
    if (no_improve >= o.patience) break;
  }
}

/// A stateful observer of one tensor's statistics; kind and strategy come from the args.
class observer {
 public:
  explicit observer(const quant_args& a, observer_options o = {}) : args_(a), opts_(o) {}

  [[nodiscard]] const quant_args& args() const noexcept { return args_; }
  [[nodiscard]] bool has_statistics() const noexcept { return !mins_.empty(); }
  [[nodiscard]] const matrix<float>& min_values() const noexcept { return mins_; }
  [[nodiscard]] const matrix<float>& max_values() const noexcept { return maxs_; }
  void reset() { mins_ = {}; maxs_ = {}; rows_ = cols_ = 0; }

  /// Folds one observation (a weight, or a batch of activations [tokens, hidden]) into the statistics.
  template <host_matrix M>
  void observe(const M& x_in) {
    auto x = cview(x_in);
    using D = compute_dtype<std::remove_cv_t<typename decltype(x)::value_type>>;
    matrix<float> mn, mx;
    const bool mse = args_.observer == observer_kind::mse || args_.observer == observer_kind::memoryless_mse;
    if (mse) mse_search(args_, x, mn, mx, opts_.mse); else slot_minmax(args_, x, mn, mx);
    const bool first = mins_.empty() || args_.observer == observer_kind::memoryless_minmax ||
                       args_.observer == observer_kind::memoryless_mse || args_.observer == observer_kind::none;
    if (!first && (mn.rows() != mins_.rows() || mn.cols() != mins_.cols()))
      LLMC_THROW(shape_error, "llmc.scheme.010", "observer: an observation's qparam layout differs from the previous ones");
    rows_ = x.rows();
    cols_ = x.cols();
    if (first) {
      mins_ = std::move(mn);
      maxs_ = std::move(mx);
      return;
    }
    for (std::size_t i = 0; i < mins_.size(); ++i) {
      float& a = mins_.data()[i];
      float& b = maxs_.data()[i];
      if (args_.observer == observer_kind::static_minmax) {
        a = std::min(a, mn.data()[i]);
        b = std::max(b, mx.data()[i]);
      } else {  // minmax and mse: exponential moving average
        const float c = opts_.averaging_constant;
        // torch evaluates the EMA in the observed dtype: every op rounds.
        a = D::round(a + D::round(c * D::round(mn.data()[i] - a)));
        b = D::round(b + D::round(c * D::round(mx.data()[i] - b)));
      }
    }
  }

  /// qparams from the statistics, computed in the compute dtype T (the observed tensor's dtype).
  template <class T>
  [[nodiscard]] qparams get_qparams(float global_scale = 0.0f) const {
    if (mins_.empty()) LLMC_THROW(config_error, "llmc.scheme.011", "observer: get_qparams before any observation");
    return qparams_from_minmax<T>(args_, rows_, cols_, mins_, maxs_, global_scale);
  }

 private:
  quant_args args_;
  observer_options opts_;
  matrix<float> mins_, maxs_;
  std::size_t rows_ = 0, cols_ = 0;
};

}  // namespace llmc
