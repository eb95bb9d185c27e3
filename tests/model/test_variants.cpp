// Llama / Mistral / Qwen2 / Qwen3 variants on tiny random checkpoints (written by
// write_random_checkpoint into real HF folders), against the naive fp64 forward of
// reference_forward.hpp. Each variant also checks that its distinguishing feature matters: the
// reference with that feature switched off must disagree with the model. Then padding masks, the
// KV cache, hooks and weight swapping.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "llmc/model/causal_lm.hpp"
#include "llmc/model/evaluate.hpp"
#include "llmc/model/random_checkpoint.hpp"
#include "model_test_support.hpp"
#include "reference_forward.hpp"

using namespace llmc;
using model_test::ref_switches;
using model_test::reference_forward;
using model_test::temp_dir;

namespace {

nlohmann::json base_config(const char* arch, const char* type) {
  nlohmann::json c = {{"architectures", {arch}}, {"model_type", type}, {"hidden_size", 48},
                      {"intermediate_size", 80}, {"num_hidden_layers", 2},    {"num_attention_heads", 4},
                      {"num_key_value_heads", 2}, {"vocab_size", 96},         {"max_position_embeddings", 64},
                      {"rms_norm_eps", 1e-6},     {"rope_theta", 10000.0},    {"hidden_act", "silu"},
                      {"tie_word_embeddings", false}, {"initializer_range", 0.2}};
  return c;
}

std::vector<std::int32_t> test_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
  detail::xoshiro256 rng(seed);
  std::vector<std::int32_t> ids(n);
  for (auto& id : ids) id = static_cast<std::int32_t>(rng.next() % vocab);
  return ids;
}

/// max |model - ref| / max |ref| over all logits.
double rel_error(const matrix<float>& got, const std::vector<std::vector<double>>& ref) {
  double num = 0.0, den = 0.0;
  for (std::size_t t = 0; t < ref.size(); ++t)
    for (std::size_t v = 0; v < ref[t].size(); ++v) {
      num = std::max(num, std::abs(got(t, v) - ref[t][v]));
      den = std::max(den, std::abs(ref[t][v]));
    }
  return num / den;
}

struct variant {
  const char* name;
  nlohmann::json config;
  dtype weights;
  ref_switches switches;
  std::vector<std::pair<const char*, ref_switches>> ablations;  ///< feature off: must disagree
};

void check_variant(const variant& v) {
  INFO("variant " << std::string(v.name));
  temp_dir dir(v.name);
  random_checkpoint_options o;
  o.seed = 11;
  o.weight_dtype = v.weights;
  o.norm_jitter = 0.3f;
  write_random_checkpoint(dir / "model", v.config, o);
  const model_directory md = model_directory::open(dir / "model");
  const causal_lm m = causal_lm::load(md);
  const auto ids = test_ids(12, 96, 5);
  const matrix<float> got = m.forward(ids, 1, ids.size());
  const double err = rel_error(got, reference_forward(md, v.switches).logits(ids));
  MESSAGE(std::string(v.name) << ": max |llmc - fp64 reference| / max |reference| = " << err);
  CHECK(err < 2e-5);
  for (const auto& [what, sw] : v.ablations) {
    const double off = rel_error(got, reference_forward(md, sw).logits(ids));
    INFO("without " << std::string(what) << ": " << off);
    CHECK(off > 100 * 2e-5);
  }
}

}  // namespace

