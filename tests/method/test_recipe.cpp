// Tests of method/recipe.hpp and the method concept: static properties of compositions, order of
// application, statistics kept consistent between methods (SmoothQuant then GPTQ), and that the
// compositions do what they are for (lower output error than the quantizer alone).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "llmc/method/awq.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/recipe.hpp"
#include "llmc/method/rtn.hpp"
#include "llmc/method/smoothquant.hpp"
#include "llmc/scheme/presets.hpp"
#include "test_awq_support.hpp"

using llmc::matrix;

namespace {

constexpr llmc::quant_args int4_g32{.num_bits = 4, .strategy = llmc::quant_strategy::group, .group_size = 32};
constexpr llmc::quant_args int4_channel{.num_bits = 4, .strategy = llmc::quant_strategy::channel};
using W4G32 = llmc::scheme<int4_g32>;

/// A transform that only records that it ran (to observe the order of application).
struct probe {
  static constexpr std::string_view name = "probe";
  static constexpr bool quantizes = false;
  static constexpr llmc::statistic_set statistics{};
  std::string tag;
  void apply(llmc::layer_context& ctx) const { ctx.note(name, tag, "ran"); }
};

using sq_gptq = llmc::recipe<llmc::smoothquant, llmc::gptq<llmc::presets::W8A8>>;
using awq_rtn = llmc::recipe<llmc::awq<W4G32>, llmc::rtn<W4G32>>;
using awq_only = llmc::recipe<llmc::awq<W4G32>>;

// Static properties: every method, and every recipe, satisfies the method concept.
static_assert(llmc::method<llmc::smoothquant>);
static_assert(llmc::method<llmc::awq<llmc::presets::W4A16>>);
static_assert(llmc::method<llmc::gptq<llmc::presets::W8A8>>);
static_assert(llmc::method<llmc::rtn<llmc::presets::FP8>>);
static_assert(llmc::method<sq_gptq>);
static_assert(sq_gptq::quantizes && !llmc::recipe<llmc::smoothquant>::quantizes);
static_assert(sq_gptq::statistics == (llmc::statistic::channel_minmax | llmc::statistic::hessian));
static_assert(awq_rtn::statistics.contains(llmc::statistic::samples) && awq_rtn::statistics.contains(llmc::statistic::channel_absmean));
static_assert(llmc::complete_recipe<sq_gptq> && llmc::complete_recipe<awq_rtn>);
static_assert(!llmc::complete_recipe<awq_only>);  // AWQ must be followed by a quantizer
static_assert(llmc::complete_recipe<llmc::recipe<awq_only, llmc::gptq<W4G32>>>);  // nested: completed outside
static_assert(llmc::complete_recipe<llmc::recipe<llmc::smoothquant>>);          // SmoothQuant alone is a valid transform

/// The layer's fp outputs on its inputs vs. the quantized layer's, summed over the given Linears.
double output_sse(const llmc::layer_context& before, const llmc::layer_context& after, std::initializer_list<const char*> names,
                  bool quantize_activations) {
  double e = 0.0;
  for (const char* n : names) {
    auto& b = const_cast<llmc::layer_context&>(before);
    auto& a = const_cast<llmc::layer_context&>(after);
    const auto& lb = b.linear(n);
    const auto& la = a.linear(n);
    REQUIRE(la.quantized.has_value());
    matrix<float> x = a.inputs[la.input].samples;
    if (quantize_activations) {
      const llmc::quant_args act = llmc::presets::W8A8::input_activations;
      llmc::fake_quantize(act, x, llmc::minmax_qparams(act, x));
    }
    e += method_test::sse(method_test::linear_ref(x, la.weight), method_test::linear_ref(b.inputs[lb.input].samples, lb.weight));
  }
  return e;
}

llmc::layer_context calibrated_layer(const method_test::synthetic_layer& L, std::uint32_t seed) {
  llmc::layer_context ctx = L.context();
  const matrix<float> attn_in = method_test::rmsnorm(method_test::hidden_with_outliers(1024, 64, seed, 25.0f, {4, 20, 51}), L.ln1);
  const matrix<float> mlp_in = method_test::rmsnorm(method_test::hidden_with_outliers(1024, 64, seed + 1, 25.0f, {8, 30}), L.ln2);
  const matrix<float> o_in = method_test::random_matrix(1024, 64, seed + 2, 0.5f);
  const matrix<float> down_in = method_test::random_matrix(1024, 172, seed + 3, 0.2f);
  for (auto [key, x] : {std::pair{"attn_in", &attn_in}, {"o_in", &o_in}, {"mlp_in", &mlp_in}, {"down_in", &down_in}}) {
    auto& in = ctx.inputs[key];
    in.minmax.add(*x);
    in.absmean.add(*x);
    in.hessian.add(*x);
    in.samples = *x;
  }
  ctx.linear("mlp.down_proj").weight_args = int4_channel;  // 172 columns: no group of 32 divides them
  return ctx;
}

}  // namespace

