// Tests for bfloat16, float16, float8_e4m3fn and float8_e5m2 against the independent enumerating
// reference in reference.hpp: every code decodes exactly and round-trips, and float -> code agrees
// with nearest/ties-to-even search on every boundary, tie, overflow, subnormal and special input
// plus a million random floats per format.
#include <type_traits>
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/float8.hpp"
#include "numeric/reference.hpp"

using llmc_test::bits_of;
using llmc_test::float_of;
using llmc_test::ref_format;

namespace {

constexpr std::size_t random_count = 1'000'000;

std::string hex(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%X", v);
  return buf;
}

/// Every code: decode equals the reference value bit for bit (signed zeros included), inf codes
/// decode to inf, NaN codes to NaN with the code's sign; encode(decode(c)) == c for every non-NaN
/// code and == sign | nan_code for NaN codes.
template <class T>
void check_all_codes(const ref_format& ref, std::uint32_t code_count) {
  std::size_t bad = 0;
  std::string first;
  for (std::uint32_t c = 0; c < code_count; ++c) {
    const T t = T::from_bits(static_cast<decltype(T{}.bits)>(c));
    const float f = static_cast<float>(t);
    const std::uint32_t sign = c & ref.sign_bit;
    const std::uint32_t mag = c & (ref.sign_bit - 1u);
    const bool is_inf_code = mag == ref.overflow_code && ref.overflow_code != ref.nan_code;
    bool decode_ok = false;
    std::uint32_t expect_back = c;
    if (mag <= ref.max_code) {
      decode_ok = bits_of(f) == bits_of(static_cast<float>(ref.decode_finite(c)));
    } else if (is_inf_code) {
      decode_ok = std::isinf(f) && std::signbit(f) == (sign != 0u);
    } else {
      // a NaN with the code's sign; quiet (float32 quiet bit set) except for bfloat16, whose
      // decode is the exact bit widening torch also does (a signaling bf16 NaN stays signaling).
      const bool quiet = (bits_of(f) & 0x00400000u) != 0u;
      decode_ok = std::isnan(f) && (quiet || std::is_same_v<T, llmc::bfloat16>) && std::signbit(f) == (sign != 0u);
      if constexpr (std::is_same_v<T, llmc::bfloat16>) decode_ok = decode_ok && bits_of(f) == (c << 16);
      expect_back = sign | ref.nan_code;  // the documented canonical NaN code
    }
    const std::uint32_t back = T(f).bits;
    if (!decode_ok || back != expect_back) {
      if (bad++ == 0) {
        first = "code " + hex(c) + " decodes to " + hex(bits_of(f)) + " and re-encodes to " +
                hex(back) + " (expected " + hex(expect_back) + ")";
      }
    }
  }
  INFO(first);
  CHECK(bad == 0u);
}

/// float -> code against the reference on the full input set of reference.hpp.
template <class T>
void check_conversion(const ref_format& ref) {
  const auto xs = llmc_test::conversion_inputs(ref, random_count);
  std::size_t bad = 0;
  std::string first;
  for (const float x : xs) {
    const std::uint32_t got = T(x).bits;
    const std::uint32_t want = ref.encode(x);
    if (got != want && bad++ == 0) {
      first = "input bits " + hex(bits_of(x)) + " (" + std::to_string(x) + "): got " + hex(got) +
              ", reference " + hex(want);
    }
  }
  INFO(first);
  INFO("inputs checked: ", xs.size());
  CHECK(xs.size() > 3 * random_count);
  CHECK(bad == 0u);
}

/// round_fn(x) must equal the reference's value after clamping x to [-clamp, clamp] (clamp = inf:
/// no clamping), with NaN staying NaN.
template <class RoundFn>
void check_round_fn(const ref_format& ref, RoundFn round_fn, double clamp) {
  const auto xs = llmc_test::conversion_inputs(ref, random_count / 4);
  std::size_t bad = 0;
  std::string first;
  for (const float x : xs) {
    const float got = round_fn(x);
    float want;
    if (std::isnan(x)) {
      want = x;
    } else {
      const double c = std::fmax(-clamp, std::fmin(clamp, static_cast<double>(x)));
      const std::uint32_t code = ref.encode(static_cast<float>(c));
      const std::uint32_t mag = code & (ref.sign_bit - 1u);
      if (mag > ref.max_code) {
        want = mag == ref.nan_code ? std::numeric_limits<float>::quiet_NaN()
                                   : ((code & ref.sign_bit) ? -INFINITY : INFINITY);
      } else {
        want = static_cast<float>(ref.decode_finite(code));
      }
    }
    if (!llmc_test::same_float(got, want) && bad++ == 0) {
      first = "input " + hex(bits_of(x)) + ": got " + hex(bits_of(got)) + ", want " +
              hex(bits_of(want));
    }
  }
  INFO(first);
  CHECK(bad == 0u);
}

}  // namespace

