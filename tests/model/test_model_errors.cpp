// Error ids of the model layer: unsupported architectures and configs, missing tensors, shape and
// dtype mismatches, bad batches, and evaluation arguments.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "llmc/io/safetensors_writer.hpp"
#include "llmc/model/causal_lm.hpp"
#include "llmc/model/evaluate.hpp"
#include "llmc/model/fake_quant.hpp"
#include "llmc/model/random_checkpoint.hpp"
#include "llmc/scheme/presets.hpp"
#include "model_test_support.hpp"

using namespace llmc;
using model_test::temp_dir;

namespace {

nlohmann::json tiny_config() {
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 16},
          {"intermediate_size", 24}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
          {"num_key_value_heads", 1}, {"vocab_size", 32}, {"tie_word_embeddings", true}};
}

decoder_spec spec_of(const nlohmann::json& c) { return decoder_spec::from_config(parse_model_config(c.dump(), "config.json")); }

/// Writes `config.json` text into an existing model folder (the weights stay).
void rewrite_config(const std::filesystem::path& dir, const nlohmann::json& c) {
  write_file(dir / "config.json", c.dump(2));
}

}  // namespace

TEST_CASE("unsupported architectures and configs") {
  temp_dir d("arch");
  write_random_checkpoint(d / "m", tiny_config());
  nlohmann::json c = tiny_config();
  c["architectures"] = {"GPT2LMHeadModel"};
  c["model_type"] = "gpt2";
  rewrite_config(d / "m", c);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m"), doctest::Contains("llmc.io.142"), io_error);

  // A model_config built in code for a family without a forward pass.
  model_config mc = parse_model_config(tiny_config().dump(), "config.json");
  mc.model_type = "gemma";
  CHECK_THROWS_WITH_AS(decoder_spec::from_config(mc), doctest::Contains("llmc.model.100"), config_error);

  c = tiny_config();
  c["hidden_act"] = "gelu";
  CHECK_THROWS_WITH_AS(spec_of(c), doctest::Contains("llmc.model.101"), config_error);
  c = tiny_config();
  c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  CHECK_THROWS_WITH_AS(spec_of(c), doctest::Contains("llmc.model.102"), config_error);
  c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};  // low/high/original missing
  CHECK_THROWS_WITH_AS(spec_of(c), doctest::Contains("llmc.model.102"), config_error);
  c["rope_scaling"] = {{"rope_type", "default"}};  // "default" is no scaling
  CHECK(spec_of(c).rope.type == "default");
  c = tiny_config();
  c["architectures"] = {"Qwen3ForCausalLM"};
  c["model_type"] = "qwen3";
  c["head_dim"] = 8;
  c["layer_types"] = {"sliding_attention"};  // but no window enabled
  CHECK_THROWS_WITH_AS(spec_of(c), doctest::Contains("llmc.model.103"), config_error);
}

TEST_CASE("missing tensors, shape and dtype mismatches name the tensor") {
  temp_dir d("tensors");
  write_random_checkpoint(d / "m", tiny_config(), random_checkpoint_options{.weight_dtype = dtype::f32});
  nlohmann::json c = tiny_config();
  c["attention_bias"] = true;  // the folder has no biases
  rewrite_config(d / "m", c);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m"), doctest::Contains("model.layers.0.self_attn.q_proj.bias"), io_error);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m"), doctest::Contains("llmc.model.110"), io_error);
  c = tiny_config();
  c["tie_word_embeddings"] = false;  // needs lm_head.weight
  rewrite_config(d / "m", c);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m"), doctest::Contains("\"lm_head.weight\""), io_error);
  c = tiny_config();
  c["intermediate_size"] = 32;  // gate_proj is [24, 16]
  rewrite_config(d / "m", c);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m"), doctest::Contains("llmc.model.111"), shape_error);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m"), doctest::Contains("model.layers.0.mlp.gate_proj.weight"), shape_error);

  // An integer tensor where a weight belongs (e.g. an undecompressed quantized checkpoint).
  rewrite_config(d / "m", tiny_config());
  const model_directory md = model_directory::open(d / "m");
  std::vector<tensor_ref> refs;
  std::vector<std::int32_t> ints(24 * 16, 1);
  for (const auto& name : md.tensor_names()) {
    if (name == "model.layers.0.mlp.up_proj.weight") {
      refs.push_back(tensor_ref::of<std::int32_t>(name, ints, {24, 16}));
    } else {
      refs.push_back(tensor_ref::of(md.tensor(name)));
    }
  }
  write_safetensors(d / "m2.safetensors", refs);
  std::filesystem::create_directories(d / "m2");
  std::filesystem::rename(d / "m2.safetensors", d / "m2" / "model.safetensors");
  rewrite_config(d / "m2", tiny_config());
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m2"), doctest::Contains("llmc.model.112"), io_error);
  CHECK_THROWS_WITH_AS(causal_lm::load(d / "m2"), doctest::Contains("up_proj.weight"), io_error);
}

