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

#include <charconv>
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
  /// The arguments as the recipe spelled them (a null node for modifiers built in C++): the
  /// recipe.yaml written with the output repeats them (see recipe_yaml()).
  YAML::Node args;

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
  m.args = YAML::Clone(a);
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


// ---- recipe.yaml --------------------------------------------------------------------------------

namespace detail {

/// A float as its shortest decimal (0.01, not 0.00999999978), as Python prints it.
inline YAML::Node float_node(float f) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  YAML::Node n;
  n = s;
  return n;
}

inline YAML::Node flow_list(const std::vector<std::string>& v) {
  YAML::Node n(YAML::NodeType::Sequence);
  for (const auto& s : v) n.push_back(s);
  n.SetStyle(YAML::EmitterStyle::Flow);
  return n;
}

/// QuantizationArgs as a recipe spells them (the keys parse_quant_args reads back).
inline YAML::Node quant_args_node(const quant_args& a) {
  if (!a.enabled()) return YAML::Node(YAML::NodeType::Null);
  YAML::Node n(YAML::NodeType::Map);
  n["num_bits"] = a.num_bits;
  n["type"] = std::string(to_string(a.type));
  n["symmetric"] = a.symmetric;
  if (a.group_size > 0) n["group_size"] = a.group_size;
  else n["group_size"] = YAML::Node(YAML::NodeType::Null);
  n["strategy"] = std::string(to_string(a.strategy));
  if (a.block_rows > 0) {
    YAML::Node b(YAML::NodeType::Sequence);
    b.push_back(a.block_rows);
    b.push_back(a.block_cols);
    b.SetStyle(YAML::EmitterStyle::Flow);
    n["block_structure"] = b;
  }
  if (a.dynamic == quant_dynamic::local) n["dynamic"] = "local";
  else n["dynamic"] = a.dynamic == quant_dynamic::dynamic;
  if (a.actorder == act_order::none) n["actorder"] = YAML::Node(YAML::NodeType::Null);
  else n["actorder"] = std::string(to_string(a.actorder));
  if (a.observer == observer_kind::none) n["observer"] = YAML::Node(YAML::NodeType::Null);
  else n["observer"] = std::string(to_string(a.observer));
  if (a.scale_dtype != qparam_dtype::unset) n["scale_dtype"] = std::string(to_string(a.scale_dtype));
  if (a.zp_dtype != qparam_dtype::unset) n["zp_dtype"] = std::string(to_string(a.zp_dtype));
  return n;
}

/// One modifier's arguments as LLM Compressor serializes them: every field that is not None, in
/// the order of the modifier's fields, the values the recipe gave kept as given, the defaults
/// filled in ([LC] recipe/utils.py get_yaml_serializable_dict: model_dump() without None values).
inline YAML::Node modifier_args_node(const modifier& m) {
  YAML::Node out(YAML::NodeType::Map);
  const bool spelled = m.args.IsDefined() && m.args.IsMap();
  auto given = [&](const char* k) { return spelled && has(m.args, k) && !is_null(child(m.args, k)); };
  auto put_given = [&](const char* k) {
    if (given(k)) out[k] = YAML::Clone(child(m.args, k));
  };
  for (const char* k : {"index", "start", "end", "update"}) put_given(k);
  switch (m.kind) {
    case modifier_kind::quantization:
    case modifier_kind::gptq: {
      if (given("config_groups")) put_given("config_groups");
      else if (!given("scheme") && !m.config_groups.empty()) {
        YAML::Node groups(YAML::NodeType::Map);
        for (const auto& g : m.config_groups) {
          YAML::Node gn(YAML::NodeType::Map);
          gn["targets"] = flow_list(g.targets);
          gn["weights"] = quant_args_node(g.scheme.weights);
          gn["input_activations"] = quant_args_node(g.scheme.input_activations);
          gn["output_activations"] = quant_args_node(g.scheme.output_activations);
          groups[g.name] = gn;
        }
        out["config_groups"] = groups;
      }
      out["targets"] = flow_list(m.targets);
      out["ignore"] = flow_list(m.ignore);
      put_given("scheme");
      if (given("kv_cache_scheme")) put_given("kv_cache_scheme");
      else if (m.kv_cache_scheme) out["kv_cache_scheme"] = quant_args_node(*m.kv_cache_scheme);
      out["bypass_divisibility_checks"] = m.bypass_divisibility_checks;
      if (m.kind == modifier_kind::gptq) {
        out["block_size"] = m.block_size;
        out["dampening_frac"] = float_node(m.dampening_frac);
        if (m.actorder && *m.actorder == act_order::none) out["actorder"] = YAML::Node(YAML::NodeType::Null);
        else out["actorder"] = std::string(to_string(m.actorder.value_or(act_order::weight)));
        if (given("offload_hessians")) put_given("offload_hessians");
        else out["offload_hessians"] = false;
      }
      break;
    }
    case modifier_kind::awq: {
      if (given("mappings")) put_given("mappings");
      else if (!m.awq_mappings.empty()) {
        YAML::Node ms(YAML::NodeType::Sequence);
        for (const auto& mp : m.awq_mappings) {
          YAML::Node e(YAML::NodeType::Map);
          e["smooth_layer"] = mp.smooth_layer;
          e["balance_layers"] = flow_list(mp.balance_layers);
          ms.push_back(e);
        }
        out["mappings"] = ms;
      }
      put_given("ignore");
      put_given("offload_device");
      out["duo_scaling"] = m.duo_scaling == modifier::duo::both ? YAML::Node("both") : YAML::Node(m.duo_scaling == modifier::duo::on);
      out["n_grid"] = m.n_grid;
      if (m.awq_clip_search) out["clip_search"] = true;
      break;
    }
    case modifier_kind::smoothquant: {
      out["smoothing_strength"] = float_node(m.smoothing_strength);
      if (given("mappings")) put_given("mappings");
      else if (!m.sq_mappings.empty()) {
        YAML::Node ms(YAML::NodeType::Sequence);
        for (const auto& mp : m.sq_mappings) {
          YAML::Node e(YAML::NodeType::Sequence);
          e.push_back(flow_list(mp.balance_layers));
          e.push_back(mp.smooth_layer);
          e.SetStyle(YAML::EmitterStyle::Flow);
          ms.push_back(e);
        }
        out["mappings"] = ms;
      }
      for (const char* k : {"ignore", "num_calibration_steps", "calibration_function"}) put_given(k);
      break;
    }
  }
  return out;
}