TEST_CASE("bfloat16: all 65536 codes decode exactly and round-trip (NaN -> 0x7FC0 | sign)") {
  check_all_codes<llmc::bfloat16>(llmc_test::ref_bf16(), 65536u);
}

TEST_CASE("bfloat16: float conversion matches the enumerating reference") {
  check_conversion<llmc::bfloat16>(llmc_test::ref_bf16());
}

TEST_CASE("bfloat16: hand-checked boundaries") {
  using llmc::bfloat16;
  CHECK(bfloat16(1.0f).bits == 0x3F80u);
  CHECK(bfloat16(float_of(0x3F808000u)).bits == 0x3F80u);  // 1 + 2^-8: tie, 0x3F80 is even
  CHECK(bfloat16(float_of(0x3F818000u)).bits == 0x3F82u);  // 1 + 3*2^-8: tie, rounds up to even
  CHECK(bfloat16(float_of(0x3F808001u)).bits == 0x3F81u);  // just above the tie
  CHECK(bfloat16(float_of(0x3FFF8000u)).bits == 0x4000u);  // carry into the next binade
  CHECK(bfloat16(float_of(0x7F7F8000u)).bits == 0x7F80u);  // tie above max (0x7F7F odd) -> inf
  CHECK(bfloat16(float_of(0x7F7F7FFFu)).bits == 0x7F7Fu);
  CHECK(bfloat16(-std::numeric_limits<float>::max()).bits == 0xFF80u);
  CHECK(bfloat16(float_of(0x00008000u)).bits == 0x0000u);  // subnormal tie -> even 0
  CHECK(bfloat16(float_of(0x00018000u)).bits == 0x0002u);  // subnormal tie -> even 2
  CHECK(bfloat16(float_of(0x007F8000u)).bits == 0x0080u);  // largest subnormal rounds to min normal
  CHECK(bfloat16(-0.0f).bits == 0x8000u);
  CHECK(bfloat16(float_of(0xFF800001u)).bits == 0xFFC0u);  // NaN keeps its sign, becomes quiet
  CHECK(static_cast<float>(bfloat16::from_bits(0x0001u)) == std::ldexp(1.0f, -133));
}

TEST_CASE("bfloat16: round_to_bfloat16 equals float(bfloat16(x)) bit for bit") {
  check_round_fn(
      llmc_test::ref_bf16(), [](float x) { return llmc::round_to_bfloat16(x); }, INFINITY);
  const auto xs = llmc_test::conversion_inputs(llmc_test::ref_bf16(), 1000);
  std::size_t bad = 0;
  for (const float x : xs) {
    bad += bits_of(llmc::round_to_bfloat16(x)) != bits_of(static_cast<float>(llmc::bfloat16(x)));
  }
  CHECK(bad == 0u);
}

TEST_CASE("float16: all 65536 codes decode exactly and round-trip (NaN -> 0x7E00 | sign)") {
  check_all_codes<llmc::float16>(llmc_test::ref_f16(), 65536u);
}

TEST_CASE("float16: float conversion matches the enumerating reference") {
  check_conversion<llmc::float16>(llmc_test::ref_f16());
}

