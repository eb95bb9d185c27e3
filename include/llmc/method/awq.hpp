// llmc/method/awq.hpp — AWQ: activation-aware channel scaling before weight quantization.
//
// Lin et al., "AWQ" (arXiv:2306.00978), as LLM Compressor computes it ([LC] modifiers/transform/
// awq/base.py _compute_best_scale, _compute_layer_means, _apply_smoothing; spec §6): for a mapping
// (smooth layer -> balance Linears), x_mean = mean |x| per input channel, w_mean = per-channel mean
// of |W| normalised by its quantization chunk's max (+1e-6) over all balance rows; for each grid
// point (ratio r, duo) s = x_mean^r / (w_mean^(1-r) + 1e-4) (duo) or x_mean^r, clamped to >= 1e-4,
// normalised by sqrt(max s * min s); the balance weights become Q(W s) / s with the memoryless
// min-max observer (NVFP4: one global scale fused over the balance layers) and the parent block's
// output MSE against its floating-point output is measured; the s with the lowest MSE (the first on
// ties) is folded: balance columns *= s, smooth norm /= s (a smooth Linear: its last len(s) rows /= s).
// The grid's first point is always the identity, so the chosen loss never exceeds plain RTN's.
// Beyond the reference (off by default): the weight-clipping search of the paper's code
// (mit-han-lab/llm-awq awq/quantize/auto_clip.py: per qparam slot, clip to (1 - i/20) x max for
// i < 0.5 x 20 and keep the clip minimising the slot's output error; q/k are skipped), with the
// slot error computed exactly over every calibration token through the slot's Gram block.
// Invariant: results do not depend on the thread count (the GEMMs and reductions are ordered).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/method/channel_stats.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/mappings.hpp"
#include "llmc/method/smoothquant.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// duo_scaling of the reference: on (default; the grid also holds the identity point), off, or
/// both (half the grid each way).
enum class duo_scaling : std::uint8_t { off, on, both };

struct awq_grid_point {
  float ratio = 0.0f;
  bool duo = false;
  constexpr bool operator==(const awq_grid_point&) const = default;
};

/// The grid of [LC] awq/base.py _get_grid_search_params, in its order.
/// @throws config_error llmc.method.201 when n_grid is too small for the mode.
inline std::vector<awq_grid_point> awq_grid(int n_grid, duo_scaling duo) {
  std::vector<awq_grid_point> g;
  const int min_grid = duo == duo_scaling::off ? 2 : (duo == duo_scaling::on ? 3 : 4);
  if (n_grid < min_grid)
    LLMC_THROW(config_error, "llmc.method.201",
               "awq: n_grid = " + std::to_string(n_grid) + " is too small (at least " + std::to_string(min_grid) +
                   " for this duo_scaling mode)");
  switch (duo) {
    case duo_scaling::off:
      for (int k = 0; k < n_grid; ++k) g.push_back({static_cast<float>(k) / static_cast<float>(n_grid - 1), false});
      break;
    case duo_scaling::on:
      g.push_back({0.0f, false});
      for (int k = 0; k < n_grid - 1; ++k) g.push_back({static_cast<float>(k) / static_cast<float>(n_grid - 2), true});
      break;
    case duo_scaling::both: {
      const int n = n_grid / 2;
      for (int k = 0; k < n; ++k)
        for (bool d : {false, true}) g.push_back({static_cast<float>(k) / static_cast<float>(n - 1), d});
      break;
    }
  }
  return g;
}

/// w_mean of spec §6.2: each quantization chunk of |W| (the qparam slot of the layer's args: the
/// tensor, a row, a group, a block) divided by (its max + 1e-6), summed over rows, averaged over the
/// rows of all balance layers. Accumulated in double (the reference's high precision).
inline std::vector<double> awq_weight_mean(std::span<const matrix_view<const float>> weights,
                                           std::span<const quant_args> args) {
  if (weights.empty()) return {};
  const std::size_t n = weights.front().cols();
  std::vector<double> sum(n, 0.0);
  std::size_t rows = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const matrix_view<const float> w = weights[i];
    matrix<float> mn, mx;
    slot_minmax(args[i], w, mn, mx);
    const qparam_layout l(args[i], w.rows(), w.cols());
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < n; ++c) {
        const std::size_t sr = l.slot_row(r), sc = l.slot_col(c);
        const float absmax = std::max(std::fabs(mn(sr, sc)), std::fabs(mx(sr, sc)));
        sum[c] += static_cast<double>(std::fabs(w(r, c)) / (absmax + 1e-6f));
      }
    rows += w.rows();
  }
  for (double& v : sum) v /= static_cast<double>(rows);
  return sum;
}

