// llmc/backend/thrust/channel_stats.hpp — per-input-channel activation statistics of device batches.
//
// device_channel_minmax (SmoothQuant's running per-channel min and max, spec §7) and
// device_channel_absmean (AWQ's per-channel sum of |x| in double and the token count, spec §6.2)
// are method/channel_stats.hpp's channel_minmax / channel_absmean for device batches [tokens,
// channels], with the same member functions, the same optional host token mask and the same error
// ids. Invariant: one device thread owns one channel and walks the tokens in order, exactly as a
// host thread does, so the running min/max and the double sums are bit-identical to the CPU
// backend (no parallel sum ever reorders an addition). Statistics stay on the device
// (device_min() ...); min(), max(), sum(), mean() copy them to the host.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <thrust/device_vector.h>

#include "llmc/backend/thrust/launch.hpp"
#include "llmc/backend/thrust/quantized_tensor.hpp"
#include "llmc/core/error.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/tensor/adapt_thrust.hpp"
#include "llmc/tensor/concepts.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

namespace detail::dev {

/// The checks of method/channel_stats.hpp (same ids); returns the number of tokens that count.
inline std::uint64_t check_device_stats_batch(const char* what, std::size_t channels, std::size_t rows, std::size_t cols,
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

template <class S>
struct channel_minmax_fn {
  matrix_view<const S, cuda_backend> x;
  const std::uint8_t* mask;  // null: every token counts
  float* mn;
  float* mx;
  LLMC_HOST_DEVICE void operator()(std::size_t c) const noexcept {
    float lo = mn[c], hi = mx[c];
    for (std::size_t r = 0; r < x.rows(); ++r) {
      if (mask != nullptr && mask[r] == 0) continue;
      const float v = compute_dtype<S>::to_float(x(r, c));
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    mn[c] = lo;
    mx[c] = hi;
  }
};

template <class S>
struct channel_abssum_fn {
  matrix_view<const S, cuda_backend> x;
  const std::uint8_t* mask;
  double* sum;
  LLMC_HOST_DEVICE void operator()(std::size_t c) const noexcept {
    double acc = sum[c];
    for (std::size_t r = 0; r < x.rows(); ++r) {
      if (mask != nullptr && mask[r] == 0) continue;
      acc += std::fabs(static_cast<double>(compute_dtype<S>::to_float(x(r, c))));
    }
    sum[c] = acc;
  }
};

struct merge_minmax_fn {
  float* mn;
  float* mx;
  const float* omn;
  const float* omx;
  LLMC_HOST_DEVICE void operator()(std::size_t c) const noexcept {
    mn[c] = omn[c] < mn[c] ? omn[c] : mn[c];
    mx[c] = mx[c] < omx[c] ? omx[c] : mx[c];
  }
};
struct merge_sum_fn {
  double* sum;
  const double* o;
  LLMC_HOST_DEVICE void operator()(std::size_t c) const noexcept { sum[c] += o[c]; }
};
struct rescale_minmax_fn {
  float* mn;
  float* mx;
  const float* s;
  LLMC_HOST_DEVICE void operator()(std::size_t c) const noexcept {
    mn[c] /= s[c];
    mx[c] /= s[c];
  }
};
struct rescale_sum_fn {
  double* sum;
  const float* s;
  LLMC_HOST_DEVICE void operator()(std::size_t c) const noexcept { sum[c] /= static_cast<double>(s[c]); }
};

inline thrust::device_vector<std::uint8_t> upload_mask(std::span<const std::uint8_t> mask) {
  return thrust::device_vector<std::uint8_t>(mask.begin(), mask.end());
}

}  // namespace detail::dev

/// Running per-channel minimum and maximum of device activations (SmoothQuant).
class device_channel_minmax {
 public:
  device_channel_minmax() = default;
  explicit device_channel_minmax(std::size_t channels) : min_(channels, detail::dev::pos_inf), max_(channels, detail::dev::neg_inf) {}

  /// Folds one device batch x [tokens, channels]; mask (host memory): nonzero = the token counts.
  /// @throws shape_error llmc.method.001 (width differs), llmc.method.002 (mask size differs).
  template <device_matrix M>
  void add(const M& x_in, std::span<const std::uint8_t> mask = {}) {
    auto x = cview(x_in);
    using S = std::remove_cv_t<typename decltype(x)::value_type>;
    static_assert(require_model_dtype<S>());
    const std::uint64_t counted =
        detail::dev::check_device_stats_batch("channel_minmax", channels(), x.rows(), x.cols(), mask);
    if (min_.empty()) *this = device_channel_minmax(x.cols());
    tokens_ += counted;
    const auto d_mask = detail::dev::upload_mask(mask);
    detail::dev::launch(x.cols(), detail::dev::channel_minmax_fn<S>{x, mask.empty() ? nullptr : device_data(d_mask),
                                                                    device_data(min_), device_data(max_)});
  }

  /// Combines another collector of the same input.
  void merge(const device_channel_minmax& o) {
    if (o.min_.empty()) return;
    if (min_.empty()) {
      min_ = o.min_;
      max_ = o.max_;
      tokens_ = o.tokens_;
      return;
    }
    detail::dev::check_device_stats_batch("channel_minmax::merge", channels(), 0, o.channels(), {});
    detail::dev::launch(channels(), detail::dev::merge_minmax_fn{device_data(min_), device_data(max_), device_data(o.min_),
                                                                 device_data(o.max_)});
    tokens_ += o.tokens_;
  }

  /// The input was divided channel-wise by s (host memory, s_j > 0): the statistic of the new input.
  void rescale(std::span<const float> s) {
    detail::dev::check_device_stats_batch("channel_minmax::rescale", channels(), 0, s.size(), {});
    const thrust::device_vector<float> d(s.begin(), s.end());
    detail::dev::launch(channels(), detail::dev::rescale_minmax_fn{device_data(min_), device_data(max_), device_data(d)});
  }

  [[nodiscard]] std::size_t channels() const noexcept { return min_.size(); }
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] const thrust::device_vector<float>& device_min() const noexcept { return min_; }
  [[nodiscard]] const thrust::device_vector<float>& device_max() const noexcept { return max_; }
  [[nodiscard]] std::vector<float> min() const { return detail::download(min_); }
  [[nodiscard]] std::vector<float> max() const { return detail::download(max_); }
  /// max - min per channel (host memory).
  [[nodiscard]] std::vector<float> range() const {
    std::vector<float> lo = min(), r = max();
    for (std::size_t c = 0; c < r.size(); ++c) r[c] = r[c] - lo[c];
    return r;
  }
  /// max(|min|, |max|) per channel (host memory).
  [[nodiscard]] std::vector<float> absmax() const {
    std::vector<float> lo = min(), r = max();
    for (std::size_t c = 0; c < r.size(); ++c) r[c] = std::max(std::fabs(lo[c]), std::fabs(r[c]));
    return r;
  }
  void reset() {
    min_.clear();
    max_.clear();
    tokens_ = 0;
  }

 private:
  thrust::device_vector<float> min_, max_;
  std::uint64_t tokens_ = 0;
};

/// Running per-channel sum of |x| (double) and token count of device activations (AWQ).
class device_channel_absmean {
 public:
  device_channel_absmean() = default;
  explicit device_channel_absmean(std::size_t channels) : sum_(channels, 0.0) {}