TEST_CASE("batch, cache and layer errors") {
  temp_dir d("batch");
  write_random_checkpoint(d / "m", tiny_config());
  const causal_lm m = causal_lm::load(d / "m");
  const std::vector<std::int32_t> ids{1, 2, 3, 4};
  CHECK_THROWS_WITH_AS((void)m.embed(ids, 2, 3), doctest::Contains("llmc.model.121"), shape_error);
  const std::vector<std::int32_t> bad{1, 32};
  CHECK_THROWS_WITH_AS((void)m.embed(bad, 1, 2), doctest::Contains("llmc.model.122"), shape_error);
  CHECK_THROWS_WITH_AS((void)m.embed(ids, 2, 2, std::vector<std::uint8_t>(3, 1)), doctest::Contains("llmc.model.121"), shape_error);
  hidden_batch hb = m.embed(ids, 2, 2);
  hb.seq = 3;  // states no longer [batch * seq, hidden]
  CHECK_THROWS_WITH_AS(run_decoder_layer(m.spec(), m.layer(0), hb), doctest::Contains("llmc.model.120"), shape_error);
  hb = m.embed(ids, 2, 2);
  kv_cache cache(m.spec(), 1, 8);  // batch 1, the call has 2
  CHECK_THROWS_WITH_AS(m.run_layers(hb, {}, &cache), doctest::Contains("llmc.model.123"), shape_error);
  CHECK_THROWS_WITH_AS((void)m.layer(1), doctest::Contains("llmc.model.124"), shape_error);
  const model_directory md = model_directory::open(d / "m");
  CHECK_THROWS_WITH_AS(load_decoder_layer(md, m.spec(), 3), doctest::Contains("llmc.model.124"), shape_error);
}

TEST_CASE("evaluation argument errors") {
  temp_dir d("eval");
  write_random_checkpoint(d / "m", tiny_config());
  const causal_lm m = causal_lm::load(d / "m");
  const std::vector<std::int32_t> ids(20, 3);
  CHECK_THROWS_WITH_AS(perplexity(m, ids, perplexity_options{.window = 32}), doctest::Contains("llmc.model.130"), config_error);
  CHECK_THROWS_WITH_AS(perplexity(m, ids, perplexity_options{.window = 1}), doctest::Contains("llmc.model.130"), config_error);
  CHECK_THROWS_WITH_AS(perplexity_sliding(m, ids, sliding_perplexity_options{.window = 8, .stride = 9}),
                       doctest::Contains("llmc.model.130"), config_error);
  CHECK_THROWS_WITH_AS(generate_greedy(m, std::span<const std::int32_t>()), doctest::Contains("llmc.model.130"), config_error);
  nlohmann::json c = tiny_config();
  c["vocab_size"] = 40;
  write_random_checkpoint(d / "other", c);
  const causal_lm other = causal_lm::load(d / "other");
  CHECK_THROWS_WITH_AS(kl_divergence(m, other, ids, kl_options{.window = 8}), doctest::Contains("llmc.model.131"), config_error);
  // Static input activations cannot be fake-quantized without calibration.
  const forward_hooks h = activation_fake_quant_hooks(every_linear(runtime_scheme::from(presets::FP8{})));
  CHECK_THROWS_WITH_AS((void)m.forward(ids, 1, 20, {}, h), doctest::Contains("llmc.model.140"), config_error);
  CHECK_THROWS_WITH_AS(write_random_checkpoint(d / "x", tiny_config(), random_checkpoint_options{.weight_dtype = dtype::i8}),
                       doctest::Contains("llmc.model.112"), config_error);
}
