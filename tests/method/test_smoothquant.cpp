// Tests of method/smoothquant.hpp: the reference's scale formula, the fold, the function it preserves,
// the activation range it shrinks, and the W8A8 error it removes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "llmc/method/smoothquant.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "test_awq_support.hpp"

using llmc::matrix;

namespace {

/// Relative error ||a - b|| / ||b||.
template <class A>
double rel_err(const A& a, const matrix<double>& b) {
  double n = 0.0;
  for (double v : b.storage()) n += v * v;
  return std::sqrt(method_test::sse(a, b) / n);
}

/// Per-channel max - min of x, recomputed from the data.
std::vector<float> ranges(const matrix<float>& x) {
  llmc::channel_minmax s;
  s.add(x);
  return s.range();
}

/// W8A8 (int8 per-channel weights, dynamic per-token int8 activations) output of x W^T, in double.
matrix<double> w8a8_forward(const matrix<float>& x, const matrix<float>& w) {
  matrix<float> xq = x;
  const llmc::quant_args act = llmc::presets::W8A8::input_activations;
  llmc::fake_quantize(act, xq, llmc::minmax_qparams(act, xq));
  const auto wq = llmc::dequantize<float>(llmc::quantize_weight(llmc::presets::W8A8{}, w));
  return method_test::linear_ref(xq, wq);
}

}  // namespace

TEST_CASE("smoothquant scales follow the reference formula exactly") {
  // Two tokens, four channels: ranges 4, 1, 0 and 9.
  const matrix<float> x(2, 4, std::vector<float>{-1, 0.5f, 2, -3, 3, -0.5f, 2, 6});
  llmc::channel_minmax act;
  act.add(x);
  // Balance weights: column max |W| over both Linears = 0.5, 2, 1, 0 (channel 3 all zero).
  const matrix<float> w1(2, 4, std::vector<float>{0.5f, -1, 0.25f, 0, -0.25f, 2, 1, 0});
  const matrix<float> w2(1, 4, std::vector<float>{0.1f, 0.1f, -0.5f, 0});
  const llmc::smoothquant sq{};  // alpha 0.5
  const std::vector<float> s = sq.scales(act, w1, w2);
  REQUIRE(s.size() == 4);
  CHECK(s[0] == doctest::Approx(std::sqrt(4.0) / std::sqrt(2 * 0.5)).epsilon(1e-6));  // 2
  CHECK(s[1] == doctest::Approx(std::sqrt(1.0) / std::sqrt(2 * 2.0)).epsilon(1e-6));  // 0.5
  CHECK(s[2] == llmc::minimum_smoothing_scale);  // range 0: floored at 1e-5
  CHECK(s[3] == 9.0f);                           // weights all zero: s = the activation range
  // alpha 0.8: act^0.8 / (2 wmax)^0.2.
  const llmc::smoothquant sq8{.smoothing_strength = 0.8f};
  const auto s8 = sq8.scales(act, w1, w2);
  CHECK(s8[0] == doctest::Approx(std::pow(4.0, 0.8) / std::pow(1.0, 0.2)).epsilon(1e-6));
  CHECK(s8[1] == doctest::Approx(std::pow(1.0, 0.8) / std::pow(4.0, 0.2)).epsilon(1e-6));
  // log equalization ignores the weights: s = act / log2(2 + act).
  const llmc::smoothquant le{.algorithm = llmc::smoothing_algorithm::log_equalization};
  const auto sl = le.scales(act, w1, w2);
  CHECK(sl[0] == doctest::Approx(4.0 / std::log2(6.0)).epsilon(1e-6));
  CHECK(sl[3] == doctest::Approx(9.0 / std::log2(11.0)).epsilon(1e-6));
  // Any adapter and dtype for the balance weights: a bf16 copy and a strided (transposed) view.
  matrix<llmc::bfloat16> w1b(2, 4);
  for (std::size_t i = 0; i < 8; ++i) w1b.data()[i] = llmc::bfloat16(w1.data()[i]);
  const matrix<float> w2t(4, 1, std::vector<float>{0.1f, 0.1f, -0.5f, 0});
  CHECK(sq.scales(act, w1b, w2t.view().transposed()) == s);
}

