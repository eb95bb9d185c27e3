// llmc/method/hessian.hpp — GPTQ's Hessian H = (2/N) sum x x^T of one Linear input, streamed.
//
// The reference ([LC] modifiers/gptq/gptq_quantize.py accumulate_hessian; spec §5.2) adds
// 2 X^T X per forward call in fp32 and divides by N, the number of sequences (batch rows, not
// tokens), at quantization time; LC <= 0.9 kept the same value as a running average,
// H <- H n/(n+b) + (2/(n+b)) X^T X. We keep the running average — one SYRK per batch does it,
// with alpha = 2/(n+b) and beta = n/(n+b) — so H stays at the scale of one sample however much
// data is streamed. Only the upper triangle is computed (SYRK: half the FLOPs of the GEMM the
// reference runs) and mirrored on read. Better than the reference: a per-token mask keeps padding
// out of H. One accumulator serves every Linear fed by the same input (q/k/v, gate/up).
// Invariants: upper() holds H's upper triangle; results do not depend on the thread count
// (backend kernels accumulate in a fixed order); rescale() keeps H consistent when a smoothing
// transform divides input channel j by s_j (H_ij / (s_i s_j)).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/error.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

class hessian_accumulator {
 public:
  hessian_accumulator() = default;
  explicit hessian_accumulator(std::size_t columns) : h_(columns, columns, 0.0f) {}

  /// Folds one batch x [tokens, columns] (float, double, bfloat16 or float16; any layout) holding
  /// `sequences` sequences into H. Rows whose mask entry is 0 are left out (padding); an empty
  /// mask keeps every row. The first batch fixes the width when the accumulator was default-built.
  /// @throws shape_error llmc.method.301 (width differs), llmc.method.302 (mask size differs).
  template <host_matrix M>
  void add(const M& x_in, std::span<const std::uint8_t> mask = {}, std::size_t sequences = 1) {
    auto x = cview(x_in);
    using S = std::remove_cv_t<typename decltype(x)::value_type>;
    using D = compute_dtype<S>;
    static_assert(require_model_dtype<S>());
    if (h_.empty() && samples_ == 0) h_ = matrix<float>(x.cols(), x.cols(), 0.0f);
    if (x.cols() != columns())
      LLMC_THROW(shape_error, "llmc.method.301",
                 "hessian_accumulator: a batch has " + std::to_string(x.cols()) + " columns, the Hessian is " +
                     std::to_string(columns()) + " x " + std::to_string(columns()) +
                     "; feed one accumulator per distinct Linear input");
    if (!mask.empty() && mask.size() != x.rows())
      LLMC_THROW(shape_error, "llmc.method.302",
                 "hessian_accumulator: the token mask has " + std::to_string(mask.size()) + " entries for " +
                     std::to_string(x.rows()) + " tokens; pass one entry per row of the batch (or none)");
    if (sequences == 0) return;
    const double n_new = static_cast<double>(samples_) + static_cast<double>(sequences);
    const auto alpha = static_cast<float>(2.0 / n_new);
    float beta = static_cast<float>(static_cast<double>(samples_) / n_new);
    samples_ += sequences;
    std::size_t kept = x.rows();
    if (!mask.empty()) kept = static_cast<std::size_t>(std::count_if(mask.begin(), mask.end(), [](auto m) { return m != 0; }));
    tokens_ += kept;
    if constexpr (std::is_same_v<S, float>) {
      if (mask.empty()) {
        syrk(triangle::upper, alpha, x.transposed(), beta, h_);
        return;
      }
    }
    // Other dtypes, or a mask: gather the kept rows into fp32 chunks; each chunk is one SYRK
    // (the first one applies beta).
    constexpr std::size_t chunk_rows = 1024;
    const std::size_t cols = columns();
    matrix<float> buf(std::min(chunk_rows, std::max<std::size_t>(kept, 1)), cols);
    std::size_t r = 0;
    bool any = false;
    while (r < x.rows()) {
      std::size_t filled = 0;
      for (; r < x.rows() && filled < buf.rows(); ++r) {
        if (!mask.empty() && mask[r] == 0) continue;
        float* dst = &buf(filled++, 0);
        for (std::size_t c = 0; c < cols; ++c) dst[c] = D::to_float(x(r, c));
      }
      if (filled == 0) break;
      syrk(triangle::upper, alpha, cview(buf).block(0, 0, filled, cols).transposed(), beta, h_);
      beta = 1.0f;
      any = true;
    }
    if (!any) scale_upper(beta);  // every row masked: only the running-average weight changes
  }