TEST_CASE("Llama 3: llama3 RoPE scaling, attention and MLP biases, untied head, F32") {
  nlohmann::json c = base_config("LlamaForCausalLM", "llama");
  c["attention_bias"] = true;
  c["mlp_bias"] = true;
  c["rope_theta"] = 500000.0;
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 64}};
  ref_switches on{.qkv_bias = true, .o_bias = true, .mlp_bias = true, .rope = "llama3", .factor = 8.0, .low = 1.0,
                  .high = 4.0, .original = 64.0};
  ref_switches no_bias = on, no_mlp_bias = on, no_scaling = on;
  no_bias.qkv_bias = no_bias.o_bias = false;
  no_mlp_bias.mlp_bias = false;
  no_scaling.rope = "default";
  const decoder_spec s = decoder_spec::from_config(parse_model_config(c.dump(), "config.json"));
  CHECK(s.q_bias);
  CHECK(s.o_bias);
  CHECK(s.mlp_bias);
  CHECK(s.rope.type == "llama3");
  // The three llama3 bands all occur with head_dim 12 and original_max 64: divided, blended, kept.
  const auto f = rope_inv_freq(s.rope, s.head_dim);
  const auto plain = rope_inv_freq(rope_spec{.theta = 500000.0}, s.head_dim);
  CHECK(f[0] == plain[0]);
  CHECK(f[5] == doctest::Approx(plain[5] / 8.0).epsilon(1e-15));
  CHECK(f[1] < plain[1]);
  CHECK(f[1] > plain[1] / 8.0);
  check_variant({"llama3", c, dtype::f32, on, {{"attention biases", no_bias}, {"MLP biases", no_mlp_bias}, {"llama3 scaling", no_scaling}}});
}

