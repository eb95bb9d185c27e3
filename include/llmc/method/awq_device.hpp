// llmc/method/awq_device.hpp — AWQ's grid loss on a dense policy (a CUDA device, or the host for
// testing): the parent blocks of awq.hpp evaluated where the cached Linear inputs live.
//
// awq::search scores every grid point by the squared difference between a parent block's output
// with the candidate (fake-quantized, rescaled) balance weights and its floating-point output, over
// every cached calibration token (spec §6.3; Lin et al., arXiv:2306.00978). These blocks implement
// that loss (any_parent_block, concepts.hpp) on a dense policy K (method/device_policy.hpp), with
// the same arithmetic as awq.hpp's host blocks:
//   device_gated_mlp_block   Llama's MLP down(silu(x gate^T) * (x up^T)) with {gate, up}
//                            substituted, down in floating point (gated_mlp_block).
//   device_linear_group_block the balance Linears' outputs X W_i^T side by side; the error from
//                            D_i = W_i - C_i: sum_i tr(D_i G D_i^T) with G = X^T X (SYRK once, lower
//                            triangle mirrored) when the input is narrower than the token count,
//                            else sum_i ||X D_i^T||^2 over token chunks (linear_group_block).
// x [tokens, in] is a view in K's memory (device_samples below keeps it; it must outlive the
// block); the weights are uploaded once, the candidates per call into reused buffers; the fp
// output is computed once. Per call the GEMMs run through k.gemm, silu(g) * u and the differences
// as Thrust functors, and the squared errors are reduced in double (thrust::transform_reduce on
// k.exec()). Tokens are processed in chunks (awq_device_chunk_tokens), so scratch memory is
// O(chunk x max(in, intermediate)) besides x, the fp output and the weights.
// With host_dense_policy every GEMM is the host kernel on the same operands, so the float outputs
// equal the host blocks' and only the order of the double sums differs (tests/cuda
// test_cuda_host.cpp: losses within 1e-10 relative, measured 1.6e-13; identical grid choices and
// scales on the fixture).
// device_samples<K>: a Linear input's calibration rows kept in K's memory (padding rows dropped,
// in order, grown per batch); rescale(s) divides its columns exactly as input_statistics::rescale
// divides the host samples (float division). The device executor (pipeline/device_executor.hpp)
// feeds it from the device forward and hands the blocks to AWQ through
// layer_context::make_parent_block (make_device_parent_block below).
// Under CUDA, Thrust's failures leave as cuda_error llmc.cuda.104 / 105 (k.guard).
#pragma once

#include <thrust/copy.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/device_policy.hpp"
#include "llmc/method/mappings.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// Tokens per chunk of the device blocks' forwards (bounds their scratch memory).
inline constexpr std::size_t awq_device_chunk_tokens = 4096;

namespace detail {

/// g[i] = silu(g[i]) * u[i], silu(v) = v / (1 + e^-v) (awq.hpp detail::silu's arithmetic).
struct awq_silu_mul {
  float* g;
  const float* u;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const {
    const float v = g[i];
    g[i] = v / (1.0f + std::exp(-v)) * u[i];
  }
};

/// d[i] = w[i] - c[i].
struct awq_difference {
  const float* w;
  const float* c;
  float* d;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const { d[i] = w[i] - c[i]; }
};

/// (a[i] - b[i])^2 in double.
struct awq_squared_difference {
  const float* a;
  const float* b;
  LLMC_HOST_DEVICE double operator()(std::size_t i) const {
    const double e = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    return e * e;
  }
};

/// a[i] * b[i] in double (a == b: a square).
struct awq_product {
  const float* a;
  const float* b;
  LLMC_HOST_DEVICE double operator()(std::size_t i) const { return static_cast<double>(a[i]) * static_cast<double>(b[i]); }
};

/// The strict upper triangle of a row-major n x n matrix from its lower one.
struct awq_mirror_lower {
  float* g;
  std::size_t n;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t i = idx / n, j = idx % n;
    if (j > i) g[idx] = g[j * n + i];
  }
};