TEST_CASE("float16: hand-checked boundaries") {
  using llmc::float16;
  CHECK(float16(1.0f).bits == 0x3C00u);
  CHECK(float16(1.0f + 0x1p-11f).bits == 0x3C00u);       // tie -> even
  CHECK(float16(1.0f + 3 * 0x1p-11f).bits == 0x3C02u);   // tie -> even (up)
  CHECK(float16(65504.0f).bits == 0x7BFFu);
  CHECK(float16(std::nextafter(65520.0f, 0.0f)).bits == 0x7BFFu);
  CHECK(float16(65520.0f).bits == 0x7C00u);              // tie between 65504 (odd) and inf
  CHECK(float16(-1e9f).bits == 0xFC00u);
  CHECK(float16(0x1p-24f).bits == 0x0001u);              // smallest subnormal
  CHECK(float16(0x1p-25f).bits == 0x0000u);              // tie with 0 -> even 0
  CHECK(float16(std::nextafter(0x1p-25f, 1.0f)).bits == 0x0001u);
  CHECK(float16(0x1.8p-24f).bits == 0x0002u);            // 1.5 steps: tie -> even 2
  CHECK(float16(0x1p-14f - 0x1p-25f).bits == 0x0400u);   // tie at the subnormal/normal boundary
  CHECK(float16(-0.0f).bits == 0x8000u);
  CHECK(float16(std::numeric_limits<float>::quiet_NaN()).bits == 0x7E00u);
  CHECK(static_cast<float>(float16::from_bits(0x3555u)) == 0x1.554p-2f);
}

TEST_CASE("float16: round_to_float16") {
  check_round_fn(llmc_test::ref_f16(), [](float x) { return llmc::round_to_float16(x); }, INFINITY);
}

TEST_CASE("float8_e4m3fn: all 256 codes decode exactly and round-trip (NaN -> 0x7F | sign)") {
  check_all_codes<llmc::float8_e4m3fn>(llmc_test::ref_e4m3fn(), 256u);
}

TEST_CASE("float8_e4m3fn: float conversion matches the enumerating reference") {
  check_conversion<llmc::float8_e4m3fn>(llmc_test::ref_e4m3fn());
}

TEST_CASE("float8_e4m3fn: hand-checked boundaries") {
  using llmc::float8_e4m3fn;
  CHECK(float8_e4m3fn(1.0f).bits == 0x38u);
  CHECK(float8_e4m3fn(0x1p-9f).bits == 0x01u);        // min subnormal
  CHECK(float8_e4m3fn(0x1p-10f).bits == 0x00u);       // half of it: tie -> even 0
  CHECK(float8_e4m3fn(0x1.8p-10f).bits == 0x01u);     // 0.75 step
  CHECK(float8_e4m3fn(0x1.8p-9f).bits == 0x02u);      // 1.5 steps: tie -> even 2
  CHECK(float8_e4m3fn(7.5f * 0x1p-9f).bits == 0x08u);  // tie: max subnormal 7 / min normal 8
  CHECK(float8_e4m3fn(240.0f).bits == 0x77u);
  CHECK(float8_e4m3fn(248.0f).bits == 0x78u);         // tie 240 (odd) / 256: into the next binade
  CHECK(float8_e4m3fn(448.0f).bits == 0x7Eu);
  CHECK(float8_e4m3fn(464.0f).bits == 0x7Eu);         // tie 448 (even) / 480 (the NaN slot)
  CHECK(float8_e4m3fn(std::nextafter(464.0f, 1e9f)).bits == 0x7Fu);  // non-saturating: NaN
  CHECK(float8_e4m3fn(-500.0f).bits == 0xFFu);
  CHECK(float8_e4m3fn(INFINITY).bits == 0x7Fu);
  CHECK(float8_e4m3fn(-INFINITY).bits == 0xFFu);
  CHECK(float8_e4m3fn(-0.0f).bits == 0x80u);
  CHECK(float8_e4m3fn(std::numeric_limits<float>::quiet_NaN()).bits == 0x7Fu);
  CHECK(static_cast<float>(float8_e4m3fn::from_bits(0x07u)) == 7 * 0x1p-9f);
  CHECK(std::isnan(static_cast<float>(float8_e4m3fn::from_bits(0xFFu))));
}

