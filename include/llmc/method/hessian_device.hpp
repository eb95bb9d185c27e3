// llmc/method/hessian_device.hpp — GPTQ's Hessian accumulated in a policy's memory (a CUDA device,
// or the host for testing).
//
// The same running average as hessian_accumulator (method/hessian.hpp; spec §5.2): per batch X
// [tokens, columns] holding b sequences, H <- H n/(n+b) + (2/(n+b)) X^T X, so H stays at the scale
// of one sample. Two input precisions, both accumulating in fp32:
//   fp32: one SYRK (upper triangle; cublasSsyrk on a GPU) — the host accumulator's arithmetic.
//   bf16: the inputs are rounded to bfloat16 (or arrive as bf16) and one GEMM X^T X with fp32
//         accumulation and output runs on tensor cores (cublasGemmEx, CUBLAS_COMPUTE_32F; both
//         triangles are written). Each product of two bf16 values is exact in fp32, so the only
//         differences from fp32 are the input rounding and the summation order.
// Which to use (measured on the fixture model's real activations, tests/cuda test_cuda_host.cpp,
// GPTQ W4 g32 over the 35 Linears of stories260k): the layer output error sum ||WX - Q(W)X||^2
// with the bf16 Hessian is within a fraction of a percent of the fp32 Hessian's (figures in that
// test's output), while a bf16 GEMM runs several times faster than an fp32 SYRK on an H100. The
// default stays fp32 — the reference's arithmetic — and bf16 is the documented opt-in for speed;
// activations that are already bf16 (a bf16 model's forward) lose nothing by using it.
// Padding: add(x, mask, sequences) takes a per-row mask in the policy's memory (0 = padding) and
// does what hessian_accumulator::add does with a mask: samples() counts the `sequences`, tokens()
// only the kept rows, and H sees only the kept rows — gathered (thrust::copy_if of the row
// indices, then a gather functor) into chunks of hessian_mask_chunk_rows rows, one SYRK (or bf16
// GEMM) per chunk, the first applying the running-average beta: the host accumulator's chunks, so
// with host_dense_policy the fp32 result is bit-identical to it; a batch that is all padding only
// scales H by beta. rescale(s) is hessian_accumulator::rescale (double division) on the upper
// triangle. Under CUDA, Thrust's failures (an out-of-memory scratch buffer, a failed launch) leave
// add() / rescale() as cuda_error llmc.cuda.104 / 105 (k.guard, backend/cuda/thrust_error.hpp).
// Invariant: upper() holds H's upper triangle (row-major, n x n); the strictly lower part is
// unspecified.
#pragma once

#include <thrust/copy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/method/device_policy.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// Precision of the Hessian's inputs (the accumulation is fp32 either way).
enum class hessian_precision : std::uint8_t { fp32, bf16 };

namespace detail {
/// Rounds a strided fp32 [rows, cols] view into a row-major bf16 buffer.
struct round_rows_to_bf16 {
  matrix_view<const float, host_backend> x;  // backend tag only
  bfloat16* out;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t r = idx / x.cols(), c = idx % x.cols();
    out[idx] = bfloat16(x(r, c));
  }
};

/// Rows per SYRK when a mask gathers the kept rows (hessian_accumulator's chunk).
inline constexpr std::size_t hessian_mask_chunk_rows = 1024;

struct hessian_scale_upper {
  float* h;
  std::size_t n;
  float beta;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    if (idx % n >= idx / n) h[idx] *= beta;
  }
};

/// H_ij / (s_i s_j) in double on the upper triangle (hessian_accumulator::rescale's arithmetic).
struct hessian_rescale_upper {
  float* h;
  const float* s;
  std::size_t n;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t i = idx / n, j = idx % n;
    if (j >= i) h[idx] = static_cast<float>(static_cast<double>(h[idx]) / (static_cast<double>(s[i]) * s[j]));
  }
};
}  // namespace detail

template <class K>
class device_hessian_accumulator {
 public:
  using backend = typename K::backend;

  device_hessian_accumulator(const K& k, std::size_t columns, hessian_precision p = hessian_precision::fp32)
      : k_(k), n_(columns), precision_(p), h_(columns * columns, 0.0f) {}

