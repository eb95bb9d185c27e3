// llmc/core/simd.hpp — the few explicit SIMD operations the host kernels need.
//
// GCC (through version 12) does not vectorize float min/max reductions written in plain C++
// without -ffast-math, because of NaN and signed-zero ordering. With AVX-512 or AVX2 enabled
// (llmc::native) these helpers use intrinsics with two accumulator pairs: the portable vector-
// extension form made GCC keep the accumulators in memory, one store-forwarding round trip per
// 16 lanes (measured: 1 cycle per element, 4x slower than the loads). Other targets use the GCC/
// Clang vector extensions (SSE2) and other compilers a scalar loop. Lane semantics are those of
// `v < m ? v : m`; NaN lanes may or may not be ignored (callers reject NaN inputs first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LLMC_SIMD_INLINE inline __attribute__((always_inline))
#else
#define LLMC_SIMD_INLINE inline
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// Passing 64-byte vectors between inlined helpers changed ABI in GCC 4.x/7: a note, not a problem here.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace llmc::simd {

// nvcc's host pass crashes (an internal error) on __builtin_convertvector: scalar loops there.
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define LLMC_HAS_VECTOR_EXT 1
using f32x16 = float __attribute__((vector_size(64)));
using u32x16 = std::uint32_t __attribute__((vector_size(64)));
using u16x16 = std::uint16_t __attribute__((vector_size(32)));
#else
#define LLMC_HAS_VECTOR_EXT 0
#endif