TEST_CASE("float8_e4m3fn: saturate_cast and round_to_float8_e4m3fn clamp to +-448 first") {
  using llmc::float8_e4m3fn;
  CHECK(llmc::saturate_cast<float8_e4m3fn>(1e6f).bits == 0x7Eu);
  CHECK(llmc::saturate_cast<float8_e4m3fn>(-INFINITY).bits == 0xFEu);
  CHECK(llmc::saturate_cast<float8_e4m3fn>(470.0f).bits == 0x7Eu);
  CHECK(llmc::saturate_cast<float8_e4m3fn>(std::numeric_limits<float>::quiet_NaN()).bits == 0x7Fu);
  CHECK(llmc::round_to_float8_e4m3fn(1000.0f) == 448.0f);
  CHECK(llmc::round_to_float8_e4m3fn(0.3f) == 0.3125f);  // 0.3 between 0.28125 and 0.3125
  check_round_fn(
      llmc_test::ref_e4m3fn(), [](float x) { return llmc::round_to_float8_e4m3fn(x); }, 448.0);
}

TEST_CASE("float8_e5m2: all 256 codes decode exactly and round-trip (NaN -> 0x7F | sign)") {
  check_all_codes<llmc::float8_e5m2>(llmc_test::ref_e5m2(), 256u);
}

TEST_CASE("float8_e5m2: float conversion matches the enumerating reference") {
  check_conversion<llmc::float8_e5m2>(llmc_test::ref_e5m2());
}

TEST_CASE("float8_e5m2: hand-checked boundaries") {
  using llmc::float8_e5m2;
  CHECK(float8_e5m2(1.0f).bits == 0x3Cu);
  CHECK(float8_e5m2(57344.0f).bits == 0x7Bu);
  CHECK(float8_e5m2(std::nextafter(61440.0f, 0.0f)).bits == 0x7Bu);
  CHECK(float8_e5m2(61440.0f).bits == 0x7Cu);        // tie 57344 (odd) / 65536 -> inf
  CHECK(float8_e5m2(-1e30f).bits == 0xFCu);
  CHECK(float8_e5m2(0x1p-16f).bits == 0x01u);
  CHECK(float8_e5m2(0x1p-17f).bits == 0x00u);        // tie -> even 0
  CHECK(float8_e5m2(0x1.8p-16f).bits == 0x02u);      // tie -> even 2
  CHECK(float8_e5m2(-std::numeric_limits<float>::quiet_NaN()).bits == 0xFFu);
  CHECK(std::isinf(static_cast<float>(float8_e5m2::from_bits(0xFCu))));
  CHECK(llmc::saturate_cast<float8_e5m2>(1e9f).bits == 0x7Bu);
  check_round_fn(
      llmc_test::ref_e5m2(), [](float x) { return llmc::round_to_float8_e5m2(x); }, 57344.0);
}

TEST_CASE("narrow floats: conversions are usable in constant expressions") {
  static_assert(llmc::float8_e4m3fn(-448.0f).bits == 0xFEu);
  static_assert(llmc::float8_e5m2(0x1p-16f).bits == 0x01u);
  static_assert(llmc::float16(0x1p-24f).bits == 0x0001u);
  static_assert(llmc::bfloat16(3.0f).bits == 0x4040u);
  static_assert(static_cast<float>(llmc::float8_e4m3fn::from_bits(0x01u)) == 0x1p-9f);
  static_assert(llmc::round_to_float8_e4m3fn(1e9f) == 448.0f);
  CHECK(llmc::float8_e4m3fn::max_finite == 448.0f);
  CHECK(llmc::float8_e5m2::max_finite == 57344.0f);
}