TEST_CASE("a recipe applies its methods in order and is itself a method") {
  using three = llmc::recipe<probe, probe, llmc::recipe<probe, probe>>;
  static_assert(llmc::method<three> && three::size == 3);
  const three r{probe{"a"}, probe{"b"}, llmc::recipe<probe, probe>{probe{"c"}, probe{"d"}}};
  llmc::layer_context ctx;
  llmc::apply_recipe(r, ctx);
  REQUIRE(ctx.notes.size() == 4);
  CHECK(ctx.notes[0].target == "a");
  CHECK(ctx.notes[1].target == "b");
  CHECK(ctx.notes[2].target == "c");
  CHECK(ctx.notes[3].target == "d");
  // Hyperparameters live in the method objects: CTAD and get<I>.
  llmc::recipe sq{llmc::smoothquant{.smoothing_strength = 0.8f}, llmc::gptq<llmc::presets::W8A8>{}};
  static_assert(std::is_same_v<decltype(sq), sq_gptq>);
  CHECK(sq.get<0>().smoothing_strength == 0.8f);
  CHECK(sq.get<1>().block_size == 128);
}

TEST_CASE("recipe<smoothquant, gptq<W8A8>>: GPTQ sees the smoothed input's Hessian and the error drops") {
  method_test::synthetic_layer L(64, 32, 172, 81);
  const llmc::layer_context base = calibrated_layer(L, 82);
  llmc::layer_context ctx = base;
  llmc::recipe r{llmc::smoothquant{.smoothing_strength = 0.8f}, llmc::gptq<llmc::presets::W8A8>{}};
  llmc::apply_recipe(r, ctx);
  // The Hessian GPTQ used is the one of the smoothed input, as a new calibration pass would measure it.
  llmc::hessian_accumulator fresh;
  fresh.add(ctx.inputs["attn_in"].samples);
  const matrix<float> h_ctx = ctx.inputs["attn_in"].hessian.hessian(), h_new = fresh.hessian();
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < h_new.size(); ++i) {
    num += (double(h_ctx.data()[i]) - h_new.data()[i]) * (double(h_ctx.data()[i]) - h_new.data()[i]);
    den += double(h_new.data()[i]) * h_new.data()[i];
  }
  CHECK(std::sqrt(num / den) < 1e-5);
  for (const auto& l : ctx.linears) CHECK(l.quantized.has_value());
  // W8A8 (dynamic per-token activations) error over q/k/v and gate/up: with and without smoothing.
  llmc::layer_context plain = base;
  llmc::apply_recipe(llmc::gptq<llmc::presets::W8A8>{}, plain);
  const double e_plain = output_sse(base, plain, {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"}, true);
  const double e_sq = output_sse(base, ctx, {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"}, true);
  MESSAGE("W8A8 output SSE on q/k/v/gate/up: GPTQ " << e_plain << ", SmoothQuant(0.8) + GPTQ " << e_sq);
  CHECK(e_sq < 0.5 * e_plain);
  // Notes in order: the two smoothings, then one GPTQ note per Linear.
  REQUIRE(ctx.notes.size() == 2 + 7);
  CHECK(ctx.notes[0].method == "smoothquant");
  CHECK(ctx.notes[2].method == "gptq");
}

TEST_CASE("recipe<awq, rtn> (W4 g32): lower MLP output error than RTN alone") {
  method_test::synthetic_layer L(64, 32, 172, 91);
  llmc::layer_context base = calibrated_layer(L, 92);
  // down_in must be the MLP's real intermediate for the MLP comparison.
  const matrix<float>& x = base.inputs["mlp_in"].samples;
  const auto fp = method_test::mlp_ref(x, L.gate, L.up, L.down);
  llmc::layer_context awq_ctx = base, rtn_ctx = base;
  llmc::apply_recipe(awq_rtn{}, awq_ctx);
  llmc::apply_recipe(llmc::rtn<W4G32>{}, rtn_ctx);
  for (const auto& l : awq_ctx.linears) CHECK(l.quantized.has_value());
  const auto y_rtn = method_test::mlp_ref(x, rtn_ctx.linear("mlp.gate_proj").weight, rtn_ctx.linear("mlp.up_proj").weight,
                                          rtn_ctx.linear("mlp.down_proj").weight);
  const auto y_awq = method_test::mlp_ref(awq_ctx.inputs["mlp_in"].samples, awq_ctx.linear("mlp.gate_proj").weight,
                                          awq_ctx.linear("mlp.up_proj").weight, awq_ctx.linear("mlp.down_proj").weight);
  const double e_rtn = method_test::sse(y_rtn, fp), e_awq = method_test::sse(y_awq, fp);
  MESSAGE("MLP output SSE, W4 g32: RTN " << e_rtn << ", AWQ + RTN " << e_awq);
  CHECK(e_awq < e_rtn);
  REQUIRE(awq_ctx.notes.size() == 4);  // one per AWQ mapping (RTN of weight-only schemes notes nothing)
  CHECK(awq_ctx.notes[1].message.find("skipped") == 0);  // v -> o: grouped-query attention
}
