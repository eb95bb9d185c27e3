// Golden scales and codes for hand-checked matrices, per preset. Each expected value is derived
// in the comment beside it from the rules of spec §4 (scale = absmax / (bit_range/2), round half
// to even after clamping, E4M3 ties to even, the E2M1 thresholds, E8M0 power-of-two scales).
#include <doctest/doctest.h>

#include <vector>

#include "llmc/scheme.hpp"

using namespace llmc;

namespace {
matrix<float> rows_of(std::vector<std::vector<float>> rows) {
  matrix<float> m(rows.size(), rows[0].size());
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < rows[r].size(); ++c) m(r, c) = rows[r][c];
  return m;
}
std::vector<int> int_codes(const quantized_tensor& q, std::size_t r) {
  std::vector<int> v;
  for (std::size_t c = 0; c < q.cols(); ++c) v.push_back(q.int_code(r, c));
  return v;
}
}  // namespace

TEST_CASE("W8A8 weights: int8 per channel, symmetric") {
  const auto w = rows_of({
      {127.5f, -3.2f, 10.5f, 11.5f, -0.5f, 2.5f, -2.5f, 100.49f},  // absmax 127.5 -> scale 1
      {0, 0, 0, 0, 0, 0, 0, 0},                                   // absmax 0 -> scale = fp32 eps 2^-23
      {-255, 1, 2, 3, 128, 127, -1, 0.9f},                        // absmax 255 -> scale 2
  });
  const auto q = quantize_weight(presets::W8A8{}, w);
  REQUIRE(q.params.scale.rows() == 3);
  REQUIRE(q.params.scale.cols() == 1);
  CHECK(q.params.scale(0, 0) == 1.0f);
  CHECK(q.params.scale(1, 0) == 0x1p-23f);
  CHECK(q.params.scale(2, 0) == 2.0f);
  CHECK(q.params.zero_point.empty());  // symmetric: no zero points at all
  // 127.5 clamps to 127; -3.2 -> -3; 10.5 -> 10 and 11.5 -> 12 (ties to even); -0.5 -> -0 -> 0.
  CHECK(int_codes(q, 0) == std::vector<int>{127, -3, 10, 12, 0, 2, -2, 100});
  CHECK(int_codes(q, 1) == std::vector<int>(8, 0));
  // /2: -127.5 -> -128 (tie to even), 0.5 -> 0, 1, 1.5 -> 2, 64, 63.5 -> 64, -0.5 -> 0, 0.45 -> 0.
  CHECK(int_codes(q, 2) == std::vector<int>{-128, 0, 1, 2, 64, 64, 0, 0});
  const auto d = dequantize<float>(q);
  CHECK(d(0, 0) == 127.0f);
  CHECK(d(2, 0) == -256.0f);
  CHECK(q.code_type() == scalar_type::int8);
  CHECK(q.scale_type() == scalar_type::float32);
}

TEST_CASE("bf16 arithmetic: x / scale is rounded to bf16 before rounding to an integer") {
  // The spec's example: with bf16 scales 304 / 3 = 101.33 becomes bf16 101.5 and then rounds to 102.
  // absmax 382 (a bf16 value) gives 382 / 127.5 = 2.99608, which is bf16 3.0.
  matrix<bfloat16> w(1, 2);
  w(0, 0) = bfloat16(382.0f);
  w(0, 1) = bfloat16(304.0f);
  const auto q = quantize_weight(presets::W8A8{}, w);
  CHECK(q.params.scale(0, 0) == 3.0f);
  CHECK(q.int_code(0, 1) == 102);
  CHECK(q.scale_type() == scalar_type::bfloat16);
  // In fp32 the same weights give scale 2.996078 and 304 / 2.996078 = 101.47 -> 101.
  matrix<float> wf(1, 2);
  wf(0, 0) = 382.0f;
  wf(0, 1) = 304.0f;
  CHECK(quantize_weight(presets::W8A8{}, wf).int_code(0, 1) == 101);
}

