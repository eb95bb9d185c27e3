// llmc/scheme/qparams.hpp — where quantization parameters live and how they are computed.
//
// qparam_layout gives the shape of the scale / zero-point tensors for a [rows, cols] tensor and
// the slot of each element (spec §4.3, §4.8): tensor [1,1], channel and token [rows,1], group and
// tensor_group [rows, ceil(cols/g)], block [ceil(rows/bh), ceil(cols/bw)]. calculate_qparams is
// compressed-tensors' calculate_qparams ([CT] quantization/utils/helpers.py) for one slot, with
// every intermediate rounded to the compute dtype T exactly where torch rounds it.
// Invariant: a returned scale is never 0 and is exactly representable in its storage dtype.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/numeric/e8m0.hpp"
#include "llmc/numeric/float8.hpp"
#include "llmc/numeric/rounding.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/scheme/quant_args.hpp"

namespace llmc {

/// Shape of the qparam tensors of one quantized tensor, and the element -> slot map.
struct qparam_layout {
  quant_strategy strategy = quant_strategy::tensor;
  std::size_t rows = 0, cols = 0;        ///< the quantized tensor's shape
  std::size_t slot_rows = 1, slot_cols = 1;  ///< the scale tensor's shape
  std::size_t group = 0;                 ///< columns per slot along a row (group, block width)
  std::size_t block_height = 0;          ///< rows per slot (block strategy)

