// llmc/core/simd.hpp — the few explicit SIMD operations the host kernels need.
//
// GCC (through version 12) does not vectorize float min/max reductions written in plain C++
// without -ffast-math, because of NaN and signed-zero ordering. These helpers use the GCC/Clang
// vector extensions, which the compiler lowers to whatever the target has (SSE2 by default,
// AVX2/AVX-512 with llmc::native), with a scalar fallback for other compilers. Semantics are
// those of `v < m ? v : m` lane by lane, NaNs are not propagated (callers reject NaN inputs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
// Passing 64-byte vectors between inlined helpers changed ABI in GCC 4.x/7: a note, not a problem here.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace llmc::simd {

#if defined(__GNUC__) || defined(__clang__)
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

/// Min and max of n floats produced by load(i) for i in [0, n), where Load16 loads 16 at once.
/// Element types: float (load as is) or uint16 bf16 bits (widened by a shift).
inline void minmax_f32(const float* in, std::size_t n, float& mn_out, float& mx_out) noexcept {
  float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
  std::size_t i = 0;
#if LLMC_HAS_VECTOR_EXT
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
#if LLMC_HAS_VECTOR_EXT
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