/// The scales of one grid point (spec §6.3), normalised by sqrt(max * min); inf/NaN become 1.
inline std::vector<float> awq_scales(std::span<const float> x_mean, std::span<const double> w_mean, awq_grid_point p) {
  const std::size_t n = x_mean.size();
  std::vector<double> s(n);
  const double r = p.ratio;
  for (std::size_t j = 0; j < n; ++j) {
    const double xr = std::pow(static_cast<double>(x_mean[j]), r);
    s[j] = p.duo ? std::max(xr / (std::pow(w_mean[j], 1.0 - r) + 1e-4), 1e-4) : std::max(xr, 1e-4);
  }
  double mx = -std::numeric_limits<double>::infinity(), mn = std::numeric_limits<double>::infinity();
  for (double v : s) {
    mx = std::max(mx, v);
    mn = std::min(mn, v);
  }
  const double norm = std::sqrt(mx * mn);
  std::vector<float> out(n);
  for (std::size_t j = 0; j < n; ++j) {
    const float v = static_cast<float>(s[j] / norm);
    out[j] = std::isfinite(v) ? v : 1.0f;
  }
  return out;
}

namespace detail {

using host_dense = dense_kernels<host_backend>;

/// C = A * B^T (A: m x k, B: n x k) through the backend GEMM.
inline void gemm_abt(matrix_view<const float> a, matrix_view<const float> b, matrix_view<float> c) {
  host_dense::gemm(1.0f, a, b.transposed(), 0.0f, c);
}

/// G = X^T X as a full symmetric matrix (SYRK on one triangle, then mirrored).
inline matrix<float> gram(matrix_view<const float> x) {
  matrix<float> g(x.cols(), x.cols());
  host_dense::syrk(triangle::lower, 1.0f, x.transposed(), 0.0f, g.view());
  for (std::size_t i = 0; i < g.rows(); ++i)
    for (std::size_t j = i + 1; j < g.cols(); ++j) g(i, j) = g(j, i);
  return g;
}

/// Weight args for a grid search: the reference always observes with memoryless min-max there.
inline quant_args search_args(quant_args a) noexcept {
  a.observer = observer_kind::memoryless_minmax;
  return a;
}

/// NVFP4 global scale of the weights w_i * s fused over several balance layers (q/k/v or gate/up
/// share one, spec §4.5); 0 (each its own) for a single layer or another strategy.
inline float fused_global_scale(std::span<const matrix_view<const float>> ws, std::span<const float> s,
                                std::span<const quant_args> args) {
  if (ws.size() < 2 || args.front().strategy != quant_strategy::tensor_group) return 0.0f;
  float mn = 0.0f, mx = 0.0f;
  for (const auto& w : ws)
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) {
        const float v = w(r, c) * s[c];
        mn = std::min(mn, v);
        mx = std::max(mx, v);
      }
  return nvfp4_global_scale(mn, mx);
}

/// Rows per parallel chunk for elementwise passes over a [rows, cols] matrix (~64k elements each).
inline std::size_t elementwise_chunks(std::size_t rows, std::size_t cols) noexcept {
  return parallel_chunks(rows, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(1, cols)));
}

/// Sum over rows of f(r) (a row's double partial), each row computed by one thread and the rows
/// added in order: the result does not depend on the thread count.
template <class F>
double ordered_row_sum(std::size_t rows, std::size_t cols, F&& f) {
  std::vector<double> part(rows);
  parallel_for_chunks(rows, elementwise_chunks(rows, cols), [&](std::size_t, std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) part[r] = f(r);
  });
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

/// Sum of squares in double (thread-count independent).
inline double sum_squares(matrix_view<const float> m) {
  return ordered_row_sum(m.rows(), m.cols(), [&](std::size_t r) {
    double row = 0.0;
    for (std::size_t c = 0; c < m.cols(); ++c) row += static_cast<double>(m(r, c)) * static_cast<double>(m(r, c));
    return row;
  });
}