  constexpr qparam_layout() = default;
  constexpr qparam_layout(const quant_args& a, std::size_t r, std::size_t c) : strategy(a.strategy), rows(r), cols(c) {
    switch (a.strategy) {
      case quant_strategy::tensor: slot_rows = 1; slot_cols = 1; group = c; break;
      case quant_strategy::channel:
      case quant_strategy::token: slot_rows = r; slot_cols = 1; group = c; break;
      case quant_strategy::group:
      case quant_strategy::tensor_group:
        // Sizes <= 0 are invalid args (validate_quant_args); kept at 1 so the layout never divides by 0.
        group = a.group_size > 0 ? static_cast<std::size_t>(a.group_size) : 1;
        slot_rows = r; slot_cols = (c + group - 1) / group; break;
      case quant_strategy::block:
        block_height = a.block_rows > 0 ? static_cast<std::size_t>(a.block_rows) : 1;
        group = a.block_cols > 0 ? static_cast<std::size_t>(a.block_cols) : 1;
        slot_rows = (r + block_height - 1) / block_height; slot_cols = (c + group - 1) / group; break;
      case quant_strategy::attn_head: slot_rows = r; slot_cols = 1; group = c; break;
    }
    if (group == 0) group = 1;  // empty tensors
  }
  [[nodiscard]] constexpr std::size_t slot_row(std::size_t r) const noexcept {
    switch (strategy) {
      case quant_strategy::tensor: return 0;
      case quant_strategy::block: return r / block_height;
      default: return r;
    }
  }
  [[nodiscard]] constexpr std::size_t slot_col(std::size_t c) const noexcept {
    return strategy == quant_strategy::tensor || strategy == quant_strategy::channel || strategy == quant_strategy::token
               ? 0 : c / group;
  }
  [[nodiscard]] constexpr std::size_t slots() const noexcept { return slot_rows * slot_cols; }
};

/// Whether compressed-tensors itself accepts this shape for the args (group and block need the
/// columns to divide: [CT] lifecycle/forward_helpers.py _process_group raises otherwise; blocks are
/// padded by rows but the scale init requires divisible columns, spec §4.8). llmc can quantize the
/// other shapes too (a partial last group), but a checkpoint for vLLM must not contain them.
/// Returns an empty string when it fits, else the reason.
inline std::string check_shape_fits(const quant_args& a, std::size_t rows, std::size_t cols) {
  (void)rows;
  if (a.strategy == quant_strategy::group || a.strategy == quant_strategy::tensor_group) {
    if (cols % static_cast<std::size_t>(a.group_size) != 0)
      return "input width " + std::to_string(cols) + " is not a multiple of group_size " + std::to_string(a.group_size) +
             "; use a group size that divides it, a channel-wise config group for this layer, or ignore it";
  }
  if (a.strategy == quant_strategy::block && cols % static_cast<std::size_t>(a.block_cols) != 0)
    return "input width " + std::to_string(cols) + " is not a multiple of the block width " + std::to_string(a.block_cols);
  if (a.is_fp4() && cols % 2 != 0) return "FP4 packs two values per byte: the input width must be even";
  return {};
}

/// Scale and zero point of one slot. zero_point is an integer value (0 when symmetric).
struct slot_qparams {
  float scale = 1.0f;
  float zero_point = 0.0f;
};

/// NVFP4 global scale (generate_gparam, spec §4.5): (448 * 6) / absmax in fp32, absmax clamped to
/// the smallest normal fp32; a non-finite result becomes 1 (CT >= 0.15).
LLMC_HOST_DEVICE inline float nvfp4_global_scale(float min_val, float max_val) noexcept {
  float absmax = std::max(std::fabs(std::min(min_val, 0.0f)), std::fabs(std::max(max_val, 0.0f)));
  absmax = std::max(absmax, 1.17549435e-38f);
  const float gs = (448.0f * 6.0f) / absmax;
  return std::isfinite(gs) ? gs : 1.0f;
}

/// calculate_qparams for one slot ([CT] quantization/utils/helpers.py). min/max are values of the
/// compute dtype T; global_scale > 0 only for tensor_group. A NaN min/max gives unspecified
/// qparams (the dtype roundings are the cheaper non-NaN forms: this runs once per group of 32-128
/// weights); NaN weights are rejected before quantization (llmc.pipeline / the NaN scan).
template <class T>
LLMC_HOST_DEVICE LLMC_ALWAYS_INLINE slot_qparams calculate_qparams_inline(const quant_args& a, float min_val,
                                                                         float max_val, float global_scale = 0.0f) noexcept {
  using D = compute_dtype<T>;
  min_val = std::min(min_val, 0.0f);
  max_val = std::max(max_val, 0.0f);
  const float q_min = a.q_min(), q_max = a.q_max();
  const float bit_range = q_max - q_min;
  slot_qparams p;
  bool scale_in_fp32 = false;
  if (a.symmetric) {
    const float absmax = std::max(std::fabs(min_val), std::fabs(max_val));
    if (a.is_mx()) {
      // MX: a power-of-two E8M0 scale; the element's largest exponent is floor(log2(max)).
      const int element_max_exponent = a.num_bits == 4 ? 2 : 8;
      p.scale = static_cast<float>(mx_scale_from_absmax(absmax, element_max_exponent));
      return p;  // never zero; eps for uint8 scale dtype is irrelevant
    }
    p.scale = D::round_non_nan(absmax / (bit_range / 2.0f));
  } else {
    p.scale = D::round_non_nan(D::round_non_nan(max_val - min_val) / bit_range);
    // zp = q_min - min/scale, in T; 0/0 (an all-zero slot) would be NaN in torch: any zero point
    // represents 0 exactly then, and we pick 0.
    const float ratio = p.scale != 0.0f ? D::round_non_nan(min_val / p.scale) : 0.0f;
    float zp = p.scale != 0.0f ? D::round_non_nan(q_min - ratio) : 0.0f;
    zp = std::clamp(zp, q_min, q_max);
    p.zero_point = round_half_even(std::clamp(zp, -128.0f, 127.0f));
  }
  if (global_scale > 0.0f) {
    // global_scale is an fp32 tensor of shape [1]: torch promotes the product to fp32.
    p.scale = global_scale * p.scale;
    scale_in_fp32 = true;
  }
  if (a.scale_dtype == qparam_dtype::float8_e4m3fn) {
    p.scale = round_to_float8_e4m3fn(p.scale);  // clamp to +-448 then cast (RNE), back to float
    if (p.scale == 0.0f) p.scale = 0.125f;      // eps of the fp8 scale dtype
    return p;
  }
  if (p.scale == 0.0f) p.scale = scale_in_fp32 ? compute_dtype<float>::eps : D::eps;
  return p;
}

/// calculate_qparams_inline as an ordinary function (most callers: once per slot of a statistic).
/// The fused weight quantizer inlines the other one, so that constant args fold its branches.
template <class T>
LLMC_HOST_DEVICE inline slot_qparams calculate_qparams(const quant_args& a, float min_val, float max_val,
                                                       float global_scale = 0.0f) noexcept {
  return calculate_qparams_inline<T>(a, min_val, max_val, global_scale);
}

}  // namespace llmc
