// llmc/model/random_checkpoint.hpp — writes a Hugging Face model folder with random weights for any
// supported decoder config, so benchmarks and tests need no downloaded weights.
//
// The folder is what transformers' save_pretrained leaves: config.json (json.dumps indent 2,
// sorted keys), generation_config.json, and model.safetensors (or shards + index above 5 GB), with
// the tensor names and shapes weights.hpp reads; lm_head.weight only when the model is untied.
// Values: Linear weights, biases and embeddings uniform in [-a, a] with a = std * sqrt(3) (std =
// config's initializer_range, 0.02 by default: transformers' init std, without its Gaussian tails);
// norm weights 1 + uniform(-jitter, jitter) (transformers initialises them to 1; a jitter makes
// tests sensitive to them). Each 2^20-element block of each tensor draws from its own
// splitmix64-seeded xoshiro256** stream, so the output depends on the seed only, not on threads.
// The folder appears atomically (io/output_directory.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/io/dtype.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/model_config.hpp"
#include "llmc/io/output_directory.hpp"
#include "llmc/io/safetensors_writer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"

namespace llmc {

/// How write_random_checkpoint() fills the folder.
struct random_checkpoint_options {
  std::uint64_t seed = 0;
  dtype weight_dtype = dtype::bf16;  ///< f32, bf16 or f16
  float norm_jitter = 0.0f;          ///< norm weights are 1 + uniform(-jitter, jitter)
  bool replace = false;              ///< replace an existing folder
  std::uint64_t max_shard_size = 5'000'000'000ULL;
};

/// config.json of TinyLlama-1.1B (TinyLlama/TinyLlama-1.1B-Chat-v1.0): Llama 2 architecture,
/// 22 layers of hidden 2048, 32 heads / 4 KV heads, SwiGLU 5632, vocabulary 32000, untied.
inline nlohmann::json tinyllama_1b_config() {
  return nlohmann::json::parse(R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632,
  "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 22,
  "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null,
  "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true,
  "vocab_size": 32000})");
}