/// out = Q(w * s) / s (s scales the columns; s empty = all ones), Q the memoryless min-max
/// fake-quantization of the args (global_scale: a fused NVFP4 global scale, 0 = from w * s). One
/// pass per band of rows sharing qparam slots, in parallel; bit-identical to
/// dequantize(quantize(a, w * s, minmax_qparams(a, w * s, global_scale))) / s (tested), without the
/// intermediate tensors. out may alias w.
inline void fake_quantize_scaled(const quant_args& a, matrix_view<const float> w, std::span<const float> s,
                                 float global_scale, matrix_view<float> out) {
  const qparam_layout l(a, w.rows(), w.cols());
  auto scale_of = [&](std::size_t c) { return s.empty() ? 1.0f : s[c]; };
  auto whole_minmax = [&](float& mn, float& mx) {
    mn = std::numeric_limits<float>::infinity();
    mx = -std::numeric_limits<float>::infinity();
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) {
        const float v = w(r, c) * scale_of(c);
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
      }
  };
  slot_qparams tensor_qp;
  if (a.strategy == quant_strategy::tensor) {
    float mn, mx;
    whole_minmax(mn, mx);
    tensor_qp = calculate_qparams<float>(a, mn, mx);
  }
  if (a.strategy == quant_strategy::tensor_group && global_scale <= 0.0f) {
    float mn, mx;
    whole_minmax(mn, mx);
    global_scale = nvfp4_global_scale(mn, mx);
  }
  if (a.strategy != quant_strategy::tensor_group) global_scale = 0.0f;
  const bool fp32 = global_scale > 0.0f || a.is_mx();
  const float q_min = a.q_min(), q_max = a.q_max();
  const std::size_t band = a.strategy == quant_strategy::block ? l.block_height : 1;
  with_family(a, [&](auto fam) {
    constexpr auto F = decltype(fam)::value;
    parallel_for_chunks(l.slot_rows, elementwise_chunks(l.slot_rows, band * l.cols), [&](std::size_t, std::size_t b0, std::size_t b1) {
      for (std::size_t sr = b0; sr < b1; ++sr) {
        const std::size_t r0 = a.strategy == quant_strategy::tensor ? 0 : sr * band;
        const std::size_t r1 = a.strategy == quant_strategy::tensor ? w.rows() : std::min(w.rows(), r0 + band);
        for (std::size_t c0 = 0; c0 < l.cols; c0 += l.group) {
          const std::size_t c1 = std::min(l.cols, c0 + l.group);
          slot_qparams qp = tensor_qp;
          if (a.strategy != quant_strategy::tensor) {
            float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
            for (std::size_t r = r0; r < r1; ++r)
              for (std::size_t c = c0; c < c1; ++c) {
                const float v = w(r, c) * scale_of(c);
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
              }
            qp = calculate_qparams<float>(a, mn, mx, global_scale);
          }
          const float eff = effective_scale(qp.scale, global_scale);
          for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t c = c0; c < c1; ++c) {
              const float sc = scale_of(c);
              const std::uint8_t q = quantize_element<F, float>(w(r, c) * sc, eff, qp.zero_point, q_min, q_max, fp32);
              out(r, c) = dequantize_element<F, float>(q, eff, qp.zero_point, fp32) / sc;
            }
        }
      }
    });
  });
}

inline float silu(float x) noexcept { return x / (1.0f + std::exp(-x)); }

/// Rows per token chunk of the built-in forwards: bounds the intermediate activations' memory.
inline constexpr std::size_t forward_chunk_tokens = 1024;

}  // namespace detail

/// What AWQ needs of the block whose output it compares: the summed squared difference between
/// its output with candidate balance weights and its floating-point output, over every cached
/// calibration token, and how many output elements that sum covers (the MSE's divisor).
template <class B>
concept parent_block = requires(B& b, std::span<const matrix_view<const float>> candidates) {
  { b.squared_error(candidates) } -> std::convertible_to<double>;
  { b.output_elements() } -> std::convertible_to<double>;
};

/// The balance Linears' own outputs, side by side: X W_i^T for every i. Linear in W, so the error
/// is computed directly from the weight difference D = W - C: sum_i ||X D_i^T||^2, or, when the
/// input is narrower than the token count, sum_i tr(D_i G D_i^T) with the Gram matrix G = X^T X
/// (fewer FLOPs, and no cancellation between two nearly equal outputs).
/// The views must outlive the block.
class linear_group_block {
 public:
  linear_group_block(matrix_view<const float> x, std::span<const matrix_view<const float>> original)
      : x_(x), original_(original.begin(), original.end()) {
    for (const auto& w : original_) {
      if (w.cols() != x.cols())
        LLMC_THROW(shape_error, "llmc.method.202",
                   "awq: a balance weight takes " + std::to_string(w.cols()) + " inputs, the cached activations have " +
                       std::to_string(x.cols()) + " channels");
      out_features_ += w.rows();
    }
    if (x.cols() < x.rows()) gram_ = detail::gram(x);
  }

  [[nodiscard]] double output_elements() const noexcept {
    return static_cast<double>(x_.rows()) * static_cast<double>(out_features_);
  }
  [[nodiscard]] bool uses_gram() const noexcept { return !gram_.empty(); }

