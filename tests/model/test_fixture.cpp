// The real fixture model (stories260K as HF LlamaForCausalLM) against the fp64 reference outputs of
// shared/fixtures/models/stories260k: greedy text from BOS, logits, held-out perplexity (whole
// model), and the captured Linear inputs (layer by layer, through the streaming per-layer API).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/model/causal_lm.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/evaluate.hpp"
#include "llmc/model/weights.hpp"
#include "model_test_support.hpp"

using namespace llmc;
using model_test::reference_outputs;
using model_test::stories;

namespace {
std::vector<std::int32_t> ids_of(const nlohmann::json& j) {
  std::vector<std::int32_t> v;
  for (const auto& e : j) v.push_back(e.get<std::int32_t>());
  return v;
}
}  // namespace

TEST_CASE("stories260k: spec from config.json") {
  const decoder_spec& s = stories().spec();
  CHECK(s.family == decoder_family::llama);
  CHECK(s.hidden_size == 64);
  CHECK(s.intermediate_size == 172);
  CHECK(s.num_layers == 5);
  CHECK(s.num_heads == 8);
  CHECK(s.num_kv_heads == 4);
  CHECK(s.head_dim == 8);
  CHECK(s.vocab_size == 512);
  CHECK(s.tie_word_embeddings);
  CHECK_FALSE(s.q_bias);
  CHECK_FALSE(s.qk_norm);
  CHECK(s.rms_norm_eps == doctest::Approx(1e-5f));
  CHECK(s.layer_window == std::vector<std::size_t>(5, 0));
  // Tied: the head is the embedding object itself (lm_head.weight in the file is ignored).
  CHECK(&stories().lm_head() == &stories().embed_tokens());
}

TEST_CASE("stories260k: logits after BOS and the top-5 of the first 16 greedy steps match the fp64 reference") {
  const auto& g = reference_outputs().at("greedy_from_bos");
  const std::vector<std::int32_t> bos{1};
  const matrix<float> logits = stories().forward(bos, 1, 1);
  const auto ref = g.at("logits_step0_after_bos").get<std::vector<double>>();
  REQUIRE(ref.size() == 512);
  double worst = 0.0;
  for (std::size_t j = 0; j < 512; ++j) worst = std::max(worst, std::abs(logits(0, j) - ref[j]));
  MESSAGE("max |logit - ref| after BOS: " << worst);
  CHECK(worst < 2e-4);  // the reference is printed with 5 decimals

  // Top-5 of each of the first 16 steps, from one full forward over the reference's greedy ids.
  const auto ids = ids_of(g.at("token_ids"));
  const std::vector<std::int32_t> prefix(ids.begin(), ids.begin() + 16);
  const matrix<float> all = stories().forward(prefix, 1, 16);
  const auto& top5 = g.at("top5_logits_first16_steps");
  REQUIRE(top5.size() == 16);
  for (std::size_t step = 0; step < 16; ++step) {
    for (const auto& pair : top5[step]) {
      const auto id = pair[0].get<std::size_t>();
      CHECK(std::abs(all(step, id) - pair[1].get<double>()) < 2e-4);
    }
    const float* row = &all(step, 0);
    CHECK(std::max_element(row, row + 512) - row == top5[step][0][0].get<std::ptrdiff_t>());
  }
}

TEST_CASE("stories260k: greedy text from BOS matches token for token (256 steps, KV cache)") {
  const auto& g = reference_outputs().at("greedy_from_bos");
  const auto expected = ids_of(g.at("token_ids"));
  REQUIRE(expected.size() == 257);
  const std::vector<std::int32_t> bos{1};
  generation_options o;
  o.max_new_tokens = 256;
  o.stop_ids = {1, 2};  // the reference stops at BOS or EOS
  const auto got = generate_greedy(stories(), bos, o);
  REQUIRE(got.size() == expected.size());
  std::size_t first_diff = got.size();
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != expected[i]) {
      first_diff = i;
      break;
    }
  CHECK_MESSAGE(first_diff == got.size(), "first differing token at step " << first_diff);
  const std::string text = model_test::stories_tokenizer().decode(got, true);
  CHECK(text == g.at("text").get<std::string>());
  CHECK(text.rfind("Once upon a time, there was a little girl named Lily.", 0) == 0);
}

