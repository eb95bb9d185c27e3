// llmc/io/compressed_tensors_config.hpp — `quantization_config` of config.json, written exactly as
// LLM Compressor writes it and read back.
//
// Facts from vllm-project/compressed-tensors (spec §3.1, §8.1):
//  - the object is ModelCompressor.update_config (compressors/model_compressors/model_compressor.py):
//    {"version", "quant_method": "compressed-tensors", "sparsity_config": {}, "transform_config": {},
//    **QuantizationConfig.model_dump(exclude quant_method)}, and the whole config.json is then
//    re-dumped with json.dump(indent=2, sort_keys=True) — no trailing newline.
//  - QuantizationConfig (quantization/quant_config.py): config_groups, kv_cache_scheme, format,
//    quantization_status, global_compression_ratio (null), ignore; run_compressed is never written.
//  - QuantizationScheme (quantization/quant_scheme.py): targets, weights, input_activations,
//    output_activations, format (per group; field present from 0.11).
//  - QuantizationArgs (quantization/quant_args.py, use_enum_values=True): num_bits, type, symmetric,
//    group_size (null unless set), strategy, block_structure ([rows, cols] list since 0.11),
//    dynamic (false / true / "local"), actorder (the enum value as given: "group", "weight", or the
//    aliases "dynamic"/"static"; LLM Compressor's GPTQ default is "static"), scale_dtype and zp_dtype
//    (0.13+, "torch.<name>"; zp_dtype's serializer writes null when symmetric), observer (null when
//    dynamic is true; default "memoryless_minmax" from 0.14, "minmax" before; "minmax" for
//    dynamic="local" left unset), observer_kwargs.
// Reading is strict like pydantic's extra="forbid": unknown argument keys are errors (llmc.io.211).
#pragma once

#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/compressed_tensors_format.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/json.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/scheme.hpp"

