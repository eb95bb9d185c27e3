// llmc/io/model_config.hpp — typed view of a Hugging Face config.json / generation_config.json for
// the decoder-only architectures llmc compresses.
//
// Supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM. Fields absent
// from the file take the defaults of the transformers config class of that architecture
// (transformers src/transformers/models/{llama,mistral,qwen2,qwen3}/configuration_*.py), because
// that is how transformers and vLLM will read the checkpoint: e.g. num_key_value_heads defaults to
// the head count for Llama but to 8 for Mistral and 32 for Qwen2/Qwen3; head_dim defaults to
// hidden/heads except Qwen3 (128). RoPE is read from the transformers 4.x keys (rope_theta,
// rope_scaling with "rope_type" or legacy "type") or the 5.x "rope_parameters" object.
// The raw JSON is kept; to_json() writes it back as transformers does
// (json.dumps(indent=2, sort_keys=True) + "\n"), optionally with a quantization_config added.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"

namespace llmc {

/// The architectures (config.json "architectures"[0]) llmc supports.
inline constexpr const char* supported_architectures[] = {"LlamaForCausalLM", "MistralForCausalLM",
                                                          "Qwen2ForCausalLM", "Qwen3ForCausalLM"};

/// RoPE scaling parameters (null in config.json means none: std::nullopt in model_config).
struct rope_scaling_config {
  std::string rope_type;  ///< "linear", "dynamic", "yarn", "llama3", "longrope", ...
  double factor = 1.0;
  std::optional<double> low_freq_factor;
  std::optional<double> high_freq_factor;
  std::optional<std::int64_t> original_max_position_embeddings;
  nlohmann::json raw = nlohmann::json::object();  ///< every key, including ones not typed here
};

/// A parsed config.json.
struct model_config {
  std::string architecture;  ///< "architectures"[0]
  std::string model_type;    ///< "llama", "mistral", "qwen2", "qwen3"
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  std::optional<rope_scaling_config> rope_scaling;
  bool tie_word_embeddings = false;
  /// q/k/v (and, where the architecture has one, o) projections carry biases. Always true for
  /// Qwen2, whose attention hard-codes bias=True on q/k/v and has no config key for it.
  bool attention_bias = false;
  bool mlp_bias = false;
  std::string hidden_act = "silu";
  std::string torch_dtype;  ///< "torch_dtype" (4.x) or "dtype" (5.x), e.g. "bfloat16"; "" if absent
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;  ///< eos_token_id may be an int or a list
  nlohmann::json raw;                       ///< the whole file

  /// The file as transformers writes it: json.dumps(raw, indent=2, sort_keys=True) + "\n".
  [[nodiscard]] std::string to_json() const { return python_json_dumps(raw, 2, true) + "\n"; }
  /// The same with "quantization_config" set (replacing any existing one); LLM Compressor also
  /// sorts the whole file (reference section 1.5).
  [[nodiscard]] std::string to_json_with_quantization(const nlohmann::json& quantization_config) const {
    nlohmann::json j = raw;
    j["quantization_config"] = quantization_config;
    return python_json_dumps(j, 2, true) + "\n";
  }
};

namespace detail {

struct arch_defaults {
  const char* architecture;
  const char* model_type;
  std::int64_t num_key_value_heads;  ///< 0: equal to num_attention_heads
  std::int64_t head_dim;             ///< 0: hidden_size / num_attention_heads
  std::int64_t max_position_embeddings;
  double rms_norm_eps;
  bool attention_bias;
  bool attention_bias_fixed;  ///< no config key: the architecture decides
  std::optional<std::int64_t> bos, eos;
};

inline const arch_defaults* find_arch(std::string_view a) {
  static const arch_defaults table[] = {
      {"LlamaForCausalLM", "llama", 0, 0, 2048, 1e-6, false, false, 1, 2},
      {"MistralForCausalLM", "mistral", 8, 0, 4096 * 32, 1e-6, false, true, 1, 2},
      {"Qwen2ForCausalLM", "qwen2", 32, 0, 32768, 1e-6, true, true, std::nullopt, std::nullopt},
      {"Qwen3ForCausalLM", "qwen3", 32, 128, 32768, 1e-6, false, false, std::nullopt, std::nullopt},
  };
  for (const auto& d : table) {
    if (a == d.architecture) return &d;
  }
  return nullptr;
}

class config_reader {
 public:
  config_reader(const nlohmann::json& j, std::string label) : j_(j), label_(std::move(label)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    LLMC_THROW(io_error, io_errc::config_field, label_ + ": field \"" + key + "\" " + what + "; fix the config file");
  }
  const nlohmann::json* get(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::int64_t integer(const std::string& key, std::optional<std::int64_t> def = std::nullopt) const {
    const nlohmann::json* v = get(key);
    if (v == nullptr) {
      if (def) return *def;
      fail(key, "is missing");
    }
    return integer_value(key, *v);
  }
  std::int64_t integer_value(const std::string& key, const nlohmann::json& v) const {
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_unsigned()) {
      const auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(u);
    }
    fail(key, "must be an integer (found " + v.dump() + ")");
  }
  double number(const nlohmann::json& obj, const std::string& key, double def) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return def;
    if (!it->is_number()) fail(key, "must be a number (found " + it->dump() + ")");
    return it->get<double>();
  }
  double number(const std::string& key, double def) const { return number(j_, key, def); }
  bool boolean(const std::string& key, bool def) const {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return def;
    if (!v->is_boolean()) fail(key, "must be true or false (found " + v->dump() + ")");
    return v->get<bool>();
  }
  std::string string(const std::string& key, const std::string& def) const {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return def;
    if (!v->is_string()) fail(key, "must be a string (found " + v->dump() + ")");
    return v->get<std::string>();
  }
  std::vector<std::int64_t> int_or_list(const std::string& key, std::optional<std::int64_t> def) const {
    const nlohmann::json* v = get(key);
    if (v == nullptr) return def ? std::vector<std::int64_t>{*def} : std::vector<std::int64_t>{};
    if (v->is_array()) {
      std::vector<std::int64_t> out;
      for (const auto& e : *v) out.push_back(integer_value(key, e));
      return out;
    }
    return {integer_value(key, *v)};
  }
  const std::string& label() const { return label_; }

