// llmc/model/decoder_spec.hpp — what the forward pass needs to know about a Llama-family decoder,
// derived once from its config.json.
//
// The four supported families differ only in small switches, taken from the transformers modeling
// code (src/transformers/models/{llama,mistral,qwen2,qwen3}/modeling_*.py): Llama puts
// `attention_bias` on q/k/v/o and `mlp_bias` on gate/up/down; Mistral has no biases; Qwen2 has
// fixed q/k/v biases and none on o; Qwen3 has `attention_bias` on q/k/v/o plus a per-head RMSNorm
// on q and k (q_norm, k_norm) before RoPE. Sliding-window attention follows the configs: Mistral
// uses `sliding_window` on every layer when it is not null; Qwen2/Qwen3 only when
// `use_sliding_window`, on layers >= `max_window_layers` (or as `layer_types` says). Invariants
// after from_config(): every size is positive, heads % kv_heads == 0, the activation is SiLU, the
// RoPE type is one we implement (default, linear, llama3), layer_window has one entry per layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/model_config.hpp"
#include "llmc/model/errors.hpp"

namespace llmc {

/// The decoder families the forward pass runs.
enum class decoder_family : std::uint8_t { llama, mistral, qwen2, qwen3 };

/// Rotary position embedding parameters (HF modeling_rope_utils.py ROPE_INIT_FUNCTIONS).
struct rope_spec {
  double theta = 10000.0;
  std::string type = "default";  ///< "default", "linear" or "llama3"
  double factor = 1.0;           ///< linear and llama3
  double low_freq_factor = 1.0;  ///< llama3
  double high_freq_factor = 4.0; ///< llama3
  std::int64_t original_max_position_embeddings = 8192;  ///< llama3
};

/// Shapes and switches of one decoder-only model.
struct decoder_spec {
  decoder_family family = decoder_family::llama;
  std::string architecture;  ///< e.g. "LlamaForCausalLM"
  std::size_t hidden_size = 0;
  std::size_t intermediate_size = 0;
  std::size_t num_layers = 0;
  std::size_t num_heads = 0;
  std::size_t num_kv_heads = 0;
  std::size_t head_dim = 0;
  std::size_t vocab_size = 0;
  std::size_t max_position_embeddings = 0;
  float rms_norm_eps = 1e-6f;
  rope_spec rope;
  bool q_bias = false, k_bias = false, v_bias = false, o_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;  ///< Qwen3: RMSNorm over head_dim on every q and k head
  bool tie_word_embeddings = false;
  /// Attention window of each layer: 0 = full causal attention, w > 0 = a query sees the w most
  /// recent positions including itself (transformers masking_utils: kv_idx > q_idx - w).
  std::vector<std::size_t> layer_window;