namespace detail {

inline std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// xoshiro256** (Blackman & Vigna, 2018), seeded through splitmix64.
class xoshiro256 {
 public:
  explicit xoshiro256(std::uint64_t seed) noexcept {
    for (auto& v : s_) v = splitmix64(seed);
  }
  std::uint64_t next() noexcept {
    const std::uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  /// Uniform in [-1, 1).
  float symmetric() noexcept { return static_cast<float>(static_cast<double>(next() >> 40) * 0x1.0p-23 - 1.0); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

struct random_tensor_plan {
  std::string name;
  std::vector<std::int64_t> shape;
  float center = 0.0f, half_width = 0.0f;  ///< values: center + half_width * uniform(-1, 1)
};

template <class T>
void fill_random(std::vector<std::byte>& out, std::size_t n, const random_tensor_plan& p, std::uint64_t seed) {
  out.resize(n * sizeof(T));
  constexpr std::size_t block = std::size_t{1} << 20;
  const std::size_t blocks = (n + block - 1) / block;
  parallel_for_chunks(blocks, parallel_chunks(blocks, 1), [&](std::size_t, std::size_t b0, std::size_t b1) {
    for (std::size_t b = b0; b < b1; ++b) {
      std::uint64_t mix = seed ^ (0xA24BAED4963EE407ULL * (b + 1));
      xoshiro256 rng(splitmix64(mix));
      const std::size_t i1 = std::min(n, (b + 1) * block);
      for (std::size_t i = b * block; i < i1; ++i) {
        const float v = p.center + p.half_width * rng.symmetric();
        const T t = T(v);
        std::memcpy(out.data() + i * sizeof(T), &t, sizeof(T));
      }
    }
  });
}

}  // namespace detail

/// Writes a complete model folder at `dir` for `config` (a config.json object of a supported
/// architecture) with random weights.
/// @throws io_error llmc.io.142/143 (config), llmc.io.160 (dir exists, !replace), llmc.io.13x/16x (writing);
///         config_error llmc.model.10x (config the forward pass cannot run); config_error llmc.model.112
///         for a weight_dtype other than f32/bf16/f16
inline void write_random_checkpoint(const std::filesystem::path& dir, const nlohmann::json& config,
                                    const random_checkpoint_options& o = {}) {
  if (o.weight_dtype != dtype::f32 && o.weight_dtype != dtype::bf16 && o.weight_dtype != dtype::f16) {
    LLMC_THROW(config_error, model_errc::tensor_dtype, "write_random_checkpoint: weight_dtype must be F32, BF16 or F16");
  }
  const std::string config_text = python_json_dumps(config, 2, true) + "\n";
  const model_config mc = parse_model_config(config_text, "config.json");
  const decoder_spec s = decoder_spec::from_config(mc);
  const float std_dev = static_cast<float>(config.value("initializer_range", 0.02));
  const float a = std_dev * std::sqrt(3.0f);
  using I = std::int64_t;
  std::vector<detail::random_tensor_plan> plan;
  auto mat = [&](std::string name, std::size_t r, std::size_t c) {
    plan.push_back({std::move(name), {static_cast<I>(r), static_cast<I>(c)}, 0.0f, a});
  };
  auto vec = [&](std::string name, std::size_t n, bool norm) {
    plan.push_back({std::move(name), {static_cast<I>(n)}, norm ? 1.0f : 0.0f, norm ? o.norm_jitter : a});
  };
  mat("model.embed_tokens.weight", s.vocab_size, s.hidden_size);
  for (std::size_t i = 0; i < s.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    vec(p + "input_layernorm.weight", s.hidden_size, true);
    vec(p + "post_attention_layernorm.weight", s.hidden_size, true);
    if (s.qk_norm) {
      vec(p + "self_attn.q_norm.weight", s.head_dim, true);
      vec(p + "self_attn.k_norm.weight", s.head_dim, true);
    }
    const struct {
      const char* name;
      std::size_t out, in;
      bool bias;
    } linears[] = {{"self_attn.q_proj", s.q_dim(), s.hidden_size, s.q_bias},
                   {"self_attn.k_proj", s.kv_dim(), s.hidden_size, s.k_bias},
                   {"self_attn.v_proj", s.kv_dim(), s.hidden_size, s.v_bias},
                   {"self_attn.o_proj", s.hidden_size, s.q_dim(), s.o_bias},
                   {"mlp.gate_proj", s.intermediate_size, s.hidden_size, s.mlp_bias},
                   {"mlp.up_proj", s.intermediate_size, s.hidden_size, s.mlp_bias},
                   {"mlp.down_proj", s.hidden_size, s.intermediate_size, s.mlp_bias}};
    for (const auto& l : linears) {
      mat(p + l.name + ".weight", l.out, l.in);
      if (l.bias) vec(p + l.name + ".bias", l.out, false);
    }
  }
  vec("model.norm.weight", s.hidden_size, true);
  if (!s.tie_word_embeddings) mat("lm_head.weight", s.vocab_size, s.hidden_size);

  std::vector<std::vector<std::byte>> data(plan.size());
  std::vector<tensor_ref> refs;
  refs.reserve(plan.size());
  for (std::size_t t = 0; t < plan.size(); ++t) {
    std::size_t n = 1;
    for (auto d : plan[t].shape) n *= static_cast<std::size_t>(d);
    std::uint64_t mix = o.seed * 0x100000001B3ULL + t;
    const std::uint64_t seed = detail::splitmix64(mix);
    switch (o.weight_dtype) {
      case dtype::bf16: detail::fill_random<bfloat16>(data[t], n, plan[t], seed); break;
      case dtype::f16: detail::fill_random<float16>(data[t], n, plan[t], seed); break;
      default: detail::fill_random<float>(data[t], n, plan[t], seed); break;
    }
    refs.push_back(tensor_ref{plan[t].name, o.weight_dtype, plan[t].shape, std::span<const std::byte>(data[t])});
  }

  output_directory out(dir, output_options{.replace = o.replace});
  out.write_file("config.json", config_text);
  nlohmann::json gen = nlohmann::json::object();
  if (mc.bos_token_id) gen["bos_token_id"] = *mc.bos_token_id;
  if (mc.eos_token_ids.size() == 1) gen["eos_token_id"] = mc.eos_token_ids[0];
  else if (!mc.eos_token_ids.empty()) gen["eos_token_id"] = mc.eos_token_ids;
  out.write_file("generation_config.json", python_json_dumps(gen, 2, true) + "\n");
  shard_options so;
  so.max_shard_size = o.max_shard_size;
  write_sharded_safetensors(out.staging(), refs, so);
  out.commit();
}

}  // namespace llmc
