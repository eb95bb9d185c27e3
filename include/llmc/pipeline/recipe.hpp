// llmc/pipeline/recipe.hpp — LLM Compressor recipes as data: modifiers, their arguments, and the
// YAML/JSON recipe format.
//
// The format is LLM Compressor's ([LC] src/llmcompressor/recipe/recipe.py; spec §2.2): top-level
// keys ending in `_stage` are stages, inside them keys ending in `_modifiers` are groups, inside a
// group each key is a modifier class name mapped to its arguments. The modifiers and their fields
// are those of spec §2.1 (QuantizationModifier, GPTQModifier, AWQModifier, SmoothQuantModifier).
// Unlike the reference, an unknown modifier, an unknown argument or a value of the wrong type is an
// error naming the recipe, the modifier and the valid choices (llmc.recipe.1xx), raised before any
// model is read. Quantization args follow CT's validation and default inference (spec §3.1).
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/pipeline/registry.hpp"
#include "llmc/scheme/scheme.hpp"

namespace llmc::pipeline {

/// A config group: the scheme and the module patterns it applies to.
struct config_group {
  std::string name;
  std::vector<std::string> targets;
  runtime_scheme scheme;
};

enum class modifier_kind { quantization, gptq, awq, smoothquant };

inline std::string_view to_string(modifier_kind k) {
  switch (k) {
    case modifier_kind::quantization: return "QuantizationModifier";
    case modifier_kind::gptq: return "GPTQModifier";
    case modifier_kind::awq: return "AWQModifier";
    case modifier_kind::smoothquant: return "SmoothQuantModifier";
  }
  return "?";
}

/// AWQ mapping: the layer whose output is smoothed, and the layers balancing it.
struct awq_mapping {
  std::string smooth_layer;
  std::vector<std::string> balance_layers;
};
/// SmoothQuant mapping: balance layer patterns and the smoothing layer pattern.
struct smoothquant_mapping {
  std::vector<std::string> balance_layers;
  std::string smooth_layer;
};

/// One modifier with all its arguments (defaults are the reference's).
struct modifier {
  modifier_kind kind = modifier_kind::quantization;
  std::string stage = "default", group = "default";
  // QuantizationMixin (QuantizationModifier, GPTQModifier)
  std::vector<config_group> config_groups;  ///< resolved: a preset `scheme` becomes group_0
  std::vector<std::string> targets{"Linear"};
  std::vector<std::string> ignore;
  std::optional<quant_args> kv_cache_scheme;
  bool bypass_divisibility_checks = false;
  // GPTQModifier
  int block_size = 128;
  float dampening_frac = 0.01f;
  std::optional<act_order> actorder;  ///< unset = the reference's sentinel, i.e. "static" for GPTQ
  bool actorder_given = false;
  // AWQModifier
  enum class duo { on, off, both } duo_scaling = duo::on;
  int n_grid = 20;
  bool awq_clip_search = false;  ///< llmc extension: the AWQ paper's weight-clipping search
  std::vector<awq_mapping> awq_mappings;
  // SmoothQuantModifier
  float smoothing_strength = 0.5f;
  std::vector<smoothquant_mapping> sq_mappings;

