// llmc/method/smoothquant.hpp — SmoothQuant: migrate activation outliers into the weights.
//
// Xiao et al., "SmoothQuant" (arXiv:2211.10438), as LLM Compressor computes it
// ([LC] modifiers/transform/smoothquant/base.py _apply_smoothing, _calculate_smoothing_scales;
// spec §7): per input channel j, act_j = max_j - min_j of the smoothing layer's output over all
// calibration tokens (the dynamic range, not absmax), wt_j = 2 * max over the balance Linears of
// max_r |W[r, j]|, s_j = act_j^alpha / wt_j^(1 - alpha) (s_j = act_j where wt_j == 0), then
// s = max(s, 1e-5). The norm weight (and bias) is divided by s, every balance weight column
// multiplied by s: X W^T = (X / s)(W s)^T, so the floating-point function is unchanged.
// algorithm = log_equalization gives s_j = act_j / log2(2 + act_j) (arXiv:2308.15987).
// Not scheme-dependent: it only edits weights; quantization comes after it in a recipe.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/method/channel_stats.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/mappings.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

enum class smoothing_algorithm : std::uint8_t { smoothquant, log_equalization };

/// The reference's MINIMUM_SMOOTHING_SCALE.
inline constexpr float minimum_smoothing_scale = 1e-5f;

namespace detail {

/// acc[j] = max(acc[j], max_r |w(r, j)|).
template <host_matrix M>
void column_absmax_into(const M& w_in, std::span<float> acc) {
  auto w = cview(w_in);
  using D = compute_dtype<std::remove_cv_t<typename decltype(w)::value_type>>;
  if (w.cols() != acc.size())
    LLMC_THROW(shape_error, "llmc.method.101",
               "smoothing: a balance weight has " + std::to_string(w.cols()) + " input columns, the smoothed activation has " +
                   std::to_string(acc.size()) + " channels; every balance Linear must take the smooth layer's output");
  // Row chunks reduce into their own partial maxima, merged in order (max is exact anyway).
  const std::size_t chunks = parallel_chunks(w.rows(), std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(1, w.cols())));
  std::vector<std::vector<float>> part(chunks);
  parallel_for_chunks(w.rows(), chunks, [&](std::size_t k, std::size_t r0, std::size_t r1) {
    std::vector<float> m(acc.begin(), acc.end());
    float* LLMC_RESTRICT pm = m.data();
    for (std::size_t r = r0; r < r1; ++r) {
      if (w.stride(1) == 1) {
        const auto* LLMC_RESTRICT row = w.row(r);
        for (std::size_t c = 0; c < w.cols(); ++c) {
          const float v = std::fabs(D::to_float(row[c]));
          pm[c] = v > pm[c] ? v : pm[c];
        }
      } else {
        for (std::size_t c = 0; c < w.cols(); ++c) {
          const float v = std::fabs(D::to_float(w(r, c)));
          pm[c] = v > pm[c] ? v : pm[c];
        }
      }
    }
    part[k] = std::move(m);
  });
  for (const auto& m : part)
    for (std::size_t c = 0; c < acc.size(); ++c) acc[c] = m[c] > acc[c] ? m[c] : acc[c];
}

/// w[:, j] *= s[j] (in w's dtype).
template <class M>
  requires host_matrix<M> && mutable_matrix<M>
void scale_columns(M&& w_in, std::span<const float> s) {
  auto w = view(w_in);
  using D = compute_dtype<std::remove_cv_t<typename decltype(w)::value_type>>;
  if (w.cols() != s.size())
    LLMC_THROW(shape_error, "llmc.method.101",
               "smoothing: a balance weight has " + std::to_string(w.cols()) + " input columns for " + std::to_string(s.size()) +
                   " scales");
  const std::size_t chunks = parallel_chunks(w.rows(), std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(1, w.cols())));
  parallel_for_chunks(w.rows(), chunks, [&](std::size_t, std::size_t r0, std::size_t r1) {
    const float* LLMC_RESTRICT ps = s.data();
    for (std::size_t r = r0; r < r1; ++r) {
      if (w.stride(1) == 1) {
        auto* LLMC_RESTRICT row = w.row(r);
        for (std::size_t c = 0; c < w.cols(); ++c) row[c] = D::from_float(D::to_float(row[c]) * ps[c]);
      } else {
        for (std::size_t c = 0; c < w.cols(); ++c) w(r, c) = D::from_float(D::to_float(w(r, c)) * ps[c]);
      }
    }
  });
}

