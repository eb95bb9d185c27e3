// Tests of method/awq.hpp: the grid, w_mean and scale formulas of the reference, the loss of the
// built-in parent blocks against an independent double forward, AWQ against RTN on outlier
// channels, ratio 0 on uniform channels, the fold into a decoder layer, and the clip search.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/core/parallel.hpp"
#include "llmc/method/awq.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "test_awq_support.hpp"

using llmc::matrix;

namespace {

constexpr llmc::quant_args int4_g32{.num_bits = 4, .strategy = llmc::quant_strategy::group, .group_size = 32};
constexpr llmc::quant_args int4_channel{.num_bits = 4, .strategy = llmc::quant_strategy::channel};
using W4G32 = llmc::scheme<int4_g32>;

/// RTN (memoryless min-max) fake-quantized copy of w.
matrix<float> rtn(const llmc::quant_args& a, const matrix<float>& w) {
  return llmc::dequantize<float>(llmc::quantize_weight(llmc::runtime_scheme{a, llmc::no_quantization, llmc::no_quantization}, w));
}

/// Inputs whose channels 0..n_out-1 (every 16th) are large: the salient channels AWQ protects.
matrix<float> outlier_inputs(std::size_t tokens, std::size_t in, std::uint32_t seed, float factor) {
  matrix<float> x = method_test::random_matrix(tokens, in, seed, 1.0f);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c = 0; c < in; c += 16) x(t, c) *= factor;
  return x;
}

std::vector<llmc::matrix_view<const float>> views(std::initializer_list<const matrix<float>*> ms) {
  std::vector<llmc::matrix_view<const float>> v;
  for (const auto* m : ms) v.push_back(m->view());
  return v;
}

}  // namespace

TEST_CASE("awq grid points are the reference's") {
  const auto on = llmc::awq_grid(20, llmc::duo_scaling::on);
  REQUIRE(on.size() == 20);
  CHECK(on[0] == llmc::awq_grid_point{0.0f, false});
  CHECK(on[1] == llmc::awq_grid_point{0.0f, true});
  CHECK(on[2] == llmc::awq_grid_point{1.0f / 18.0f, true});
  CHECK(on[19] == llmc::awq_grid_point{1.0f, true});
  const auto off = llmc::awq_grid(20, llmc::duo_scaling::off);
  REQUIRE(off.size() == 20);
  CHECK(off[1] == llmc::awq_grid_point{1.0f / 19.0f, false});
  CHECK(off[19] == llmc::awq_grid_point{1.0f, false});
  const auto both = llmc::awq_grid(20, llmc::duo_scaling::both);
  REQUIRE(both.size() == 20);
  CHECK(both[0] == llmc::awq_grid_point{0.0f, false});
  CHECK(both[1] == llmc::awq_grid_point{0.0f, true});
  CHECK(both[2] == llmc::awq_grid_point{1.0f / 9.0f, false});
  CHECK(both[19] == llmc::awq_grid_point{1.0f, true});
  method_test::check_error_id([] { (void)llmc::awq_grid(2, llmc::duo_scaling::on); }, "llmc.method.201");
}

