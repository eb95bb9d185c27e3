// Parity of the quantize hot loop with a plain reference, compiled with llmc::native so that the
// AVX-512 kernel (scheme/quantize_avx512.hpp) and the SSE4.1 round_even path are the code under
// test on a CPU that has them. Every bf16 bit pattern (NaN, inf, subnormals, both zeros included)
// is quantized with many scales, chosen so that quotients land on and around the bf16 rounding
// midpoints where the reciprocal shortcut must fall back to the true division.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "llmc/scheme/quantize.hpp"

using namespace llmc;
using detail::kernel_family;

namespace {

/// compressed-tensors' element math written the plain way: fp32 divide, bf16 rounding with NaN
/// kept, round(clamp(.)) for integers with NaN -> 0, clamp then the E4M3 cast for FP8.
std::uint8_t reference_code(kernel_family f, float x, float s, float zp, float q_min, float q_max) {
  float y = round_to_bfloat16(x / s);
  if (f == kernel_family::fp8) {
    y = std::min(std::max(y, -448.0f), 448.0f);  // NaN stays NaN through std::max/min here
    return float8_e4m3fn(y).bits;
  }
  if (f == kernel_family::fp4) {
    float q = x / s;  // fp32 division, clamp, then cast_to_fp4 (which rounds to bf16 itself)
    q = std::min(std::max(q, -6.0f), 6.0f);
    return ct_cast_to_fp4(q).bits;
  }
  if (f == kernel_family::int_asym) y = round_to_bfloat16(y + zp);
  if (std::isnan(y)) return 0;
  y = std::min(std::max(y, q_min), q_max);
  return static_cast<std::uint8_t>(static_cast<std::int8_t>(round_half_even(y)));
}

std::vector<bfloat16> every_bf16() {
  std::vector<bfloat16> v(65536);
  for (std::uint32_t b = 0; b < 65536; ++b) v[b] = bfloat16::from_bits(static_cast<std::uint16_t>(b));
  return v;
}

struct scale_case {
  float s;
  std::size_t begin, end;  // the slice of every_bf16() to quantize with it
};

/// Scales that matter, each with the slice of bf16 values it is checked on: ordinary ones, one
/// with a subnormal-adjacent reciprocal, a subnormal one (no reciprocal shortcut), huge ones and
/// random ones on all 65536 values; then 3000 scales aimed so that x / s lands within a few ulp of
/// a bf16 rounding midpoint (low 16 bits 0x7FF0..0x8010), checked on the 4096 values around that
/// x. A fixed scale meets only 128 distinct bf16 mantissas, so without the aimed ones the
/// reciprocal shortcut's fallback would practically never be exercised.
std::vector<scale_case> scale_cases() {
  std::vector<scale_case> v;
  for (const float s : {1.0f, 0.0078125f, 3.0e-4f, 0.0157f, 0.05f / 127.5f, 7.3e-3f, 0.1f, 1.0e-30f, 1.0e-39f,
                        3.0e38f, 2.5e37f, 6.1e-5f, 1.0f / 3.0f})
    v.push_back({s, 0, 65536});
  std::mt19937 gen(20261127);
  std::uniform_real_distribution<float> e(-20.0f, 4.0f);
  for (int i = 0; i < 20; ++i) v.push_back({std::exp2(e(gen)), 0, 65536});
  std::uniform_int_distribution<std::uint32_t> bits(0x3000u, 0x4300u), low(0x7FF0u, 0x8010u), hi(0x3C00u, 0x4300u);
  while (v.size() < 3033) {
    const std::uint32_t xb = bits(gen);
    const float x = static_cast<float>(bfloat16::from_bits(static_cast<std::uint16_t>(xb)));
    const float q = detail::bits_to_float((hi(gen) << 16) | low(gen));
    const float s = x / q;
    if (!(s > 0.0f) || !std::isfinite(s)) continue;
    const std::size_t begin = (xb & ~0xFFFu);
    v.push_back({s, begin, begin + 4096});
  }
  return v;
}

template <kernel_family F>
void check_family(float q_min, float q_max, float zp) {
  const auto xs = every_bf16();
  std::vector<std::uint8_t> out(xs.size());
  std::size_t mismatches = 0, near_midpoint = 0;
  std::string first;
  for (const scale_case& sc : scale_cases()) {
    // The run kernel, with lengths that exercise the 32-wide body and the masked tail.
    for (const std::size_t n : {std::size_t{4096}, std::size_t{37}}) {
      std::size_t covered = sc.begin;
      for (; covered + n <= sc.end; covered += n)
        detail::quantize_run<F, bfloat16>(xs.data() + covered, n, out.data() + covered, sc.s, zp, q_min, q_max, false);
      for (std::size_t i = sc.begin; i < covered; ++i) {
        const float x = static_cast<float>(xs[i]);
        const std::uint32_t low16 = detail::float_to_bits(x / sc.s) & 0xFFFFu;
        near_midpoint += low16 >= 0x7FFDu && low16 <= 0x8003u;
        const std::uint8_t want = reference_code(F, x, sc.s, zp, q_min, q_max);
        const std::uint8_t scalar = detail::quantize_element<F, bfloat16>(x, sc.s, zp, q_min, q_max, false);
        if (out[i] != want || scalar != want) {
          if (mismatches++ == 0)
            first = "bf16 bits " + std::to_string(xs[i].bits) + " s " + std::to_string(sc.s) + " want " +
                    std::to_string(want) + " run " + std::to_string(out[i]) + " element " + std::to_string(scalar);
        }
      }
    }
  }
#if defined(LLMC_HAS_AVX512_QUANTIZE)
  INFO("run kernel: AVX-512");
#else
  INFO("run kernel: portable loop (this build has no AVX-512 kernel)");
#endif
  INFO(first);
  CHECK(near_midpoint > 2000);  // the aimed scales did their job
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("quantize hot loop == plain reference on every bf16 value: INT8 symmetric") {
  check_family<kernel_family::int_sym>(-128.0f, 127.0f, 0.0f);
}
TEST_CASE("quantize hot loop == plain reference on every bf16 value: INT4 symmetric") {
  check_family<kernel_family::int_sym>(-8.0f, 7.0f, 0.0f);
}
TEST_CASE("quantize hot loop == plain reference on every bf16 value: INT4 asymmetric") {
  check_family<kernel_family::int_asym>(-8.0f, 7.0f, 3.0f);
  check_family<kernel_family::int_asym>(-8.0f, 7.0f, -8.0f);
}
TEST_CASE("quantize hot loop == plain reference on every bf16 value: FP8 E4M3") {
  check_family<kernel_family::fp8>(-448.0f, 448.0f, 0.0f);
}
TEST_CASE("quantize hot loop == plain reference on every bf16 value: FP4 E2M1 (NVFP4, MX)") {
  check_family<kernel_family::fp4>(-6.0f, 6.0f, 0.0f);
}

TEST_CASE("the E4M3 magnitude code equals float8_e4m3fn on every bf16 value and fp32 samples") {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const float y = static_cast<float>(bfloat16::from_bits(static_cast<std::uint16_t>(b)));
    if (std::isnan(y) || std::fabs(y) > 448.0f) continue;
    const std::uint32_t u = detail::float_to_bits(y);
    const std::uint32_t code = detail::e4m3_magnitude_code(u & 0x7FFFFFFFu) | ((u >> 24) & 0x80u);
    REQUIRE(code == float8_e4m3fn(y).bits);
  }
  // fp32 values on both sides of every E4M3 midpoint (NVFP4/fp32 models feed unrounded quotients).
  for (std::uint32_t c = 0; c < 0x7E; ++c) {
    const float lo = static_cast<float>(float8_e4m3fn::from_bits(static_cast<std::uint8_t>(c)));
    const float hi = static_cast<float>(float8_e4m3fn::from_bits(static_cast<std::uint8_t>(c + 1)));
    const float mid = 0.5f * (lo + hi);
    for (const float y : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1000.0f), lo, hi}) {
      const std::uint32_t u = detail::float_to_bits(y);
      REQUIRE(detail::e4m3_magnitude_code(u) == float8_e4m3fn(y).bits);
    }
  }
}