/// x[idx] /= s[idx % cols] (input_statistics::rescale's float division).
struct awq_divide_columns {
  float* x;
  const float* s;
  std::size_t cols;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const { x[idx] /= s[idx % cols]; }
};

/// Sum over i < n of f(i) in double, on the policy.
template <class K, class F>
double awq_sum(const K& k, std::size_t n, F f) {
  using it = thrust::counting_iterator<std::size_t>;
  return thrust::transform_reduce(k.exec(), it(0), it(n), f, 0.0, thrust::plus<double>());
}

template <class K, class F>
void awq_for_n(const K& k, std::size_t n, F f) {
  using it = thrust::counting_iterator<std::size_t>;
  thrust::for_each(k.exec(), it(0), it(n), f);
}

/// Uploads a host view into a row-major policy buffer (resized when too small).
template <class K>
void awq_upload(const K& k, matrix_view<const float> w, typename K::template vector<float>& dst) {
  if (dst.size() < w.size()) dst = typename K::template vector<float>(w.size());
  if (w.stride(1) == 1 && w.stride(0) == static_cast<std::ptrdiff_t>(w.cols())) {
    k.upload(w.data_handle(), w.size(), raw_data(dst));
    return;
  }
  const matrix<float> dense = matrix<float>::from(w, [](float v) { return v; });
  k.upload(dense.data(), dense.size(), raw_data(dst));
}

}  // namespace detail

/// One Linear input's calibration rows in K's memory: [rows, cols] row-major, padding dropped.
template <class K>
class device_samples {
 public:
  using backend = typename K::backend;

  device_samples(const K& k, std::size_t cols) : k_(k), cols_(cols) {}

  /// Appends the rows of x (K's memory, any row stride) whose mask entry is non-zero (mask: x.rows()
  /// entries in K's memory, or null: every row). @throws shape_error llmc.method.221 on a width change.
  void add(matrix_view<const float, backend> x, const std::uint8_t* mask = nullptr) {
    if (x.cols() != cols_)
      LLMC_THROW(shape_error, "llmc.method.221",
                 "device_samples: a batch has " + std::to_string(x.cols()) + " columns, the cached inputs have " +
                     std::to_string(cols_));
    detail::policy_guard(k_, "device_samples::add", [&] {
      using it = thrust::counting_iterator<std::size_t>;
      std::size_t kept = x.rows();
      const std::size_t* idx = nullptr;
      if (mask != nullptr) {
        if (index_.size() < x.rows()) index_ = typename K::template vector<std::size_t>(x.rows());
        const auto end = thrust::copy_if(k_.exec(), it(0), it(x.rows()), it(0), index_.begin(), detail::row_kept{mask});
        kept = static_cast<std::size_t>(end - index_.begin());
        idx = raw_data(index_);
      }
      if (kept == 0) return;
      reserve_rows(rows_ + kept);
      const matrix_view<const float, host_backend> xt(x.data_handle(), x.rows(), x.cols(), x.stride(0), x.stride(1));
      detail::awq_for_n(k_, kept * cols_, detail::gather_rows<float, float>{xt, idx, raw_data(data_) + rows_ * cols_});
      rows_ += kept;
      k_.synchronize();  // index_ may be reused by the next add
    });
  }

  /// The input was divided channel-wise by s: the rows follow (float division, as the host samples).
  /// @throws shape_error llmc.method.011 when s has another length.
  void rescale(std::span<const float> s) {
    if (s.size() != cols_)
      LLMC_THROW(shape_error, "llmc.method.011",
                 "device_samples::rescale: cached samples have " + std::to_string(cols_) + " channels for " +
                     std::to_string(s.size()) + " scales");
    if (rows_ == 0) return;
    detail::policy_guard(k_, "device_samples::rescale", [&] {
      typename K::template vector<float> s_dev(cols_);
      k_.upload(s.data(), cols_, raw_data(s_dev));
      detail::awq_for_n(k_, rows_ * cols_, detail::awq_divide_columns{raw_data(data_), raw_data(s_dev), cols_});
      k_.synchronize();  // s_dev is freed on return
    });
  }