  /// Folds one device batch x [tokens, channels]; mask (host memory): nonzero = the token counts.
  /// @throws shape_error llmc.method.001 (width differs), llmc.method.002 (mask size differs).
  template <device_matrix M>
  void add(const M& x_in, std::span<const std::uint8_t> mask = {}) {
    auto x = cview(x_in);
    using S = std::remove_cv_t<typename decltype(x)::value_type>;
    static_assert(require_model_dtype<S>());
    const std::uint64_t counted =
        detail::dev::check_device_stats_batch("channel_absmean", channels(), x.rows(), x.cols(), mask);
    if (sum_.empty()) sum_.assign(x.cols(), 0.0);
    tokens_ += counted;
    const auto d_mask = detail::dev::upload_mask(mask);
    detail::dev::launch(x.cols(), detail::dev::channel_abssum_fn<S>{x, mask.empty() ? nullptr : device_data(d_mask),
                                                                    device_data(sum_)});
  }

  void merge(const device_channel_absmean& o) {
    if (o.sum_.empty()) return;
    if (sum_.empty()) {
      sum_ = o.sum_;
      tokens_ = o.tokens_;
      return;
    }
    detail::dev::check_device_stats_batch("channel_absmean::merge", channels(), 0, o.channels(), {});
    detail::dev::launch(channels(), detail::dev::merge_sum_fn{device_data(sum_), device_data(o.sum_)});
    tokens_ += o.tokens_;
  }

  /// The input was divided channel-wise by s (host memory, s_j > 0): the statistic of the new input.
  void rescale(std::span<const float> s) {
    detail::dev::check_device_stats_batch("channel_absmean::rescale", channels(), 0, s.size(), {});
    const thrust::device_vector<float> d(s.begin(), s.end());
    detail::dev::launch(channels(), detail::dev::rescale_sum_fn{device_data(sum_), device_data(d)});
  }

  [[nodiscard]] std::size_t channels() const noexcept { return sum_.size(); }
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] const thrust::device_vector<double>& device_sum() const noexcept { return sum_; }
  [[nodiscard]] std::vector<double> sum() const { return detail::download(sum_); }
  /// Mean |x| per channel (host memory). @throws config_error llmc.method.003 before any token.
  [[nodiscard]] std::vector<float> mean() const {
    if (tokens_ == 0)
      LLMC_THROW(config_error, "llmc.method.003",
                 "channel_absmean: no token was added (every batch was empty or masked); feed calibration data first");
    const std::vector<double> s = sum();
    std::vector<float> m(s.size());
    for (std::size_t c = 0; c < m.size(); ++c) m[c] = static_cast<float>(s[c] / static_cast<double>(tokens_));
    return m;
  }
  void reset() {
    sum_.clear();
    tokens_ = 0;
  }

 private:
  thrust::device_vector<double> sum_;
  std::uint64_t tokens_ = 0;
};

}  // namespace llmc