TEST_CASE("stories260k: held-out perplexity reproduces 6.12596 (32 windows of 512, fresh KV)") {
  const auto& ref = reference_outputs().at("heldout_perplexity");
  const auto& ids = model_test::text_ids("heldout.txt");
  REQUIRE(ids.size() == ref.at("heldout_total_tokens").get<std::size_t>());
  perplexity_options o;
  o.window = 512;
  o.max_windows = 32;
  const perplexity_result r = perplexity(stories(), ids, o);
  MESSAGE("stories260k held-out: mean NLL " << r.mean_nll << ", perplexity " << r.perplexity);
  CHECK(r.windows == 32);
  CHECK(r.predicted_tokens == 16352);
  CHECK(std::abs(r.perplexity / 6.12596 - 1.0) < 1e-4);
  CHECK(std::abs(r.mean_nll - 1.812536) < 2e-6);
  const auto per_window = ref.at("per_window_mean_nll").get<std::vector<double>>();
  REQUIRE(per_window.size() == r.window_mean_nll.size());
  for (std::size_t w = 0; w < per_window.size(); ++w) CHECK(std::abs(r.window_mean_nll[w] - per_window[w]) < 5e-6);

}

TEST_CASE("stories260k: batching windows does not change perplexity; CBLAS gives the same") {
  const auto& ids = model_test::text_ids("heldout.txt");
  perplexity_options one;
  one.batch = 1;
  one.max_windows = 5;
  perplexity_options five = one;
  five.batch = 5;
  const auto a = perplexity(stories(), ids, one), b = perplexity(stories(), ids, five);
  for (std::size_t w = 0; w < 5; ++w) CHECK(a.window_mean_nll[w] == doctest::Approx(b.window_mean_nll[w]).epsilon(1e-9));
#if defined(LLMC_HAS_CBLAS)
  set_dense_implementation(dense_impl::blas);
  const perplexity_result rb = perplexity(stories(), ids, five);
  set_dense_implementation(dense_impl::own);
  CHECK(dense_implementation() == dense_impl::own);
  for (std::size_t w = 0; w < 5; ++w) CHECK(rb.window_mean_nll[w] == doctest::Approx(b.window_mean_nll[w]).epsilon(1e-6));
#endif
}

TEST_CASE("stories260k: sliding-window perplexity") {
  const auto& ids = model_test::text_ids("heldout.txt");
  perplexity_options o;
  o.max_windows = 8;
  const perplexity_result plain = perplexity(stories(), ids, o);
  // stride == window over exactly 8 windows is the non-overlapping protocol.
  sliding_perplexity_options so;
  so.window = 512;
  so.stride = 512;
  so.max_tokens = 8 * 512;
  const perplexity_result same = perplexity_sliding(stories(), ids, so);
  CHECK(same.predicted_tokens == plain.predicted_tokens);
  CHECK(same.windows == 8);
  CHECK(same.mean_nll == doctest::Approx(plain.mean_nll).epsilon(1e-9));
  // Overlapping windows: every token after the first is scored exactly once, with more context.
  so.stride = 256;
  const perplexity_result slid = perplexity_sliding(stories(), ids, so);
  CHECK(slid.predicted_tokens == 8 * 512 - 1);
  CHECK(slid.windows == 15);
  MESSAGE("held-out perplexity over 8 x 512 tokens, stride 256: " << slid.perplexity << " (non-overlapping " << plain.perplexity << ")");
  CHECK(slid.perplexity < plain.perplexity);  // stories are short: context past 256 tokens helps little

  // An independent tally over 1024 tokens: window [0, 512) scores tokens 1..511, windows
  // [256k, 256k + 512) score their last 256 tokens.
  so.max_tokens = 1024;
  const perplexity_result small = perplexity_sliding(stories(), ids, so);
  double total = 0.0;
  std::size_t count = 0;
  for (std::size_t begin : {0, 256, 512}) {
    const std::vector<std::int32_t> win(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                        ids.begin() + static_cast<std::ptrdiff_t>(begin + 512));
    const matrix<float> lg = stories().forward(win, 1, 512);
    for (std::size_t t = begin == 0 ? 1 : 256; t < 512; ++t) {
      const float* row = &lg(t - 1, 0);
      double m = row[0], z = 0.0;
      for (std::size_t j = 0; j < 512; ++j) m = std::max(m, static_cast<double>(row[j]));
      for (std::size_t j = 0; j < 512; ++j) z += std::exp(row[j] - m);
      total += m + std::log(z) - row[static_cast<std::size_t>(win[t])];
      ++count;
    }
  }
  CHECK(small.predicted_tokens == count);
  CHECK(small.windows == 3);
  CHECK(small.mean_nll == doctest::Approx(total / static_cast<double>(count)).epsilon(1e-12));
}