  /// Room for `rows` rows in all, allocated now and exactly: a caller that knows how many rows will
  /// come (the pipeline: the calibration tokens) avoids the growth copies and their transient
  /// doubling of device memory. Keeps the rows already added.
  void reserve(std::size_t rows) {
    detail::policy_guard(k_, "device_samples::reserve", [&] { reserve_exactly(rows); });
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t cols() const noexcept { return cols_; }
  /// Bytes held in K's memory (capacity, not only the rows in use).
  [[nodiscard]] std::size_t bytes() const noexcept { return data_.size() * sizeof(float) + index_.size() * sizeof(std::size_t); }
  [[nodiscard]] matrix_view<const float, backend> view() const noexcept {
    return {raw_data(const_cast<typename K::template vector<float>&>(data_)), rows_, cols_};
  }
  /// The rows as a host matrix (tests, diagnostics).
  [[nodiscard]] matrix<float> download() const {
    matrix<float> m(rows_, cols_);
    if (!m.empty()) k_.download(raw_data(const_cast<typename K::template vector<float>&>(data_)), m.size(), m.data());
    return m;
  }

 private:
  /// Grows the buffer geometrically (one copy of the rows so far per doubling).
  void reserve_rows(std::size_t rows) {
    if (rows * cols_ <= data_.size()) return;
    reserve_exactly(std::max(rows, 2 * (data_.size() / std::max<std::size_t>(1, cols_))));
  }
  void reserve_exactly(std::size_t cap) {
    if (cap * cols_ <= data_.size()) return;
    typename K::template vector<float> grown(cap * cols_);
    if (rows_ != 0) thrust::copy(k_.exec(), data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(rows_ * cols_), grown.begin());
    k_.synchronize();
    data_.swap(grown);
  }

  K k_;
  std::size_t cols_ = 0, rows_ = 0;
  typename K::template vector<float> data_;
  typename K::template vector<std::size_t> index_;
};

/// Llama's MLP on K with {gate, up} substituted and down in floating point (gated_mlp_block).
template <class K>
class device_gated_mlp_block final : public any_parent_block {
 public:
  using backend = typename K::backend;

  /// x: [tokens, hidden] in K's memory (outlives the block); gate/up [I, hidden], down [hidden, I]
  /// in host memory. Runs the fp forward once. @throws shape_error llmc.method.203.
  device_gated_mlp_block(const K& k, matrix_view<const float, backend> x, matrix_view<const float> gate,
                         matrix_view<const float> up, matrix_view<const float> down, std::string where = "gated MLP output (device)",
                         std::size_t chunk_tokens = awq_device_chunk_tokens)
      : k_(k), x_(x), inter_(gate.rows()), hidden_out_(down.rows()), chunk_(std::max<std::size_t>(1, chunk_tokens)),
        where_(std::move(where)) {
    if (gate.cols() != x.cols() || up.cols() != x.cols() || gate.rows() != up.rows() || down.cols() != gate.rows())
      LLMC_THROW(shape_error, "llmc.method.203",
                 "awq: MLP shapes do not chain (x [T, h], gate/up [I, h], down [h, I])");
    detail::policy_guard(k_, "device_gated_mlp_block", [&] {
      detail::awq_upload(k_, down, down_);
      detail::awq_upload(k_, gate, gate_);
      detail::awq_upload(k_, up, up_);
      const std::size_t c = std::min(chunk_, std::max<std::size_t>(1, x_.rows()));
      g_ = typename K::template vector<float>(c * inter_);
      u_ = typename K::template vector<float>(c * inter_);
      fp_ = typename K::template vector<float>(x_.rows() * hidden_out_);
      for (std::size_t t0 = 0; t0 < x_.rows(); t0 += chunk_) {
        const std::size_t tn = std::min(chunk_, x_.rows() - t0);
        forward(t0, tn, raw_data(fp_) + t0 * hidden_out_);
      }
      o_ = typename K::template vector<float>(c * hidden_out_);
      k_.synchronize();
    });
  }

  [[nodiscard]] double output_elements() const override {
    return static_cast<double>(x_.rows()) * static_cast<double>(hidden_out_);
  }
  [[nodiscard]] std::string where() const override { return where_; }

