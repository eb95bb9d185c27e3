// tests/numeric/reference.hpp — slow, obviously-correct reference models the numeric tests compare
// the library against. Nothing here calls llmc: a narrow float format is described by its exponent
// width, mantissa width and bias, every finite value is enumerated as a double from the textbook
// formula, and conversion picks the nearest enumerated value (ties to the even code) by search.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace llmc_test {

inline std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float float_of(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

/// A binary float format with `man` mantissa bits and exponent bias `bias`, whose magnitude codes
/// 0..max_code are finite. Codes above max_code are inf/NaN; `overflow_code` is what a magnitude
/// that rounds past max_code becomes (inf, or NaN for e4m3fn), `nan_code` what NaN becomes.
struct ref_format {
  int man;
  int bias;
  std::uint32_t max_code;
  std::uint32_t overflow_code;
  std::uint32_t nan_code;
  std::uint32_t sign_bit;
  std::vector<double> values;  // values[c] for c = 0 .. max_code + 1 (the last one is virtual)

  ref_format(int man_bits, int bias_, std::uint32_t max_code_, std::uint32_t overflow_code_,
             std::uint32_t nan_code_, std::uint32_t sign_bit_)
      : man(man_bits), bias(bias_), max_code(max_code_), overflow_code(overflow_code_),
        nan_code(nan_code_), sign_bit(sign_bit_) {
    for (std::uint32_t c = 0; c <= max_code + 1; ++c) values.push_back(formula(c));
  }

  /// Textbook value of magnitude code c:
  /// subnormal m * 2^(1-bias-man), normal (1 + m/2^man) * 2^(e-bias).
  [[nodiscard]] double formula(std::uint32_t c) const {
    const std::uint32_t e = c >> man;
    const std::uint32_t m = c & ((1u << man) - 1u);
    if (e == 0) return std::ldexp(static_cast<double>(m), 1 - bias - man);
    return std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -man), static_cast<int>(e) - bias);
  }

  /// Round-to-nearest, ties to even code, with the format's overflow rule.
  [[nodiscard]] std::uint32_t encode(float x) const {
    const std::uint32_t sign = std::signbit(x) ? sign_bit : 0u;
    if (std::isnan(x)) return sign | nan_code;
    const double a = std::fabs(static_cast<double>(x));
    const double virtual_next = values[max_code + 1];
    if (a >= virtual_next) return sign | overflow_code;
    // lo = largest code with value <= a
    const auto it = std::upper_bound(values.begin(), values.end(), a);
    const auto lo = static_cast<std::uint32_t>((it - values.begin()) - 1);
    std::uint32_t pick = lo;
    if (values[lo] != a) {
      const std::uint32_t hi = lo + 1;
      const double d_lo = a - values[lo];
      const double d_hi = values[hi] - a;
      if (d_hi < d_lo || (d_hi == d_lo && (hi % 2u) == 0u)) pick = hi;
    }
    if (pick > max_code) return sign | overflow_code;
    return sign | pick;
  }

  /// Value of a finite code (with sign) as double; caller handles inf/NaN codes.
  [[nodiscard]] double decode_finite(std::uint32_t code) const {
    const double v = values[code & (sign_bit - 1u)];
    return (code & sign_bit) ? -v : v;
  }
};

// The four formats under test, as the OCP OFP8 and IEEE specifications define them.
inline const ref_format& ref_e4m3fn() {
  static const ref_format f(3, 7, 0x7E, 0x7F, 0x7F, 0x80);  // no inf: overflow -> NaN
  return f;
}
inline const ref_format& ref_e5m2() {
  static const ref_format f(2, 15, 0x7B, 0x7C, 0x7F, 0x80);
  return f;
}
inline const ref_format& ref_f16() {
  static const ref_format f(10, 15, 0x7BFF, 0x7C00, 0x7E00, 0x8000);
  return f;
}
inline const ref_format& ref_bf16() {
  static const ref_format f(7, 127, 0x7F7F, 0x7F80, 0x7FC0, 0x8000);
  return f;
}

/// The inputs every float -> narrow conversion is checked on: each representable value, each
/// midpoint between neighbours (an exact tie), each midpoint +- 1 float ulp, each value +- 1 ulp,
/// the overflow boundary, a dense sweep of the subnormal range, signed zeros, infinities, NaNs
/// with several payloads, float32 subnormals, and `random_count` random floats (uniform over bit
/// patterns, and log-uniform across the format's range), both signs, fixed seed.
inline std::vector<float> conversion_inputs(const ref_format& f, std::size_t random_count) {
  std::vector<float> xs;
  const auto push_both = [&](float v) {
    xs.push_back(v);
    xs.push_back(-v);
  };
  const float big = std::numeric_limits<float>::max();
  for (std::uint32_t c = 0; c <= f.max_code + 1; ++c) {
    // bf16's virtual next value 2^128 is not a float
    if (f.values[c] <= static_cast<double>(big)) {
      const auto v = static_cast<float>(f.values[c]);
      push_both(v);
      push_both(std::nextafter(v, 0.0f));
      push_both(std::nextafter(v, big));
    }
    if (c > 0) {
      const double mid = 0.5 * (f.values[c - 1] + f.values[c]);
      const auto m = static_cast<float>(mid);
      if (static_cast<double>(m) == mid) {  // midpoints of these formats are exact floats
        push_both(m);
        push_both(std::nextafter(m, 0.0f));
        push_both(std::nextafter(m, big));
      }
    }
  }
  // Subnormal range of the format and a little beyond the first normal.
  const double step = f.values[1];
  const double min_normal = f.values[1u << f.man];
  for (double v = 0; v <= 3.0 * min_normal; v += step / 8.0) push_both(static_cast<float>(v));
  // Specials.
  push_both(0.0f);
  push_both(std::numeric_limits<float>::infinity());
  push_both(big);
  push_both(std::numeric_limits<float>::denorm_min());
  push_both(std::numeric_limits<float>::min());
  for (std::uint32_t nan : {0x7FC00000u, 0x7F800001u, 0x7FFFFFFFu, 0x7FA00000u}) {
    xs.push_back(float_of(nan));
    xs.push_back(float_of(nan | 0x80000000u));
  }
  std::mt19937_64 rng(20240917u);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  const double lo = std::log2(f.values[1]) - 2.0;
  const double hi = std::log2(f.values[f.max_code + 1]) + 1.0;
  std::uniform_real_distribution<double> log_range(lo, hi);
  for (std::size_t i = 0; i < random_count; ++i) {
    xs.push_back(float_of(any_bits(rng)));
    const auto v = static_cast<float>(std::exp2(log_range(rng)));
    xs.push_back((i & 1u) ? -v : v);
    xs.push_back(float_of(any_bits(rng) & 0x807FFFFFu));  // float32 subnormals
  }
  return xs;
}

/// Bitwise float equality that treats any two NaNs as equal.
inline bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return bits_of(a) == bits_of(b);
}

}  // namespace llmc_test
