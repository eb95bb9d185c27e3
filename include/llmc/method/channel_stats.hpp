// llmc/method/channel_stats.hpp — per-input-channel activation statistics, fed batch by batch.
//
// channel_minmax is SmoothQuant's statistic (running per-channel min and max of the smoothing
// layer's output, [LC] modifiers/transform/smoothquant/base.py _setup_scale_hooks; spec §7);
// channel_absmean is AWQ's (sum of |x| per input channel and the token count, mean = sum / count,
// [LC] modifiers/transform/awq/base.py cache_smooth_activations_hook; spec §6.2). Both take a batch
// [tokens, channels] of any host matrix and dtype, and an optional per-token mask (nonzero = the
// token counts) so padding never enters. One collector serves every Linear fed by the same input.
// Invariants: results do not depend on the thread count (each thread owns a range of channels and
// walks the tokens in order); rescale() keeps a collector consistent when a smoothing transform
// divides its input channel j by s_j.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

namespace detail {

/// Checks a batch against a collector's width and mask; returns the number of tokens that count.
inline std::uint64_t check_stats_batch(const char* what, std::size_t channels, std::size_t rows, std::size_t cols,
                                       std::span<const std::uint8_t> mask) {
  if (channels != 0 && cols != channels)
    LLMC_THROW(shape_error, "llmc.method.001",
               std::string(what) + ": a batch has " + std::to_string(cols) + " channels, the statistic was started with " +
                   std::to_string(channels) + "; feed one collector per distinct input");
  if (!mask.empty() && mask.size() != rows)
    LLMC_THROW(shape_error, "llmc.method.002",
               std::string(what) + ": the token mask has " + std::to_string(mask.size()) + " entries for " +
                   std::to_string(rows) + " tokens; pass one entry per row of the batch (or none)");
  if (mask.empty()) return rows;
  std::uint64_t n = 0;
  for (auto m : mask) n += m != 0;
  return n;
}

/// Channel ranges per thread: at least 64 channels each, so narrow inputs stay on one thread.
inline std::size_t channel_chunks(std::size_t channels, std::size_t rows) noexcept {
  if (rows * channels < (std::size_t{1} << 16)) return 1;
  return parallel_chunks(channels, 64);
}

}  // namespace detail

/// Running per-channel minimum and maximum of activations (SmoothQuant).
class channel_minmax {
 public:
  channel_minmax() = default;
  explicit channel_minmax(std::size_t channels)
      : min_(channels, std::numeric_limits<float>::infinity()), max_(channels, -std::numeric_limits<float>::infinity()) {}

  /// Folds one batch x [tokens, channels] into the statistic. The first batch fixes the width.
  /// @throws shape_error llmc.method.001 (width differs), llmc.method.002 (mask size differs).
  template <host_matrix M>
  void add(const M& x_in, std::span<const std::uint8_t> mask = {}) {
    auto x = cview(x_in);
    using D = compute_dtype<std::remove_cv_t<typename decltype(x)::value_type>>;
    const std::uint64_t counted = detail::check_stats_batch("channel_minmax", channels(), x.rows(), x.cols(), mask);
    if (min_.empty()) *this = channel_minmax(x.cols());
    tokens_ += counted;
    const std::size_t n = x.cols();
    parallel_for_chunks(n, detail::channel_chunks(n, x.rows()), [&](std::size_t, std::size_t c0, std::size_t c1) {
      float* LLMC_RESTRICT mn = min_.data();
      float* LLMC_RESTRICT mx = max_.data();
      for (std::size_t r = 0; r < x.rows(); ++r) {
        if (!mask.empty() && mask[r] == 0) continue;
        if (x.stride(1) == 1) {  // contiguous row: a vectorizable elementwise loop
          const auto* LLMC_RESTRICT row = x.row(r);
          for (std::size_t c = c0; c < c1; ++c) {
            const float v = D::to_float(row[c]);
            mn[c] = v < mn[c] ? v : mn[c];
            mx[c] = v > mx[c] ? v : mx[c];
          }
        } else {
          for (std::size_t c = c0; c < c1; ++c) {
            const float v = D::to_float(x(r, c));
            mn[c] = v < mn[c] ? v : mn[c];
            mx[c] = v > mx[c] ? v : mx[c];
          }
        }
      }
    });
  }

  /// A statistic collected elsewhere (a device collector's download). @throws shape_error
  /// llmc.method.001 when the two vectors differ in length.
  static channel_minmax from_values(std::vector<float> min, std::vector<float> max, std::uint64_t tokens) {
    detail::check_stats_batch("channel_minmax::from_values", min.size(), 0, max.size(), {});
    channel_minmax m;
    m.min_ = std::move(min);
    m.max_ = std::move(max);
    m.tokens_ = tokens;
    return m;
  }

  /// Combines another collector of the same input (e.g. from another data shard).
  void merge(const channel_minmax& o) {
    if (o.min_.empty()) return;
    if (min_.empty()) {
      *this = o;
      return;
    }
    detail::check_stats_batch("channel_minmax::merge", channels(), 0, o.channels(), {});
    for (std::size_t c = 0; c < min_.size(); ++c) {
      min_[c] = std::min(min_[c], o.min_[c]);
      max_[c] = std::max(max_[c], o.max_[c]);
    }
    tokens_ += o.tokens_;
  }