  double squared_error(std::span<const matrix_view<const float>> cand) override {
    if (cand.size() != 2) LLMC_THROW(shape_error, "llmc.method.203", "awq: the gated MLP block takes {gate, up}");
    for (const auto& c : cand)
      if (c.rows() != inter_ || c.cols() != x_.cols())
        LLMC_THROW(shape_error, "llmc.method.203", "awq: a candidate of the gated MLP block has another shape");
    return detail::policy_guard(k_, "device_gated_mlp_block::squared_error", [&] {
      detail::awq_upload(k_, cand[0], gate_);
      detail::awq_upload(k_, cand[1], up_);
      double sse = 0.0;
      for (std::size_t t0 = 0; t0 < x_.rows(); t0 += chunk_) {
        const std::size_t tn = std::min(chunk_, x_.rows() - t0);
        forward(t0, tn, raw_data(o_));
        sse += detail::awq_sum(k_, tn * hidden_out_, detail::awq_squared_difference{raw_data(o_), raw_data(fp_) + t0 * hidden_out_});
      }
      return sse;
    });
  }

 private:
  using cview_t = matrix_view<const float, backend>;
  using view_t = matrix_view<float, backend>;

  /// out [tn, hidden] (row-major, K's memory) = MLP(x[t0 : t0 + tn]) with gate_ / up_.
  void forward(std::size_t t0, std::size_t tn, float* out) {
    const std::size_t h = x_.cols();
    const cview_t xs = x_.block(t0, 0, tn, h);
    const cview_t gw(raw_data(gate_), inter_, h), uw(raw_data(up_), inter_, h), dw(raw_data(down_), hidden_out_, inter_);
    const view_t g(raw_data(g_), tn, inter_), u(raw_data(u_), tn, inter_);
    k_.gemm(1.0f, xs, gw.transposed(), 0.0f, g);
    k_.gemm(1.0f, xs, uw.transposed(), 0.0f, u);
    detail::awq_for_n(k_, tn * inter_, detail::awq_silu_mul{raw_data(g_), raw_data(u_)});
    k_.gemm(1.0f, cview_t(raw_data(g_), tn, inter_), dw.transposed(), 0.0f, view_t(out, tn, hidden_out_));
  }

  K k_;
  cview_t x_;
  std::size_t inter_ = 0, hidden_out_ = 0, chunk_ = 0;
  std::string where_;
  typename K::template vector<float> gate_, up_, down_, g_, u_, o_, fp_;
};

/// The balance Linears' outputs side by side on K (linear_group_block).
template <class K>
class device_linear_group_block final : public any_parent_block {
 public:
  using backend = typename K::backend;

  /// x: [tokens, in] in K's memory (outlives the block); original: the balance weights [out_i, in]
  /// in host memory. @throws shape_error llmc.method.202.
  device_linear_group_block(const K& k, matrix_view<const float, backend> x, std::span<const matrix_view<const float>> original,
                            std::string where = "Linear output (device)", std::size_t chunk_tokens = awq_device_chunk_tokens)
      : k_(k), x_(x), chunk_(std::max<std::size_t>(1, chunk_tokens)), where_(std::move(where)) {
    std::size_t widest = 0;
    for (const auto& w : original) {
      if (w.cols() != x.cols())
        LLMC_THROW(shape_error, "llmc.method.202",
                   "awq: a balance weight takes " + std::to_string(w.cols()) + " inputs, the cached activations have " +
                       std::to_string(x.cols()) + " channels");
      out_features_ += w.rows();
      rows_.push_back(w.rows());
      widest = std::max(widest, w.rows());
    }
    detail::policy_guard(k_, "device_linear_group_block", [&] {
      weights_.resize(original.size());
      for (std::size_t i = 0; i < original.size(); ++i) detail::awq_upload(k_, original[i], weights_[i]);
      const std::size_t n = x_.cols();
      cand_ = typename K::template vector<float>(widest * n);
      d_ = typename K::template vector<float>(widest * n);
      if (n < x_.rows()) {
        gram_ = typename K::template vector<float>(n * n);
        k_.syrk(triangle::lower, 1.0f, x_.transposed(), 0.0f, view_t(raw_data(gram_), n, n));
        detail::awq_for_n(k_, n * n, detail::awq_mirror_lower{raw_data(gram_), n});
        p_ = typename K::template vector<float>(widest * n);
      } else {
        p_ = typename K::template vector<float>(std::min(chunk_, std::max<std::size_t>(1, x_.rows())) * widest);
      }
      k_.synchronize();
    });
  }