#if LLMC_HAS_VECTOR_EXT
using f32x8 = float __attribute__((vector_size(32)));
using f32x4 = float __attribute__((vector_size(16)));
/// Horizontal min and max of 16 lanes by halving (4 vector steps instead of 15 scalar ones: this
/// runs once per qparam slot, i.e. every 32-128 elements for group strategies).
inline void reduce_minmax(const f32x16& vmn, const f32x16& vmx, float& mn, float& mx) noexcept {
  f32x8 a_lo, a_hi, b_lo, b_hi;
  std::memcpy(&a_lo, &vmn, 32);
  std::memcpy(&a_hi, reinterpret_cast<const char*>(&vmn) + 32, 32);
  std::memcpy(&b_lo, &vmx, 32);
  std::memcpy(&b_hi, reinterpret_cast<const char*>(&vmx) + 32, 32);
  const f32x8 a8 = a_hi < a_lo ? a_hi : a_lo, b8 = b_hi > b_lo ? b_hi : b_lo;
  f32x4 c_lo, c_hi, d_lo, d_hi;
  std::memcpy(&c_lo, &a8, 16);
  std::memcpy(&c_hi, reinterpret_cast<const char*>(&a8) + 16, 16);
  std::memcpy(&d_lo, &b8, 16);
  std::memcpy(&d_hi, reinterpret_cast<const char*>(&b8) + 16, 16);
  const f32x4 c4 = c_hi < c_lo ? c_hi : c_lo, d4 = d_hi > d_lo ? d_hi : d_lo;
  float x = c4[0], y = d4[0];
  for (int j = 1; j < 4; ++j) {
    x = c4[j] < x ? c4[j] : x;
    y = d4[j] > y ? d4[j] : y;
  }
  mn = x < mn ? x : mn;
  mx = y > mx ? y : mx;
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
#define LLMC_SIMD_MINMAX_AVX512 1
/// Min/max over n >= 32 lanes loaded 16 at a time by load(i); two accumulator pairs so the
/// loop-carried dependency is not the bottleneck (1 min + 1 max per 16 lanes per cycle pair).
template <class Load>
LLMC_SIMD_INLINE void minmax_avx512(Load load, std::size_t n, std::size_t& i, float& mn, float& mx) noexcept {
  __m512 mn0 = load(0), mx0 = mn0, mn1 = load(16), mx1 = mn1;
  for (i = 32; i + 32 <= n; i += 32) {
    const __m512 a = load(i), b = load(i + 16);
    mn0 = _mm512_min_ps(mn0, a);
    mx0 = _mm512_max_ps(mx0, a);
    mn1 = _mm512_min_ps(mn1, b);
    mx1 = _mm512_max_ps(mx1, b);
  }
  if (i + 16 <= n) {
    const __m512 a = load(i);
    mn0 = _mm512_min_ps(mn0, a);
    mx0 = _mm512_max_ps(mx0, a);
    i += 16;
  }
  mn = _mm512_reduce_min_ps(_mm512_min_ps(mn0, mn1));
  mx = _mm512_reduce_max_ps(_mm512_max_ps(mx0, mx1));
}
#elif defined(__AVX2__)
#define LLMC_SIMD_MINMAX_AVX2 1
template <class Load>
LLMC_SIMD_INLINE void minmax_avx2(Load load, std::size_t n, std::size_t& i, float& mn, float& mx) noexcept {
  __m256 mn0 = load(0), mx0 = mn0, mn1 = load(8), mx1 = mn1;
  for (i = 16; i + 16 <= n; i += 16) {
    const __m256 a = load(i), b = load(i + 8);
    mn0 = _mm256_min_ps(mn0, a);
    mx0 = _mm256_max_ps(mx0, a);
    mn1 = _mm256_min_ps(mn1, b);
    mx1 = _mm256_max_ps(mx1, b);
  }
  mn0 = _mm256_min_ps(mn0, mn1);
  mx0 = _mm256_max_ps(mx0, mx1);
  alignas(32) float lo[8], hi[8];
  _mm256_store_ps(lo, mn0);
  _mm256_store_ps(hi, mx0);
  mn = lo[0];
  mx = hi[0];
  for (int j = 1; j < 8; ++j) {
    mn = lo[j] < mn ? lo[j] : mn;
    mx = hi[j] > mx ? hi[j] : mx;
  }
}
#endif

/// Min and max of n floats. NaN lanes may or may not be ignored (callers reject NaN inputs).
inline void minmax_f32(const float* in, std::size_t n, float& mn_out, float& mx_out) noexcept {
  float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
  std::size_t i = 0;
#if defined(LLMC_SIMD_MINMAX_AVX512)
  if (n >= 32) minmax_avx512([in](std::size_t at) { return _mm512_loadu_ps(in + at); }, n, i, mn, mx);
#elif defined(LLMC_SIMD_MINMAX_AVX2)
  if (n >= 16) minmax_avx2([in](std::size_t at) { return _mm256_loadu_ps(in + at); }, n, i, mn, mx);
#elif LLMC_HAS_VECTOR_EXT
  if (n >= 16) {
    f32x16 vmn, vmx, v;
    std::memcpy(&vmn, in, sizeof vmn);
    vmx = vmn;
    for (i = 16; i + 16 <= n; i += 16) {
      std::memcpy(&v, in + i, sizeof v);
      vmn = v < vmn ? v : vmn;
      vmx = v > vmx ? v : vmx;
    }
    reduce_minmax(vmn, vmx, mn, mx);
  }
#endif
  for (; i < n; ++i) {
    mn = in[i] < mn ? in[i] : mn;
    mx = in[i] > mx ? in[i] : mx;
  }
  mn_out = mn;
  mx_out = mx;
}

/// The same over bfloat16 bit patterns (a bf16 is the top half of its float).
inline void minmax_bf16_bits(const std::uint16_t* in, std::size_t n, float& mn_out, float& mx_out) noexcept {
  float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
  std::size_t i = 0;
#if defined(LLMC_SIMD_MINMAX_AVX512)
  if (n >= 32) {
    minmax_avx512(
        [in](std::size_t at) {
          const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + at));
          return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        },
        n, i, mn, mx);
  } else if (n >= 16) {  // NVFP4's groups of 16: one vector
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in));
    const __m512 v = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    mn = _mm512_reduce_min_ps(v);
    mx = _mm512_reduce_max_ps(v);
    i = 16;
  }
#elif defined(LLMC_SIMD_MINMAX_AVX2)
  if (n >= 16) {
    minmax_avx2(
        [in](std::size_t at) {
          const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + at));
          return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        },
        n, i, mn, mx);
  }
#elif LLMC_HAS_VECTOR_EXT
  if (n >= 16) {
    auto load = [&](std::size_t at) {
      u16x16 h;
      std::memcpy(&h, in + at, sizeof h);
      const u32x16 w = __builtin_convertvector(h, u32x16) << 16;
      f32x16 f;
      std::memcpy(&f, &w, sizeof f);
      return f;
    };
    f32x16 vmn = load(0), vmx = vmn;
    for (i = 16; i + 16 <= n; i += 16) {
      const f32x16 v = load(i);
      vmn = v < vmn ? v : vmn;
      vmx = v > vmx ? v : vmx;
    }
    reduce_minmax(vmn, vmx, mn, mx);
  }
#endif
  for (; i < n; ++i) {
    const std::uint32_t w = static_cast<std::uint32_t>(in[i]) << 16;
    float v;
    std::memcpy(&v, &w, sizeof v);
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  mn_out = mn;
  mx_out = mx;
}

}  // namespace llmc::simd

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
