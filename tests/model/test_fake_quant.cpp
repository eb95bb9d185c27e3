// What compression costs on the fixture model: held-out perplexity (32 windows of 512) and KL
// divergence against fp32 with RTN fake quantization (W8A8 INT8 with dynamic per-token inputs,
// W4A16 symmetric group 32 with channel-wise down_proj, FP8_DYNAMIC), printed as a table.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "llmc/model/evaluate.hpp"
#include "llmc/model/fake_quant.hpp"
#include "llmc/scheme/presets.hpp"
#include "model_test_support.hpp"

using namespace llmc;
using model_test::stories;

namespace {

struct measured {
  double ppl, kl, top1;
};

measured evaluate(const causal_lm& m, const forward_hooks& hooks) {
  const auto& ids = model_test::text_ids("heldout.txt");
  perplexity_options po;
  po.max_windows = 32;
  po.hooks = hooks;
  const double ppl = perplexity(m, ids, po).perplexity;
  kl_options ko;
  ko.max_windows = 8;
  ko.candidate_hooks = hooks;
  const kl_result kl = kl_divergence(stories(), m, ids, ko);
  return {ppl, kl.mean_kl, kl.top1_agreement};
}

constexpr quant_args int4_g32{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
constexpr quant_args int4_channel{.num_bits = 4, .strategy = quant_strategy::channel};

}  // namespace

TEST_CASE("fake quantization: weights change as quantize_weight says; identity KL is 0") {
  causal_lm q = stories();
  fake_quantize_weights(q, every_linear(runtime_scheme::from(presets::W8A8{})));
  const auto& w0 = stories().layer(0).q_proj.weight;
  const auto& w1 = q.layer(0).q_proj.weight;
  const matrix<float> expected = dequantize<float>(quantize_weight(presets::W8A8{}, w0));
  CHECK(w1 == expected);
  CHECK_FALSE(w1 == w0);
  // Each row holds at most 255 distinct values (int8 codes times one scale).
  for (std::size_t r = 0; r < 4; ++r) {
    std::vector<float> row(&w1(r, 0), &w1(r, 0) + w1.cols());
    std::sort(row.begin(), row.end());
    CHECK(std::unique(row.begin(), row.end()) - row.begin() <= 255);
  }
  // The embedding and norms are not Linears of the decoder layers: untouched.
  CHECK(q.embed_tokens() == stories().embed_tokens());
  CHECK(q.layer(2).input_layernorm == stories().layer(2).input_layernorm);

  const auto& ids = model_test::text_ids("heldout.txt");
  const kl_result same = kl_divergence(stories(), stories(), ids, kl_options{.max_windows = 2});
  CHECK(same.mean_kl == 0.0);
  CHECK(same.top1_agreement == 1.0);
  CHECK(same.positions == 1024);
}

TEST_CASE("fake quantization: fixture perplexity and KL for W8A8, W4A16 g32, FP8_DYNAMIC") {
  const auto& ids = model_test::text_ids("heldout.txt");
  perplexity_options po;
  po.max_windows = 32;
  const double fp32 = perplexity(stories(), ids, po).perplexity;

  causal_lm w8a8 = stories();
  const auto w8a8_select = every_linear(runtime_scheme::from(presets::W8A8{}));
  fake_quantize_weights(w8a8, w8a8_select);
  const measured a = evaluate(w8a8, activation_fake_quant_hooks(w8a8_select));
  const measured a_weights_only = evaluate(w8a8, {});

  causal_lm w4 = stories();
  fake_quantize_weights(w4, [](std::string_view name) {
    runtime_scheme s;
    s.weights = name.ends_with("down_proj") ? int4_channel : int4_g32;  // down_proj has 172 inputs
    return std::optional<runtime_scheme>(s);
  });
  const measured b = evaluate(w4, {});

  causal_lm fp8 = stories();
  const auto fp8_select = every_linear(runtime_scheme::from(presets::FP8_DYNAMIC{}));
  fake_quantize_weights(fp8, fp8_select);
  const measured c = evaluate(fp8, activation_fake_quant_hooks(fp8_select));

  std::printf("\nstories260k held-out perplexity (32 x 512 tokens), RTN fake quantization, fp32 compute\n");
  std::printf("| scheme | perplexity | vs fp32 | mean KL (8 x 512 positions) | top-1 agreement |\n|---|---:|---:|---:|---:|\n");
  std::printf("| fp32 | %.5f | - | - | - |\n", fp32);
  auto line = [&](const char* n, const measured& m) {
    std::printf("| %s | %.5f | %+.2f%% | %.5f | %.2f%% |\n", n, m.ppl, 100.0 * (m.ppl / fp32 - 1.0), m.kl, 100.0 * m.top1);
  };
  line("W8A8 (int8 channel, dynamic int8 per-token inputs)", a);
  line("W8A16 weights of W8A8 only", a_weights_only);
  line("W4A16 (int4 sym group 32; down_proj channel)", b);
  line("FP8_DYNAMIC (fp8 channel, dynamic fp8 per-token inputs)", c);

  CHECK(fp32 == doctest::Approx(6.12596).epsilon(1e-4));
  // 8-bit schemes cost little, 4-bit weights more; every quantized model is worse than fp32.
  for (const measured* m : {&a, &a_weights_only, &b, &c}) {
    CHECK(m->ppl > fp32);
    CHECK(m->kl > 0.0);
  }
  CHECK(a.ppl < fp32 * 1.03);
  CHECK(c.ppl < fp32 * 1.05);
  CHECK(b.ppl > a.ppl);
  CHECK(b.kl > a.kl);
  CHECK(a_weights_only.kl < a.kl);  // quantizing the inputs too costs more than the weights alone
  CHECK(a.top1 > 0.9);
}