TEST_CASE("smoothquant leaves the floating-point layer unchanged and shrinks the smoothed ranges") {
  method_test::synthetic_layer L(64, 32, 172, 11);
  llmc::layer_context ctx = L.context();
  // Residual-stream hidden states with outlier channels 3 and 40 (x20), through the two norms.
  const matrix<float> h1 = method_test::hidden_with_outliers(512, 64, 5, 20.0f, {3, 40});
  const matrix<float> h2 = method_test::hidden_with_outliers(512, 64, 6, 20.0f, {7, 40});
  const matrix<float> attn_in = method_test::rmsnorm(h1, L.ln1), mlp_in = method_test::rmsnorm(h2, L.ln2);
  ctx.inputs["attn_in"].minmax.add(attn_in);
  ctx.inputs["mlp_in"].minmax.add(mlp_in);
  const auto fp_q = method_test::linear_ref(attn_in, L.q), fp_v = method_test::linear_ref(attn_in, L.v);
  const auto fp_up = method_test::linear_ref(mlp_in, L.up);
  const std::vector<float> range_before = ranges(attn_in);

  const llmc::smoothquant sq{.smoothing_strength = 0.8f};
  sq.apply(ctx);

  // The new norm outputs, from the folded norm weights.
  const matrix<float> attn_in2 = method_test::rmsnorm(h1, ctx.find_norm("input_layernorm")->weight);
  const matrix<float> mlp_in2 = method_test::rmsnorm(h2, ctx.find_norm("post_attention_layernorm")->weight);
  const double e_q = rel_err(method_test::linear_ref(attn_in2, ctx.linear("self_attn.q_proj").weight), fp_q);
  const double e_v = rel_err(method_test::linear_ref(attn_in2, ctx.linear("self_attn.v_proj").weight), fp_v);
  const double e_up = rel_err(method_test::linear_ref(mlp_in2, ctx.linear("mlp.up_proj").weight), fp_up);
  MESSAGE("relative output change after smoothing: q " << e_q << ", v " << e_v << ", up " << e_up);
  CHECK(e_q < 1e-5);
  CHECK(e_v < 1e-5);
  CHECK(e_up < 1e-5);
  // o_proj and down_proj are not in SmoothQuant's mappings: untouched.
  CHECK(ctx.linear("self_attn.o_proj").weight == L.o);
  CHECK(ctx.linear("mlp.down_proj").weight == L.down);

  // The outlier channels' ranges shrink a lot; the widest channel range drops.
  const std::vector<float> range_after = ranges(attn_in2);
  CHECK(range_after[3] < range_before[3] / 4);
  CHECK(range_after[40] < range_before[40] / 4);
  CHECK(llmc::detail::max_of(range_after) < llmc::detail::max_of(range_before) / 3);
  // The context's statistic was rescaled to describe the new input (what a new pass would measure).
  const auto& stat = ctx.inputs["attn_in"].minmax;
  for (std::size_t c = 0; c < 64; ++c) CHECK(stat.range()[c] == doctest::Approx(range_after[c]).epsilon(1e-5));
  REQUIRE(ctx.notes.size() == 2);
  CHECK(ctx.notes[0].target == "model.layers.0.input_layernorm");
  CHECK(ctx.notes[0].after < ctx.notes[0].before);
}

TEST_CASE("smoothquant lowers the W8A8 output error on activations with outlier channels") {
  method_test::synthetic_layer L(64, 32, 172, 21);
  const matrix<float> h = method_test::hidden_with_outliers(1024, 64, 9, 30.0f, {5, 33, 60});
  const matrix<float> x = method_test::rmsnorm(h, L.ln2);
  llmc::layer_context ctx = L.context();
  ctx.inputs["mlp_in"].minmax.add(x);
  const auto fp_gate = method_test::linear_ref(x, L.gate);
  const double err_before = method_test::sse(w8a8_forward(x, L.gate), fp_gate);
  llmc::smoothquant sq{.smoothing_strength = 0.5f};
  sq.mappings = {{{"mlp.gate_proj", "mlp.up_proj"}, "post_attention_layernorm"}};
  sq.apply(ctx);
  const matrix<float> x2 = method_test::rmsnorm(h, ctx.find_norm("post_attention_layernorm")->weight);
  const double err_after = method_test::sse(w8a8_forward(x2, ctx.linear("mlp.gate_proj").weight), fp_gate);
  MESSAGE("W8A8 gate_proj output SSE: " << err_before << " without smoothing, " << err_after << " with (alpha 0.5)");
  CHECK(err_after < 0.5 * err_before);
}

TEST_CASE("smoothquant refuses inconsistent layers with stable error ids") {
  method_test::synthetic_layer L(64, 32, 172, 31);
  {
    llmc::layer_context ctx = L.context();
    method_test::check_error_id([&] { llmc::smoothquant{}.apply(ctx); }, "llmc.method.012");  // no statistics at all
  }
  {
    llmc::layer_context ctx = L.context();
    ctx.inputs["attn_in"];  // present but never fed
    ctx.inputs["mlp_in"];
    method_test::check_error_id([&] { llmc::smoothquant{}.apply(ctx); }, "llmc.method.103");
  }
  {
    llmc::layer_context ctx = L.context();
    ctx.linear("self_attn.k_proj").input = "other";
    ctx.inputs["attn_in"].minmax.add(method_test::random_matrix(8, 64, 1, 1.0f));
    method_test::check_error_id([&] { llmc::smoothquant{}.apply(ctx); }, "llmc.method.013");
  }
  {
    llmc::layer_context ctx = L.context();
    ctx.inputs["attn_in"].minmax.add(method_test::random_matrix(8, 64, 1, 1.0f));
    ctx.linear("self_attn.q_proj").quantized = llmc::quantize_weight(llmc::presets::W8A8{}, L.q);
    method_test::check_error_id([&] { llmc::smoothquant{}.apply(ctx); }, "llmc.method.105");
  }
  {
    // A layer without the mapping's norm is skipped with a note, not an error.
    llmc::layer_context ctx = L.context();
    ctx.norms.clear();
    llmc::smoothquant{}.apply(ctx);
    REQUIRE(ctx.notes.size() == 2);
    CHECK(ctx.notes[0].message.find("skipped") == 0);
    CHECK(ctx.linear("self_attn.q_proj").weight == L.q);
  }
}