  double squared_error(std::span<const matrix_view<const float>> cand) {
    double sse = 0.0;
    for (std::size_t i = 0; i < original_.size(); ++i) {
      const auto& w = original_[i];
      matrix<float> d(w.rows(), w.cols());
      parallel_for_chunks(w.rows(), detail::elementwise_chunks(w.rows(), w.cols()), [&](std::size_t, std::size_t r0, std::size_t r1) {
        for (std::size_t r = r0; r < r1; ++r)
          for (std::size_t c = 0; c < w.cols(); ++c) d(r, c) = w(r, c) - cand[i](r, c);
      });
      if (!gram_.empty()) {
        matrix<float> p(d.rows(), d.cols());
        detail::host_dense::gemm(1.0f, d.view(), gram_.view(), 0.0f, p.view());
        sse += detail::ordered_row_sum(d.rows(), d.cols(), [&](std::size_t r) {
          double row = 0.0;
          for (std::size_t c = 0; c < d.cols(); ++c) row += static_cast<double>(p(r, c)) * static_cast<double>(d(r, c));
          return row;
        });
      } else {
        for (std::size_t t0 = 0; t0 < x_.rows(); t0 += detail::forward_chunk_tokens) {
          const std::size_t tn = std::min(detail::forward_chunk_tokens, x_.rows() - t0);
          matrix<float> y(tn, d.rows());
          detail::gemm_abt(x_.block(t0, 0, tn, x_.cols()), d.view(), y.view());
          sse += detail::sum_squares(y.view());
        }
      }
    }
    return sse;
  }

 private:
  matrix_view<const float> x_;
  std::vector<matrix_view<const float>> original_;
  std::size_t out_features_ = 0;
  matrix<float> gram_;
};

/// Llama's MLP, down(silu(x gate^T) * (x up^T)) down^T, with the balance layers {gate, up}
/// substituted and down kept in floating point (as during the reference's grid search).
class gated_mlp_block {
 public:
  gated_mlp_block(matrix_view<const float> x, matrix_view<const float> gate, matrix_view<const float> up,
                  matrix_view<const float> down)
      : x_(x), down_(down) {
    if (gate.cols() != x.cols() || up.cols() != x.cols() || gate.rows() != up.rows() || down.cols() != gate.rows())
      LLMC_THROW(shape_error, "llmc.method.203",
                 "awq: MLP shapes do not chain (x [T, h], gate/up [I, h], down [h, I])");
    fp_ = matrix<float>(x.rows(), down.rows());
    forward(gate, up, 0, x.rows(), fp_.view());
  }

  [[nodiscard]] double output_elements() const noexcept { return static_cast<double>(fp_.size()); }
  /// The floating-point output [tokens, hidden].
  [[nodiscard]] const matrix<float>& reference_output() const noexcept { return fp_; }

  double squared_error(std::span<const matrix_view<const float>> cand) {
    if (cand.size() != 2) LLMC_THROW(shape_error, "llmc.method.203", "awq: the gated MLP block takes {gate, up}");
    double sse = 0.0;
    for (std::size_t t0 = 0; t0 < x_.rows(); t0 += detail::forward_chunk_tokens) {
      const std::size_t tn = std::min(detail::forward_chunk_tokens, x_.rows() - t0);
      matrix<float> o(tn, down_.rows());
      forward(cand[0], cand[1], t0, tn, o.view());
      sse += detail::ordered_row_sum(tn, o.cols(), [&](std::size_t r) {
        double row = 0.0;
        for (std::size_t c = 0; c < o.cols(); ++c) {
          const double e = static_cast<double>(o(r, c)) - static_cast<double>(fp_(t0 + r, c));
          row += e * e;
        }
        return row;
      });
    }
    return sse;
  }

  /// out[tn, hidden] = MLP(x[t0 : t0 + tn]) with the given gate and up.
  void forward(matrix_view<const float> gate, matrix_view<const float> up, std::size_t t0, std::size_t tn,
               matrix_view<float> out) const {
    for (std::size_t c0 = 0; c0 < tn; c0 += detail::forward_chunk_tokens) {
      const std::size_t cn = std::min(detail::forward_chunk_tokens, tn - c0);
      const auto xs = x_.block(t0 + c0, 0, cn, x_.cols());
      matrix<float> g(cn, gate.rows()), u(cn, up.rows());
      detail::gemm_abt(xs, gate, g.view());
      detail::gemm_abt(xs, up, u.view());
      parallel_for_chunks(cn, detail::elementwise_chunks(cn, g.cols()), [&](std::size_t, std::size_t r0, std::size_t r1) {
        for (std::size_t r = r0; r < r1; ++r)
          for (std::size_t c = 0; c < g.cols(); ++c) g(r, c) = detail::silu(g(r, c)) * u(r, c);
      });
      detail::gemm_abt(g.view(), down_, out.block(c0, 0, cn, out.cols()));
    }
  }

 private:
  matrix_view<const float> x_, down_;
  matrix<float> fp_;
};