TEST_CASE("W4A16: int4 groups of 128, packed eight per int32") {
  matrix<float> w(2, 256, 0.0f);
  const float g0[] = {7.5f, -7.5f, 3.5f, 4.5f, -7.4f, 0.49f};  // absmax 7.5 -> scale 7.5/7.5 = 1
  const float g1[] = {15, -1, 3, -15, 5, 1};                  // absmax 15 -> scale 2
  for (int c = 0; c < 6; ++c) {
    w(0, c) = g0[c];
    w(1, c) = g1[c];
  }
  w(1, 200) = -30.0f;  // row 1, group 1: absmax 30 -> scale 4; -30/4 = -7.5 -> -8
  const auto q = quantize_weight(presets::W4A16{}, w);
  REQUIRE(q.params.scale.rows() == 2);
  REQUIRE(q.params.scale.cols() == 2);
  CHECK(q.params.scale(0, 0) == 1.0f);
  CHECK(q.params.scale(0, 1) == 0x1p-23f);  // an all-zero group
  CHECK(q.params.scale(1, 0) == 2.0f);
  CHECK(q.params.scale(1, 1) == 4.0f);
  // 7.5 -> clamp 7; -7.5 -> -8 (even); 3.5 -> 4; 4.5 -> 4; -7.4 -> -7; 0.49 -> 0.
  const auto row0 = int_codes(q, 0), row1 = int_codes(q, 1);
  CHECK(std::vector<int>(row0.begin(), row0.begin() + 6) == std::vector<int>{7, -8, 4, 4, -7, 0});
  // 7.5 -> 7; -0.5 -> 0; 1.5 -> 2; -7.5 -> -8; 2.5 -> 2; 0.5 -> 0.
  CHECK(std::vector<int>(row1.begin(), row1.begin() + 6) == std::vector<int>{7, 0, 2, -8, 2, 0});
  CHECK(q.int_code(1, 200) == -8);
  const auto packed = pack_int_codes(q);
  REQUIRE(packed.rows() == 2);
  REQUIRE(packed.cols() == 32);  // 256 columns * 4 bits / 32
  // Row 0, columns 0..7, offset +8: nibbles F,0,C,C,1,8,8,8 from the lowest: 0x8881CC0F (negative).
  CHECK(packed(0, 0) == static_cast<std::int32_t>(0x8881CC0Fu));
  CHECK(packed(0, 0) == -2004759537);
  // Row 1: nibbles F,8,A,0,A,8,8,8 -> 0x888A0A8F.
  CHECK(packed(1, 0) == static_cast<std::int32_t>(0x888A0A8Fu));
  // A word of zeros (all codes 0) is 0x88888888.
  CHECK(packed(0, 5) == static_cast<std::int32_t>(0x88888888u));
  CHECK(unpack_int_codes(packed, 256, 4) == matrix<std::int8_t>::from(q.codes, [](std::uint8_t b) { return static_cast<std::int8_t>(b); }));
}

TEST_CASE("W4A16_ASYM: scale (max-min)/15 and zero point q_min - min/scale") {
  matrix<float> w(1, 128, 0.0f);
  const float v[] = {-3, 12, 0, 4.5f, 1};  // min -3, max 12 -> scale 1, zp = -8 - (-3) = -5
  for (int c = 0; c < 5; ++c) w(0, c) = v[c];
  const auto q = quantize_weight(presets::W4A16_ASYM{}, w);
  CHECK(q.params.scale(0, 0) == 1.0f);
  REQUIRE_FALSE(q.params.zero_point.empty());
  CHECK(q.params.zero_point(0, 0) == -5);
  // x/s + zp: -3-5 = -8; 12-5 = 7; 0-5 = -5; 4.5-5 = -0.5 -> -0 -> 0; 1-5 = -4.
  const auto row0 = int_codes(q, 0);
  CHECK(std::vector<int>(row0.begin(), row0.begin() + 5) == std::vector<int>{-8, 7, -5, 0, -4});
  const auto d = dequantize<float>(q);
  CHECK(d(0, 0) == -3.0f);
  CHECK(d(0, 3) == 5.0f);  // (0 - (-5)) * 1
  // Zero points pack along the output dimension: one row -> one word holding zp+8 = 3 in the low nibble,
  // the padding rows as zero (code -8 -> 0).
  const auto zp = pack_zero_points(q);
  REQUIRE(zp.rows() == 1);
  REQUIRE(zp.cols() == 1);
  CHECK(zp(0, 0) == 3);
  CHECK(unpack_zero_points(zp, 1, 4)(0, 0) == -5);
}

TEST_CASE("FP8 (per tensor) and FP8_DYNAMIC (per channel) weights") {
  const auto w = rows_of({{448, -1, 0.3f, 17}, {-896, 0, 2, 3}});
  const auto qt = quantize_weight(presets::FP8{}, w);
  REQUIRE(qt.params.scale.size() == 1);
  CHECK(qt.params.scale(0, 0) == 2.0f);  // tensor absmax 896 / 448
  auto val = [](const quantized_tensor& q, std::size_t r, std::size_t c) {
    return static_cast<float>(float8_e4m3fn::from_bits(q.codes(r, c)));
  };
  CHECK(val(qt, 0, 0) == 224.0f);     // 448/2
  CHECK(val(qt, 0, 1) == -0.5f);      // -1/2
  CHECK(val(qt, 0, 2) == 0.15625f);   // 0.15 is 9.6 steps of 2^-6 in [0.125, 0.25): rounds to 10 steps
  CHECK(val(qt, 0, 3) == 8.0f);       // 8.5 is a tie between 8 and 9 in [8, 16): the even mantissa is 8
  CHECK(val(qt, 1, 0) == -448.0f);
  CHECK(qt.code_type() == scalar_type::float8_e4m3fn);
  const auto qc = quantize_weight(presets::FP8_DYNAMIC{}, w);
  REQUIRE(qc.params.scale.rows() == 2);
  CHECK(qc.params.scale(0, 0) == 1.0f);  // row absmax 448
  CHECK(qc.params.scale(1, 0) == 2.0f);  // row absmax 896
  CHECK(val(qc, 0, 3) == 16.0f);  // 17 lies in [16, 32) where the step is 2: a tie of 16/18 -> 16 (even)
}