  [[nodiscard]] bool quantizes() const noexcept {
    return kind == modifier_kind::quantization || kind == modifier_kind::gptq;
  }
};

struct recipe {
  std::vector<modifier> modifiers;
  std::string origin;  ///< file name or "<string>", for messages
};

namespace detail {

[[noreturn]] inline void recipe_fail(const std::string& id, const std::string& where, const std::string& what) {
  LLMC_THROW(config_error, id, where + ": " + what);
}

inline std::string join(const std::vector<std::string>& v) {
  std::string r;
  for (const auto& s : v) r += (r.empty() ? "" : ", ") + s;
  return r;
}

inline std::vector<std::string> string_list(const YAML::Node& n, const std::string& where) {
  std::vector<std::string> out;
  if (n.IsNull()) return out;
  if (n.IsScalar()) return {n.as<std::string>()};  // a string is promoted to a list, as the reference does
  if (!n.IsSequence()) recipe_fail("llmc.recipe.105", where, "expected a string or a list of strings");
  for (const auto& e : n) {
    if (!e.IsScalar()) recipe_fail("llmc.recipe.105", where, "expected a list of strings");
    out.push_back(e.as<std::string>());
  }
  return out;
}

template <class T>
T scalar(const YAML::Node& n, const std::string& where, const char* expected) {
  try {
    if (!n.IsScalar()) throw YAML::Exception(YAML::Mark::null_mark(), "not a scalar");
    return n.as<T>();
  } catch (const YAML::Exception&) {
    recipe_fail("llmc.recipe.105", where, std::string("expected ") + expected);
  }
}

inline bool has(const YAML::Node& n, const char* key) {
  if (n.IsMap())
    for (const auto& kv : n)
      if (kv.first.as<std::string>() == key) return true;
  return false;
}

/// The value at `key`, or a null node when the mapping has no such key (yaml-cpp throws on
/// inspecting a missing key's node otherwise).
inline YAML::Node child(const YAML::Node& n, const char* key) {
  if (n.IsMap()) {
    for (const auto& kv : n)
      if (kv.first.as<std::string>() == key) return kv.second;
  }
  return YAML::Node(YAML::NodeType::Null);
}

inline bool is_null(const YAML::Node& n) {
  return !n.IsDefined() || n.IsNull() || (n.IsScalar() && (n.Scalar() == "null" || n.Scalar() == "None" || n.Scalar() == "~"));
}

inline qparam_dtype parse_qparam_dtype(const YAML::Node& n, const std::string& where) {
  if (is_null(n)) return qparam_dtype::unset;
  std::string s = scalar<std::string>(n, where, "a torch dtype name");
  if (s.rfind("torch.", 0) == 0) s = s.substr(6);
  if (s == "float8_e4m3fn") return qparam_dtype::float8_e4m3fn;
  if (s == "uint8") return qparam_dtype::uint8;
  if (s == "int8") return qparam_dtype::int8;
  recipe_fail("llmc.recipe.106", where, "unsupported dtype '" + s + "' (supported: torch.float8_e4m3fn, torch.uint8, torch.int8)");
}

/// QuantizationArgs from a YAML mapping, with CT's inference of strategy, observer and zp_dtype.
inline quant_args parse_quant_args(const YAML::Node& n, const std::string& where, bool is_weight) {
  if (is_null(n)) return no_quantization;
  if (!n.IsMap()) recipe_fail("llmc.recipe.105", where, "expected a mapping of quantization arguments");
  static const std::set<std::string> known{"num_bits", "type", "symmetric", "group_size", "strategy", "block_structure",
                                           "dynamic", "actorder", "observer", "observer_kwargs", "scale_dtype", "zp_dtype"};
  quant_args a;
  a.observer = observer_kind::memoryless_minmax;
  std::optional<quant_strategy> strategy;
  std::optional<observer_kind> observer;
  bool zp_given = false;
  int group_size = 0;
  bool group_given = false;
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    const std::string w = where + "." + key;
    const YAML::Node& v = kv.second;
    if (!known.count(key))
      recipe_fail("llmc.recipe.104", where, "unknown quantization argument '" + key + "' (valid: num_bits, type, symmetric, group_size, "
                                            "strategy, block_structure, dynamic, actorder, observer, observer_kwargs, scale_dtype, zp_dtype)");
    if (key == "num_bits") a.num_bits = scalar<int>(v, w, "an integer");
    else if (key == "type") {
      const auto t = scalar<std::string>(v, w, "\"int\" or \"float\"");
      if (t == "int") a.type = quant_type::int_;
      else if (t == "float") a.type = quant_type::float_;
      else recipe_fail("llmc.recipe.106", w, "type must be \"int\" or \"float\", got '" + t + "'");
    } else if (key == "symmetric") a.symmetric = scalar<bool>(v, w, "true or false");
    else if (key == "group_size") {
      if (!is_null(v)) { group_size = scalar<int>(v, w, "an integer"); group_given = true; }
    } else if (key == "strategy") {
      if (is_null(v)) continue;
      const auto s = scalar<std::string>(v, w, "a strategy name");
      static const std::map<std::string, quant_strategy> m{{"tensor", quant_strategy::tensor}, {"channel", quant_strategy::channel},
                                                          {"group", quant_strategy::group}, {"block", quant_strategy::block},
                                                          {"token", quant_strategy::token}, {"tensor_group", quant_strategy::tensor_group},
                                                          {"attn_head", quant_strategy::attn_head}};
      auto it = m.find(s);
      if (it == m.end()) recipe_fail("llmc.recipe.106", w, "unknown strategy '" + s + "' (valid: tensor, channel, group, block, token, tensor_group, attn_head)");
      strategy = it->second;
    } else if (key == "block_structure") {
      if (is_null(v)) continue;
      if (v.IsSequence() && v.size() == 2) {
        a.block_rows = v[0].as<int>();
        a.block_cols = v[1].as<int>();
      } else if (v.IsScalar()) {  // legacy "AxB"
        const auto s = v.as<std::string>();
        const auto x = s.find('x');
        if (x == std::string::npos) recipe_fail("llmc.recipe.106", w, "block_structure must be [rows, cols] or \"RxC\"");
        a.block_rows = std::stoi(s.substr(0, x));
        a.block_cols = std::stoi(s.substr(x + 1));
      } else recipe_fail("llmc.recipe.106", w, "block_structure must be [rows, cols] or \"RxC\"");
    } else if (key == "dynamic") {
      if (v.IsScalar() && v.Scalar() == "local") a.dynamic = quant_dynamic::local;
      else a.dynamic = scalar<bool>(v, w, "true, false or \"local\"") ? quant_dynamic::dynamic : quant_dynamic::static_;
    } else if (key == "actorder") {
      if (is_null(v)) { a.actorder = act_order::none; continue; }
      const auto s = scalar<std::string>(v, w, "null, group, weight, static, dynamic or a boolean");
      if (s == "group" || s == "dynamic" || s == "true" || s == "True") a.actorder = act_order::group;
      else if (s == "weight" || s == "static") a.actorder = act_order::weight;
      else if (s == "false" || s == "False") a.actorder = act_order::none;
      else recipe_fail("llmc.recipe.106", w, "actorder must be null, group (dynamic) or weight (static), got '" + s + "'");
    } else if (key == "observer") {
      if (is_null(v)) { observer = observer_kind::none; continue; }
      const auto s = scalar<std::string>(v, w, "an observer name");
      static const std::map<std::string, observer_kind> m{{"minmax", observer_kind::minmax}, {"memoryless_minmax", observer_kind::memoryless_minmax},
                                                         {"static_minmax", observer_kind::static_minmax}, {"mse", observer_kind::mse},
                                                         {"memoryless_mse", observer_kind::memoryless_mse}, {"memoryless", observer_kind::memoryless_minmax}};
      auto it = m.find(s);
      if (it == m.end()) recipe_fail("llmc.recipe.106", w, "unknown observer '" + s + "' (valid: minmax, memoryless_minmax, static_minmax, mse, memoryless_mse)");
      observer = it->second;
    } else if (key == "scale_dtype") a.scale_dtype = parse_qparam_dtype(v, w);
    else if (key == "zp_dtype") { a.zp_dtype = parse_qparam_dtype(v, w); zp_given = true; }
    // observer_kwargs: accepted; the MSE options are set through llmc's own options.
  }
  a.group_size = group_given && group_size > 0 ? group_size : 0;
  // Strategy inference (CT validate_model_after): tensor if no group size, group if > 0, channel if -1.
  if (strategy) a.strategy = *strategy;
  else if (a.block_rows > 0) a.strategy = quant_strategy::block;
  else if (group_given && group_size > 0) a.strategy = quant_strategy::group;
  else if (group_given && group_size == -1) a.strategy = quant_strategy::channel;
  else a.strategy = quant_strategy::tensor;
  // Observer inference: none for dynamic, minmax for "local", else memoryless_minmax (CT >= 0.14).
  if (observer) a.observer = *observer;
  else if (a.dynamic == quant_dynamic::dynamic) a.observer = observer_kind::none;
  else if (a.dynamic == quant_dynamic::local) a.observer = observer_kind::minmax;
  else a.observer = observer_kind::memoryless_minmax;
  if (a.dynamic == quant_dynamic::dynamic) a.observer = observer_kind::none;
  if (!zp_given && !a.symmetric && a.is_int()) a.zp_dtype = qparam_dtype::int8;
  (void)is_weight;
  if (const char* why = validate_quant_args(a)) recipe_fail("llmc.recipe.107", where, std::string("invalid quantization arguments: ") + why);
  return a;
}

inline void check_keys(const YAML::Node& n, const std::set<std::string>& known, const std::string& where, const std::string& modifier) {
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    if (!known.count(key)) {
      std::vector<std::string> valid(known.begin(), known.end());
      recipe_fail("llmc.recipe.103", where, "unknown argument '" + key + "' for " + modifier + " (valid: " + join(valid) + ")");
    }
  }
}