/// A parent evaluated by the caller's forward (layer_context::parent_forward).
class callback_block {
 public:
  /// Runs the floating-point forward; valid() is false when the callback does not know the parent.
  callback_block(const parent_forward_fn& fn, const awq_mapping& mapping, std::vector<std::string> names,
                 std::span<const matrix_view<const float>> original)
      : fn_(fn), mapping_(mapping), names_(std::move(names)) {
    valid_ = fn_ && fn_(mapping_, overrides(original), fp_);
  }
  [[nodiscard]] bool valid() const noexcept { return valid_; }
  [[nodiscard]] double output_elements() const noexcept { return static_cast<double>(fp_.size()); }

  double squared_error(std::span<const matrix_view<const float>> cand) {
    matrix<float> out;
    if (!fn_(mapping_, overrides(cand), out) || out.rows() != fp_.rows() || out.cols() != fp_.cols())
      LLMC_THROW(shape_error, "llmc.method.204",
                 "awq: the parent_forward callback for \"" + mapping_.parent +
                     "\" failed or changed its output shape between calls");
    double sse = 0.0;
    for (std::size_t k = 0; k < out.size(); ++k) {
      const double e = static_cast<double>(out.data()[k]) - static_cast<double>(fp_.data()[k]);
      sse += e * e;
    }
    return sse;
  }

 private:
  std::vector<weight_override> overrides(std::span<const matrix_view<const float>> w) const {
    std::vector<weight_override> o;
    for (std::size_t i = 0; i < w.size(); ++i) o.push_back({names_[i], w[i]});
    return o;
  }
  const parent_forward_fn& fn_;
  const awq_mapping& mapping_;
  std::vector<std::string> names_;
  matrix<float> fp_;
  bool valid_ = false;
};

/// The outcome of one mapping's grid search.
struct awq_search_result {
  std::vector<float> scales;         ///< the chosen s, one per input channel
  awq_grid_point best;               ///< the grid point that produced it
  std::size_t best_index = 0;
  double initial_loss = 0.0;         ///< MSE at the grid's first point (identity scales: plain RTN)
  double best_loss = 0.0;            ///< MSE with the chosen scales
  std::vector<double> losses;        ///< MSE of every grid point, in grid order
};

/// Per-slot clip values of the weight-clipping search: max_vals(slot_row, slot_col) is the
/// symmetric bound each qparam slot of w is clamped to.
struct awq_clip_result {
  qparam_layout layout;
  matrix<float> max_vals;
  double error_before = 0.0;  ///< sum of the slots' output errors without clipping
  double error_after = 0.0;   ///< with the chosen clips
};

