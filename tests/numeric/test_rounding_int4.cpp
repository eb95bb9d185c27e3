// Tests for round_half_even (against std::nearbyint in the default rounding mode), int4/uint4 and
// sizeof_bits_v.
#include <doctest/doctest.h>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "llmc/numeric.hpp"
#include "numeric/reference.hpp"

using llmc_test::bits_of;
using llmc_test::float_of;

TEST_CASE("round_half_even: ties to even, signs, large values, specials") {
  using llmc::round_half_even;
  CHECK(round_half_even(0.5f) == 0.0f);
  CHECK(round_half_even(1.5f) == 2.0f);
  CHECK(round_half_even(2.5f) == 2.0f);
  CHECK(round_half_even(3.5f) == 4.0f);
  CHECK(round_half_even(-2.5f) == -2.0f);
  CHECK(round_half_even(-3.5f) == -4.0f);
  CHECK(round_half_even(2.5000002f) == 3.0f);
  CHECK(round_half_even(0.49999997f) == 0.0f);  // floor(x + 0.5) would give 1
  CHECK(bits_of(round_half_even(-0.4f)) == 0x80000000u);  // -0.0 like torch.round
  CHECK(bits_of(round_half_even(-0.5f)) == 0x80000000u);
  CHECK(bits_of(round_half_even(-0.0f)) == 0x80000000u);
  CHECK(round_half_even(8388607.5f) == 8388608.0f);  // 2^23 - 0.5: tie, 2^23 is even
  CHECK(round_half_even(8388609.0f) == 8388609.0f);  // >= 2^23: unchanged
  CHECK(round_half_even(1e30f) == 1e30f);
  CHECK(round_half_even(-INFINITY) == -INFINITY);
  CHECK(std::isnan(round_half_even(std::numeric_limits<float>::quiet_NaN())));
  CHECK(round_half_even(127.5f) == 128.0f);  // int8 quantization: 127.5 -> 128, then clamped
  CHECK(round_half_even(7.5f) == 8.0f);
  CHECK(llmc::round_half_even_to_int(-6.5f) == -6);
  CHECK(llmc::round_half_even_to_int(101.5f) == 102);
}

TEST_CASE("round_half_even: equals std::nearbyint (nearest-even mode) on random and tie inputs") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  std::mt19937 rng(1234u);
  std::uniform_int_distribution<std::uint32_t> any;
  std::uniform_real_distribution<float> small(-300.0f, 300.0f);
  std::size_t bad = 0;
  std::uint32_t first = 0;
  const auto check = [&](float x) {
    const float got = llmc::round_half_even(x);
    const float want = std::nearbyint(x);
    if (!llmc_test::same_float(got, want) && bad++ == 0) first = bits_of(x);
  };
  for (int i = 0; i < 2'000'000; ++i) {
    check(float_of(any(rng)));
    check(small(rng));
  }
  for (int i = -100000; i <= 100000; ++i) check(static_cast<float>(i) + 0.5f);  // every tie
  CAPTURE(first);
  CHECK(bad == 0u);
}

TEST_CASE("round_clamp_to_int: round(clamp(x)) of the int quantizers, NaN -> 0") {
  using llmc::round_clamp_to_int;
  CHECK(round_clamp_to_int(7.5f, -8.0f, 7.0f) == 7);     // rounds to 8, clamped to 7
  CHECK(round_clamp_to_int(6.5f, -8.0f, 7.0f) == 6);     // tie -> even
  CHECK(round_clamp_to_int(-8.5f, -8.0f, 7.0f) == -8);
  CHECK(round_clamp_to_int(-1e30f, -8.0f, 7.0f) == -8);
  CHECK(round_clamp_to_int(INFINITY, -128.0f, 127.0f) == 127);
  CHECK(round_clamp_to_int(-INFINITY, -128.0f, 127.0f) == -128);
  volatile float nan = std::numeric_limits<float>::quiet_NaN();  // runtime value: no folding
  CHECK(round_clamp_to_int(nan, -8.0f, 7.0f) == 0);
  CHECK(round_clamp_to_int(-nan, -128.0f, 127.0f) == 0);
  CHECK(round_clamp_to_int(-0.4f, -8.0f, 7.0f) == 0);
  CHECK(round_clamp_to_int(101.5f, -128.0f, 127.0f) == 102);
  // Agrees with clamp-then-round (the order CT writes) on a dense grid including every tie.
  for (int i = -4000; i <= 4000; ++i) {
    const float x = static_cast<float>(i) / 256.0f;
    const float c = x < -8.0f ? -8.0f : (x > 7.0f ? 7.0f : x);
    REQUIRE(round_clamp_to_int(x, -8.0f, 7.0f) == static_cast<int>(std::nearbyint(c)));
  }
}

TEST_CASE("int4 / uint4: range, wrapping, clamping, bits") {
  using llmc::int4;
  using llmc::uint4;
  for (int v = -8; v <= 7; ++v) {
    CHECK(static_cast<int>(int4(v)) == v);
    CHECK(static_cast<int>(int4::from_bits(int4(v).bits())) == v);
  }
  CHECK(static_cast<int>(int4(8)) == -8);   // wraps modulo 16
  CHECK(static_cast<int>(int4(-9)) == 7);
  CHECK(static_cast<int>(int4(23)) == 7);
  CHECK(int4(-1).bits() == 0xFu);
  CHECK(int4(-8).bits() == 0x8u);
  CHECK(static_cast<int>(int4::clamped(100)) == 7);
  CHECK(static_cast<int>(int4::clamped(-100)) == -8);
  CHECK(int4(3) == int4(19));
  for (int v = 0; v <= 15; ++v) CHECK(static_cast<int>(uint4(v)) == v);
  CHECK(static_cast<int>(uint4(16)) == 0);
  CHECK(static_cast<int>(uint4(-1)) == 15);
  CHECK(static_cast<int>(uint4::clamped(-3)) == 0);
  CHECK(static_cast<int>(uint4::clamped(99)) == 15);
}

TEST_CASE("sizeof_bits_v") {
  static_assert(llmc::sizeof_bits_v<float> == 32);
  static_assert(llmc::sizeof_bits_v<double> == 64);
  static_assert(llmc::sizeof_bits_v<std::int8_t> == 8);
  static_assert(llmc::sizeof_bits_v<llmc::bfloat16> == 16);
  static_assert(llmc::sizeof_bits_v<llmc::float16> == 16);
  static_assert(llmc::sizeof_bits_v<llmc::float8_e4m3fn> == 8);
  static_assert(llmc::sizeof_bits_v<llmc::float8_e5m2> == 8);
  static_assert(llmc::sizeof_bits_v<llmc::float8_e8m0> == 8);
  static_assert(llmc::sizeof_bits_v<llmc::float4_e2m1> == 4);
  static_assert(llmc::sizeof_bits_v<const llmc::float4_e2m1> == 4);
  static_assert(llmc::sizeof_bits_v<llmc::int4> == 4);
  static_assert(llmc::sizeof_bits_v<llmc::uint4> == 4);
  // Runtime use, as a packer sizing a buffer would.
  const int bits[] = {llmc::sizeof_bits_v<llmc::float4_e2m1>, llmc::sizeof_bits_v<llmc::bfloat16>};
  CHECK(bits[0] * 2 == 8);
  CHECK(bits[1] == 16);
}