inline void parse_quantization_fields(modifier& m, const YAML::Node& args, const std::string& where) {
  std::optional<std::string> preset;
  YAML::Node preset_map;
  bool has_preset_map = false;
  for (const auto& kv : args) {
    const std::string key = kv.first.as<std::string>();
    const std::string w = where + "." + key;
    const YAML::Node& v = kv.second;
    if (key == "targets") m.targets = string_list(v, w);
    else if (key == "ignore") m.ignore = string_list(v, w);
    else if (key == "scheme") {
      if (v.IsMap()) {  // {PRESET: [targets]}
        preset_map = v;
        has_preset_map = true;
      }
      else preset = scalar<std::string>(v, w, "a preset name");
    } else if (key == "kv_cache_scheme") {
      if (!is_null(v)) m.kv_cache_scheme = parse_quant_args(v, w, false);
    } else if (key == "bypass_divisibility_checks") m.bypass_divisibility_checks = scalar<bool>(v, w, "true or false");
    else if (key == "config_groups") {
      if (!v.IsMap()) recipe_fail("llmc.recipe.105", w, "config_groups must be a mapping of group names to schemes");
      for (const auto& g : v) {
        const std::string gname = g.first.as<std::string>();
        const std::string gw = w + "." + gname;
        config_group cg;
        cg.name = gname;
        if (g.second.IsSequence()) {  // {PRESET_NAME: [targets]} form, expanded on load
          auto p = find_preset(gname);
          if (!p) recipe_fail("llmc.recipe.108", gw, "unknown preset scheme '" + gname + "' (valid: " + preset_names() + ")");
          cg.scheme = *p;
          cg.targets = string_list(g.second, gw);
        } else {
          if (!g.second.IsMap()) recipe_fail("llmc.recipe.105", gw, "expected a scheme mapping");
          check_keys(g.second, {"targets", "weights", "input_activations", "output_activations", "format"}, gw, "a config group");
          cg.targets = string_list(child(g.second, "targets"), gw + ".targets");
          cg.scheme.weights = parse_quant_args(child(g.second, "weights"), gw + ".weights", true);
          cg.scheme.input_activations = parse_quant_args(child(g.second, "input_activations"), gw + ".input_activations", false);
          cg.scheme.output_activations = parse_quant_args(child(g.second, "output_activations"), gw + ".output_activations", false);
          if (cg.targets.empty()) recipe_fail("llmc.recipe.109", gw, "a config group needs targets");
        }
        if (const char* why = cg.scheme.validate()) recipe_fail("llmc.recipe.107", gw, std::string("invalid scheme: ") + why);
        m.config_groups.push_back(std::move(cg));
      }
    }
  }
  const bool has_groups = !m.config_groups.empty();
  if ((preset || has_preset_map) && has_groups)
    recipe_fail("llmc.recipe.110", where, "`scheme` and `config_groups` are mutually exclusive; give one of them");
  if (preset) {
    auto p = find_preset(*preset);
    if (!p) recipe_fail("llmc.recipe.108", where + ".scheme", "unknown preset scheme '" + *preset + "' (valid: " + preset_names() + ")");
    m.config_groups.push_back({"group_0", m.targets, *p});
  } else if (has_preset_map) {
    int i = 0;
    for (const auto& kv : preset_map) {
      const std::string name = kv.first.as<std::string>();
      auto p = find_preset(name);
      if (!p) recipe_fail("llmc.recipe.108", where + ".scheme", "unknown preset scheme '" + name + "' (valid: " + preset_names() + ")");
      m.config_groups.push_back({"group_" + std::to_string(i++), string_list(kv.second, where + ".scheme." + name), *p});
    }
  }
  if (m.config_groups.empty() && !m.kv_cache_scheme)
    recipe_fail("llmc.recipe.111", where, "a quantization modifier needs `scheme` or `config_groups`");
}