/// The clip search of llm-awq's auto_clip_layer for one Linear: for i < max_shrink * n_grid, clamp
/// every slot of w to +-(1 - i / n_grid) * its absmax, fake-quantize (memoryless min-max), and keep
/// per slot the clip minimising sum_tokens (x_t[slot cols] . (w - q)[row, slot cols])^2 summed over
/// the slot's rows. The paper samples 512 tokens; this uses every row of x through the Gram block
/// of each column group (or x itself when the group is wider than the token count).
/// @param x the Linear's input rows [tokens, in] (already divided by any AWQ scales)
inline awq_clip_result awq_clip_search(const quant_args& args_in, matrix_view<const float> w, matrix_view<const float> x,
                                       float max_shrink = 0.5f, int n_grid = 20) {
  const quant_args a = detail::search_args(args_in);
  if (x.cols() != w.cols())
    LLMC_THROW(shape_error, "llmc.method.205",
               "awq clip: the weight takes " + std::to_string(w.cols()) + " inputs, the cached activations have " +
                   std::to_string(x.cols()) + " channels");
  const qparam_layout l(a, w.rows(), w.cols());
  awq_clip_result res;
  res.layout = l;
  matrix<float> mn, mx;
  slot_minmax(a, w, mn, mx);
  matrix<float> org_max(l.slot_rows, l.slot_cols);
  for (std::size_t i = 0; i < org_max.size(); ++i) org_max.data()[i] = std::max(std::fabs(mn.data()[i]), std::fabs(mx.data()[i]));
  res.max_vals = org_max;
  matrix<double> best_err(l.slot_rows, l.slot_cols, std::numeric_limits<double>::infinity());

  // One Gram block per column group (the slot's columns), or x's columns themselves.
  const std::size_t g = l.group;
  const std::size_t n_groups = (w.cols() + g - 1) / g;
  const bool use_gram = g <= x.rows();
  std::vector<matrix<float>> grams(use_gram ? n_groups : 0);
  if (use_gram)
    for (std::size_t k = 0; k < n_groups; ++k) {
      const std::size_t c0 = k * g, cn = std::min(g, w.cols() - c0);
      grams[k] = detail::gram(x.block(0, c0, x.rows(), cn));
    }

  const int steps = std::max(1, static_cast<int>(max_shrink * static_cast<float>(n_grid)));
  matrix<float> cand(w.rows(), w.cols()), d(w.rows(), w.cols());
  for (int i = 0; i < steps; ++i) {
    const float shrink = 1.0f - static_cast<float>(i) / static_cast<float>(n_grid);
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) {
        const float m = org_max(l.slot_row(r), l.slot_col(c)) * shrink;
        cand(r, c) = std::clamp(w(r, c), -m, m);
      }
    detail::fake_quantize_scaled(a, cand.view(), {}, 0.0f, cand.view());
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) d(r, c) = w(r, c) - cand(r, c);
    matrix<double> err(l.slot_rows, l.slot_cols, 0.0);
    for (std::size_t k = 0; k < n_groups; ++k) {
      const std::size_t c0 = k * g, cn = std::min(g, w.cols() - c0);
      const auto dk = d.view().block(0, c0, w.rows(), cn);
      std::vector<double> row_err(w.rows(), 0.0);
      if (use_gram) {
        matrix<float> p(w.rows(), cn);
        detail::host_dense::gemm(1.0f, dk, grams[k].view(), 0.0f, p.view());
        for (std::size_t r = 0; r < w.rows(); ++r)
          for (std::size_t c = 0; c < cn; ++c) row_err[r] += static_cast<double>(p(r, c)) * static_cast<double>(dk(r, c));
      } else {
        for (std::size_t t0 = 0; t0 < x.rows(); t0 += detail::forward_chunk_tokens) {
          const std::size_t tn = std::min(detail::forward_chunk_tokens, x.rows() - t0);
          matrix<float> y(tn, w.rows());
          detail::gemm_abt(x.block(t0, c0, tn, cn), dk, y.view());
          for (std::size_t t = 0; t < tn; ++t)
            for (std::size_t r = 0; r < w.rows(); ++r) row_err[r] += static_cast<double>(y(t, r)) * static_cast<double>(y(t, r));
        }
      }
      for (std::size_t r = 0; r < w.rows(); ++r) err(l.slot_row(r), l.slot_col(c0)) += row_err[r];
    }
    for (std::size_t s = 0; s < err.size(); ++s) {
      if (i == 0) res.error_before += err.data()[s];
      if (err.data()[s] < best_err.data()[s]) {
        best_err.data()[s] = err.data()[s];
        res.max_vals.data()[s] = org_max.data()[s] * shrink;
      }
    }
  }
  for (double e : best_err.storage()) res.error_after += e;
  return res;
}

/// Clamps every qparam slot of w to +-max_vals (llm-awq apply_clip).
template <class M>
  requires host_matrix<M> && mutable_matrix<M>
void apply_clip(const awq_clip_result& clip, M&& w_in) {
  auto w = view(w_in);
  using D = compute_dtype<std::remove_cv_t<typename decltype(w)::value_type>>;
  if (w.rows() != clip.layout.rows || w.cols() != clip.layout.cols)
    LLMC_THROW(shape_error, "llmc.method.205", "awq clip: the clip values were searched for another shape");
  for (std::size_t r = 0; r < w.rows(); ++r)
    for (std::size_t c = 0; c < w.cols(); ++c) {
      const float m = clip.max_vals(clip.layout.slot_row(r), clip.layout.slot_col(c));
      w(r, c) = D::from_float(std::clamp(D::to_float(w(r, c)), -m, m));
    }
}

/// AWQ as a method: hyperparameters with the reference's defaults, over a quantization scheme
/// (its weight args decide w_mean's chunks and the grid search's quantization).
/// It is a transform: a quantizing method (RTN, GPTQ) must follow it in a recipe.
template <quantization_scheme S>
struct awq {
  static constexpr std::string_view name = "awq";
  static constexpr bool quantizes = false;
  /// The reference requires a quantization modifier after AWQ ([LC] recipe/recipe.py).
  static constexpr bool must_precede_quantizer = true;
  static constexpr statistic_set statistics = statistic::channel_absmean | statistic::samples;

  S scheme{};
  int n_grid = 20;
  duo_scaling duo = duo_scaling::on;
  std::vector<awq_mapping> mappings = llama_awq_mappings();
  /// The paper's weight-clipping search (not in the reference; off by default).
  bool clip = false;
  float clip_max_shrink = 0.5f;  ///< llm-awq auto_clip max_shrink
  int clip_grid = 20;            ///< llm-awq auto_clip n_grid