 private:
  const nlohmann::json& j_;
  std::string label_;
};

inline rope_scaling_config parse_rope_scaling(const nlohmann::json& obj, const config_reader& r,
                                              const std::string& key) {
  rope_scaling_config s;
  s.raw = obj;
  auto rt = obj.find("rope_type");
  if (rt == obj.end()) rt = obj.find("type");
  if (rt == obj.end() || !rt->is_string()) r.fail(key, "needs a string \"rope_type\" (or legacy \"type\")");
  s.rope_type = rt->get<std::string>();
  s.factor = r.number(obj, "factor", 1.0);
  if (auto it = obj.find("low_freq_factor"); it != obj.end() && !it->is_null()) {
    s.low_freq_factor = r.number(obj, "low_freq_factor", 0.0);
  }
  if (auto it = obj.find("high_freq_factor"); it != obj.end() && !it->is_null()) {
    s.high_freq_factor = r.number(obj, "high_freq_factor", 0.0);
  }
  if (auto it = obj.find("original_max_position_embeddings"); it != obj.end() && !it->is_null()) {
    s.original_max_position_embeddings = r.integer_value("original_max_position_embeddings", *it);
  }
  return s;
}

}  // namespace detail

/// Parses config.json text; `label` names the file in messages.
/// @throws io_error llmc.io.105–107 (JSON), 141 (field), 142 (architecture), 143 (inconsistent)
inline model_config parse_model_config(std::string_view text, const std::string& label) {
  model_config c;
  c.raw = parse_json_strict(text, label);
  if (!c.raw.is_object()) {
    LLMC_THROW(io_error, io_errc::config_field, label + ": config.json must be a JSON object");
  }
  const detail::config_reader r(c.raw, label);
  const nlohmann::json* archs = r.get("architectures");
  if (archs == nullptr || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    r.fail("architectures", "must be a non-empty list of class names such as [\"LlamaForCausalLM\"]");
  }
  c.architecture = (*archs)[0].get<std::string>();
  const detail::arch_defaults* d = detail::find_arch(c.architecture);
  if (d == nullptr) {
    std::string list;
    for (const char* a : supported_architectures) list += (list.empty() ? "" : ", ") + std::string(a);
    LLMC_THROW(io_error, io_errc::unsupported_architecture,
               label + ": architecture \"" + c.architecture + "\" is not supported (supported: " + list + ")");
  }
  c.model_type = r.string("model_type", d->model_type);
  if (c.model_type != d->model_type) {
    LLMC_THROW(io_error, io_errc::config_inconsistent,
               label + ": model_type \"" + c.model_type + "\" does not match architecture " + c.architecture +
                   " (expected \"" + d->model_type + "\")");
  }
  c.hidden_size = r.integer("hidden_size");
  c.intermediate_size = r.integer("intermediate_size");
  c.num_hidden_layers = r.integer("num_hidden_layers");
  c.num_attention_heads = r.integer("num_attention_heads");
  c.vocab_size = r.integer("vocab_size");
  for (auto [name, v] : {std::pair<const char*, std::int64_t>{"hidden_size", c.hidden_size},
                         {"intermediate_size", c.intermediate_size},
                         {"num_hidden_layers", c.num_hidden_layers},
                         {"num_attention_heads", c.num_attention_heads},
                         {"vocab_size", c.vocab_size}}) {
    if (v <= 0) {
      LLMC_THROW(io_error, io_errc::config_inconsistent,
                 label + ": " + name + " = " + std::to_string(v) + " must be positive");
    }
  }
  c.num_key_value_heads =
      r.integer("num_key_value_heads", d->num_key_value_heads ? d->num_key_value_heads : c.num_attention_heads);
  const bool explicit_head_dim = r.get("head_dim") != nullptr;
  if (!explicit_head_dim && d->head_dim == 0 && c.hidden_size % c.num_attention_heads != 0) {
    LLMC_THROW(io_error, io_errc::config_inconsistent,
               label + ": hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                   std::to_string(c.num_attention_heads) + " and no head_dim is given");
  }
  c.head_dim = r.integer("head_dim", d->head_dim ? d->head_dim : c.hidden_size / c.num_attention_heads);
  if (c.num_key_value_heads <= 0 || c.head_dim <= 0 || c.num_attention_heads % c.num_key_value_heads != 0) {
    LLMC_THROW(io_error, io_errc::config_inconsistent,
               label + ": num_attention_heads " + std::to_string(c.num_attention_heads) +
                   " must be a positive multiple of num_key_value_heads " + std::to_string(c.num_key_value_heads) +
                   " and head_dim " + std::to_string(c.head_dim) + " positive");
  }
  c.max_position_embeddings = r.integer("max_position_embeddings", d->max_position_embeddings);
  c.rms_norm_eps = r.number("rms_norm_eps", d->rms_norm_eps);
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
  c.attention_bias = d->attention_bias_fixed ? d->attention_bias : r.boolean("attention_bias", d->attention_bias);
  c.mlp_bias = r.boolean("mlp_bias", false);
  c.hidden_act = r.string("hidden_act", "silu");
  c.torch_dtype = r.string("torch_dtype", r.string("dtype", ""));
  if (r.get("bos_token_id") != nullptr) {
    c.bos_token_id = r.integer("bos_token_id");
  } else if (c.raw.find("bos_token_id") == c.raw.end()) {
    c.bos_token_id = d->bos;  // absent: the class default; explicit null: none
  }
  if (c.raw.find("eos_token_id") == c.raw.end()) {
    c.eos_token_ids = d->eos ? std::vector<std::int64_t>{*d->eos} : std::vector<std::int64_t>{};
  } else {
    c.eos_token_ids = r.int_or_list("eos_token_id", std::nullopt);
  }
  // RoPE: transformers 5.x "rope_parameters" {rope_type, rope_theta, ...}; 4.x rope_theta + rope_scaling.
  c.rope_theta = r.number("rope_theta", 10000.0);
  if (const nlohmann::json* rp = r.get("rope_parameters")) {
    if (!rp->is_object()) r.fail("rope_parameters", "must be an object");
    c.rope_theta = r.number(*rp, "rope_theta", c.rope_theta);
    auto rt = rp->find("rope_type");
    if (rt != rp->end() && rt->is_string() && rt->get<std::string>() != "default") {
      c.rope_scaling = detail::parse_rope_scaling(*rp, r, "rope_parameters");
    }
  }
  if (const nlohmann::json* rs = r.get("rope_scaling")) {
    if (!rs->is_object()) r.fail("rope_scaling", "must be null or an object");
    auto s = detail::parse_rope_scaling(*rs, r, "rope_scaling");
    if (s.rope_type != "default") c.rope_scaling = std::move(s);
  }
  if (!(c.rope_theta > 0.0) || !(c.rms_norm_eps > 0.0)) {
    LLMC_THROW(io_error, io_errc::config_inconsistent, label + ": rope_theta and rms_norm_eps must be positive");
  }
  return c;
}

/// Reads `path` (a config.json file, or a folder containing one).
/// @throws io_error llmc.io.140 when missing, and those of parse_model_config().
inline model_config load_model_config(const std::filesystem::path& path) {
  const std::filesystem::path file = std::filesystem::is_directory(path) ? path / "config.json" : path;
  return parse_model_config(read_text_file(file, io_errc::config_missing), file.string());
}

/// A parsed generation_config.json (only what calibration and evaluation use; raw keeps the rest).
struct generation_config {
  std::optional<std::int64_t> bos_token_id;
  std::vector<std::int64_t> eos_token_ids;
  std::optional<std::int64_t> pad_token_id;
  bool do_sample = false;
  nlohmann::json raw;
};

/// @throws io_error llmc.io.105–107, 141
inline generation_config parse_generation_config(std::string_view text, const std::string& label) {
  generation_config g;
  g.raw = parse_json_strict(text, label);
  if (!g.raw.is_object()) {
    LLMC_THROW(io_error, io_errc::config_field, label + ": generation_config.json must be a JSON object");
  }
  const detail::config_reader r(g.raw, label);
  if (r.get("bos_token_id")) g.bos_token_id = r.integer("bos_token_id");
  if (r.get("pad_token_id")) g.pad_token_id = r.integer("pad_token_id");
  g.eos_token_ids = r.int_or_list("eos_token_id", std::nullopt);
  g.do_sample = r.boolean("do_sample", false);
  return g;
}

/// @throws io_error llmc.io.140 when missing.
inline generation_config load_generation_config(const std::filesystem::path& file) {
  return parse_generation_config(read_text_file(file, io_errc::config_missing), file.string());
}

}  // namespace llmc