  [[nodiscard]] double output_elements() const override {
    return static_cast<double>(x_.rows()) * static_cast<double>(out_features_);
  }
  [[nodiscard]] std::string where() const override { return where_; }
  [[nodiscard]] bool uses_gram() const noexcept { return !gram_.empty(); }

  double squared_error(std::span<const matrix_view<const float>> cand) override {
    if (cand.size() != weights_.size())
      LLMC_THROW(shape_error, "llmc.method.202", "awq: one candidate per balance weight is needed");
    const std::size_t n = x_.cols();
    return detail::policy_guard(k_, "device_linear_group_block::squared_error", [&] {
      double sse = 0.0;
      for (std::size_t i = 0; i < weights_.size(); ++i) {
        const std::size_t m = rows_[i];
        if (cand[i].rows() != m || cand[i].cols() != n)
          LLMC_THROW(shape_error, "llmc.method.202", "awq: a candidate has another shape than its balance weight");
        detail::awq_upload(k_, cand[i], cand_);
        detail::awq_for_n(k_, m * n, detail::awq_difference{raw_data(weights_[i]), raw_data(cand_), raw_data(d_)});
        const cview_t d(raw_data(d_), m, n);
        if (!gram_.empty()) {
          k_.gemm(1.0f, d, cview_t(raw_data(gram_), n, n), 0.0f, view_t(raw_data(p_), m, n));
          sse += detail::awq_sum(k_, m * n, detail::awq_product{raw_data(p_), raw_data(d_)});
        } else {
          for (std::size_t t0 = 0; t0 < x_.rows(); t0 += chunk_) {
            const std::size_t tn = std::min(chunk_, x_.rows() - t0);
            k_.gemm(1.0f, x_.block(t0, 0, tn, n), d.transposed(), 0.0f, view_t(raw_data(p_), tn, m));
            sse += detail::awq_sum(k_, tn * m, detail::awq_product{raw_data(p_), raw_data(p_)});
          }
        }
      }
      return sse;
    });
  }

 private:
  using cview_t = matrix_view<const float, backend>;
  using view_t = matrix_view<float, backend>;

  K k_;
  cview_t x_;
  std::size_t chunk_ = 0, out_features_ = 0;
  std::string where_;
  std::vector<std::size_t> rows_;
  std::vector<typename K::template vector<float>> weights_;
  typename K::template vector<float> cand_, d_, p_, gram_;
};

/// The device block for one AWQ mapping (what a layer_context::make_parent_block returns): the
/// gated MLP when mlp_down is given with two balance weights, else the Linear group; null when x
/// holds no rows (AWQ then reports its missing-samples error through the host path).
template <class K>
std::unique_ptr<any_parent_block> make_device_parent_block(const K& k, matrix_view<const float, typename K::backend> x,
                                                           const awq_mapping& m, std::span<const matrix_view<const float>> balance,
                                                           const linear_weight* mlp_down,
                                                           std::size_t chunk_tokens = awq_device_chunk_tokens) {
  if (x.rows() == 0 || balance.empty()) return nullptr;
  if (mlp_down != nullptr && balance.size() == 2)
    return std::make_unique<device_gated_mlp_block<K>>(k, x, balance[0], balance[1], mlp_down->weight.view(),
                                                       "gated MLP output (device)", chunk_tokens);
  return std::make_unique<device_linear_group_block<K>>(
      k, x, balance,
      m.kind == parent_kind::attention ? "q/k/v outputs (device; no attention forward given)" : "Linear output (device)",
      chunk_tokens);
}

}  // namespace llmc
