// RTN: weights exactly as the scheme layer quantizes them; static input activation qparams from
// calibration batches with each observer's semantics (static_minmax, minmax EMA, memoryless);
// NVFP4's input global scale; masks; errors; apply() on a layer_context.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "llmc/method/rtn.hpp"
#include "llmc/scheme/presets.hpp"
#include "support/random.hpp"

using namespace llmc;
using test_support::random_weights;

namespace {

/// A batch [tokens, 16] whose values span exactly [lo, hi] (first two entries), the rest inside.
matrix<float> batch(float lo, float hi, std::size_t tokens = 8) {
  matrix<float> x(tokens, 16);
  std::mt19937 g(static_cast<std::uint32_t>(tokens * 7 + 1));
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  for (auto& v : x.storage()) v = lo + (hi - lo) * (0.05f + 0.9f * d(g));
  x(0, 0) = lo;
  x(0, 1) = hi;
  return x;
}

}  // namespace

TEST_CASE("rtn: weights are the scheme layer's quantize_weight, byte for byte") {
  const auto w = random_weights(64, 256, 3, 0.02f, 5.0f);
  auto check = [&](auto s) {
    using S = decltype(s);
    const auto a = rtn<S>{}.quantize_weight(w);
    const auto b = quantize_weight(S{}, w);
    CHECK(std::memcmp(a.codes.data(), b.codes.data(), a.codes.size()) == 0);
    CHECK(std::memcmp(a.params.scale.data(), b.params.scale.data(), a.params.scale.size() * sizeof(float)) == 0);
    CHECK(a.params.global_scale == b.params.global_scale);
  };
  check(presets::W4A16{});
  check(presets::W8A8{});
  check(presets::FP8{});
  check(presets::NVFP4A16{});
  check(presets::FP8_BLOCK{});
  // MSE observer through the method's observer options.
  using MSE4 = scheme<quant_args{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 64,
                                 .observer = observer_kind::mse}>;
  const auto m = rtn<MSE4>{}.quantize_weight(w);
  const auto ref = quantize_weight(MSE4{}, w);
  CHECK(std::memcmp(m.codes.data(), ref.codes.data(), m.codes.size()) == 0);
}

TEST_CASE("rtn: FP8 static input scale is the union range of all calibration batches / 448 (static_minmax)") {
  activation_observer obs = rtn<presets::FP8>{}.input_observer();
  REQUIRE(obs.needed());
  obs.observe(batch(-1.0f, 2.0f));
  obs.observe(batch(-3.5f, 0.5f));
  obs.observe(batch(-0.25f, 1.0f));
  const auto [mn, mx] = obs.range();
  CHECK(mn == -3.5f);
  CHECK(mx == 2.0f);
  const qparams p = obs.get_qparams<float>();
  REQUIRE(p.scale.rows() == 1);
  REQUIRE(p.scale.cols() == 1);
  CHECK(p.scale(0, 0) == 3.5f / 448.0f);
  CHECK(p.zero_point.empty());
  // In bf16 (the activations' dtype of a bf16 model) the scale is rounded to bf16.
  CHECK(obs.get_qparams<bfloat16>().scale(0, 0) == round_to_bfloat16(3.5f / 448.0f));
}