  [[nodiscard]] std::size_t q_dim() const noexcept { return num_heads * head_dim; }
  [[nodiscard]] std::size_t kv_dim() const noexcept { return num_kv_heads * head_dim; }
  /// Multiply-add FLOPs (2 per MAC) of one token through one layer's seven Linears.
  [[nodiscard]] double linear_flops_per_token_per_layer() const noexcept {
    const double h = static_cast<double>(hidden_size), q = static_cast<double>(q_dim()),
                 kv = static_cast<double>(kv_dim()), i = static_cast<double>(intermediate_size);
    return 2.0 * (h * q + 2.0 * h * kv + q * h + 3.0 * h * i);
  }
  /// Derives the spec from a parsed config.json.
  /// @throws config_error llmc.model.100 (family), 101 (hidden_act), 102 (rope_scaling), 103 (windows)
  static decoder_spec from_config(const model_config& c) {
    decoder_spec s;
    s.architecture = c.architecture;
    if (c.model_type == "llama") {
      s.family = decoder_family::llama;
    } else if (c.model_type == "mistral") {
      s.family = decoder_family::mistral;
    } else if (c.model_type == "qwen2") {
      s.family = decoder_family::qwen2;
    } else if (c.model_type == "qwen3") {
      s.family = decoder_family::qwen3;
    } else {
      LLMC_THROW(config_error, model_errc::unsupported_architecture,
                 "model_type \"" + c.model_type + "\" (" + c.architecture +
                     ") has no forward pass in llmc; supported: llama, mistral, qwen2, qwen3");
    }
    if (c.hidden_act != "silu") {
      LLMC_THROW(config_error, model_errc::unsupported_activation,
                 c.architecture + ": hidden_act \"" + c.hidden_act +
                     "\" is not supported; the Llama-family forward pass implements SwiGLU with silu only");
    }
    auto positive = [&](std::int64_t v, const char* what) {
      if (v <= 0) {
        LLMC_THROW(config_error, model_errc::unsupported_config,
                   c.architecture + ": " + what + " = " + std::to_string(v) + " must be positive");
      }
      return static_cast<std::size_t>(v);
    };
    s.hidden_size = positive(c.hidden_size, "hidden_size");
    s.intermediate_size = positive(c.intermediate_size, "intermediate_size");
    s.num_layers = positive(c.num_hidden_layers, "num_hidden_layers");
    s.num_heads = positive(c.num_attention_heads, "num_attention_heads");
    s.num_kv_heads = positive(c.num_key_value_heads, "num_key_value_heads");
    s.head_dim = positive(c.head_dim, "head_dim");
    s.vocab_size = positive(c.vocab_size, "vocab_size");
    s.max_position_embeddings = static_cast<std::size_t>(c.max_position_embeddings > 0 ? c.max_position_embeddings : 0);
    if (s.num_heads % s.num_kv_heads != 0 || s.head_dim % 2 != 0) {
      LLMC_THROW(config_error, model_errc::unsupported_config,
                 c.architecture + ": num_attention_heads must be a multiple of num_key_value_heads and head_dim even");
    }
    s.rms_norm_eps = static_cast<float>(c.rms_norm_eps);
    s.tie_word_embeddings = c.tie_word_embeddings;
    switch (s.family) {
      case decoder_family::llama:
        s.q_bias = s.k_bias = s.v_bias = s.o_bias = c.attention_bias;
        s.mlp_bias = c.mlp_bias;
        break;
      case decoder_family::mistral: break;
      case decoder_family::qwen2: s.q_bias = s.k_bias = s.v_bias = true; break;
      case decoder_family::qwen3:
        s.q_bias = s.k_bias = s.v_bias = s.o_bias = c.attention_bias;
        s.qk_norm = true;
        break;
    }
    s.rope.theta = c.rope_theta;
    if (c.rope_scaling) {
      const auto& r = *c.rope_scaling;
      s.rope.type = r.rope_type;
      s.rope.factor = r.factor;
      if (r.rope_type == "linear") {
        // inv_freq / factor (modeling_rope_utils.py _compute_linear_scaling_rope_parameters).
      } else if (r.rope_type == "llama3") {
        if (!r.low_freq_factor || !r.high_freq_factor || !r.original_max_position_embeddings) {
          LLMC_THROW(config_error, model_errc::unsupported_rope,
                     c.architecture + ": rope_scaling llama3 needs factor, low_freq_factor, high_freq_factor and "
                                      "original_max_position_embeddings; fix config.json");
        }
        s.rope.low_freq_factor = *r.low_freq_factor;
        s.rope.high_freq_factor = *r.high_freq_factor;
        s.rope.original_max_position_embeddings = *r.original_max_position_embeddings;
        if (!(s.rope.high_freq_factor > s.rope.low_freq_factor) || s.rope.original_max_position_embeddings <= 0) {
          LLMC_THROW(config_error, model_errc::unsupported_rope,
                     c.architecture + ": rope_scaling llama3 needs high_freq_factor > low_freq_factor and a positive "
                                      "original_max_position_embeddings");
        }
      } else {
        LLMC_THROW(config_error, model_errc::unsupported_rope,
                   c.architecture + ": rope_scaling type \"" + r.rope_type +
                       "\" is not implemented (supported: default, linear, llama3)");
      }
      if (!(s.rope.factor > 0.0)) {
        LLMC_THROW(config_error, model_errc::unsupported_rope, c.architecture + ": rope_scaling factor must be positive");
      }
    }
    s.layer_window = windows(c, s);
    return s;
  }

 private:
  static std::vector<std::size_t> windows(const model_config& c, const decoder_spec& s) {
    std::vector<std::size_t> w(s.num_layers, 0);
    if (s.family == decoder_family::llama) return w;
    const auto& raw = c.raw;
    auto int_or_null = [&](const char* key, std::int64_t def) -> std::int64_t {
      auto it = raw.find(key);
      if (it == raw.end()) return def;
      if (it->is_null()) return 0;
      if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
        LLMC_THROW(config_error, model_errc::unsupported_config,
                   c.architecture + ": \"" + key + "\" must be null or a non-negative integer");
      }
      return it->get<std::int64_t>();
    };
    // MistralConfig(sliding_window=4096), Qwen2Config / Qwen3Config(sliding_window=4096,
    // use_sliding_window=False, max_window_layers=28): the transformers defaults when a key is absent.
    std::int64_t window = int_or_null("sliding_window", 4096);
    if (s.family != decoder_family::mistral) {
      auto it = raw.find("use_sliding_window");
      const bool use = it != raw.end() && it->is_boolean() && it->get<bool>();
      if (!use) window = 0;
    }
    auto lt = raw.find("layer_types");
    if (lt != raw.end() && !lt->is_null()) {
      if (!lt->is_array() || lt->size() != s.num_layers) {
        LLMC_THROW(config_error, model_errc::unsupported_config,
                   c.architecture + ": \"layer_types\" must list one entry per layer");
      }
      for (std::size_t i = 0; i < s.num_layers; ++i) {
        const auto& t = (*lt)[i];
        if (t == "full_attention") continue;
        if (t != "sliding_attention" || window <= 0) {
          LLMC_THROW(config_error, model_errc::unsupported_config,
                     c.architecture + ": layer_types[" + std::to_string(i) + "] = " + t.dump() +
                         " is not usable (full_attention, or sliding_attention with a sliding_window)");
        }
        w[i] = static_cast<std::size_t>(window);
      }
      return w;
    }
    if (window <= 0) return w;
    const std::int64_t first =
        s.family == decoder_family::mistral ? 0 : int_or_null("max_window_layers", 28);
    for (std::size_t i = 0; i < s.num_layers; ++i)
      if (static_cast<std::int64_t>(i) >= first) w[i] = static_cast<std::size_t>(window);
    return w;
  }
};

}  // namespace llmc