TEST_CASE("Llama: linear RoPE scaling, BF16 weights") {
  nlohmann::json c = base_config("LlamaForCausalLM", "llama");
  c["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  ref_switches on{.rope = "linear", .factor = 4.0};
  ref_switches off = on;
  off.rope = "default";
  check_variant({"llama-linear", c, dtype::bf16, on, {{"linear scaling", off}}});
}

TEST_CASE("Mistral: sliding window, grouped-query attention, F16 weights") {
  nlohmann::json c = base_config("MistralForCausalLM", "mistral");
  c["sliding_window"] = 5;
  const decoder_spec s = decoder_spec::from_config(parse_model_config(c.dump(), "config.json"));
  CHECK(s.layer_window == std::vector<std::size_t>{5, 5});
  CHECK_FALSE(s.q_bias);
  ref_switches on{.window = {5, 5}};
  ref_switches full = on;
  full.window = {0, 0};
  check_variant({"mistral", c, dtype::f16, on, {{"the sliding window", full}}});
  // sliding_window null (Mistral v0.2+): full attention; absent: transformers' default 4096.
  c["sliding_window"] = nullptr;
  CHECK(decoder_spec::from_config(parse_model_config(c.dump(), "config.json")).layer_window == std::vector<std::size_t>{0, 0});
  c.erase("sliding_window");
  CHECK(decoder_spec::from_config(parse_model_config(c.dump(), "config.json")).layer_window == std::vector<std::size_t>{4096, 4096});
}

TEST_CASE("Qwen2: q/k/v biases (none on o_proj), tied embeddings, BF16 weights") {
  nlohmann::json c = base_config("Qwen2ForCausalLM", "qwen2");
  c["tie_word_embeddings"] = true;
  const decoder_spec s = decoder_spec::from_config(parse_model_config(c.dump(), "config.json"));
  CHECK(s.q_bias);
  CHECK(s.k_bias);
  CHECK(s.v_bias);
  CHECK_FALSE(s.o_bias);
  CHECK(s.layer_window == std::vector<std::size_t>{0, 0});  // use_sliding_window defaults to false
  ref_switches on{.qkv_bias = true, .tied = true};
  ref_switches off = on;
  off.qkv_bias = false;
  check_variant({"qwen2", c, dtype::bf16, on, {{"q/k/v biases", off}}});
}

TEST_CASE("Qwen3: per-head q/k RMSNorm, head_dim != hidden/heads, windows from max_window_layers") {
  nlohmann::json c = base_config("Qwen3ForCausalLM", "qwen3");
  c["head_dim"] = 16;  // 4 heads x 16 = 64 != hidden 48
  c["use_sliding_window"] = true;
  c["sliding_window"] = 4;
  c["max_window_layers"] = 1;
  const decoder_spec s = decoder_spec::from_config(parse_model_config(c.dump(), "config.json"));
  CHECK(s.qk_norm);
  CHECK(s.q_dim() == 64);
  CHECK_FALSE(s.q_bias);
  CHECK(s.layer_window == std::vector<std::size_t>{0, 4});
  ref_switches on{.qk_norm = true, .window = {0, 4}};
  ref_switches no_norm = on, no_window = on;
  no_norm.qk_norm = false;
  no_window.window = {0, 0};
  check_variant({"qwen3", c, dtype::f32, on, {{"q/k norm", no_norm}, {"the layer-1 window", no_window}}});
  // layer_types, when present, decides per layer.
  c["layer_types"] = {"sliding_attention", "full_attention"};
  CHECK(decoder_spec::from_config(parse_model_config(c.dump(), "config.json")).layer_window == std::vector<std::size_t>{4, 0});
}

namespace {
/// A small Qwen2 (biases make padding bugs visible) loaded from a fresh random folder.
struct small_model {
  temp_dir dir{"small"};
  causal_lm m;
  small_model() {
    nlohmann::json c = base_config("Qwen2ForCausalLM", "qwen2");
    c["use_sliding_window"] = true;
    c["sliding_window"] = 6;
    c["max_window_layers"] = 1;
    write_random_checkpoint(dir / "m", c, random_checkpoint_options{.seed = 3, .weight_dtype = dtype::f32, .norm_jitter = 0.3f});
    m = causal_lm::load(dir / "m");
  }
};
double max_abs_diff(const float* a, const float* b, std::size_t n) {
  double d = 0.0;
  for (std::size_t i = 0; i < n; ++i) d = std::max(d, static_cast<double>(std::abs(a[i] - b[i])));
  return d;
}
}  // namespace

TEST_CASE("padding: right- and left-padded rows give the unpadded logits; hooks see the mask") {
  small_model sm;
  const auto a = test_ids(12, 96, 1), b = test_ids(7, 96, 2);
  const matrix<float> ref_b = sm.m.forward(b, 1, 7);
  const matrix<float> ref_a = sm.m.forward(a, 1, 12);
  const std::size_t V = 96;

  // Right padding: sequence b in row 1, tokens 7..11 are padding (id 0).
  std::vector<std::int32_t> ids(a);
  ids.insert(ids.end(), b.begin(), b.end());
  ids.resize(24, 0);
  std::vector<std::uint8_t> mask(24, 1);
  for (std::size_t t = 7; t < 12; ++t) mask[12 + t] = 0;
  std::size_t hook_calls = 0;
  forward_hooks hooks;
  hooks.on_linear_input = [&](const linear_input& in) {
    ++hook_calls;
    REQUIRE(in.mask.size() == 24);
    CHECK(std::equal(in.mask.begin(), in.mask.end(), mask.begin()));
  };
  const matrix<float> right = sm.m.forward(ids, 2, 12, mask, hooks);
  CHECK(hook_calls == 14);
  CHECK(max_abs_diff(&right(0, 0), &ref_a(0, 0), 12 * V) < 1e-5);
  CHECK(max_abs_diff(&right(12, 0), &ref_b(0, 0), 7 * V) < 1e-5);

  // Left padding with explicit positions (as generate() does: cumsum(mask) - 1).
  std::vector<std::int32_t> left(a);
  left.insert(left.end(), 5, 0);
  left.insert(left.end(), b.begin(), b.end());
  std::vector<std::uint8_t> lmask(24, 1);
  std::vector<std::int64_t> pos(24);
  for (std::size_t t = 0; t < 12; ++t) pos[t] = static_cast<std::int64_t>(t);
  for (std::size_t t = 0; t < 12; ++t) {
    lmask[12 + t] = t >= 5;
    pos[12 + t] = t >= 5 ? static_cast<std::int64_t>(t - 5) : 1;
  }
  hidden_batch hb = sm.m.embed(left, 2, 12, lmask, pos);
  sm.m.run_layers(hb);
  const matrix<float> lg = sm.m.logits(hb);
  CHECK(max_abs_diff(&lg(0, 0), &ref_a(0, 0), 12 * V) < 1e-5);
  CHECK(max_abs_diff(&lg(17, 0), &ref_b(0, 0), 7 * V) < 1e-5);

  // The padding really is masked: without the mask, b's rows change.
  const matrix<float> unmasked = sm.m.forward(left, 2, 12);
  CHECK(max_abs_diff(&unmasked(17, 0), &ref_b(0, 0), 7 * V) > 1e-2);
}

TEST_CASE("KV cache: incremental decoding reproduces the full forward (with a sliding window)") {
  small_model sm;
  const auto ids = test_ids(14, 96, 9);
  const matrix<float> full = sm.m.forward(ids, 1, 14);
  kv_cache cache(sm.m.spec(), 1, 14);
  // Prompt of 3 tokens, then one token at a time.
  hidden_batch hb = sm.m.embed(std::span<const std::int32_t>(ids).first(3), 1, 3);
  sm.m.run_layers(hb, {}, &cache);
  CHECK(cache.length() == 3);
  matrix<float> lg = sm.m.logits(hb);
  CHECK(max_abs_diff(&lg(0, 0), &full(0, 0), 3 * 96) < 1e-5);
  for (std::size_t t = 3; t < 14; ++t) {
    hb = sm.m.embed(std::span<const std::int32_t>(ids).subspan(t, 1), 1, 1);
    sm.m.run_layers(hb, {}, &cache);
    lg = sm.m.logits(hb);
    INFO("step " << t);
    CHECK(max_abs_diff(&lg(0, 0), &full(t, 0), 96) < 1e-5);
  }
  CHECK(cache.length() == 14);
  // Full: one more token does not fit.
  hb = sm.m.embed(std::span<const std::int32_t>(ids).first(1), 1, 1);
  CHECK_THROWS_WITH_AS(sm.m.run_layers(hb, {}, &cache), doctest::Contains("llmc.model.123"), shape_error);

  // A batch of 2 with a left-padded prompt: the cache keeps the padding masked in later steps.
  {
    const auto b = test_ids(8, 96, 10);  // sequence 1: 2 padding slots, then b[0..3), then b[3..8)
    const matrix<float> ref_b = sm.m.forward(b, 1, 8);
    kv_cache c2(sm.m.spec(), 2, 10);
    std::vector<std::int32_t> prompt(ids.begin(), ids.begin() + 5);
    prompt.insert(prompt.end(), {0, 0});
    prompt.insert(prompt.end(), b.begin(), b.begin() + 3);
    const std::vector<std::uint8_t> pmask{1, 1, 1, 1, 1, 0, 0, 1, 1, 1};
    const std::vector<std::int64_t> ppos{0, 1, 2, 3, 4, 1, 1, 0, 1, 2};
    hidden_batch step = sm.m.embed(prompt, 2, 5, pmask, ppos);
    sm.m.run_layers(step, {}, &c2);
    matrix<float> out = sm.m.logits(step);
    CHECK(max_abs_diff(&out(0, 0), &full(0, 0), 5 * 96) < 1e-5);
    CHECK(max_abs_diff(&out(7, 0), &ref_b(0, 0), 3 * 96) < 1e-5);
    for (std::size_t t = 0; t < 5; ++t) {
      const std::vector<std::int32_t> next{ids[5 + t], b[3 + t]};
      step = sm.m.embed(next, 2, 1, {}, {static_cast<std::int64_t>(5 + t), static_cast<std::int64_t>(3 + t)});
      sm.m.run_layers(step, {}, &c2);
      out = sm.m.logits(step);
      INFO("batched step " << t);
      CHECK(max_abs_diff(&out(0, 0), &full(5 + t, 0), 96) < 1e-5);
      CHECK(max_abs_diff(&out(1, 0), &ref_b(3 + t, 0), 96) < 1e-5);
    }
  }

  // generate_greedy is argmax of the full forward at every step.
  generation_options go;
  go.max_new_tokens = 6;
  const auto gen = generate_greedy(sm.m, std::span<const std::int32_t>(ids).first(4), go);
  REQUIRE(gen.size() == 10);
  for (std::size_t t = 4; t < 10; ++t) {
    const matrix<float> f = sm.m.forward(std::span<const std::int32_t>(gen).first(t), 1, t);
    const float* row = &f(t - 1, 0);
    CHECK(gen[t] == std::max_element(row, row + 96) - row);
  }
}

TEST_CASE("hooks: every Linear input in order; transforms and swapped weights change the output") {
  small_model sm;
  const auto ids = test_ids(10, 96, 4);
  std::vector<std::string> names;
  const float* shared_qkv = nullptr;
  forward_hooks observe;
  observe.on_linear_input = [&](const linear_input& in) {
    names.push_back(in.linear.name);
    CHECK(in.x.rows() == 10);
    CHECK(in.x.cols() == in.linear.in_features);
    CHECK(in.mask.empty());
    if (in.linear.name.ends_with("q_proj")) shared_qkv = in.x.data_handle();
    if (in.linear.name.ends_with("k_proj") || in.linear.name.ends_with("v_proj")) CHECK(in.x.data_handle() == shared_qkv);
  };
  const matrix<float> base = sm.m.forward(ids, 1, 10, {}, observe);
  REQUIRE(names.size() == 14);
  CHECK(names[0] == "model.layers.0.self_attn.q_proj");
  CHECK(names[3] == "model.layers.0.self_attn.o_proj");
  CHECK(names[6] == "model.layers.0.mlp.down_proj");
  CHECK(names[13] == "model.layers.1.mlp.down_proj");

  // Zeroing down_proj's input of layer 1 equals zeroing its weight (its bias-free output is 0).
  forward_hooks zero;
  zero.transform_linear_input = [](const linear_weights& l, matrix_view<float> x, std::span<const std::uint8_t>) {
    if (l.name == "model.layers.1.mlp.down_proj")
      for (std::size_t r = 0; r < x.rows(); ++r)
        for (std::size_t c = 0; c < x.cols(); ++c) x(r, c) = 0.0f;
  };
  std::size_t seen_zero = 0;
  zero.on_linear_input = [&](const linear_input& in) {
    if (in.linear.name == "model.layers.1.mlp.down_proj") seen_zero += in.x(0, 0) == 0.0f && in.x(9, 79) == 0.0f;
  };
  const matrix<float> zeroed = sm.m.forward(ids, 1, 10, {}, zero);
  CHECK(seen_zero == 1);  // the observer sees the transformed input
  causal_lm swapped = sm.m;
  auto& down = swapped.layer(1).down_proj;
  down.weight = matrix<float>(down.out_features, down.in_features, 0.0f);
  const matrix<float> by_weight = swapped.forward(ids, 1, 10);
  CHECK(max_abs_diff(zeroed.data(), by_weight.data(), zeroed.size()) < 1e-6);
  CHECK(max_abs_diff(zeroed.data(), base.data(), base.size()) > 1e-3);
  // The original is untouched by the copy's swap.
  CHECK(max_abs_diff(sm.m.forward(ids, 1, 10).data(), base.data(), base.size()) == 0.0);

  // A swapped weight must keep its shape.
  down.weight = matrix<float>(down.out_features, down.in_features + 1);
  CHECK_THROWS_WITH_AS((void)swapped.forward(ids, 1, 10), doctest::Contains("llmc.model.125"), shape_error);
}

TEST_CASE("forward_stats account for the Linear FLOPs") {
  small_model sm;
  const auto ids = test_ids(16, 96, 8);
  forward_stats st;
  (void)sm.m.forward(ids, 2, 8, {}, {}, nullptr, &st);
  const decoder_spec& s = sm.m.spec();
  CHECK(st.linear_flops == doctest::Approx(16.0 * s.linear_flops_per_token_per_layer() * 2));
  CHECK(st.tokens == 32);
  // One 8-row query block per (sequence, head) against its 8 keys, 2 sequences, 2 layers.
  CHECK(st.attention_flops == doctest::Approx(2.0 * 2 * 8 * 8 * 4.0 * s.head_dim * s.num_heads));
}
