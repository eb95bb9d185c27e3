// llmc/scheme/compute_dtype.hpp — arithmetic "in the model's dtype", emulated bit-exactly.
//
// compressed-tensors evaluates qparams and quantization in the observed tensor's dtype (spec §4.2,
// §4.3): a bf16 op is an fp32 op whose result is rounded to bf16 (round-to-nearest-even). The
// compute_dtype<T> policy gives that rounding and the zero-scale epsilon (torch.finfo(T).eps) for
// the three model dtypes, so every formula below is written once and is exact for each of them.
// round_non_nan is the same rounding for callers that handle NaN themselves (the quantize loops
// test the quotient once instead of masking NaN at every rounding step).
#pragma once

#include <cstdint>
#include <type_traits>

#include "llmc/core/config.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/scalar_type.hpp"

namespace llmc {

/// Primary: not a model dtype (see model_dtype and require_model_dtype below).
template <class T>
struct compute_dtype {};

template <>
struct compute_dtype<float> {
  static constexpr scalar_type type = scalar_type::float32;
  static constexpr float eps = 1.1920928955078125e-07f;  // 2^-23
  LLMC_HOST_DEVICE static constexpr float round(float x) noexcept { return x; }
  LLMC_HOST_DEVICE static constexpr float round_non_nan(float x) noexcept { return x; }
  LLMC_HOST_DEVICE static constexpr float to_float(float x) noexcept { return x; }
  LLMC_HOST_DEVICE static constexpr float from_float(float x) noexcept { return x; }
};
template <>
struct compute_dtype<double> {
  // fp64 checkpoints are computed in fp32 (scales and codes are stored at most in fp32 anyway).
  static constexpr scalar_type type = scalar_type::float32;
  static constexpr float eps = 1.1920928955078125e-07f;
  LLMC_HOST_DEVICE static constexpr float round(float x) noexcept { return x; }
  LLMC_HOST_DEVICE static constexpr float round_non_nan(float x) noexcept { return x; }
  LLMC_HOST_DEVICE static constexpr float to_float(double x) noexcept { return static_cast<float>(x); }
  LLMC_HOST_DEVICE static constexpr double from_float(float x) noexcept { return x; }
};
template <>
struct compute_dtype<bfloat16> {
  static constexpr scalar_type type = scalar_type::bfloat16;
  static constexpr float eps = 0.0078125f;  // 2^-7
  LLMC_HOST_DEVICE static constexpr float round(float x) noexcept { return round_to_bfloat16(x); }
  /// round(x) for every non-NaN x (infinities included); unspecified for NaN. Five integer ops
  /// instead of round's eight: the sign rides along in the add because rounding the magnitude
  /// can carry into the exponent but, for non-NaN inputs, never out of bit 30.
  LLMC_HOST_DEVICE static constexpr float round_non_nan(float x) noexcept {
    const std::uint32_t u = detail::float_to_bits(x);
    return detail::bits_to_float((u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u);
  }
  LLMC_HOST_DEVICE static constexpr float to_float(bfloat16 x) noexcept { return static_cast<float>(x); }
  LLMC_HOST_DEVICE static constexpr bfloat16 from_float(float x) noexcept { return bfloat16(x); }
};
template <>
struct compute_dtype<float16> {
  static constexpr scalar_type type = scalar_type::float16;
  static constexpr float eps = 0.0009765625f;  // 2^-10
  LLMC_HOST_DEVICE static constexpr float round(float x) noexcept { return round_to_float16(x); }
  LLMC_HOST_DEVICE static constexpr float round_non_nan(float x) noexcept { return round_to_float16(x); }
  LLMC_HOST_DEVICE static constexpr float to_float(float16 x) noexcept { return static_cast<float>(x); }
  LLMC_HOST_DEVICE static constexpr float16 from_float(float x) noexcept { return float16(x); }
};

template <class T>
concept model_dtype = requires { compute_dtype<std::remove_cv_t<T>>::type; };

template <class T>
constexpr bool require_model_dtype() {
  static_assert(model_dtype<T>,
                "llmc: weights must be float, double, llmc::bfloat16 or llmc::float16 (the dtypes a "
                "Hugging Face checkpoint stores); convert other element types first");
  return true;
}

}  // namespace llmc
