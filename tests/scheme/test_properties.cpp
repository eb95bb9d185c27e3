// Properties every scheme must have, over all presets and compute dtypes: the error bound of
// integer schemes, zero points, idempotence of fake-quantize, dequantize consistency, g_idx.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "llmc/scheme.hpp"
#include "support/random.hpp"

using namespace llmc;
using test_support::random_weights;

namespace {
template <class T>
matrix<T> convert(const matrix<float>& m) {
  return matrix<T>::from(m, [](float x) { return compute_dtype<T>::from_float(x); });
}
// Bitwise equality (bfloat16/float16 deliberately have no operator==: -0 vs +0 and NaN would be ambiguous).
template <class T>
bool same_bits(const matrix<T>& a, const matrix<T>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
}  // namespace

TEST_CASE_TEMPLATE("integer schemes: |dequantize(quantize(x)) - x| <= scale/2 inside the range", T, float, bfloat16, float16) {
  using D = compute_dtype<T>;
  for (auto a : {presets::W8A8::weights, presets::W4A16::weights, presets::W4A16_ASYM::weights, presets::W8A16::weights}) {
    const auto w = convert<T>(random_weights(16, 256, 7, 0.05f, 8.0f));
    const auto q = quantize(a, w, weight_qparams(a, w));
    const auto d = dequantize<T>(q);
    double worst = 0.0;
    for (std::size_t r = 0; r < w.rows(); ++r)
      for (std::size_t c = 0; c < w.cols(); ++c) {
        const auto sl = q.params.layout;
        const float s = q.params.scale(sl.slot_row(r), sl.slot_col(c));
        const float x = D::to_float(w(r, c));
        // In fp32 the only errors are the rounding to an integer (s/2) and the clamp of the
        // positive extreme (x/s = 7.5 -> 7, also s/2), up to fp32 rounding of x/s. In bf16/fp16
        // (the reference's arithmetic) x/s, y + zp and q*s are each rounded to T as well.
        const float zp = q.params.zero_point.empty() ? 0.0f : std::fabs(static_cast<float>(q.params.zero_point(sl.slot_row(r), sl.slot_col(c))));
        const float u = std::is_same_v<T, float> ? 0x1p-22f : D::eps;
        const float bound = s * (0.5f + (std::fabs(x) / s + zp + 1.0f) * u) + std::fabs(x) * u;
        const float err = std::fabs(D::to_float(d(r, c)) - x);
        worst = std::max(worst, static_cast<double>(err / s));
        CHECK_MESSAGE(err <= bound, "r=", r, " c=", c, " x=", x, " s=", s, " err=", err);
      }
    if constexpr (std::is_same_v<T, float>) CHECK(worst <= 0.5 + 128 * 0x1p-22);
  }
}

TEST_CASE_TEMPLATE("zero points: none when symmetric, in range when asymmetric", T, float, bfloat16) {
  const auto w = convert<T>(random_weights(8, 256, 11));
  CHECK(quantize_weight(presets::W4A16{}, w).params.zero_point.empty());
  CHECK(quantize_weight(presets::W8A8{}, w).params.zero_point.empty());
  const auto qa = quantize_weight(presets::W4A16_ASYM{}, w);
  REQUIRE(qa.params.zero_point.rows() == 8);
  REQUIRE(qa.params.zero_point.cols() == 2);
  for (auto z : qa.params.zero_point.storage()) {
    CHECK(z >= -8);
    CHECK(z <= 7);
  }
}

TEST_CASE_TEMPLATE("fake-quantize is idempotent with fixed qparams, for every preset", T, float, bfloat16) {
  using D = compute_dtype<T>;
  const auto base = convert<T>(random_weights(32, 256, 3, 0.02f, 6.0f));
  // Values, not bits: FP4 encodes a small negative input as -0 (code 0x8, torch.signbit of the
  // rounded value) but an exact -0 input as +0 (code 0x0), as compressed-tensors does; both are 0.
  auto values = [](const matrix<T>& m) { return matrix<float>::from(m, [](T x) { return D::to_float(x); }); };
  auto decoded = [](const quantized_tensor& q) { return dequantize<float>(q); };
  auto check_scheme = [&](const quant_args& a, const char* name) {
    INFO("scheme ", std::string(name));
    const auto p = weight_qparams(a, base);
    auto once = base;
    fake_quantize(a, once, p);
    auto twice = once;
    fake_quantize(a, twice, p);
    CHECK(values(twice) == values(once));
    // Quantizing the fake-quantized weights reproduces the codes (as values).
    CHECK(decoded(quantize(a, once, p)) == decoded(quantize(a, base, p)));
  };
  // 8-bit integer codes times a bf16 scale need up to 15 significant bits: q*s rounded to bf16
  // and divided again can land on a neighbouring code, so idempotence holds only in fp32 there.
  if constexpr (std::is_same_v<T, float>) {
    check_scheme(presets::W8A8::weights, "W8A8");
    check_scheme(presets::W8A16::weights, "W8A16");
  }
  check_scheme(presets::W4A16::weights, "W4A16");
  check_scheme(presets::W4A16_ASYM::weights, "W4A16_ASYM");
  check_scheme(presets::FP8::weights, "FP8");
  check_scheme(presets::FP8_DYNAMIC::weights, "FP8_DYNAMIC");
  check_scheme(presets::FP8_BLOCK::weights, "FP8_BLOCK");
  check_scheme(presets::NVFP4A16::weights, "NVFP4A16");
  check_scheme(presets::MXFP4A16::weights, "MXFP4A16");
}

TEST_CASE("partial last groups and g_idx") {
  // 172 columns (the fixture's down_proj width) in groups of 32: 6 groups, the last of 12 columns.
  const quant_args a{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
  const auto w = random_weights(4, 172, 5);
  CHECK(check_shape_fits(a, 4, 172).find("not a multiple of group_size 32") != std::string::npos);
  CHECK(check_shape_fits(a, 4, 160).empty());
  const auto q = quantize(a, w, weight_qparams(a, w));
  CHECK(q.params.scale.cols() == 6);
  float absmax = 0.0f;
  for (std::size_t c = 160; c < 172; ++c) absmax = std::max(absmax, std::fabs(w(0, c)));
  CHECK(q.params.scale(0, 5) == absmax / 7.5f);
  // A g_idx that maps every column to its natural group gives the same codes; a permuted one
  // uses the named group's scale for each column.
  std::vector<std::int32_t> natural(172);
  for (std::size_t c = 0; c < 172; ++c) natural[c] = static_cast<std::int32_t>(c / 32);
  CHECK(quantize(a, w, weight_qparams(a, w), natural).codes == q.codes);
  std::vector<std::int32_t> reversed(172);
  for (std::size_t c = 0; c < 172; ++c) reversed[c] = static_cast<std::int32_t>(5 - c / 32);
  const auto pg = minmax_qparams(a, w, 0.0f, reversed);
  const auto qg = quantize(a, w, pg, reversed);
  const auto d = dequantize<float>(qg);
  for (std::size_t c = 0; c < 172; ++c) {
    const float s = pg.scale(0, static_cast<std::size_t>(reversed[c]));
    CHECK(std::fabs(d(0, c) - w(0, c)) <= s / 2.0f + 1e-7f);
  }
  std::vector<std::int32_t> bad(172, 9);
  try {
    (void)quantize(a, w, weight_qparams(a, w), bad);
    FAIL("g_idx outside the scale tensor must be refused");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.scheme.006");
  }
}

TEST_CASE("runtime validation mirrors the compile-time rules") {
  CHECK(validate_quant_args(presets::W8A8::input_activations) == nullptr);
  const quant_args token_static{.num_bits = 8, .strategy = quant_strategy::token};
  CHECK(std::string(validate_quant_args(token_static)) == "token strategy requires dynamic quantization");
  runtime_scheme rs{.weights = {.num_bits = 8, .strategy = quant_strategy::token, .dynamic = quant_dynamic::dynamic,
                                .observer = observer_kind::none}};
  CHECK(std::string(rs.validate()) == "the token and attn_head strategies are for activations, not weights");
  CHECK(runtime_scheme::from(presets::W4A16{}).validate() == nullptr);
  CHECK(presets::FP8::requires_calibration_data);
  CHECK_FALSE(presets::FP8_DYNAMIC::requires_calibration_data);
  CHECK(presets::NVFP4::requires_calibration_data);
  CHECK_FALSE(presets::NVFP4A16::requires_calibration_data);
  try {
    matrix<float> w(2, 2, 1.0f);
    (void)quantize(token_static, w, qparams{});
    FAIL("invalid args must throw");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.scheme.001");
  }
  // Runtime args with a group (or block) size of 0: a clear error, not a division by zero.
  for (quant_args bad : {quant_args{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 0},
                         quant_args{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::block, .block_rows = 0, .block_cols = 128}}) {
    matrix<float> w(4, 256, 0.5f), mn, mx;
    CHECK_THROWS_WITH_AS(slot_minmax(bad, w, mn, mx), doctest::Contains("llmc.scheme.001"), config_error);
    CHECK_THROWS_AS(quantize_weight(runtime_scheme{.weights = bad}, w), config_error);
  }
}

TEST_CASE_TEMPLATE("the fused single-pass path equals observer + quantize, bit for bit", T, float, bfloat16) {
  const auto w = convert<T>(random_weights(600, 1024, 21, 0.02f, 4.0f));
  auto check_scheme = [&](const quant_args& a, const char* name) {
    INFO("scheme ", std::string(name));
    const auto fused = quantize_weight(runtime_scheme{.weights = a}, w);
    const auto plain = quantize(a, w, weight_qparams(a, w));
    CHECK(fused.codes == plain.codes);
    CHECK(fused.params.scale == plain.params.scale);
    CHECK(fused.params.zero_point == plain.params.zero_point);
    CHECK(fused.params.global_scale == plain.params.global_scale);
  };
  check_scheme(presets::W8A8::weights, "W8A8");
  check_scheme(presets::W4A16::weights, "W4A16");
  check_scheme(presets::W4A16_ASYM::weights, "W4A16_ASYM");
  check_scheme(presets::FP8::weights, "FP8");
  check_scheme(presets::FP8_DYNAMIC::weights, "FP8_DYNAMIC");
  check_scheme(presets::FP8_BLOCK::weights, "FP8_BLOCK");
  check_scheme(presets::NVFP4A16::weights, "NVFP4A16");
  check_scheme(presets::MXFP4A16::weights, "MXFP4A16");
  const quant_args asym_tensor{.num_bits = 8, .symmetric = false, .zp_dtype = qparam_dtype::int8};
  check_scheme(asym_tensor, "int8 asymmetric per tensor");
  // Across thread counts the bytes are the same.
  set_max_threads(1);
  const auto one = quantize_weight(presets::W4A16{}, w);
  set_max_threads(0);
  CHECK(one.codes == quantize_weight(presets::W4A16{}, w).codes);
}

TEST_CASE("quantize_weight_into reuses buffers and gives the same result; the pack into variant too") {
  const auto w1 = random_weights(64, 256, 31), w2 = random_weights(64, 256, 32);
  quantized_tensor q;
  quantize_weight_into(q, presets::W4A16{}, w1);
  const auto* buffer = q.codes.data();
  quantize_weight_into(q, presets::W4A16{}, w2);
  CHECK(q.codes.data() == buffer);  // same shape: the code buffer was reused
  const auto fresh = quantize_weight(presets::W4A16{}, w2);
  CHECK(q.codes == fresh.codes);
  CHECK(q.params.scale == fresh.params.scale);
  matrix<std::int32_t> words;
  pack_int_codes_into(words, q);
  CHECK(words == pack_int_codes(fresh));
  quantize_weight_into(q, presets::FP8{}, w1);  // another scheme and strategy (per tensor)
  CHECK(q.codes == quantize_weight(presets::FP8{}, w1).codes);
}