TEST_CASE("stories260k: Linear inputs match activations_calib.safetensors layer by layer") {
  // 2048 calibration tokens (one BOS, then the text), 4 windows of 512 with fresh attention,
  // run as one batch of 4 through the streaming API: load a layer, run it, drop it.
  const auto& all = model_test::text_ids("calibration.txt");
  REQUIRE(all.size() >= 2048);
  const std::vector<std::int32_t> ids(all.begin(), all.begin() + 2048);
  const model_directory dir = model_directory::open(model_test::stories_dir());
  const decoder_spec s = decoder_spec::from_config(dir.config());
  const auto acts = safetensors_file::open(model_test::stories_dir() / "activations_calib.safetensors");

  hidden_batch hb;
  hb.batch = 4;
  hb.seq = 512;
  {
    const matrix<float> embed = load_embedding(dir, s);
    hb.states = matrix<float>(2048, s.hidden_size);
    for (std::size_t r = 0; r < 2048; ++r)
      std::copy_n(&embed(static_cast<std::size_t>(ids[r]), 0), s.hidden_size, &hb.states(r, 0));
  }
  std::map<std::string, matrix<float>> captured;
  forward_hooks hooks;
  std::size_t calls = 0;
  hooks.on_linear_input = [&](const linear_input& in) {
    ++calls;
    CHECK(in.mask.empty());
    CHECK(in.batch == 4);
    CHECK(in.seq == 512);
    CHECK(in.x.rows() == 2048);
    CHECK(in.x.cols() == in.linear.in_features);
    captured[in.linear.name] = matrix<float>::from(in.x);
  };
  for (std::size_t layer = 0; layer < s.num_layers; ++layer) {
    captured.clear();
    const decoder_layer_weights w = load_decoder_layer(dir, s, layer);
    run_decoder_layer(s, w, hb, hooks);
    const std::string p = layer_prefix(layer);
    const struct {
      const char* tensor;
      const char* linear;
    } pairs[] = {{"attn_in", "self_attn.q_proj"}, {"attn_in", "self_attn.k_proj"}, {"attn_in", "self_attn.v_proj"},
                 {"o_in", "self_attn.o_proj"},    {"mlp_in", "mlp.gate_proj"},     {"mlp_in", "mlp.up_proj"},
                 {"down_in", "mlp.down_proj"}};
    for (const auto& pr : pairs) {
      const std::string tname = "layers." + std::to_string(layer) + "." + pr.tensor;
      const std::vector<float> ref = to_float32(acts.tensor(tname));
      const matrix<float>& got = captured.at(p + pr.linear);
      REQUIRE(got.size() == ref.size());
      const double fro = model_test::rel_fro(got.data(), ref.data(), ref.size());
      const double mx = model_test::rel_max(got.data(), ref.data(), ref.size());
      INFO(tname << " (" << pr.linear << "): relative Frobenius " << fro << ", relative max " << mx);
      CHECK(fro < 1e-4);
      CHECK(mx < 1e-4);
      if (pr.linear == std::string("mlp.down_proj")) MESSAGE(tname << ": rel Frobenius " << fro << ", rel max " << mx);
    }
  }
  CHECK(calls == 7 * s.num_layers);
}