namespace llmc {

/// One config group: a scheme, the targets it applies to, and (once known) its format.
struct ct_config_group {
  std::string name;                                 ///< "group_0", ... (written groups are renumbered)
  runtime_scheme scheme;
  std::vector<std::string> targets{"Linear"};       ///< class names, exact module names or "re:<regex>"
  std::optional<compression_format> format;         ///< QuantizationScheme.format
  bool operator==(const ct_config_group&) const = default;
};

/// The parsed or to-be-written quantization_config.
struct ct_quantization_config {
  ct_version version;
  std::vector<ct_config_group> config_groups;
  compression_format format = compression_format::dense;
  std::vector<std::string> ignore;
  std::optional<quant_args> kv_cache_scheme;
  std::string quantization_status = "compressed";
  std::optional<double> global_compression_ratio;
  nlohmann::json sparsity_config = nlohmann::json::object();
  nlohmann::json transform_config = nlohmann::json::object();
};

namespace detail {

/// Observer name as written for release v (see the file comment); null for none.
inline nlohmann::json ct_observer_json(const quant_args& a, const ct_version& v) {
  if (a.dynamic == quant_dynamic::dynamic) return nullptr;
  observer_kind k = a.observer;
  if (k == observer_kind::none) {
    // Unset: what QuantizationArgs infers ("minmax" for local; the era's default for static).
    if (a.dynamic == quant_dynamic::local) return "minmax";
    k = observer_kind::memoryless_minmax;
  }
  if (!v.memoryless_observer_names()) {
    // Before 0.14 the min-max family was "minmax" and the MSE family "mse".
    if (k == observer_kind::memoryless_mse || k == observer_kind::mse) return "mse";
    return "minmax";
  }
  return std::string(to_string(k));
}

inline nlohmann::json ct_dtype_json(qparam_dtype d) {
  if (d == qparam_dtype::unset) return nullptr;
  return std::string(to_string(d));
}

}  // namespace detail

/// QuantizationArgs.model_dump() for release `v` (key order does not matter: the file is sorted).
inline nlohmann::json quant_args_to_json(const quant_args& a, const ct_version& v) {
  nlohmann::json j = nlohmann::json::object();
  j["num_bits"] = a.num_bits;
  j["type"] = std::string(to_string(a.type));
  j["symmetric"] = a.symmetric;
  if (a.strategy == quant_strategy::group || a.strategy == quant_strategy::tensor_group) j["group_size"] = a.group_size;
  else j["group_size"] = nullptr;
  j["strategy"] = std::string(to_string(a.strategy));
  if (a.strategy == quant_strategy::block) j["block_structure"] = nlohmann::json::array({a.block_rows, a.block_cols});
  else j["block_structure"] = nullptr;
  switch (a.dynamic) {
    case quant_dynamic::static_: j["dynamic"] = false; break;
    case quant_dynamic::dynamic: j["dynamic"] = true; break;
    case quant_dynamic::local: j["dynamic"] = "local"; break;
  }
  if (a.actorder == act_order::none) j["actorder"] = nullptr;
  else j["actorder"] = std::string(to_string(a.actorder));
  j["observer"] = detail::ct_observer_json(a, v);
  j["observer_kwargs"] = nlohmann::json::object();
  if (v.has_scale_zp_dtype()) {
    j["scale_dtype"] = detail::ct_dtype_json(a.scale_dtype);
    if (a.symmetric) {
      j["zp_dtype"] = nullptr;
    } else {
      // zp_dtype None is inferred: int8 for int <= 8 bits (pytorch_dtype()); asymmetric float is invalid.
      j["zp_dtype"] = a.zp_dtype == qparam_dtype::unset ? std::string("torch.int8") : std::string(to_string(a.zp_dtype));
    }
  }
  return j;
}

/// QuantizationScheme.model_dump() of one group.
inline nlohmann::json config_group_to_json(const ct_config_group& g, const ct_version& v) {
  nlohmann::json j = nlohmann::json::object();
  j["targets"] = g.targets;
  auto args = [&](const quant_args& a) -> nlohmann::json {
    return a.enabled() ? quant_args_to_json(a, v) : nlohmann::json(nullptr);
  };
  j["weights"] = args(g.scheme.weights);
  j["input_activations"] = args(g.scheme.input_activations);
  j["output_activations"] = args(g.scheme.output_activations);
  if (g.format) j["format"] = std::string(to_string(*g.format));
  else j["format"] = nullptr;
  return j;
}

/// The whole quantization_config object (update_config's dict).
inline nlohmann::json quantization_config_to_json(const ct_quantization_config& c) {
  nlohmann::json j = nlohmann::json::object();
  j["version"] = c.version.text;
  j["quant_method"] = "compressed-tensors";
  j["sparsity_config"] = c.sparsity_config;
  j["transform_config"] = c.transform_config;
  nlohmann::json groups = nlohmann::json::object();
  for (const auto& g : c.config_groups) groups[g.name] = config_group_to_json(g, c.version);
  j["config_groups"] = std::move(groups);
  j["kv_cache_scheme"] = c.kv_cache_scheme ? quant_args_to_json(*c.kv_cache_scheme, c.version) : nlohmann::json(nullptr);
  j["format"] = std::string(to_string(c.format));
  j["quantization_status"] = c.quantization_status;
  if (c.global_compression_ratio) j["global_compression_ratio"] = *c.global_compression_ratio;
  else j["global_compression_ratio"] = nullptr;
  j["ignore"] = c.ignore;
  return j;
}

/// config.json text with `quantization_config` set, as the final file of an LLM Compressor save:
/// json.dump(config, indent=2, sort_keys=True), no trailing newline (update_config).
inline std::string config_json_with_quantization(const nlohmann::json& config, const ct_quantization_config& c) {
  nlohmann::json j = config;
  j["quantization_config"] = quantization_config_to_json(c);
  return python_json_dumps(j, 2, true);
}

// ------------------------------------------------------------------------------------------------
// Reading

namespace detail {

[[noreturn]] inline void ct_field_error(const std::string& where, const std::string& what) {
  LLMC_THROW(io_error, io_errc::ct_config_field, where + ": " + what + "; fix the quantization_config in config.json");
}

inline std::string ct_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

template <class Json>
qparam_dtype ct_parse_dtype(const Json& v, const std::string& where) {
  if (v.is_null()) return qparam_dtype::unset;
  if (!v.is_string()) ct_field_error(where, "must be null or a torch dtype name such as \"torch.float8_e4m3fn\"");
  std::string s = v.template get<std::string>();
  if (s.rfind("torch.", 0) == 0) s = s.substr(6);
  if (s == "float8_e4m3fn") return qparam_dtype::float8_e4m3fn;
  if (s == "uint8") return qparam_dtype::uint8;
  if (s == "int8") return qparam_dtype::int8;
  ct_field_error(where, "dtype \"" + v.template get<std::string>() + "\" is not one llmc stores scales or zero points in "
                        "(torch.float8_e4m3fn, torch.uint8, torch.int8)");
}

template <class Json>
int ct_int(const Json& v, const std::string& where) {
  if (!v.is_number_integer()) ct_field_error(where, "must be an integer (found " + v.dump() + ")");
  const auto x = v.template get<std::int64_t>();
  if (x < -1'000'000'000 || x > 1'000'000'000) ct_field_error(where, "is out of range");
  return static_cast<int>(x);
}

}  // namespace detail

/// Parses one QuantizationArgs object as compressed-tensors validates it (strategy inference,
/// aliases, the legacy "RxC" block string), then checks it with validate_quant_args. Fields that do
/// not survive serialization are normalized to llmc's preset convention: a symmetric zp_dtype is
/// taken as FP8 for NVFP4 and uint8 for MX (the presets' values), FP4 tensor_group without
/// scale_dtype (configs < 0.13) gets its implied FP8 scales. Observer names llmc does not model
/// ("imatrix_mse", ...) read as memoryless_minmax; the raw JSON keeps them.
/// Works on nlohmann::json and nlohmann::ordered_json. @throws io_error llmc.io.211 naming `where` and the field.
template <class Json>
quant_args parse_quant_args(const Json& j, const std::string& where) {
  if (!j.is_object()) detail::ct_field_error(where, "must be an object of quantization arguments");
  static constexpr std::string_view known[] = {"num_bits", "type",     "symmetric",   "group_size",
                                               "strategy", "block_structure", "dynamic", "actorder",
                                               "scale_dtype", "zp_dtype", "observer", "observer_kwargs"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (auto k : known) ok = ok || it.key() == k;
    if (!ok) detail::ct_field_error(where, "unknown field \"" + it.key() + "\" (compressed-tensors forbids extra fields)");
  }
  auto get = [&](const char* k) -> const Json* {
    auto it = j.find(k);
    return it == j.end() ? nullptr : &*it;
  };
  quant_args a;
  a.observer = observer_kind::none;
  if (auto* v = get("num_bits")) a.num_bits = detail::ct_int(*v, where + ".num_bits");
  if (auto* v = get("type")) {
    if (!v->is_string()) detail::ct_field_error(where + ".type", "must be \"int\" or \"float\"");
    const std::string t = detail::ct_lower(v->template get<std::string>());
    if (t == "int") a.type = quant_type::int_;
    else if (t == "float") a.type = quant_type::float_;
    else detail::ct_field_error(where + ".type", "must be \"int\" or \"float\" (found \"" + t + "\")");
  }
  if (auto* v = get("symmetric")) {
    if (!v->is_boolean()) detail::ct_field_error(where + ".symmetric", "must be true or false");
    a.symmetric = v->template get<bool>();
  }
  std::optional<int> group_size;
  if (auto* v = get("group_size"); v && !v->is_null()) {
    group_size = detail::ct_int(*v, where + ".group_size");
    if (*group_size < -1) detail::ct_field_error(where + ".group_size", "must be > 0, -1 (channel) or null");
  }
  std::optional<quant_strategy> strategy;
  if (auto* v = get("strategy"); v && !v->is_null()) {
    if (!v->is_string()) detail::ct_field_error(where + ".strategy", "must be a string");
    const std::string s = detail::ct_lower(v->template get<std::string>());
    for (quant_strategy q : {quant_strategy::tensor, quant_strategy::channel, quant_strategy::group, quant_strategy::block,
                             quant_strategy::token, quant_strategy::tensor_group, quant_strategy::attn_head})
      if (to_string(q) == s) strategy = q;
    if (!strategy) detail::ct_field_error(where + ".strategy", "unknown strategy \"" + s + "\"");
  }
  if (!strategy) {
    if (!group_size) strategy = quant_strategy::tensor;
    else if (*group_size > 0) strategy = quant_strategy::group;
    else if (*group_size == -1) strategy = quant_strategy::channel;
    else detail::ct_field_error(where + ".group_size", "0 is not a valid group size");
  }
  a.strategy = *strategy;
  a.group_size = group_size && *group_size > 0 ? *group_size : 0;
  if (auto* v = get("block_structure"); v && !v->is_null()) {
    std::vector<int> dims;
    if (v->is_string()) {  // legacy "RxC"
      const std::string s = v->template get<std::string>();
      const auto x = s.find('x');
      if (x == std::string::npos) detail::ct_field_error(where + ".block_structure", "must be [rows, cols] or \"RxC\"");
      try {
        std::size_t p1 = 0, p2 = 0;
        dims = {std::stoi(s.substr(0, x), &p1), std::stoi(s.substr(x + 1), &p2)};
        if (p1 != x || p2 != s.size() - x - 1) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        detail::ct_field_error(where + ".block_structure", "\"" + s + "\" is not of the form \"RxC\"");
      }
    } else if (v->is_array() && v->size() == 2) {
      for (const auto& d : *v) dims.push_back(detail::ct_int(d, where + ".block_structure"));
    } else {
      detail::ct_field_error(where + ".block_structure", "must be [rows, cols]");
    }
    if (dims[0] <= 0 || dims[1] <= 0) detail::ct_field_error(where + ".block_structure", "dimensions must be positive");
    a.block_rows = dims[0];
    a.block_cols = dims[1];
  }
  if (auto* v = get("dynamic")) {
    if (v->is_boolean()) a.dynamic = v->template get<bool>() ? quant_dynamic::dynamic : quant_dynamic::static_;
    else if (v->is_string() && detail::ct_lower(v->template get<std::string>()) == "local") a.dynamic = quant_dynamic::local;
    else detail::ct_field_error(where + ".dynamic", "must be true, false or \"local\"");
  }
  if (auto* v = get("actorder"); v && !v->is_null()) {
    if (v->is_boolean()) {
      a.actorder = v->template get<bool>() ? act_order::group : act_order::none;
    } else if (v->is_string()) {
      const std::string s = detail::ct_lower(v->template get<std::string>());
      if (s == "group" || s == "dynamic") a.actorder = act_order::group;
      else if (s == "weight" || s == "static") a.actorder = act_order::weight;
      else detail::ct_field_error(where + ".actorder", "unknown activation ordering \"" + s + "\"");
    } else {
      detail::ct_field_error(where + ".actorder", "must be null, a boolean or a string");
    }
  }
  if (auto* v = get("scale_dtype")) a.scale_dtype = detail::ct_parse_dtype(*v, where + ".scale_dtype");
  if (auto* v = get("zp_dtype")) a.zp_dtype = detail::ct_parse_dtype(*v, where + ".zp_dtype");
  if (auto* v = get("observer_kwargs"); v && !v->is_null() && !v->is_object())
    detail::ct_field_error(where + ".observer_kwargs", "must be an object");
  if (auto* v = get("observer"); v && !v->is_null()) {
    if (!v->is_string()) detail::ct_field_error(where + ".observer", "must be null or a string");
    const std::string s = v->template get<std::string>();
    a.observer = observer_kind::memoryless_minmax;
    for (observer_kind k : {observer_kind::memoryless_minmax, observer_kind::static_minmax, observer_kind::minmax,
                            observer_kind::memoryless_mse, observer_kind::mse})
      if (to_string(k) == s) a.observer = k;
  }
  // QuantizationArgs' own inference and what serialization dropped (see the doc comment).
  if (a.dynamic == quant_dynamic::dynamic) a.observer = observer_kind::none;
  else if (a.observer == observer_kind::none)
    a.observer = a.dynamic == quant_dynamic::local ? observer_kind::minmax : observer_kind::memoryless_minmax;
  if (a.is_fp4() && a.strategy == quant_strategy::tensor_group && a.scale_dtype == qparam_dtype::unset)
    a.scale_dtype = qparam_dtype::float8_e4m3fn;
  if (a.symmetric && a.zp_dtype == qparam_dtype::unset) {
    if (a.is_mx()) a.zp_dtype = qparam_dtype::uint8;
    else if (a.is_fp4()) a.zp_dtype = qparam_dtype::float8_e4m3fn;
  }
  if (!a.symmetric && a.zp_dtype == qparam_dtype::unset && a.is_int()) a.zp_dtype = qparam_dtype::int8;
  if (const char* why = validate_quant_args(a)) detail::ct_field_error(where, std::string("invalid arguments: ") + why);
  return a;
}

/// The preset schemes a config group may name by key with a list of targets as value
/// (QuantizationConfig.model_post_init expands them). HEAD definitions.
inline std::optional<runtime_scheme> ct_preset_scheme(std::string name) {
  name = detail::ct_lower(std::move(name));
  using namespace presets;
  if (name == "w8a8" || name == "int8") return runtime_scheme::from(W8A8{});
  if (name == "w8a16") return runtime_scheme::from(W8A16{});
  if (name == "w4a16") return runtime_scheme::from(W4A16{});
  if (name == "w4a16_asym") return runtime_scheme::from(W4A16_ASYM{});
  if (name == "w4a8") return runtime_scheme::from(W4A8{});
  if (name == "fp8") return runtime_scheme::from(FP8{});
  if (name == "fp8_dynamic") return runtime_scheme::from(FP8_DYNAMIC{});
  if (name == "fp8_block") return runtime_scheme::from(FP8_BLOCK{});
  if (name == "nvfp4a16") return runtime_scheme::from(NVFP4A16{});
  if (name == "nvfp4") return runtime_scheme::from(NVFP4{});
  if (name == "mxfp4a16") return runtime_scheme::from(MXFP4A16{});
  if (name == "mxfp4") return runtime_scheme::from(MXFP4{});
  return std::nullopt;
}

/// Parses a quantization_config object (nlohmann::ordered_json keeps the file's group order, which
/// decides ties when matching targets, as Python's dict does). `label` names the file in messages.
/// @throws io_error llmc.io.210 (not compressed-tensors), 211 (fields), 212 (unknown format name),
///         config_error llmc.io.201 (a version outside 0.11 .. 0.18 is read as 0.18 instead: see below)
template <class Json>
ct_quantization_config parse_quantization_config(const Json& q, const std::string& label) {
  const std::string where = label + ": quantization_config";
  if (!q.is_object()) detail::ct_field_error(where, "must be an object");
  auto qm = q.find("quant_method");
  if (qm == q.end() || !qm->is_string() || qm->template get<std::string>() != "compressed-tensors") {
    LLMC_THROW(io_error, io_errc::ct_not_compressed,
               where + ": quant_method is " + (qm == q.end() ? std::string("missing") : qm->dump()) +
                   ", not \"compressed-tensors\"; this is not a compressed-tensors checkpoint");
  }
  ct_quantization_config c;
  // A release llmc does not target (older, newer, a dev build) is still read: the version decides
  // only the integer packing of 3/5/6/7-bit weights, which follows the nearest supported release.
  if (auto v = q.find("version"); v != q.end() && v->is_string()) {
    const std::string text = v->template get<std::string>();
    try {
      c.version = ct_version::parse(text);
    } catch (const config_error&) {
      int minor = 18;
      if (text.rfind("0.", 0) == 0) {
        try {
          minor = std::stoi(text.substr(2));
        } catch (const std::exception&) {
        }
      }
      c.version.minor = minor < ct_version::oldest_minor ? ct_version::oldest_minor
                                                        : (minor > ct_version::newest_minor ? ct_version::newest_minor : minor);
      c.version.text = text;
    }
  }
  auto fmt = [&](const Json& v, const std::string& field) -> std::optional<compression_format> {
    if (v.is_null()) return std::nullopt;
    if (!v.is_string()) detail::ct_field_error(field, "must be a format name string");
    const std::string s = v.template get<std::string>();
    auto f = compression_format_from_string(s);
    if (!f) {
      LLMC_THROW(io_error, io_errc::ct_unsupported_format,
                 field + ": unknown compression format \"" + s + "\"; llmc reads dense, int-quantized, float-quantized, "
                 "naive-quantized, pack-quantized, nvfp4-pack-quantized, mxfp4-pack-quantized, mxfp8-quantized");
    }
    return f;
  };
  if (auto f = q.find("format"); f != q.end()) {
    if (auto parsed = fmt(*f, where + ".format")) c.format = *parsed;
  }
  if (auto s = q.find("quantization_status"); s != q.end() && !s->is_null()) {
    if (!s->is_string()) detail::ct_field_error(where + ".quantization_status", "must be a string");
    c.quantization_status = s->template get<std::string>();
  }
  if (auto r = q.find("global_compression_ratio"); r != q.end() && !r->is_null()) {
    if (!r->is_number()) detail::ct_field_error(where + ".global_compression_ratio", "must be null or a number");
    c.global_compression_ratio = r->template get<double>();
  }
  if (auto s = q.find("sparsity_config"); s != q.end() && !s->is_null()) c.sparsity_config = nlohmann::json::parse(s->dump());
  if (auto t = q.find("transform_config"); t != q.end() && !t->is_null()) c.transform_config = nlohmann::json::parse(t->dump());
  if (auto ig = q.find("ignore"); ig != q.end() && !ig->is_null()) {
    if (!ig->is_array()) detail::ct_field_error(where + ".ignore", "must be a list of module names");
    for (const auto& e : *ig) {
      if (!e.is_string()) detail::ct_field_error(where + ".ignore", "must be a list of module names");
      c.ignore.push_back(e.template get<std::string>());
    }
  }
  if (auto kv = q.find("kv_cache_scheme"); kv != q.end() && !kv->is_null())
    c.kv_cache_scheme = parse_quant_args(*kv, where + ".kv_cache_scheme");
  auto groups = q.find("config_groups");
  if (groups == q.end() || !groups->is_object()) detail::ct_field_error(where + ".config_groups", "missing or not an object");
  for (auto it = groups->begin(); it != groups->end(); ++it) {
    const std::string gw = where + ".config_groups." + it.key();
    ct_config_group g;
    g.name = it.key();
    auto targets_of = [&](const Json& t) {
      if (!t.is_array()) detail::ct_field_error(gw + ".targets", "must be a list of strings");
      std::vector<std::string> out;
      for (const auto& e : t) {
        if (!e.is_string()) detail::ct_field_error(gw + ".targets", "must be a list of strings");
        out.push_back(e.template get<std::string>());
      }
      return out;
    };
    if (it->is_array()) {  // {"W4A16": ["Linear"]}: a preset by name
      auto preset = ct_preset_scheme(it.key());
      if (!preset) detail::ct_field_error(gw, "is a target list but \"" + it.key() + "\" is not a preset scheme name");
      g.scheme = *preset;
      g.targets = targets_of(*it);
      c.config_groups.push_back(std::move(g));
      continue;
    }
    if (!it->is_object()) detail::ct_field_error(gw, "must be a scheme object or a target list");
    for (auto k = it->begin(); k != it->end(); ++k) {
      if (k.key() != "targets" && k.key() != "weights" && k.key() != "input_activations" &&
          k.key() != "output_activations" && k.key() != "format")
        detail::ct_field_error(gw, "unknown field \"" + k.key() + "\" (compressed-tensors forbids extra fields)");
    }
    auto t = it->find("targets");
    if (t == it->end()) detail::ct_field_error(gw + ".targets", "is missing");
    g.targets = targets_of(*t);
    auto args = [&](const char* k) -> quant_args {
      auto a = it->find(k);
      if (a == it->end() || a->is_null()) return no_quantization;
      return parse_quant_args(*a, gw + "." + k);
    };
    g.scheme.weights = args("weights");
    g.scheme.input_activations = args("input_activations");
    g.scheme.output_activations = args("output_activations");
    if (const char* why = g.scheme.validate()) detail::ct_field_error(gw, std::string("invalid scheme: ") + why);
    if (auto f = it->find("format"); f != it->end()) g.format = fmt(*f, gw + ".format");
    c.config_groups.push_back(std::move(g));
  }
  return c;
}

}  // namespace llmc
