// llmc/scheme/quantized_tensor.hpp — the result of quantizing one tensor, independent of scheme.
//
// A quantized_tensor holds one code per element (int8 two's complement for integer args, the
// E4M3 byte for FP8, the E2M1 nibble for FP4), the qparams in their layout, and the runtime
// quant_args it was made with, so the I/O layer can pack and name it (spec §8.3) without
// knowing the compile-time scheme. Invariants: codes is rows x cols; scale has the layout's
// shape and every value is exactly representable in scale_type(); zero_point is empty when the
// args are symmetric; global_scale > 0 exactly when the strategy is tensor_group.
#pragma once

#include <cstdint>
#include <vector>

#include "llmc/numeric/scalar_type.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/quant_args.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// Scales, zero points and the global scale of one tensor.
struct qparams {
  qparam_layout layout;
  matrix<float> scale;            ///< [slot_rows, slot_cols]
  matrix<std::int8_t> zero_point; ///< same shape; empty when symmetric
  float global_scale = 0.0f;      ///< tensor_group only (fp32), else 0
};

struct quantized_tensor {
  quant_args args;
  scalar_type model_dtype = scalar_type::float32;  ///< dtype of the source tensor
  qparams params;
  matrix<std::uint8_t> codes;      ///< one code per element, see the header comment
  std::vector<std::int32_t> g_idx; ///< actorder=group: the qparam column (group) of each input column

  [[nodiscard]] std::size_t rows() const noexcept { return codes.rows(); }
  [[nodiscard]] std::size_t cols() const noexcept { return codes.cols(); }
  /// dtype the codes are stored in on disk before packing.
  [[nodiscard]] scalar_type code_type() const noexcept {
    if (args.is_int()) return scalar_type::int8;
    return args.is_fp8() ? scalar_type::float8_e4m3fn : scalar_type::float4_e2m1;
  }
  /// dtype the scales are stored in on disk: E8M0 bytes for MX, FP8 for NVFP4, else the model's.
  [[nodiscard]] scalar_type scale_type() const noexcept {
    if (args.is_mx()) return scalar_type::float8_e8m0;
    if (args.scale_dtype == qparam_dtype::float8_e4m3fn) return scalar_type::float8_e4m3fn;
    return model_dtype == scalar_type::float64 ? scalar_type::float32 : model_dtype;
  }
  /// Integer code at (r, c) (integer args only).
  [[nodiscard]] int int_code(std::size_t r, std::size_t c) const noexcept {
    return static_cast<std::int8_t>(codes(r, c));
  }
};

}  // namespace llmc