  /// The grid search for one mapping. x_mean: mean |x| of the balance input; balance: the balance
  /// weights (unchanged); args: each one's weight args; block: evaluates candidates.
  /// @throws config_error llmc.method.206 (duo scaling with a tensor strategy), numeric_error
  /// llmc.method.207 (no grid point gave a finite loss).
  template <parent_block B>
  awq_search_result search(std::span<const float> x_mean, std::span<const matrix_view<const float>> balance,
                           std::span<const quant_args> args_in, B& block) const {
    std::vector<quant_args> args;
    for (const quant_args& a : args_in) args.push_back(detail::search_args(a));
    if (args.size() != balance.size())
      LLMC_THROW(shape_error, "llmc.method.208", "awq: one quant_args per balance weight is needed");
    for (const auto& w : balance)
      if (w.cols() != x_mean.size())
        LLMC_THROW(shape_error, "llmc.method.202",
                   "awq: a balance weight takes " + std::to_string(w.cols()) + " inputs, x_mean has " +
                       std::to_string(x_mean.size()) + " channels");
    std::vector<double> w_mean;
    if (duo != duo_scaling::off) {
      for (const auto& a : args)
        if (a.strategy == quant_strategy::tensor)
          LLMC_THROW(config_error, "llmc.method.206",
                     "awq: duo_scaling needs a per-channel, group or block weight strategy, not tensor; set duo = "
                     "duo_scaling::off or use another scheme");
      w_mean = awq_weight_mean(balance, args);
    }
    awq_search_result res;
    double best = std::numeric_limits<double>::infinity();
    const auto grid = awq_grid(n_grid, duo);
    std::vector<matrix<float>> cand(balance.size());
    std::vector<matrix_view<const float>> cand_views(balance.size());
    for (std::size_t i = 0; i < balance.size(); ++i) {
      cand[i] = matrix<float>(balance[i].rows(), balance[i].cols());
      cand_views[i] = cand[i].view();
    }
    for (std::size_t gi = 0; gi < grid.size(); ++gi) {
      std::vector<float> s = awq_scales(x_mean, w_mean, grid[gi]);
      const float gs = detail::fused_global_scale(balance, s, args);
      for (std::size_t i = 0; i < balance.size(); ++i) detail::fake_quantize_scaled(args[i], balance[i], s, gs, cand[i].view());
      const double loss = block.squared_error(cand_views) / block.output_elements();
      res.losses.push_back(loss);
      if (gi == 0) res.initial_loss = loss;
      if (loss < best) {
        best = loss;
        res.best = grid[gi];
        res.best_index = gi;
        res.scales = std::move(s);
      }
    }
    if (!std::isfinite(best))
      LLMC_THROW(numeric_error, "llmc.method.207",
                 "awq: no grid point gave a finite loss: the parent block's output has NaN/inf (check the calibration "
                 "data and the mappings)");
    res.best_loss = best;
    return res;
  }

  /// Runs every mapping of the layer in order (a mapping whose layers are absent, or v_proj -> o_proj
  /// under grouped-query attention, is skipped with a note), then (clip = true) the clip search on
  /// every Linear but q/k. Statistics of the smoothed inputs are rescaled. The parent output comes
  /// from ctx.parent_forward when it knows the parent, else from a block of ctx.make_parent_block when
  /// it builds one (the device blocks of awq_device.hpp), else from the cached samples.
  /// @throws config_error llmc.method.209 (a Linear it would edit is already quantized), .210 (no
  /// samples and no parent forward), .003 / .012 / .013 (missing or inconsistent statistics), .206.
  void apply(layer_context& ctx) const {
    for (const awq_mapping& m : mappings) apply_mapping(ctx, m);
    if (clip) apply_clip_search(ctx);
  }