  /// The input was divided channel-wise by s (s_j > 0): the statistic of the new input.
  void rescale(std::span<const float> s) {
    detail::check_stats_batch("channel_minmax::rescale", channels(), 0, s.size(), {});
    for (std::size_t c = 0; c < min_.size(); ++c) {
      min_[c] /= s[c];
      max_[c] /= s[c];
    }
  }

  [[nodiscard]] std::size_t channels() const noexcept { return min_.size(); }
  /// Tokens folded in so far (masked tokens excluded).
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] std::span<const float> min() const noexcept { return min_; }
  [[nodiscard]] std::span<const float> max() const noexcept { return max_; }
  /// max - min per channel: the "dynamic range" SmoothQuant uses as its activation scale.
  [[nodiscard]] std::vector<float> range() const {
    std::vector<float> r(min_.size());
    for (std::size_t c = 0; c < r.size(); ++c) r[c] = max_[c] - min_[c];
    return r;
  }
  /// max(|min|, |max|) per channel.
  [[nodiscard]] std::vector<float> absmax() const {
    std::vector<float> r(min_.size());
    for (std::size_t c = 0; c < r.size(); ++c) r[c] = std::max(std::fabs(min_[c]), std::fabs(max_[c]));
    return r;
  }
  void reset() noexcept {
    min_.clear();
    max_.clear();
    tokens_ = 0;
  }

 private:
  std::vector<float> min_, max_;
  std::uint64_t tokens_ = 0;
};

/// Running per-channel sum of |x| and token count (AWQ's activation statistic).
/// Sums are kept in double (the reference sums each batch in fp32): exact enough that the mean
/// does not depend on how the calibration data was split into batches.
class channel_absmean {
 public:
  channel_absmean() = default;
  explicit channel_absmean(std::size_t channels) : sum_(channels, 0.0) {}

  /// Folds one batch x [tokens, channels]. The first batch fixes the width.
  /// @throws shape_error llmc.method.001 (width differs), llmc.method.002 (mask size differs).
  template <host_matrix M>
  void add(const M& x_in, std::span<const std::uint8_t> mask = {}) {
    auto x = cview(x_in);
    using D = compute_dtype<std::remove_cv_t<typename decltype(x)::value_type>>;
    const std::uint64_t counted = detail::check_stats_batch("channel_absmean", channels(), x.rows(), x.cols(), mask);
    if (sum_.empty()) sum_.assign(x.cols(), 0.0);
    tokens_ += counted;
    const std::size_t n = x.cols();
    parallel_for_chunks(n, detail::channel_chunks(n, x.rows()), [&](std::size_t, std::size_t c0, std::size_t c1) {
      double* LLMC_RESTRICT acc = sum_.data();
      for (std::size_t r = 0; r < x.rows(); ++r) {
        if (!mask.empty() && mask[r] == 0) continue;
        if (x.stride(1) == 1) {
          const auto* LLMC_RESTRICT row = x.row(r);
          for (std::size_t c = c0; c < c1; ++c) acc[c] += std::fabs(static_cast<double>(D::to_float(row[c])));
        } else {
          for (std::size_t c = c0; c < c1; ++c) acc[c] += std::fabs(static_cast<double>(D::to_float(x(r, c))));
        }
      }
    });
  }

  /// A statistic collected elsewhere (a device collector's download).
  static channel_absmean from_values(std::vector<double> sum, std::uint64_t tokens) {
    channel_absmean m;
    m.sum_ = std::move(sum);
    m.tokens_ = tokens;
    return m;
  }

  void merge(const channel_absmean& o) {
    if (o.sum_.empty()) return;
    if (sum_.empty()) {
      *this = o;
      return;
    }
    detail::check_stats_batch("channel_absmean::merge", channels(), 0, o.channels(), {});
    for (std::size_t c = 0; c < sum_.size(); ++c) sum_[c] += o.sum_[c];
    tokens_ += o.tokens_;
  }

  /// The input was divided channel-wise by s (s_j > 0): the statistic of the new input.
  void rescale(std::span<const float> s) {
    detail::check_stats_batch("channel_absmean::rescale", channels(), 0, s.size(), {});
    for (std::size_t c = 0; c < sum_.size(); ++c) sum_[c] /= static_cast<double>(s[c]);
  }

  [[nodiscard]] std::size_t channels() const noexcept { return sum_.size(); }
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] std::span<const double> sum() const noexcept { return sum_; }
  /// Mean |x| per channel (x_mean of spec §6.2). @throws config_error llmc.method.003 before any token.
  [[nodiscard]] std::vector<float> mean() const {
    if (tokens_ == 0)
      LLMC_THROW(config_error, "llmc.method.003",
                 "channel_absmean: no token was added (every batch was empty or masked); feed calibration data first");
    std::vector<float> m(sum_.size());
    for (std::size_t c = 0; c < m.size(); ++c) m[c] = static_cast<float>(sum_[c] / static_cast<double>(tokens_));
    return m;
  }
  void reset() noexcept {
    sum_.clear();
    tokens_ = 0;
  }

 private:
  std::vector<double> sum_;
  std::uint64_t tokens_ = 0;
};

}  // namespace llmc