inline modifier parse_modifier(const std::string& type, const YAML::Node& args, const std::string& where) {
  modifier m;
  const YAML::Node a = args.IsNull() ? YAML::Node(YAML::NodeType::Map) : args;
  if (!a.IsMap()) recipe_fail("llmc.recipe.105", where, "modifier arguments must be a mapping");
  static const std::set<std::string> quant_keys{"targets", "ignore", "scheme", "config_groups", "kv_cache_scheme",
                                                "bypass_divisibility_checks", "index", "group", "start", "end", "update"};
  if (type == "QuantizationModifier") {
    m.kind = modifier_kind::quantization;
    check_keys(a, quant_keys, where, type);
    parse_quantization_fields(m, a, where);
  } else if (type == "GPTQModifier") {
    m.kind = modifier_kind::gptq;
    auto keys = quant_keys;
    keys.insert({"block_size", "dampening_frac", "actorder", "offload_hessians"});
    check_keys(a, keys, where, type);
    parse_quantization_fields(m, a, where);
    if (has(a, "block_size")) m.block_size = scalar<int>(child(a, "block_size"), where + ".block_size", "an integer");
    if (has(a, "dampening_frac")) m.dampening_frac = scalar<float>(child(a, "dampening_frac"), where + ".dampening_frac", "a number");
    if (has(a, "actorder")) {
      m.actorder_given = true;
      const YAML::Node v = child(a, "actorder");
      if (is_null(v)) m.actorder = act_order::none;
      else {
        const auto s = scalar<std::string>(v, where + ".actorder", "null, group, weight, static or dynamic");
        if (s == "group" || s == "dynamic" || s == "true" || s == "True") m.actorder = act_order::group;
        else if (s == "weight" || s == "static") m.actorder = act_order::weight;
        else if (s == "false" || s == "False") m.actorder = act_order::none;
        else recipe_fail("llmc.recipe.106", where + ".actorder", "actorder must be null, group (dynamic) or weight (static), got '" + s + "'");
      }
    }
    if (m.block_size <= 0) recipe_fail("llmc.recipe.106", where + ".block_size", "block_size must be positive");
    if (!(m.dampening_frac >= 0.0f)) recipe_fail("llmc.recipe.106", where + ".dampening_frac", "dampening_frac must be >= 0");
  } else if (type == "AWQModifier") {
    m.kind = modifier_kind::awq;
    check_keys(a, {"mappings", "offload_device", "duo_scaling", "n_grid", "clip_search", "ignore", "index", "group", "start", "end", "update"},
               where, type);
    if (has(a, "n_grid")) m.n_grid = scalar<int>(child(a, "n_grid"), where + ".n_grid", "an integer");
    if (m.n_grid <= 0) recipe_fail("llmc.recipe.106", where + ".n_grid", "n_grid must be positive");
    if (has(a, "ignore")) m.ignore = string_list(child(a, "ignore"), where + ".ignore");
    if (has(a, "clip_search")) m.awq_clip_search = scalar<bool>(child(a, "clip_search"), where + ".clip_search", "true or false");
    if (has(a, "duo_scaling")) {
      const auto s = scalar<std::string>(child(a, "duo_scaling"), where + ".duo_scaling", "true, false or both");
      if (s == "true" || s == "True") m.duo_scaling = modifier::duo::on;
      else if (s == "false" || s == "False") m.duo_scaling = modifier::duo::off;
      else if (s == "both") m.duo_scaling = modifier::duo::both;
      else recipe_fail("llmc.recipe.106", where + ".duo_scaling", "duo_scaling must be true, false or both");
    }
    if (has(a, "mappings") && !is_null(child(a, "mappings"))) {
      for (const auto& e : child(a, "mappings")) {
        if (!e.IsMap()) recipe_fail("llmc.recipe.105", where + ".mappings", "each AWQ mapping is {smooth_layer, balance_layers}");
        check_keys(e, {"smooth_layer", "balance_layers", "activation_hook_target"}, where + ".mappings", "an AWQ mapping");
        m.awq_mappings.push_back({scalar<std::string>(child(e, "smooth_layer"), where + ".mappings.smooth_layer", "a pattern"),
                                  string_list(child(e, "balance_layers"), where + ".mappings.balance_layers")});
      }
    }
  } else if (type == "SmoothQuantModifier") {
    m.kind = modifier_kind::smoothquant;
    check_keys(a, {"smoothing_strength", "mappings", "ignore", "num_calibration_steps", "calibration_function", "algorithm",
                   "index", "group", "start", "end", "update"}, where, type);
    if (has(a, "smoothing_strength")) m.smoothing_strength = scalar<float>(child(a, "smoothing_strength"), where + ".smoothing_strength", "a number");
    if (!(m.smoothing_strength >= 0.0f && m.smoothing_strength <= 1.0f))
      recipe_fail("llmc.recipe.106", where + ".smoothing_strength", "smoothing_strength must be in [0, 1]");
    if (has(a, "ignore")) m.ignore = string_list(child(a, "ignore"), where + ".ignore");
    if (has(a, "algorithm") && scalar<std::string>(child(a, "algorithm"), where + ".algorithm", "a name") != "smoothquant")
      recipe_fail("llmc.recipe.112", where + ".algorithm", "only algorithm \"smoothquant\" is supported");
    if (has(a, "mappings") && !is_null(child(a, "mappings"))) {
      for (const auto& e : child(a, "mappings")) {
        if (!e.IsSequence() || e.size() != 2) recipe_fail("llmc.recipe.105", where + ".mappings", "each SmoothQuant mapping is [[balance patterns], smooth pattern]");
        m.sq_mappings.push_back({string_list(e[0], where + ".mappings"), scalar<std::string>(e[1], where + ".mappings", "a pattern")});
      }
    }
  } else {
    recipe_fail("llmc.recipe.102", where, "unknown modifier '" + type +
                                              "' (supported: QuantizationModifier, GPTQModifier, AWQModifier, SmoothQuantModifier)");
  }
  return m;
}