TEST_CASE("round_even is round_half_even on every float of magnitude below 2^24 (sampled densely)") {
  // Every float in [0, 2^24) would be 2^31 values; every 13th bit pattern covers all binades and
  // both parities of the midpoints.
  std::size_t mismatches = 0;
  for (std::uint32_t b = 0; b < 0x4B800000u; b += 13) {
    const float x = detail::bits_to_float(b);
    mismatches += detail::float_to_bits(detail::round_even(x)) != detail::float_to_bits(round_half_even(x));
    mismatches += detail::float_to_bits(detail::round_even(-x)) != detail::float_to_bits(round_half_even(-x));
  }
  CHECK(mismatches == 0);
}

#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize_weight.hpp"

namespace {
template <class Scheme, class T>
void check_fused_pack(std::size_t rows, std::size_t cols, int_packing layout) {
  matrix<T> w(rows, cols);
  std::mt19937 gen(static_cast<std::uint32_t>(rows * 131 + cols));
  std::normal_distribution<float> d(0.0f, 0.02f);
  for (auto& v : w.storage()) v = static_cast<T>(d(gen));
  w(0, 0) = static_cast<T>(0.5f);  // an outlier, so slots differ
  quantized_tensor separate;
  quantize_weight_into(separate, Scheme{}, w);
  const auto words_separate = pack_int_codes(separate, layout);
  quantized_tensor fused;
  matrix<std::int32_t> words_fused;
  quantize_pack_weight_into(words_fused, fused, Scheme{}, w, layout);
  REQUIRE(words_fused.rows() == words_separate.rows());
  REQUIRE(words_fused.cols() == words_separate.cols());
  CHECK(std::equal(words_fused.storage().begin(), words_fused.storage().end(), words_separate.storage().begin()));
  CHECK(std::equal(fused.codes.storage().begin(), fused.codes.storage().end(), separate.codes.storage().begin()));
  CHECK(std::equal(fused.params.scale.storage().begin(), fused.params.scale.storage().end(),
                   separate.params.scale.storage().begin()));
  // Reusing both buffers (the pipeline's pattern) gives the same bytes again.
  quantize_pack_weight_into(words_fused, fused, Scheme{}, w, layout);
  CHECK(std::equal(words_fused.storage().begin(), words_fused.storage().end(), words_separate.storage().begin()));
}
using W4_CHANNEL = scheme<quant_args{.num_bits = 4, .strategy = quant_strategy::channel}>;
using W4_MSE = scheme<quant_args{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32,
                                 .observer = observer_kind::mse}>;
}  // namespace

