// llmc/scheme/quantize_avx512.hpp — AVX-512 kernel for the hot loop of weight quantization:
// bfloat16 weights to INT (symmetric or asymmetric) or FP8 E4M3 codes, 16 lanes at a time.
//
// Same results as detail::quantize_element (the scalar reference in quantize.hpp), bit for bit,
// for every input; tests/scheme/test_quantize_simd.cpp checks every bf16 value against it.
// Three rewrites make it ~3x cheaper than what the compiler makes of the scalar form:
//  * x / s becomes x * (1/s). The product is within 3 ulp of the correctly rounded quotient, and
//    only the quotient's rounding to bf16 is observed, which can differ only when the quotient's
//    low 16 bits sit near the rounding midpoint 0x8000. Lanes within +-8 of it (probability
//    ~2.6e-4 per element) make the whole vector redo the true division: the rare branch keeps
//    compressed-tensors' bit-exactness ([CT] forward_helpers.py _quantize: x / scale in bf16).
//  * round-to-nearest-even and the int conversion are one vcvtps2dq (MXCSR's default mode, the
//    mode llmc requires everywhere) after a float clamp, and NaN lanes are zeroed by a mask
//    (torch's `.to(int8)` of NaN gives 0 on x86).
//  * FP8: the clamp to +-448 is an unsigned min on the magnitude bits; scaled by 2^-120, the E4M3
//    grid is every float with 20 low zero bits, so one integer rounding gives normal and
//    subnormal codes alike.
// Compiled only when the translation unit targets AVX-512F+BW+VL (llmc::native on such a CPU).
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define LLMC_HAS_AVX512_QUANTIZE 1

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "llmc/core/config.hpp"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// GCC 12's intrinsics start conversions from _mm512_undefined_*(), which -Wmaybe-uninitialized
// then reports at every inlined use (GCC bug 105593); nothing here reads an undefined value.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace llmc::detail::avx512 {

enum class code_kind : std::uint8_t { int_sym, int_asym, fp8, fp4 };

/// bf16 rounding of fp32 lanes that are not NaN (compute_dtype<bfloat16>::round_non_nan).
LLMC_ALWAYS_INLINE __m512i round_bf16_bits(__m512i u) noexcept {
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb);
  return _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xFFFF0000u)));
}

/// True when 1/s can stand in for the divide: both normal (a subnormal or infinite reciprocal
/// would lose the 3-ulp bound).
inline bool reciprocal_usable(float s, float r) noexcept {
  auto normal = [](float v) {
    std::uint32_t b;
    std::memcpy(&b, &v, sizeof b);
    const std::uint32_t e = (b >> 23) & 0xFFu;
    return e != 0u && e != 0xFFu;
  };
  return normal(s) && normal(r);
}