/// The last s.size() rows of w divided by s (a Linear smooth layer; with fused qkv the v rows are
/// last, which is why the reference divides the tail — [LC] awq/base.py _smooth).
template <class M>
  requires host_matrix<M> && mutable_matrix<M>
void divide_tail_rows(M&& w_in, std::span<const float> s) {
  auto w = view(w_in);
  using D = compute_dtype<std::remove_cv_t<typename decltype(w)::value_type>>;
  if (w.rows() < s.size())
    LLMC_THROW(shape_error, "llmc.method.102",
               "smoothing: a Linear smooth layer has " + std::to_string(w.rows()) + " output rows, fewer than the " +
                   std::to_string(s.size()) + " channels to smooth");
  const std::size_t r0 = w.rows() - s.size();
  for (std::size_t j = 0; j < s.size(); ++j)
    for (std::size_t c = 0; c < w.cols(); ++c) w(r0 + j, c) = D::from_float(D::to_float(w(r0 + j, c)) / s[j]);
}

/// v[j] /= s[j] for the last s.size() entries of v (norm weight or bias; a no-op on an empty bias).
inline void divide_tail(std::span<float> v, std::span<const float> s) {
  if (v.empty()) return;
  if (v.size() < s.size())
    LLMC_THROW(shape_error, "llmc.method.102",
               "smoothing: a smooth layer's weight/bias has " + std::to_string(v.size()) + " entries for " +
                   std::to_string(s.size()) + " scales");
  const std::size_t o = v.size() - s.size();
  for (std::size_t j = 0; j < s.size(); ++j) v[o + j] /= s[j];
}

}  // namespace detail

namespace detail {
inline void require_minmax(const channel_minmax& act) {
  if (act.tokens() == 0 || act.channels() == 0)
    LLMC_THROW(config_error, "llmc.method.103",
               "smoothquant: the smoothed activation has no statistics (no calibration token reached it)");
}
}  // namespace detail

/// SmoothQuant scales from the activation range and the balance weights' column maxima.
/// @pre act has seen at least one token. @throws config_error llmc.method.103 otherwise.
inline std::vector<float> smoothquant_scales_from(const channel_minmax& act, std::span<const float> weight_colmax,
                                                  float alpha, smoothing_algorithm algorithm) {
  detail::require_minmax(act);
  const std::vector<float> range = act.range();
  std::vector<float> s(range.size());
  for (std::size_t j = 0; j < s.size(); ++j) {
    float v;
    if (algorithm == smoothing_algorithm::log_equalization) {
      v = range[j] / std::log2(2.0f + range[j]);
    } else {
      const float wt = 2.0f * weight_colmax[j];
      v = wt > 0.0f ? std::pow(range[j], alpha) / std::pow(wt, 1.0f - alpha) : range[j];
    }
    // torch.maximum propagates NaN; a NaN range means NaN activations, which the caller must see.
    s[j] = std::isnan(v) ? v : std::max(v, minimum_smoothing_scale);
  }
  return s;
}

/// Folds smoothing scales into a norm (weight, and bias when it has one: divided) and the balance
/// Linears (columns multiplied). Works on any host matrix adapter of any model dtype.
template <class... W>
  requires(host_matrix<W> && ...)
void fold_smoothing(std::span<const float> s, std::span<float> norm_weight, std::span<float> norm_bias, W&&... balance) {
  if (norm_weight.size() != s.size() || (!norm_bias.empty() && norm_bias.size() != s.size()))
    LLMC_THROW(shape_error, "llmc.method.102",
               "smoothing: the norm has " + std::to_string(norm_weight.size()) + " channels for " + std::to_string(s.size()) +
                   " scales");
  // Check every balance weight before editing any of them.
  if (((cview(balance).cols() != s.size()) || ...))
    LLMC_THROW(shape_error, "llmc.method.101",
               "smoothing: a balance weight's input width differs from the " + std::to_string(s.size()) + " scales");
  (detail::scale_columns(balance, s), ...);
  detail::divide_tail(norm_weight, s);
  detail::divide_tail(norm_bias, s);
}

/// SmoothQuant as a method: hyperparameters with the reference's defaults, and apply(layer).
struct smoothquant {
  static constexpr std::string_view name = "smoothquant";
  static constexpr bool quantizes = false;
  static constexpr statistic_set statistics{statistic::channel_minmax};

  float smoothing_strength = 0.5f;  ///< alpha (the reference's examples use 0.8 for W8A8)
  smoothing_algorithm algorithm = smoothing_algorithm::smoothquant;
  std::vector<smoothquant_mapping> mappings = llama_smoothquant_mappings();

  /// Scales for one mapping from its activation statistic and any number of balance weights.
  template <host_matrix... W>
  [[nodiscard]] std::vector<float> scales(const channel_minmax& act, const W&... balance) const {
    detail::require_minmax(act);
    std::vector<float> colmax(act.channels(), 0.0f);
    if (algorithm == smoothing_algorithm::smoothquant) (detail::column_absmax_into(balance, colmax), ...);
    return smoothquant_scales_from(act, colmax, smoothing_strength, algorithm);
  }

  /// Smooths every mapping whose smooth layer and balance Linears are in the layer (others are
  /// skipped with a note). The balance input's statistics are rescaled so that later methods of a
  /// recipe see the smoothed input. Nothing is modified for a mapping that throws.
  /// @throws config_error llmc.method.012 / .013 (no statistics, or balance Linears with different
  /// inputs), .103 (the statistic saw no token), .105 (a balance Linear is already quantized);
  /// shape_error llmc.method.101 / .102 (widths of the norm and the Linears disagree).
  void apply(layer_context& ctx) const {
    for (const smoothquant_mapping& m : mappings) {
      norm_weight* norm = ctx.find_norm(m.smooth);
      std::vector<linear_weight*> bal;
      for (const auto& b : m.balance)
        if (linear_weight* l = ctx.find_linear(b)) bal.push_back(l);
      if (norm == nullptr || bal.empty()) {
        ctx.note(name, m.smooth, "skipped: the layer has no " + std::string(norm == nullptr ? m.smooth : "balance Linear"));
        continue;
      }
      for (const linear_weight* l : bal)
        if (l->quantized)
          LLMC_THROW(config_error, "llmc.method.105",
                     "smoothquant: " + ctx.full_name(l->name) +
                         " is already quantized; SmoothQuant rescales weights, so it must come before the quantizing "
                         "method in the recipe");
      input_statistics& in = ctx.shared_input(bal, name);
      detail::require_minmax(in.minmax);
      std::vector<float> colmax(in.minmax.channels(), 0.0f);
      if (algorithm == smoothing_algorithm::smoothquant)
        for (linear_weight* l : bal) detail::column_absmax_into(l->weight, colmax);
      const std::vector<float> s = smoothquant_scales_from(in.minmax, colmax, smoothing_strength, algorithm);
      if (norm->weight.size() != s.size())
        LLMC_THROW(shape_error, "llmc.method.102",
                   ctx.full_name(m.smooth) + " has " + std::to_string(norm->weight.size()) + " channels, its balance Linears take " +
                       std::to_string(s.size()));
      const float range_before = detail::max_of(in.minmax.range());
      for (linear_weight* l : bal) detail::scale_columns(l->weight, s);
      detail::divide_tail(norm->weight, s);
      detail::divide_tail(norm->bias, s);
      in.rescale(s);
      ctx.note(name, m.smooth, "smoothed " + std::to_string(bal.size()) + " Linears", range_before,
               detail::max_of(in.minmax.range()));
    }
  }
};
static_assert(method<smoothquant>);

}  // namespace llmc