  /// Folds one fp32 batch x [tokens, columns] (any strides cuBLAS accepts) holding `sequences`
  /// sequences. @throws shape_error llmc.method.301 when the width differs.
  void add(matrix_view<const float, backend> x, std::size_t sequences = 1) {
    float alpha = 0.0f, beta = 0.0f;
    if (!begin_batch(x.rows(), x.cols(), sequences, alpha, beta)) return;
    if (precision_ == hessian_precision::fp32) {
      k_.syrk(triangle::upper, alpha, x.transposed(), beta, h_view());
      return;
    }
    detail::policy_guard(k_, "device_hessian_accumulator::add", [&] {
      if (scratch_.size() < x.size()) scratch_ = typename K::template vector<bfloat16>(x.size());
      using it = thrust::counting_iterator<std::size_t>;
      const matrix_view<const float, host_backend> xt(x.data_handle(), x.rows(), x.cols(), x.stride(0), x.stride(1));
      thrust::for_each(k_.exec(), it(0), it(x.size()), detail::round_rows_to_bf16{xt, raw_data(scratch_)});
      const matrix_view<const bfloat16, backend> xb(raw_data(scratch_), x.rows(), x.cols());
      k_.gemm_bf16(alpha, xb.transposed(), xb, beta, h_view());
    });
  }

  /// Folds one bf16 batch (always the bf16 GEMM path: the inputs are bf16 already).
  void add(matrix_view<const bfloat16, backend> x, std::size_t sequences = 1) {
    float alpha = 0.0f, beta = 0.0f;
    if (!begin_batch(x.rows(), x.cols(), sequences, alpha, beta)) return;
    k_.gemm_bf16(alpha, x.transposed(), x, beta, h_view());
  }

  /// Folds one fp32 batch whose rows with mask[r] == 0 are padding: they leave H unchanged and
  /// are not counted in tokens(). mask: x.rows() entries in the policy's memory, or null (every
  /// row is a token: the same as add(x, sequences)).
  /// @throws shape_error llmc.method.301 when the width differs.
  void add(matrix_view<const float, backend> x, const std::uint8_t* mask, std::size_t sequences) {
    if (mask == nullptr) return add(x, sequences);
    detail::policy_guard(k_, "device_hessian_accumulator::add", [&] { add_masked(x, mask, sequences); });
  }
  /// The bf16 twin of the masked add (bf16 GEMM per chunk of kept rows).
  void add(matrix_view<const bfloat16, backend> x, const std::uint8_t* mask, std::size_t sequences) {
    if (mask == nullptr) return add(x, sequences);
    detail::policy_guard(k_, "device_hessian_accumulator::add", [&] { add_masked(x, mask, sequences); });
  }

  /// The input was divided channel-wise by s (host span, s_j > 0; a smoothing transform):
  /// H_ij <- H_ij / (s_i s_j) on the upper triangle, in double as hessian_accumulator::rescale.
  /// @throws shape_error llmc.method.303 when s has the wrong length.
  void rescale(std::span<const float> s) {
    if (s.size() != n_)
      LLMC_THROW(shape_error, "llmc.method.303",
                 "device_hessian_accumulator::rescale: " + std::to_string(s.size()) + " scales for " + std::to_string(n_) +
                     " columns");
    if (n_ == 0) return;
    detail::policy_guard(k_, "device_hessian_accumulator::rescale", [&] {
      typename K::template vector<float> s_dev(n_);
      k_.upload(s.data(), n_, raw_data(s_dev));
      using it = thrust::counting_iterator<std::size_t>;
      thrust::for_each(k_.exec(), it(0), it(n_ * n_), detail::hessian_rescale_upper{raw_data(h_), raw_data(s_dev), n_});
      k_.synchronize();  // s_dev is freed on return
    });
  }

  [[nodiscard]] std::size_t columns() const noexcept { return n_; }
  [[nodiscard]] std::uint64_t samples() const noexcept { return samples_; }
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  [[nodiscard]] hessian_precision precision() const noexcept { return precision_; }
  /// H's storage (row-major n x n): the upper triangle is H.
  [[nodiscard]] matrix_view<const float, backend> upper() const noexcept {
    return {raw_data(const_cast<typename K::template vector<float>&>(h_)), n_, n_};
  }
  /// H as a full symmetric host matrix. @throws config_error llmc.method.304 when empty.
  [[nodiscard]] matrix<float> hessian_host() const {
    if (samples_ == 0)
      LLMC_THROW(config_error, "llmc.method.304",
                 "device_hessian_accumulator: no calibration sample was added; run calibration data through the layer first");
    matrix<float> h(n_, n_);
    k_.download(raw_data(const_cast<typename K::template vector<float>&>(h_)), n_ * n_, h.data());
    for (std::size_t i = 0; i < n_; ++i)
      for (std::size_t j = 0; j < i; ++j) h(i, j) = h(j, i);
    return h;
  }