TEST_CASE("quantize_pack_weight_into gives the bytes of quantize_weight_into + pack_int_codes_into") {
  check_fused_pack<presets::W4A16, bfloat16>(96, 512, int_packing::dense);
  check_fused_pack<presets::W4A16_ASYM, bfloat16>(96, 384, int_packing::dense);
  check_fused_pack<presets::W8A16, bfloat16>(40, 256, int_packing::dense);
  check_fused_pack<presets::W4A16, float>(33, 200, int_packing::dense);       // partial last group
  check_fused_pack<W4_CHANNEL, bfloat16>(70, 172, int_packing::legacy_per_word);
  check_fused_pack<W4_MSE, bfloat16>(16, 64, int_packing::dense);            // the MSE observer path
  quantized_tensor q;
  matrix<std::int32_t> words;
  const matrix<bfloat16> w(4, 32);
  CHECK_THROWS_AS(quantize_pack_weight_into(words, q, presets::FP8{}, w), config_error);
}

TEST_CASE("the SIMD min/max (all widths this CPU build takes) equals a plain loop for every length 1..300") {
  std::mt19937 gen(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<bfloat16> v(300);
  std::vector<float> f(300);
  for (std::size_t i = 0; i < v.size(); ++i) {
    v[i] = bfloat16(d(gen));
    f[i] = static_cast<float>(v[i]);
  }
  v[37] = bfloat16(-7.5f);  // extremes at positions inside and past the first vectors
  f[37] = -7.5f;
  v[250] = bfloat16(9.0f);
  f[250] = 9.0f;
  std::size_t wrong = 0;
  for (std::size_t n = 1; n <= v.size(); ++n) {
    for (std::size_t at : {std::size_t{0}, std::size_t{1}}) {
      if (at + n > v.size()) continue;
      float want_mn = f[at], want_mx = f[at];
      for (std::size_t i = at; i < at + n; ++i) {
        want_mn = std::min(want_mn, f[i]);
        want_mx = std::max(want_mx, f[i]);
      }
      float mn, mx, fmn, fmx;
      detail::run_minmax(v.data() + at, n, mn, mx);
      detail::run_minmax(f.data() + at, n, fmn, fmx);
      wrong += mn != want_mn || mx != want_mx || fmn != want_mn || fmx != want_mx;
    }
  }
  CHECK(wrong == 0);
}
