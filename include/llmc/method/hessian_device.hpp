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
// Invariant: upper() holds H's upper triangle (row-major, n x n); the strictly lower part is
// unspecified.
#pragma once

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>
#include <cstdint>
#include <string>

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
    if (scratch_.size() < x.size()) scratch_ = typename K::template vector<bfloat16>(x.size());
    using it = thrust::counting_iterator<std::size_t>;
    const matrix_view<const float, host_backend> xt(x.data_handle(), x.rows(), x.cols(), x.stride(0), x.stride(1));
    thrust::for_each(k_.exec(), it(0), it(x.size()), detail::round_rows_to_bf16{xt, raw_data(scratch_)});
    const matrix_view<const bfloat16, backend> xb(raw_data(scratch_), x.rows(), x.cols());
    k_.gemm_bf16(alpha, xb.transposed(), xb, beta, h_view());
  }

  /// Folds one bf16 batch (always the bf16 GEMM path: the inputs are bf16 already).
  void add(matrix_view<const bfloat16, backend> x, std::size_t sequences = 1) {
    float alpha = 0.0f, beta = 0.0f;
    if (!begin_batch(x.rows(), x.cols(), sequences, alpha, beta)) return;
    k_.gemm_bf16(alpha, x.transposed(), x, beta, h_view());
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
  bool begin_batch(std::size_t rows, std::size_t cols, std::size_t sequences, float& alpha, float& beta) {
    if (cols != n_)
      LLMC_THROW(shape_error, "llmc.method.301",
                 "device_hessian_accumulator: a batch has " + std::to_string(cols) + " columns, the Hessian is " +
                     std::to_string(n_) + " x " + std::to_string(n_) + "; feed one accumulator per distinct Linear input");
    if (sequences == 0) return false;
    const double n_new = static_cast<double>(samples_) + static_cast<double>(sequences);
    alpha = static_cast<float>(2.0 / n_new);
    beta = static_cast<float>(static_cast<double>(samples_) / n_new);
    samples_ += sequences;
    tokens_ += rows;
    return true;
  }
  matrix_view<float, backend> h_view() noexcept { return {raw_data(h_), n_, n_}; }

  K k_;
  std::size_t n_;
  hessian_precision precision_;
  typename K::template vector<float> h_;
  typename K::template vector<bfloat16> scratch_;
  std::uint64_t samples_ = 0, tokens_ = 0;
};

}  // namespace llmc