TEST_CASE("FP8_BLOCK: 128x128 blocks, partial blocks at the edges") {
  matrix<float> w(130, 256, 0.0f);
  w(0, 0) = 448.0f;     // block (0,0): scale 1
  w(129, 255) = -896.0f; // block (1,1) holds rows 128..129 only: scale 2
  w(5, 130) = 44.8f;     // block (0,1): scale 0.1
  const auto q = quantize_weight(presets::FP8_BLOCK{}, w);
  REQUIRE(q.params.scale.rows() == 2);
  REQUIRE(q.params.scale.cols() == 2);
  CHECK(q.params.scale(0, 0) == 1.0f);
  CHECK(q.params.scale(1, 1) == 2.0f);
  CHECK(q.params.scale(0, 1) == 44.8f / 448.0f);
  CHECK(q.params.scale(1, 0) == 0x1p-23f);  // an all-zero block: fp32 eps
  CHECK(static_cast<float>(float8_e4m3fn::from_bits(q.codes(129, 255))) == -448.0f);
}

TEST_CASE("NVFP4A16: fp32 global scale 2688/absmax, fp8 local scales, E2M1 codes") {
  matrix<float> w(1, 32, 0.0f);
  // Tensor absmax 2688 -> global scale 2688/2688 = 1.
  w(0, 0) = 2688.0f;   // group 0: local scale fp8(1 * 2688/6 = 448) = 448; 2688/448 = 6 -> code 0x7
  w(0, 1) = -1344.0f;  // -3 -> sign | index of 3.0 (5) = 0xD
  const float g1[] = {6, -0.1f, 0.25f, 0.75f, 5, 2.5f};  // group 1: absmax 6 -> local scale 1
  for (int c = 0; c < 6; ++c) w(0, 16 + c) = g1[c];
  const auto q = quantize_weight(presets::NVFP4A16{}, w);
  CHECK(q.params.global_scale == 1.0f);
  CHECK(q.params.scale(0, 0) == 448.0f);
  CHECK(q.params.scale(0, 1) == 1.0f);
  CHECK(q.codes(0, 0) == 0x7);
  CHECK(q.codes(0, 1) == 0xD);
  CHECK(q.codes(0, 2) == 0x0);  // exact zero stays +0
  // 6 -> 6 (0x7); -0.1 -> -0 (0x8); 0.25 -> 0; 0.75 -> 1.0 (0x2); 5 -> 4 (0x6); 2.5 -> 2 (0x4).
  const std::uint8_t expect[] = {0x7, 0x8, 0x0, 0x2, 0x6, 0x4};
  for (int c = 0; c < 6; ++c) CHECK(q.codes(0, 16 + c) == expect[c]);
  CHECK(q.scale_type() == scalar_type::float8_e4m3fn);
  // Packing: two codes per byte, even column in the low nibble: (0x7, 0xD) -> 0xD7.
  const auto p = pack_fp4_codes(q);
  REQUIRE(p.cols() == 16);
  CHECK(p(0, 0) == 0xD7);
  CHECK(p(0, 8) == 0x87);  // columns 16 (0x7) and 17 (0x8)
  CHECK(unpack_fp4_codes(p) == q.codes);
  const auto d = dequantize<float>(q);
  CHECK(d(0, 0) == 2688.0f);
  CHECK(d(0, 19) == 1.0f);
}

TEST_CASE("MXFP4A16: E8M0 power-of-two scales per 32 columns") {
  matrix<float> w(1, 64, 0.0f);
  w(0, 0) = 6.0f;    // group 0: absmax 6 = 1.5 * 2^2 rounds down to 4 -> exponent 127 + 2 - 2 -> scale 1
  w(0, 1) = -2.5f;   // -2.5 -> -2 (tie of (1.75, 2.5] goes to 2): 0xC
  w(0, 32) = 7.0f;   // group 1: absmax 7 = 1.75 * 2^2 rounds up to 8 -> scale 2; 7/2 = 3.5 -> 4 (0x6)
  const auto q = quantize_weight(presets::MXFP4A16{}, w);
  CHECK(q.params.scale(0, 0) == 1.0f);
  CHECK(q.params.scale(0, 1) == 2.0f);
  CHECK(q.codes(0, 0) == 0x7);
  CHECK(q.codes(0, 1) == 0xC);
  CHECK(q.codes(0, 32) == 0x6);
  CHECK(q.scale_type() == scalar_type::float8_e8m0);
}