  /// Combines the accumulator of another shard of the same input (the reference sums H_sum and N
  /// across ranks, spec §5.2): H = (H n + H' n') / (n + n').
  /// @throws shape_error llmc.method.301 when the widths differ.
  void merge(const hessian_accumulator& o) {
    if (o.samples_ == 0) return;
    if (samples_ == 0) {
      *this = o;
      return;
    }
    if (o.columns() != columns())
      LLMC_THROW(shape_error, "llmc.method.301",
                 "hessian_accumulator::merge: widths differ (" + std::to_string(columns()) + " and " +
                     std::to_string(o.columns()) + ")");
    const double n = static_cast<double>(samples_ + o.samples_);
    const double a = static_cast<double>(samples_) / n, b = static_cast<double>(o.samples_) / n;
    for (std::size_t i = 0; i < columns(); ++i)
      for (std::size_t j = i; j < columns(); ++j)
        h_(i, j) = static_cast<float>(a * h_(i, j) + b * o.h_(i, j));
    samples_ += o.samples_;
    tokens_ += o.tokens_;
  }

  /// The input was divided channel-wise by s (s_j > 0, a smoothing transform): H of the new input.
  /// @throws shape_error llmc.method.303 when s has the wrong length.
  void rescale(std::span<const float> s) {
    if (s.size() != columns())
      LLMC_THROW(shape_error, "llmc.method.303",
                 "hessian_accumulator::rescale: " + std::to_string(s.size()) + " scales for " + std::to_string(columns()) +
                     " columns");
    for (std::size_t i = 0; i < columns(); ++i)
      for (std::size_t j = i; j < columns(); ++j)
        h_(i, j) = static_cast<float>(static_cast<double>(h_(i, j)) / (static_cast<double>(s[i]) * s[j]));
  }

  [[nodiscard]] std::size_t columns() const noexcept { return h_.rows(); }
  /// N: sequences folded in so far.
  [[nodiscard]] std::uint64_t samples() const noexcept { return samples_; }
  /// Tokens that entered H (masked rows excluded).
  [[nodiscard]] std::uint64_t tokens() const noexcept { return tokens_; }
  /// H's storage: the upper triangle is H, the strictly lower part is unspecified.
  [[nodiscard]] const matrix<float>& upper() const noexcept { return h_; }

  /// H as a full symmetric matrix.
  /// @throws config_error llmc.method.304 when nothing was accumulated.
  [[nodiscard]] matrix<float> hessian() const {
    if (samples_ == 0)
      LLMC_THROW(config_error, "llmc.method.304",
                 "hessian_accumulator: no calibration sample was added; run calibration data through the layer first");
    matrix<float> h = h_;
    mirror_triangle(triangle::upper, h);
    return h;
  }

  void reset() {
    h_ = matrix<float>(columns(), columns(), 0.0f);
    samples_ = tokens_ = 0;
  }

 private:
  void scale_upper(float beta) {
    for (std::size_t i = 0; i < columns(); ++i)
      for (std::size_t j = i; j < columns(); ++j) h_(i, j) *= beta;
  }

  matrix<float> h_;
  std::uint64_t samples_ = 0;
  std::uint64_t tokens_ = 0;
};

}  // namespace llmc