inline bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace detail

/// Checks the order rules of the reference: AWQ must be followed by a quantization modifier.
inline void validate_recipe(const recipe& r) {
  for (std::size_t i = 0; i < r.modifiers.size(); ++i) {
    if (r.modifiers[i].kind != modifier_kind::awq) continue;
    bool followed = false;
    for (std::size_t j = i + 1; j < r.modifiers.size(); ++j) followed = followed || r.modifiers[j].quantizes();
    if (!followed)
      detail::recipe_fail("llmc.recipe.113", r.origin, "AWQModifier must be followed by a QuantizationModifier or GPTQModifier");
  }
  if (r.modifiers.empty()) detail::recipe_fail("llmc.recipe.114", r.origin, "the recipe has no modifiers");
}

/// Parses a recipe from YAML or JSON text (JSON is valid YAML). `origin` names it in messages.
/// @throws config_error llmc.recipe.101 (syntax), 102 (unknown modifier), 103 (unknown argument),
///         104 (unknown quantization argument), 105 (wrong type), 106 (bad value), 107 (invalid
///         scheme), 108 (unknown preset), 109-114 (structure).
inline recipe parse_recipe(const std::string& text, const std::string& origin = "<recipe>") {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    detail::recipe_fail("llmc.recipe.101", origin, std::string("not valid YAML/JSON: ") + e.what());
  }
  recipe r;
  r.origin = origin;
  if (!root.IsMap()) detail::recipe_fail("llmc.recipe.101", origin, "a recipe is a mapping of `<name>_stage` keys");
  auto add_group = [&](const YAML::Node& group, const std::string& stage, const std::string& gname, const std::string& where) {
    if (!group.IsMap()) detail::recipe_fail("llmc.recipe.105", where, "a modifier group maps modifier names to arguments");
    for (const auto& mod : group) {
      const std::string type = mod.first.as<std::string>();
      modifier m = detail::parse_modifier(type, mod.second, where + "." + type);
      m.stage = stage;
      m.group = gname;
      r.modifiers.push_back(std::move(m));
    }
  };
  for (const auto& st : root) {
    const std::string key = st.first.as<std::string>();
    if (key == "args") continue;
    if (!detail::ends_with(key, "_stage")) {
      // A bare `<group>_modifiers` mapping at the top level is accepted too (stage "default").
      if (detail::ends_with(key, "_modifiers")) {
        add_group(st.second, "default", key.substr(0, key.size() - 10), origin + ":" + key);
        continue;
      }
      detail::recipe_fail("llmc.recipe.109", origin, "top-level key '" + key + "' is neither `<name>_stage` nor `<name>_modifiers`");
    }
    const std::string stage = key.substr(0, key.size() - 6);
    if (!st.second.IsMap()) detail::recipe_fail("llmc.recipe.105", origin + ":" + key, "a stage maps `<group>_modifiers` keys");
    for (const auto& gr : st.second) {
      const std::string gk = gr.first.as<std::string>();
      if (!detail::ends_with(gk, "_modifiers"))
        detail::recipe_fail("llmc.recipe.109", origin + ":" + key, "key '" + gk + "' inside a stage must end in `_modifiers`");
      add_group(gr.second, stage, gk.substr(0, gk.size() - 10), origin + ":" + key + "." + gk);
    }
  }
  validate_recipe(r);
  return r;
}

/// Reads a recipe file (.yaml, .yml, .json, or .md with YAML front matter between `---` lines).
inline recipe load_recipe(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::recipe_fail("llmc.recipe.100", path.string(), "cannot open the recipe file; check the path");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (path.extension() == ".md") {
    const auto a = text.find("---");
    const auto b = a == std::string::npos ? a : text.find("---", a + 3);
    if (a == std::string::npos || b == std::string::npos)
      detail::recipe_fail("llmc.recipe.101", path.string(), "a .md recipe needs YAML front matter between two `---` lines");
    text = text.substr(a + 3, b - a - 3);
  }
  return parse_recipe(text, path.string());
}

}  // namespace llmc::pipeline