TEST_CASE("awq's fused Q(W s) / s is bit-identical to quantize + dequantize for every weight strategy") {
  const matrix<float> w = method_test::random_matrix(256, 256, 5, 0.05f);
  std::vector<float> s(256);
  for (std::size_t c = 0; c < s.size(); ++c) s[c] = 0.25f + float(c % 13) * 0.3f;
  const llmc::quant_args cases[] = {
      int4_g32,
      int4_channel,
      llmc::presets::W4A16_ASYM::weights,
      llmc::presets::W8A8::weights,
      llmc::presets::FP8::weights,            // tensor
      llmc::presets::FP8_DYNAMIC::weights,    // fp8 channel
      llmc::presets::FP8_BLOCK::weights,      // 128 x 128 blocks
      llmc::presets::NVFP4A16::weights,       // tensor_group with a global scale
      llmc::presets::MXFP4A16::weights,       // E8M0 scales
  };
  for (const auto& a : cases) {
    CAPTURE(int(a.strategy));
    CAPTURE(a.num_bits);
    matrix<float> ws = w;
    for (std::size_t r = 0; r < ws.rows(); ++r)
      for (std::size_t c = 0; c < ws.cols(); ++c) ws(r, c) *= s[c];
    for (const float gs : {0.0f, 1234.5f}) {
      if (gs > 0.0f && a.strategy != llmc::quant_strategy::tensor_group) continue;
      matrix<float> ref = ws;
      llmc::dequantize_into(llmc::quantize(a, ws, llmc::minmax_qparams(a, ws, gs)), ref);
      for (std::size_t r = 0; r < ref.rows(); ++r)
        for (std::size_t c = 0; c < ref.cols(); ++c) ref(r, c) /= s[c];
      matrix<float> out(256, 256);
      llmc::detail::fake_quantize_scaled(a, w.view(), s, gs, out.view());
      CHECK(std::memcmp(out.data(), ref.data(), out.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("awq w_mean and scales follow the reference formulas") {
  // Group 2: row 0 groups (1,-2) max 2 and (4,0) max 4; row 1 groups (-3,3) and (1,-1).
  const matrix<float> w(2, 4, std::vector<float>{1, -2, 4, 0, -3, 3, 1, -1});
  const llmc::quant_args g2{.num_bits = 4, .strategy = llmc::quant_strategy::group, .group_size = 2};
  const auto v = views({&w});
  const std::vector<llmc::quant_args> a{g2};
  const auto wm = llmc::awq_weight_mean(v, a);
  REQUIRE(wm.size() == 4);
  CHECK(wm[0] == doctest::Approx((1.0 / (2 + 1e-6) + 3.0 / (3 + 1e-6)) / 2).epsilon(1e-6));
  CHECK(wm[1] == doctest::Approx((2.0 / (2 + 1e-6) + 3.0 / (3 + 1e-6)) / 2).epsilon(1e-6));
  CHECK(wm[2] == doctest::Approx((4.0 / (4 + 1e-6) + 1.0 / (1 + 1e-6)) / 2).epsilon(1e-6));
  CHECK(wm[3] == doctest::Approx((0.0 + 1.0 / (1 + 1e-6)) / 2).epsilon(1e-6));
  // Channel strategy normalises by the row max instead (row 0: 4, row 1: 3).
  const std::vector<llmc::quant_args> ch{int4_channel};
  CHECK(llmc::awq_weight_mean(v, ch)[0] == doctest::Approx((1.0 / 4 + 3.0 / 3) / 2).epsilon(1e-5));

  const std::vector<float> x_mean{1.0f, 4.0f, 0.0f};
  const std::vector<double> w_mean{1.0, 1.0, 1.0};
  // duo, ratio 0.5: (sqrt(x) / (1 + 1e-4)) clamped at 1e-4 -> {1, 2, 1e-4} / (1 + 1e-4) before normalising.
  const auto s = llmc::awq_scales(x_mean, w_mean, {0.5f, true});
  const double raw[] = {1.0 / 1.0001, 2.0 / 1.0001, 1e-4};
  const double norm = std::sqrt(raw[1] * raw[2]);
  for (int j = 0; j < 3; ++j) CHECK(s[j] == doctest::Approx(raw[j] / norm).epsilon(1e-6));
  // ratio 0 without duo: x^0 = 1 everywhere (0^0 = 1 as in torch): the identity.
  CHECK(llmc::awq_scales(x_mean, {}, {0.0f, false}) == std::vector<float>{1.0f, 1.0f, 1.0f});
}

TEST_CASE("awq parent blocks measure the true output error") {
  const matrix<float> x = outlier_inputs(600, 64, 3, 8.0f);
  const matrix<float> gate = method_test::random_matrix(96, 64, 4, 0.125f), up = method_test::random_matrix(96, 64, 5, 0.125f);
  const matrix<float> down = method_test::random_matrix(64, 96, 6, 0.1f);
  const matrix<float> gq = rtn(int4_g32, gate), uq = rtn(int4_g32, up);
  // Linear group: direct path (tokens 600 > 64 inputs: the Gram path) vs the double oracle.
  llmc::linear_group_block lin(x.view(), views({&gate, &up}));
  CHECK(lin.uses_gram());
  const double ref_lin = method_test::sse(method_test::linear_ref(x, gq), method_test::linear_ref(x, gate)) +
                         method_test::sse(method_test::linear_ref(x, uq), method_test::linear_ref(x, up));
  CHECK(lin.squared_error(views({&gq, &uq})) == doctest::Approx(ref_lin).epsilon(1e-4));
  CHECK(lin.output_elements() == 600.0 * 192.0);
  // Fewer tokens than inputs: the direct X D^T path.
  const matrix<float> xs = method_test::random_matrix(40, 64, 8, 1.0f);
  llmc::linear_group_block lin2(xs.view(), views({&gate}));
  CHECK_FALSE(lin2.uses_gram());
  CHECK(lin2.squared_error(views({&gq})) ==
        doctest::Approx(method_test::sse(method_test::linear_ref(xs, gq), method_test::linear_ref(xs, gate))).epsilon(1e-4));
  // Gated MLP, down in floating point.
  llmc::gated_mlp_block mlp(x.view(), gate.view(), up.view(), down.view());
  const auto fp = method_test::mlp_ref(x, gate, up, down);
  CHECK(method_test::sse(mlp.reference_output(), fp) / method_test::sse(fp, matrix<double>(fp.rows(), fp.cols())) < 1e-10);
  const double ref_mlp = method_test::sse(method_test::mlp_ref(x, gq, uq, down), fp);
  CHECK(mlp.squared_error(views({&gq, &uq})) == doctest::Approx(ref_mlp).epsilon(1e-3));
  CHECK(mlp.squared_error(views({&gate, &up})) < 1e-6 * ref_mlp);
}

TEST_CASE("awq beats RTN on inputs with outlier channels, and its identity point is RTN") {
  const matrix<float> x = outlier_inputs(2048, 256, 12, 10.0f);
  const matrix<float> w = method_test::random_matrix(384, 256, 13, 0.05f);
  llmc::channel_absmean stat;
  stat.add(x);
  const auto xm = stat.mean();
  const auto bal = views({&w});
  const std::vector<llmc::quant_args> args{int4_g32};
  llmc::linear_group_block blk(x.view(), bal);
  const llmc::awq<W4G32> awq{};
  const auto res = awq.search(xm, bal, args, blk);
  REQUIRE(res.losses.size() == 20);
  // The grid's first point is the identity: its loss is plain RTN's, computed independently here.
  const double rtn_mse = method_test::sse(method_test::linear_ref(x, rtn(int4_g32, w)), method_test::linear_ref(x, w)) /
                         (2048.0 * 384.0);
  CHECK(res.initial_loss == doctest::Approx(rtn_mse).epsilon(1e-4));
  // The chosen scales, applied as W s and X / s and then quantized, give the reported loss.
  matrix<float> ws = w, xs = x;
  for (std::size_t r = 0; r < ws.rows(); ++r)
    for (std::size_t c = 0; c < ws.cols(); ++c) ws(r, c) *= res.scales[c];
  for (std::size_t t = 0; t < xs.rows(); ++t)
    for (std::size_t c = 0; c < xs.cols(); ++c) xs(t, c) /= res.scales[c];
  const double awq_mse = method_test::sse(method_test::linear_ref(xs, rtn(int4_g32, ws)), method_test::linear_ref(x, w)) /
                         (2048.0 * 384.0);
  CHECK(res.best_loss == doctest::Approx(awq_mse).epsilon(1e-3));
  MESSAGE("outlier channels x10, int4 g32: RTN MSE " << rtn_mse << ", AWQ MSE " << awq_mse << " (ratio "
                                                     << res.best.ratio << ", ratio of errors " << awq_mse / rtn_mse << ")");
  CHECK(res.best.ratio > 0.0f);
  CHECK(awq_mse < 0.8 * rtn_mse);
  // The outlier channels are the ones scaled up.
  double s_out = 0.0, s_rest = 0.0;
  for (std::size_t c = 0; c < 256; ++c) (c % 16 == 0 ? s_out : s_rest) += res.scales[c];
  CHECK(s_out / 16.0 > 1.5 * s_rest / 240.0);
}

TEST_CASE("awq chooses ratio 0 (identity scales) when every channel looks the same") {
  // |x(t, c)| = base[t] for every channel c (random signs): x_mean identical in every channel.
  // |W(r, c)| = m[r] for every c (random signs): w_mean identical in every channel.
  std::mt19937 gen(99);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::bernoulli_distribution sign(0.5);
  matrix<float> x(1024, 128), w(256, 128);
  for (std::size_t t = 0; t < x.rows(); ++t) {
    const float b = std::fabs(nd(gen)) + 0.1f;
    for (std::size_t c = 0; c < x.cols(); ++c) x(t, c) = sign(gen) ? b : -b;
  }
  for (std::size_t r = 0; r < w.rows(); ++r) {
    const float m = 0.01f + 0.05f * std::fabs(nd(gen));
    for (std::size_t c = 0; c < w.cols(); ++c) w(r, c) = sign(gen) ? m : -m;
  }
  llmc::channel_absmean stat;
  stat.add(x);
  const auto xm = stat.mean();
  const auto bal = views({&w});
  const std::vector<llmc::quant_args> args{int4_g32};
  for (auto mode : {llmc::duo_scaling::on, llmc::duo_scaling::off, llmc::duo_scaling::both}) {
    llmc::linear_group_block blk(x.view(), bal);
    llmc::awq<W4G32> awq{};
    awq.duo = mode;
    const auto res = awq.search(xm, bal, args, blk);
    CHECK(res.best_index == 0);
    CHECK(res.best.ratio == 0.0f);
    CHECK(res.scales == std::vector<float>(128, 1.0f));
    CHECK(res.best_loss == res.initial_loss);
  }
}

TEST_CASE("awq search results do not depend on the thread count") {
  const matrix<float> x = outlier_inputs(1536, 192, 21, 6.0f);
  const matrix<float> g = method_test::random_matrix(320, 192, 22, 0.05f), u = method_test::random_matrix(320, 192, 23, 0.05f);
  const matrix<float> d = method_test::random_matrix(192, 320, 24, 0.05f);
  llmc::channel_absmean stat;
  stat.add(x);
  const auto bal = views({&g, &u});
  const std::vector<llmc::quant_args> args{int4_g32, int4_g32};
  auto run = [&](unsigned threads) {
    llmc::set_max_threads(threads);
    llmc::gated_mlp_block blk(x.view(), g.view(), u.view(), d.view());
    auto r = llmc::awq<W4G32>{}.search(stat.mean(), bal, args, blk);
    llmc::set_max_threads(0);
    return r;
  };
  const auto r1 = run(1), r2 = run(2);
  CHECK(r1.scales == r2.scales);
  CHECK(std::memcmp(r1.losses.data(), r2.losses.data(), r1.losses.size() * sizeof(double)) == 0);
  CHECK(r1.best_loss < r1.initial_loss);
}

TEST_CASE("awq on a decoder layer: mappings, GQA skip, the unchanged function, statistics") {
  for (const bool gqa : {true, false}) {
    CAPTURE(gqa);
    method_test::synthetic_layer L(64, gqa ? 32 : 64, 172, 41);
    llmc::layer_context ctx = L.context();
    const matrix<float> attn_in = method_test::rmsnorm(method_test::hidden_with_outliers(768, 64, 42, 12.0f, {2, 50}), L.ln1);
    const matrix<float> mlp_in = method_test::rmsnorm(method_test::hidden_with_outliers(768, 64, 43, 12.0f, {9, 31}), L.ln2);
    // o_in: per-channel linear in v's output (as attention's weighted sum over tokens is); here v's output itself.
    const matrix<float> o_in = [&] {
      const auto v = method_test::linear_ref(attn_in, L.v);
      matrix<float> m(768, 64);
      for (std::size_t t = 0; t < 768; ++t)
        for (std::size_t c = 0; c < 64; ++c) m(t, c) = float(v(t, c % v.cols()));
      return m;
    }();
    matrix<float> down_in(768, 172);
    {
      const auto gt = method_test::linear_ref(mlp_in, L.gate), ut = method_test::linear_ref(mlp_in, L.up);
      for (std::size_t t = 0; t < 768; ++t)
        for (std::size_t k = 0; k < 172; ++k) down_in(t, k) = float(gt(t, k) / (1 + std::exp(-gt(t, k))) * ut(t, k));
    }
    for (auto& [key, x] : std::vector<std::pair<const char*, const matrix<float>*>>{
             {"attn_in", &attn_in}, {"o_in", &o_in}, {"mlp_in", &mlp_in}, {"down_in", &down_in}}) {
      ctx.inputs[key].absmean.add(*x);
      ctx.inputs[key].samples = *x;
    }
    const auto fp_k = method_test::linear_ref(attn_in, L.k);
    const auto fp_mlp = method_test::mlp_ref(mlp_in, L.gate, L.up, L.down);
    const auto fp_o = method_test::linear_ref(o_in, L.o);

    const llmc::awq<W4G32> awq{};
    awq.apply(ctx);

    // Notes: one per mapping, v -> o skipped exactly for GQA.
    REQUIRE(ctx.notes.size() == 4);
    CHECK(ctx.notes[0].target == "model.layers.0.input_layernorm");
    CHECK((ctx.notes[1].message.find("skipped") == 0) == gqa);
    for (const auto& n : ctx.notes)
      if (n.message.find("skipped") != 0) CHECK(n.after <= n.before);
    // Floating-point function unchanged: k from the folded norm, the MLP from the folded norm.
    const auto rescaled = [](const matrix<float>& x, const std::vector<float>& g_old, const std::vector<float>& g_new) {
      matrix<float> y = x;
      for (std::size_t t = 0; t < y.rows(); ++t)
        for (std::size_t c = 0; c < y.cols(); ++c) y(t, c) = x(t, c) / g_old[c] * g_new[c];
      return y;
    };
    const matrix<float> attn_in2 = rescaled(attn_in, L.ln1, ctx.find_norm("input_layernorm")->weight);
    const matrix<float> mlp_in2 = rescaled(mlp_in, L.ln2, ctx.find_norm("post_attention_layernorm")->weight);
    const auto k2 = method_test::linear_ref(attn_in2, ctx.linear("self_attn.k_proj").weight);
    const auto mlp2 = method_test::mlp_ref(mlp_in2, ctx.linear("mlp.gate_proj").weight, ctx.linear("mlp.up_proj").weight,
                                           ctx.linear("mlp.down_proj").weight);
    const double norm_mlp = method_test::sse(fp_mlp, matrix<double>(fp_mlp.rows(), fp_mlp.cols()));
    CHECK(method_test::sse(k2, fp_k) / method_test::sse(fp_k, matrix<double>(fp_k.rows(), fp_k.cols())) < 1e-10);
    CHECK(method_test::sse(mlp2, fp_mlp) / norm_mlp < 1e-10);
    // The context's samples are the new inputs (what a new calibration pass would see).
    CHECK(method_test::sse(ctx.inputs["mlp_in"].samples, mlp_in2) < 1e-8);
    const auto o2 = method_test::linear_ref(ctx.inputs["o_in"].samples, ctx.linear("self_attn.o_proj").weight);
    CHECK(method_test::sse(o2, fp_o) / method_test::sse(fp_o, matrix<double>(fp_o.rows(), fp_o.cols())) < 1e-10);
    CHECK((ctx.linear("self_attn.o_proj").weight == L.o) == gqa);
    CHECK((ctx.linear("self_attn.v_proj").weight == L.v) == false);  // scaled by the q/k/v mapping either way
  }
}

TEST_CASE("awq uses the caller's parent forward when it gives one") {
  method_test::synthetic_layer L(64, 32, 172, 51);
  const matrix<float> mlp_in = method_test::rmsnorm(method_test::hidden_with_outliers(512, 64, 52, 12.0f, {9, 31}), L.ln2);
  auto make = [&] {
    llmc::layer_context ctx = L.context();
    ctx.inputs["mlp_in"].absmean.add(mlp_in);
    ctx.inputs["mlp_in"].samples = mlp_in;
    return ctx;
  };
  llmc::awq<W4G32> awq{};
  awq.mappings = {llmc::llama_awq_mappings()[2]};
  llmc::layer_context builtin = make();
  awq.apply(builtin);
  int calls = 0;
  llmc::layer_context cb = make();
  // The caller's MLP forward, written independently (double), on the context's cached input.
  cb.parent_forward = [&](const llmc::awq_mapping& m, std::span<const llmc::weight_override> ov, matrix<float>& out) {
    if (m.parent != "mlp") return false;
    ++calls;
    REQUIRE(ov.size() == 2);
    CHECK(ov[0].name == "mlp.gate_proj");
    const auto y = method_test::mlp_ref(mlp_in, matrix<float>::from(ov[0].weight), matrix<float>::from(ov[1].weight), L.down);
    out = matrix<float>::from(y);
    return true;
  };
  awq.apply(cb);
  CHECK(calls == 21);  // the floating-point output, then 20 grid points
  REQUIRE(cb.notes.size() == 1);
  CHECK(cb.notes[0].message.find("parent forward") != std::string::npos);
  CHECK(cb.notes[0].before == doctest::Approx(builtin.notes[0].before).epsilon(1e-3));
  CHECK(cb.notes[0].after == doctest::Approx(builtin.notes[0].after).epsilon(1e-3));
  CHECK(cb.find_norm("post_attention_layernorm")->weight == builtin.find_norm("post_attention_layernorm")->weight);
}

namespace {
/// A host block behind the type-erased interface: counts its calls, says where it ran.
template <class B>
struct counted_block final : llmc::any_parent_block {
  B block;
  int* calls;
  template <class... A>
  explicit counted_block(int* c, A&&... a) : block(std::forward<A>(a)...), calls(c) {}
  double squared_error(std::span<const llmc::matrix_view<const float>> cand) override {
    ++*calls;
    return block.squared_error(cand);
  }
  [[nodiscard]] double output_elements() const override { return block.output_elements(); }
  [[nodiscard]] std::string where() const override { return "counted block"; }
};
}  // namespace

TEST_CASE("awq uses the caller's parent block factory when it builds one, after parent_forward") {
  method_test::synthetic_layer L(64, 32, 172, 61);
  const matrix<float> mlp_in = method_test::rmsnorm(method_test::hidden_with_outliers(512, 64, 62, 12.0f, {9, 31}), L.ln2);
  matrix<float> down_in(512, 172);
  {
    const auto gt = method_test::linear_ref(mlp_in, L.gate), ut = method_test::linear_ref(mlp_in, L.up);
    for (std::size_t t = 0; t < 512; ++t)
      for (std::size_t k = 0; k < 172; ++k) down_in(t, k) = float(gt(t, k) / (1 + std::exp(-gt(t, k))) * ut(t, k));
  }
  auto make = [&] {
    llmc::layer_context ctx = L.context();
    ctx.inputs["mlp_in"].absmean.add(mlp_in);
    ctx.inputs["mlp_in"].samples = mlp_in;
    ctx.inputs["down_in"].absmean.add(down_in);
    ctx.inputs["down_in"].samples = down_in;
    return ctx;
  };
  llmc::awq<W4G32> awq{};
  awq.mappings = {llmc::llama_awq_mappings()[2], llmc::llama_awq_mappings()[3]};
  llmc::layer_context builtin = make();
  awq.apply(builtin);
  REQUIRE(builtin.notes.size() == 2);

  int calls = 0, built = 0;
  std::vector<std::string> inputs;
  llmc::layer_context f = make();
  f.make_parent_block = [&](const llmc::awq_mapping& m, std::string_view in, std::span<const llmc::matrix_view<const float>> bal,
                            const llmc::linear_weight* down) -> std::unique_ptr<llmc::any_parent_block> {
    ++built;
    inputs.emplace_back(in);
    const llmc::input_statistics& st = f.inputs.find(in)->second;
    if (m.kind == llmc::parent_kind::gated_mlp) {
      REQUIRE(down != nullptr);
      CHECK(down->name == "mlp.down_proj");
      REQUIRE(bal.size() == 2);
      return std::make_unique<counted_block<llmc::gated_mlp_block>>(&calls, st.samples.view(), bal[0], bal[1], down->weight.view());
    }
    CHECK(down == nullptr);
    return std::make_unique<counted_block<llmc::linear_group_block>>(&calls, st.samples.view(), bal);
  };
  awq.apply(f);
  CHECK(built == 2);
  CHECK(inputs == std::vector<std::string>{"mlp_in", "down_in"});
  CHECK(calls == 40);  // 20 grid points per mapping
  REQUIRE(f.notes.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    // The same blocks on the same inputs: the same numbers, only the place named differs.
    CHECK(f.notes[i].before == builtin.notes[i].before);
    CHECK(f.notes[i].after == builtin.notes[i].after);
    CHECK(f.notes[i].message.find("loss on the counted block") != std::string::npos);
    CHECK(f.notes[i].message.substr(0, f.notes[i].message.find(',')) ==
          builtin.notes[i].message.substr(0, builtin.notes[i].message.find(',')));
  }
  CHECK(f.linear("mlp.down_proj").weight == builtin.linear("mlp.down_proj").weight);
  CHECK(f.find_norm("post_attention_layernorm")->weight == builtin.find_norm("post_attention_layernorm")->weight);

  // A factory that returns null leaves AWQ on its built-in blocks (same notes, same bytes).
  llmc::layer_context none = make();
  none.make_parent_block = [](const llmc::awq_mapping&, std::string_view, std::span<const llmc::matrix_view<const float>>,
                              const llmc::linear_weight*) { return std::unique_ptr<llmc::any_parent_block>(); };
  awq.apply(none);
  REQUIRE(none.notes.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) CHECK(none.notes[i].message == builtin.notes[i].message);
  CHECK(none.linear("mlp.up_proj").weight == builtin.linear("mlp.up_proj").weight);

  // parent_forward, when it knows the parent, comes first.
  llmc::layer_context both = make();
  int factory_calls = 0;
  both.parent_forward = [&](const llmc::awq_mapping& m, std::span<const llmc::weight_override> ov, matrix<float>& out) {
    if (m.parent != "mlp") return false;
    out = matrix<float>::from(method_test::mlp_ref(mlp_in, matrix<float>::from(ov[0].weight), matrix<float>::from(ov[1].weight), L.down));
    return true;
  };
  both.make_parent_block = [&](const llmc::awq_mapping&, std::string_view, std::span<const llmc::matrix_view<const float>>,
                               const llmc::linear_weight*) {
    ++factory_calls;
    return std::unique_ptr<llmc::any_parent_block>();
  };
  awq.apply(both);
  CHECK(factory_calls == 1);  // only up -> down reached it
  CHECK(both.notes[0].message.find("parent forward") != std::string::npos);
}

TEST_CASE("awq clip search lowers each slot's output error and the Linear's") {
  // Heavy-tailed weights (Laplace): clipping the rare large values trades them for resolution.
  std::mt19937 gen(61);
  std::exponential_distribution<float> ex(30.0f);
  std::bernoulli_distribution sign(0.5);
  matrix<float> w(256, 128);
  for (auto& v : w.storage()) v = sign(gen) ? ex(gen) : -ex(gen);
  const matrix<float> x = method_test::random_matrix(2048, 128, 62, 1.0f);
  for (const auto& a : {int4_g32, int4_channel}) {
    CAPTURE(int(a.strategy));
    const auto c = llmc::awq_clip_search(a, w.view(), x.view());
    CHECK(c.error_after <= c.error_before);
    std::size_t clipped = 0;
    matrix<float> mn, mx;
    llmc::slot_minmax(a, w, mn, mx);
    for (std::size_t s = 0; s < c.max_vals.size(); ++s) {
      const float org = std::max(std::fabs(mn.data()[s]), std::fabs(mx.data()[s]));
      CHECK(c.max_vals.data()[s] <= org);
      CHECK(c.max_vals.data()[s] >= 0.5f * org);
      clipped += c.max_vals.data()[s] < org;
    }
    CHECK(clipped > 0);
    matrix<float> wc = w;
    llmc::apply_clip(c, wc);
    const auto fp = method_test::linear_ref(x, w);
    const double e_rtn = method_test::sse(method_test::linear_ref(x, rtn(a, w)), fp);
    const double e_clip = method_test::sse(method_test::linear_ref(x, rtn(a, wc)), fp);
    MESSAGE("clip search on Laplace weights: output SSE " << e_rtn << " -> " << e_clip << " (" << clipped << " of "
                                                          << c.max_vals.size() << " slots clipped)");
    CHECK(e_clip < 0.95 * e_rtn);
    // The slot errors it reports are real: a channel slot is a whole row, so before clipping their sum
    // is exactly the Linear's output SSE.
    if (a.strategy == llmc::quant_strategy::channel) CHECK(c.error_before == doctest::Approx(e_rtn).epsilon(1e-3));
  }
}

TEST_CASE("awq errors carry stable ids") {
  method_test::synthetic_layer L(64, 32, 172, 71);
  const matrix<float> x = method_test::random_matrix(64, 64, 72, 1.0f);
  {
    llmc::layer_context ctx = L.context();
    ctx.inputs["attn_in"].absmean.add(x);  // no samples, no parent forward
    llmc::awq<W4G32> awq{};
    awq.mappings = {llmc::llama_awq_mappings()[0]};
    method_test::check_error_id([&] { awq.apply(ctx); }, "llmc.method.210");
  }
  {
    llmc::layer_context ctx = L.context();
    ctx.inputs["attn_in"].absmean.add(x);
    ctx.inputs["attn_in"].samples = x;
    ctx.linear("self_attn.k_proj").quantized = llmc::quantize_weight(W4G32{}, L.k);
    method_test::check_error_id([&] { llmc::awq<W4G32>{}.apply(ctx); }, "llmc.method.209");
  }
  {
    llmc::layer_context ctx = L.context();
    ctx.inputs["attn_in"].absmean.add(x);
    ctx.inputs["attn_in"].samples = x;
    llmc::awq<llmc::scheme<llmc::quant_args{.num_bits = 4}>> awq{};  // tensor strategy
    awq.mappings = {llmc::llama_awq_mappings()[0]};
    method_test::check_error_id([&] { awq.apply(ctx); }, "llmc.method.206");
    awq.duo = llmc::duo_scaling::off;  // allowed without duo scaling
    awq.apply(ctx);
    CHECK(ctx.notes.size() == 1);
  }
}