TEST_CASE("rtn: the activation observer keeps minmax (EMA) and memoryless semantics, and masks padding") {
  constexpr quant_args ema{.num_bits = 8, .strategy = quant_strategy::tensor, .observer = observer_kind::minmax};
  activation_observer e(ema);
  e.observe(batch(-1.0f, 1.0f));
  e.observe(batch(-3.0f, 5.0f));
  // first batch initialises; then old + 0.01 (new - old)
  CHECK(e.range().first == doctest::Approx(-1.0f + 0.01f * (-3.0f + 1.0f)));
  CHECK(e.range().second == doctest::Approx(1.0f + 0.01f * (5.0f - 1.0f)));
  const float absmax = std::max(std::fabs(e.range().first), e.range().second);
  CHECK(e.get_qparams<float>().scale(0, 0) == absmax / 127.5f);

  constexpr quant_args last{.num_bits = 8, .strategy = quant_strategy::tensor};  // memoryless_minmax (HEAD default)
  activation_observer l(last);
  l.observe(batch(-9.0f, 9.0f));
  l.observe(batch(-1.0f, 2.0f));
  CHECK(l.range().first == -1.0f);
  CHECK(l.range().second == 2.0f);

  activation_observer masked = rtn<presets::FP8>{}.input_observer();
  auto x = batch(-1.0f, 1.0f, 6);
  x(5, 3) = 1000.0f;  // a padding token
  std::vector<std::uint8_t> mask{1, 1, 1, 1, 1, 0};
  masked.observe(x, mask);
  CHECK(masked.range().second == 1.0f);
  try {
    masked.observe(x, std::vector<std::uint8_t>(4, 1));
    FAIL("mask of the wrong size accepted");
  } catch (const shape_error& err) {
    CHECK(err.id() == "llmc.method.331");
  }
}

TEST_CASE("rtn: NVFP4 input calibration yields only the global scale 2688 / absmax; dynamic inputs need nothing") {
  activation_observer obs = rtn<presets::NVFP4>{}.input_observer();
  REQUIRE(obs.needed());
  obs.observe(batch(-4.0f, 3.0f));
  obs.observe(batch(-1.0f, 6.0f));
  const qparams p = obs.get_qparams<float>();
  CHECK(p.scale.empty());
  CHECK(p.global_scale == 2688.0f / 6.0f);

  activation_observer dyn = rtn<presets::W8A8>{}.input_observer();
  CHECK(!dyn.needed());
  dyn.observe(batch(-1.0f, 1.0f));
  CHECK(!dyn.has_statistics());
  CHECK(rtn<presets::W4A16>::statistics.empty());
  CHECK(rtn<presets::FP8>::statistics.contains(statistic::channel_minmax));
}

TEST_CASE("rtn: unsupported static activation strategies and missing data are errors") {
  constexpr quant_args group_static{.num_bits = 8, .strategy = quant_strategy::group, .group_size = 16};
  try {
    activation_observer o(group_static);
    FAIL("static group activations accepted");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.330");
  }
  activation_observer fp8 = rtn<presets::FP8>{}.input_observer();
  try {
    (void)fp8.get_qparams<float>();
    FAIL("qparams without data");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.332");
  }
}

TEST_CASE("rtn: apply() quantizes every Linear of a layer, with one NVFP4 global scale per shared input") {
  layer_context ctx;
  ctx.prefix = "model.layers.0.";
  for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"})
    ctx.linears.push_back({n, "attn_in", random_weights(32, 64, static_cast<std::uint32_t>(n[10])), {}, scalar_type::float32, {}, {}});
  ctx.linears[1].weight(3, 5) = 0.9f;  // k_proj holds the joint absmax
  ctx.linears.push_back({"self_attn.o_proj", "o_in", random_weights(64, 32, 9), {}, scalar_type::bfloat16, {}, {}});
  rtn<presets::NVFP4A16> m;
  m.apply(ctx);
  const float joint = nvfp4_global_scale(-0.9f, 0.9f);
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(ctx.linears[i].quantized.has_value());
    CHECK(ctx.linears[i].quantized->params.global_scale == joint);
    // weight now holds the dequantized values
    CHECK(std::memcmp(dequantize<float>(*ctx.linears[i].quantized).data(), ctx.linears[i].weight.data(),
                      ctx.linears[i].weight.size() * sizeof(float)) == 0);
  }
  REQUIRE(ctx.linears[3].quantized.has_value());
  CHECK(ctx.linears[3].quantized->model_dtype == scalar_type::bfloat16);
  CHECK(ctx.linears[3].quantized->params.global_scale != joint);
}