 private:
  void check_width(std::size_t cols) const {
    if (cols != n_)
      LLMC_THROW(shape_error, "llmc.method.301",
                 "device_hessian_accumulator: a batch has " + std::to_string(cols) + " columns, the Hessian is " +
                     std::to_string(n_) + " x " + std::to_string(n_) + "; feed one accumulator per distinct Linear input");
  }
  bool begin_batch(std::size_t rows, std::size_t cols, std::size_t sequences, float& alpha, float& beta) {
    check_width(cols);
    if (sequences == 0) return false;
    const double n_new = static_cast<double>(samples_) + static_cast<double>(sequences);
    alpha = static_cast<float>(2.0 / n_new);
    beta = static_cast<float>(static_cast<double>(samples_) / n_new);
    samples_ += sequences;
    tokens_ += rows;
    return true;
  }

  template <class In>
  void add_masked(matrix_view<const In, backend> x, const std::uint8_t* mask, std::size_t sequences) {
    using it = thrust::counting_iterator<std::size_t>;
    const std::size_t rows = x.rows();
    check_width(x.cols());
    if (sequences == 0) return;
    // Indices of the kept rows (copy_if returns once they are counted).
    if (row_index_.size() < rows) row_index_ = typename K::template vector<std::size_t>(rows);
    const auto end = thrust::copy_if(k_.exec(), it(0), it(rows), it(0), row_index_.begin(), detail::row_kept{mask});
    const auto kept = static_cast<std::size_t>(end - row_index_.begin());
    float alpha = 0.0f, beta = 0.0f;
    (void)begin_batch(kept, x.cols(), sequences, alpha, beta);
    if (kept == 0) {  // every row is padding: only the running-average weight changes
      thrust::for_each(k_.exec(), it(0), it(n_ * n_), detail::hessian_scale_upper{raw_data(h_), n_, beta});
      return;
    }
    const matrix_view<const In, host_backend> xt(x.data_handle(), x.rows(), x.cols(), x.stride(0), x.stride(1));
    const std::size_t chunk = std::min(detail::hessian_mask_chunk_rows, kept);
    const bool bf16 = precision_ == hessian_precision::bf16 || std::is_same_v<In, bfloat16>;
    if (bf16) {
      if (scratch_.size() < chunk * n_) scratch_ = typename K::template vector<bfloat16>(chunk * n_);
    } else if (scratch32_.size() < chunk * n_) {
      scratch32_ = typename K::template vector<float>(chunk * n_);
    }
    for (std::size_t r0 = 0; r0 < kept; r0 += chunk) {
      const std::size_t m = std::min(chunk, kept - r0);
      const std::size_t* idx = raw_data(row_index_) + r0;
      if (bf16) {
        thrust::for_each(k_.exec(), it(0), it(m * n_), detail::gather_rows<In, bfloat16>{xt, idx, raw_data(scratch_)});
        const matrix_view<const bfloat16, backend> xb(raw_data(scratch_), m, n_);
        k_.gemm_bf16(alpha, xb.transposed(), xb, beta, h_view());
      } else {
        if constexpr (std::is_same_v<In, float>) {
          thrust::for_each(k_.exec(), it(0), it(m * n_), detail::gather_rows<float, float>{xt, idx, raw_data(scratch32_)});
          const matrix_view<const float, backend> xf(raw_data(scratch32_), m, n_);
          k_.syrk(triangle::upper, alpha, xf.transposed(), beta, h_view());
        }
      }
      beta = 1.0f;
    }
  }
  matrix_view<float, backend> h_view() noexcept { return {raw_data(h_), n_, n_}; }

  K k_;
  std::size_t n_;
  hessian_precision precision_;
  typename K::template vector<float> h_;
  typename K::template vector<bfloat16> scratch_;
  typename K::template vector<float> scratch32_;               // masked fp32 chunks
  typename K::template vector<std::size_t> row_index_;         // kept rows of a masked batch
  std::uint64_t samples_ = 0, tokens_ = 0;
};

}  // namespace llmc