 private:
  void apply_mapping(layer_context& ctx, const awq_mapping& m) const {
    norm_weight* norm = ctx.find_norm(m.smooth);
    linear_weight* smooth_linear = norm == nullptr ? ctx.find_linear(m.smooth) : nullptr;
    std::vector<linear_weight*> bal;
    for (const auto& b : m.balance)
      if (linear_weight* l = ctx.find_linear(b)) bal.push_back(l);
    if ((norm == nullptr && smooth_linear == nullptr) || bal.empty()) {
      ctx.note(name, m.smooth, "skipped: the layer has no " + std::string(bal.empty() ? "balance Linear" : "smooth layer"));
      return;
    }
    if (smooth_linear != nullptr)
      for (const linear_weight* b : bal)
        if (!awq_layers_compatible(m.smooth, smooth_linear->out_features(), b->name, b->in_features())) {
          ctx.note(name, m.smooth,
                   "skipped: " + b->name + " takes " + std::to_string(b->in_features()) + " inputs, " + m.smooth +
                       " gives " + std::to_string(smooth_linear->out_features()) + " (grouped-query attention)");
          return;
        }
    for (const linear_weight* l : bal)
      if (l->quantized) refuse_quantized(ctx, *l);
    if (smooth_linear != nullptr && smooth_linear->quantized) refuse_quantized(ctx, *smooth_linear);

    input_statistics& in = ctx.shared_input(bal, name);
    const std::vector<float> x_mean = in.absmean.mean();
    std::vector<matrix_view<const float>> w;
    std::vector<quant_args> args;
    std::vector<std::string> names;
    for (const linear_weight* l : bal) {
      w.push_back(l->weight.view());
      args.push_back(weight_args_for(scheme, *l));
      names.push_back(l->name);
    }

    awq_search_result res;
    std::string how;
    bool done = false;
    if (ctx.parent_forward) {
      callback_block cb(ctx.parent_forward, m, names, w);
      if (cb.valid()) {
        res = search(x_mean, w, args, cb);
        how = "parent forward";
        done = true;
      }
    }
    if (!done && ctx.make_parent_block) {
      const linear_weight* down =
          m.kind == parent_kind::gated_mlp && bal.size() == 2 ? &ctx.linear(m.mlp_down) : nullptr;
      if (std::unique_ptr<any_parent_block> blk = ctx.make_parent_block(m, bal.front()->input, w, down)) {
        res = search(x_mean, w, args, *blk);
        how = blk->where();
        done = true;
      }
    }
    if (!done) {
      if (in.samples.empty())
        LLMC_THROW(config_error, "llmc.method.210",
                   "awq: " + ctx.full_name(m.smooth) + " needs the cached inputs of " + ctx.full_name(bal.front()->name) +
                       " (statistic::samples) or a layer_context::parent_forward for \"" + m.parent + "\"");
      if (m.kind == parent_kind::gated_mlp && bal.size() == 2) {
        const linear_weight& down = ctx.linear(m.mlp_down);
        gated_mlp_block blk(in.samples.view(), w[0], w[1], down.weight.view());
        res = search(x_mean, w, args, blk);
        how = "gated MLP output";
      } else {
        linear_group_block blk(in.samples.view(), w);
        res = search(x_mean, w, args, blk);
        how = m.kind == parent_kind::attention ? "q/k/v outputs (no attention forward given)" : "Linear output";
      }
    }
    if (norm != nullptr && norm->weight.size() != res.scales.size())
      LLMC_THROW(shape_error, "llmc.method.102",
                 ctx.full_name(m.smooth) + " has " + std::to_string(norm->weight.size()) +
                     " channels, its balance Linears take " + std::to_string(res.scales.size()));
    if (smooth_linear != nullptr && smooth_linear->out_features() < res.scales.size())
      LLMC_THROW(shape_error, "llmc.method.102",
                 ctx.full_name(m.smooth) + " has " + std::to_string(smooth_linear->out_features()) +
                     " outputs, its balance Linears take " + std::to_string(res.scales.size()));
    for (linear_weight* l : bal) detail::scale_columns(l->weight, res.scales);
    if (norm != nullptr) {
      detail::divide_tail(norm->weight, res.scales);
      detail::divide_tail(norm->bias, res.scales);
    } else {
      detail::divide_tail_rows(smooth_linear->weight, res.scales);
      detail::divide_tail(smooth_linear->bias, res.scales);
    }
    in.rescale(res.scales);
    ctx.note(name, m.smooth,
             "ratio " + std::to_string(res.best.ratio) + (res.best.duo ? " duo" : "") + ", loss on the " + how,
             res.initial_loss, res.best_loss);
  }

  void apply_clip_search(layer_context& ctx) const {
    for (linear_weight& l : ctx.linears) {
      // llm-awq skips q and k: the q k^T product makes their output error a poor proxy.
      if (detail::name_ends_with(l.name, "q_proj") || detail::name_ends_with(l.name, "k_proj")) continue;
      if (l.quantized) refuse_quantized(ctx, l);
      input_statistics& in = ctx.input_of(l);
      if (in.samples.empty())
        LLMC_THROW(config_error, "llmc.method.210",
                   "awq clip: " + ctx.full_name(l.name) + " needs its cached inputs (statistic::samples)");
      const awq_clip_result c =
          awq_clip_search(weight_args_for(scheme, l), l.weight.view(), in.samples.view(), clip_max_shrink, clip_grid);
      apply_clip(c, l.weight);
      ctx.note(name, l.name, "clip search: slot output error", c.error_before, c.error_after);
    }
  }

  [[noreturn]] static void refuse_quantized(layer_context& ctx, const linear_weight& l) {
    LLMC_THROW(config_error, "llmc.method.209",
               "awq: " + ctx.full_name(l.name) +
                   " is already quantized; AWQ rescales weights, so it must come before the quantizing method in the recipe");
  }
};

}  // namespace llmc