/// append_recipe_dict of the reference ([LC] recipe/utils.py): stages of `add` are appended to
/// `base`; a stage key present in both becomes <key>_0 (the existing one) and <key>_1 (the new).
inline YAML::Node append_recipe_node(const YAML::Node& base, const YAML::Node& add) {
  std::vector<std::pair<std::string, YAML::Node>> items;
  if (base.IsMap())
    for (const auto& kv : base) items.emplace_back(kv.first.as<std::string>(), kv.second);
  auto find = [&](const std::string& k) {
    for (std::size_t i = 0; i < items.size(); ++i)
      if (items[i].first == k) return i;
    return items.size();
  };
  for (const auto& kv : add) {
    const std::string key = kv.first.as<std::string>();
    const std::size_t at = find(key);
    if (at == items.size()) {
      items.emplace_back(key, kv.second);
      continue;
    }
    std::string base_key = key;  // re.sub(r"_\d+$", "", key)
    const auto us = key.find_last_of('_');
    if (us != std::string::npos && us + 1 < key.size() &&
        key.find_first_not_of("0123456789", us + 1) == std::string::npos)
      base_key = key.substr(0, us);
    if (key == base_key) {
      YAML::Node old = items[at].second;
      items.erase(items.begin() + static_cast<std::ptrdiff_t>(at));
      items.emplace_back(base_key + "_0", old);
      items.emplace_back(base_key + "_1", kv.second);
    } else {
      int i = 1;
      while (find(base_key + "_" + std::to_string(i)) != items.size()) ++i;
      items.emplace_back(base_key + "_" + std::to_string(i), kv.second);
    }
  }
  YAML::Node out(YAML::NodeType::Map);
  for (auto& [k, v] : items) out[k] = v;
  return out;
}

}  // namespace detail

/// The recipe as LLM Compressor saves it next to a compressed model (recipe.yaml; spec §1.5, §2.2):
/// {<stage>_stage: {<group>_modifiers: {ClassName: {arguments}}}}, one stage (the recipe's last
/// stage name, "default" for recipes built in C++), modifiers in recipe order under their groups.
/// `existing`: the text of a recipe.yaml found in the source model folder, which the new recipe is
/// appended to (empty: none).
/// @throws config_error llmc.recipe.101 when `existing` is not a YAML mapping.
inline std::string recipe_yaml(const recipe& r, const std::string& existing = {}) {
  std::string stage = "default";
  for (const auto& m : r.modifiers) stage = m.stage;
  YAML::Node groups(YAML::NodeType::Map);
  for (const auto& m : r.modifiers) {
    const std::string g = (m.group.empty() ? stage : m.group) + "_modifiers";
    YAML::Node gn = groups[g];
    gn[std::string(to_string(m.kind))] = detail::modifier_args_node(m);
  }
  YAML::Node root(YAML::NodeType::Map);
  root[stage + "_stage"] = groups;
  if (!existing.empty()) {
    YAML::Node old;
    try {
      old = YAML::Load(existing);
    } catch (const YAML::Exception& e) {
      detail::recipe_fail("llmc.recipe.101", "recipe.yaml of the source model", std::string("not valid YAML: ") + e.what());
    }
    if (!old.IsMap()) detail::recipe_fail("llmc.recipe.101", "recipe.yaml of the source model", "not a mapping of stages");
    root = detail::append_recipe_node(old, root);
  }
  YAML::Emitter em;
  em << root;
  return std::string(em.c_str()) + "\n";
}

}  // namespace llmc::pipeline