/// 16 codes from 16 bf16 values (as fp32 lanes x).
template <code_kind K>
LLMC_ALWAYS_INLINE __m128i codes16(__m512 x, __m512 vs, __m512 vr, bool use_reciprocal, __m512 vzp, __m512 vlo,
                                   __m512 vhi) noexcept {
  __m512 q;
  if (use_reciprocal) {
    q = _mm512_mul_ps(x, vr);
    const __m512i low = _mm512_and_si512(_mm512_castps_si512(q), _mm512_set1_epi32(0xFFFF));
    const __mmask16 near =
        _mm512_cmplt_epu32_mask(_mm512_sub_epi32(low, _mm512_set1_epi32(0x8000 - 8)), _mm512_set1_epi32(17));
    if (near != 0) [[unlikely]] q = _mm512_div_ps(x, vs);
  } else {
    q = _mm512_div_ps(x, vs);
  }
  const __mmask16 is_number = _mm512_cmp_ps_mask(q, q, _CMP_ORD_Q);
  __m512i y = round_bf16_bits(_mm512_castps_si512(q));
  if constexpr (K == code_kind::int_sym || K == code_kind::int_asym) {
    if constexpr (K == code_kind::int_asym)
      y = round_bf16_bits(_mm512_castps_si512(_mm512_add_ps(_mm512_castsi512_ps(y), vzp)));
    // Clamp, then round (equal to round-then-clamp for integer bounds); the float clamp keeps
    // huge quotients away from vcvtps2dq's INT_MIN overflow value; max_ps returns its second
    // operand for NaN lanes, which the mask then zeroes.
    __m512 f = _mm512_max_ps(_mm512_castsi512_ps(y), vlo);
    f = _mm512_min_ps(f, vhi);
    return _mm512_cvtepi32_epi8(_mm512_maskz_mov_epi32(is_number, _mm512_cvtps_epi32(f)));
  } else if constexpr (K == code_kind::fp4) {
    // compressed-tensors' cast_to_fp4 of the clamped quotient: bf16 rounding (y), then the E2M1
    // thresholds on |y| (the clamp to +-6 is implied: everything past 5 is index 7), sign bit for
    // y < 0 only (-0.0 and NaN give 0; float4.hpp). Bit patterns of non-negative floats order
    // like their values, so the thresholds are unsigned integer compares.
    const __m512i a = _mm512_and_si512(y, _mm512_set1_epi32(0x7FFFFFFF));
    __m512i idx = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x3E800000)), idx, one);  // > 0.25
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(0x3F400000)), idx, one);  // >= 0.75
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x3FA00000)), idx, one);  // > 1.25
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(0x3FE00000)), idx, one);  // >= 1.75
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x40200000)), idx, one);  // > 2.5
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(0x40600000)), idx, one);  // >= 3.5
    idx = _mm512_mask_add_epi32(idx, _mm512_cmpgt_epu32_mask(a, _mm512_set1_epi32(0x40A00000)), idx, one);  // > 5
    const __mmask16 negative = _mm512_cmpgt_epu32_mask(y, _mm512_set1_epi32(static_cast<int>(0x80000000u)));
    idx = _mm512_mask_or_epi32(idx, negative, idx, _mm512_set1_epi32(8));
    return _mm512_cvtepi32_epi8(_mm512_maskz_mov_epi32(is_number, idx));
  } else {
    __m512i a = _mm512_and_si512(y, _mm512_set1_epi32(0x7FFFFFFF));
    a = _mm512_min_epu32(a, _mm512_set1_epi32(0x43E00000));  // |y| <= 448
    // |y| * 2^-120 puts the E4M3 grid on the floats whose low 20 bits are zero, normals and
    // subnormals alike (2^-6 -> 2^-126, the smallest normal float; the E4M3 subnormal k 2^-9 ->
    // the float subnormal k << 20). The product is exact for every bf16 |y| >= 2^-22, and
    // anything smaller rounds to 0 either way. One integer round-to-nearest-even of the bit
    // pattern then gives the code.
    const __m512i z = _mm512_castps_si512(_mm512_mul_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(0x1p-120f)));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(z, 20), _mm512_set1_epi32(1));
    __m512i code = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(z, _mm512_set1_epi32(0x7FFFF)), lsb), 20);
    code = _mm512_mask_blend_epi32(is_number, _mm512_set1_epi32(0x7F), code);
    const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(y, 24), _mm512_set1_epi32(0x80));
    return _mm512_cvtepi32_epi8(_mm512_or_si512(code, sign));
  }
}

/// Codes of n bf16 values (bit patterns) sharing one slot (scale s, zero point zp, integer range
/// [q_min, q_max]; FP8 ignores zp and the range). The tail is handled with masked loads/stores.
template <code_kind K>
inline void quantize_bf16_run(const std::uint16_t* LLMC_RESTRICT in, std::size_t n, std::uint8_t* LLMC_RESTRICT out,
                              float s, float zp, float q_min, float q_max) noexcept {
  const float r = 1.0f / s;
  const bool use_reciprocal = reciprocal_usable(s, r);
  const __m512 vs = _mm512_set1_ps(s), vr = _mm512_set1_ps(r), vzp = _mm512_set1_ps(zp);
  const __m512 vlo = _mm512_set1_ps(q_min), vhi = _mm512_set1_ps(q_max);
  auto widen = [](__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); };
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    const __m512 x1 = widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i + 16)));
    const __m128i c0 = codes16<K>(x0, vs, vr, use_reciprocal, vzp, vlo, vhi);
    const __m128i c1 = codes16<K>(x1, vs, vr, use_reciprocal, vzp, vlo, vhi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), c0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + 16), c1);
  }
  for (; i < n; i += 16) {
    const std::size_t left = n - i < 16 ? n - i : 16;
    const auto m = static_cast<__mmask16>((1u << left) - 1u);
    const __m512 x = widen(_mm256_maskz_loadu_epi16(m, in + i));
    _mm_mask_storeu_epi8(out + i, m, codes16<K>(x, vs, vr, use_reciprocal, vzp, vlo, vhi));
  }
}

}  // namespace llmc::detail::avx512

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif
