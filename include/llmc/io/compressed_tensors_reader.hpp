// llmc/io/compressed_tensors_reader.hpp — opens a compressed-tensors checkpoint and decompresses
// its modules back to floating point (for evaluation, round trips, or to start from an already
// compressed model).
//
// A module's scheme comes from quantization_config the way compressed-tensors matches it
// ([CT] utils/match.py match_targets / is_match): a target is an exact module name, "re:<regex>"
// matched at the start of the name (Python re.match; here ECMAScript std::regex with
// match_continuous), or a class name ("Linear", "Embedding"); exact beats regex beats class, ties
// go to the earlier group; a module matching `ignore` the same way is dense. Its format is the
// group's "format", else the global one unless that is "mixed-precision", else inferred for the
// checkpoint's version. Every tensor a format needs is checked for dtype and shape against
// module_tensor_specs() (llmc.io.213) before any value is used; decoded values are validated
// (llmc.io.215). decompress() dequantizes in the model dtype exactly as fake quantization does
// (scheme/quantize.hpp), so decompress(compress(q)) equals dequantize(q) bit for bit. The model
// dtype of FP8/FP4-scaled formats (NVFP4, MX) comes from config.json torch_dtype / dtype, else
// from the first floating-point dense tensor.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/checkpoint.hpp"
#include "llmc/io/compressed_tensors_config.hpp"
#include "llmc/io/compressed_tensors_format.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/e8m0.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/float8.hpp"
#include "llmc/scheme/pack.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantized_tensor.hpp"

namespace llmc {

/// The class name compressed-tensors would match a module against when the caller does not say:
/// "Embedding" for names whose last part contains "embed" (embed_tokens, embed_in), else "Linear".
inline std::string ct_default_module_type(std::string_view module) {
  const auto dot = module.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? module : module.substr(dot + 1);
  return last.find("embed") != std::string_view::npos ? "Embedding" : "Linear";
}

namespace detail {

/// Match category of `target` for a module: 0 exact name, 1 regex, 2 class name, -1 none.
inline int ct_match(std::string_view name, std::string_view type, const std::string& target) {
  if (target.rfind("re:", 0) == 0) {
    try {
      const std::regex re(target.substr(3), std::regex::ECMAScript);
      const std::string n(name);
      return std::regex_search(n, re, std::regex_constants::match_continuous) ? 1 : -1;
    } catch (const std::regex_error&) {
      LLMC_THROW(io_error, io_errc::ct_config_field,
                 "quantization_config: target \"" + target + "\" is not a regular expression llmc can evaluate");
    }
  }
  if (target == name) return 0;
  if (target == type) return 2;
  return -1;
}

inline scalar_type ct_dtype_to_scalar(llmc::dtype d) {
  switch (d) {
    case dtype::bf16: return scalar_type::bfloat16;
    case dtype::f16: return scalar_type::float16;
    default: return scalar_type::float32;
  }
}

}  // namespace detail

/// Where a module stands in a checkpoint.
struct ct_module_info {
  std::string name;
  std::string module_type;
  std::optional<std::size_t> group;  ///< index into quantization_config().config_groups; empty: dense
  compression_format format = compression_format::dense;
};

/// An opened compressed-tensors checkpoint folder.
class compressed_checkpoint {
 public:
  /// Opens `dir` (config.json + safetensors weights). A folder without quantization_config opens
  /// too (every module is dense).
  /// @throws io_error llmc.io.140 (no config.json), 150 (no weights), 210–212 (quantization_config),
  ///         and the safetensors errors of the files
  static compressed_checkpoint open(const std::filesystem::path& dir) {
    compressed_checkpoint c;
    c.path_ = dir;
    const std::filesystem::path cfg = dir / "config.json";
    c.config_ = parse_json_strict<nlohmann::ordered_json>(read_text_file(cfg, io_errc::config_missing), cfg.string());
    if (!c.config_.is_object()) {
      LLMC_THROW(io_error, io_errc::config_field, cfg.string() + ": config.json must be a JSON object");
    }
    if (auto q = c.config_.find("quantization_config"); q != c.config_.end() && !q->is_null()) {
      c.quant_ = parse_quantization_config(*q, cfg.string());
    }
    c.weights_ = safetensors_checkpoint::open(dir);
    return c;
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// config.json as read (keys in file order).
  [[nodiscard]] const nlohmann::ordered_json& config_json() const noexcept { return config_; }
  [[nodiscard]] bool is_compressed() const noexcept { return quant_.has_value(); }
  /// @throws io_error llmc.io.210 when config.json has no quantization_config.
  [[nodiscard]] const ct_quantization_config& quantization_config() const {
    if (!quant_) {
      LLMC_THROW(io_error, io_errc::ct_not_compressed,
                 path_.string() + ": config.json has no quantization_config; this is not a compressed checkpoint");
    }
    return *quant_;
  }
  [[nodiscard]] const safetensors_checkpoint& tensors() const noexcept { return weights_; }

  /// Modules holding a weight: every "<m>.weight" of rank 2 and every "<m>.weight_packed", in
  /// checkpoint order.
  [[nodiscard]] std::vector<std::string> modules() const {
    std::vector<std::string> out;
    for (const auto& n : weights_.names()) {
      for (std::string_view suffix : {".weight", ".weight_packed"}) {
        if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
          if (suffix == ".weight" && weights_.info(n).shape.size() != 2) continue;
          out.push_back(n.substr(0, n.size() - suffix.size()));
        }
      }
    }
    return out;
  }

  /// The group and format of `module` (module_type defaults to ct_default_module_type()).
  [[nodiscard]] ct_module_info info(std::string_view module, std::string_view module_type = {}) const {
    ct_module_info m;
    m.name = std::string(module);
    m.module_type = module_type.empty() ? ct_default_module_type(module) : std::string(module_type);
    if (!quant_) return m;
    for (const auto& ig : quant_->ignore)
      if (detail::ct_match(module, m.module_type, ig) >= 0) return m;
    int best = 3;
    for (std::size_t g = 0; g < quant_->config_groups.size(); ++g) {
      for (const auto& t : quant_->config_groups[g].targets) {
        const int k = detail::ct_match(module, m.module_type, t);
        if (k >= 0 && k < best) {
          best = k;
          m.group = g;
        }
      }
    }
    if (!m.group) return m;
    const ct_config_group& grp = quant_->config_groups[*m.group];
    if (!grp.scheme.weights.enabled()) {
      m.group.reset();
      return m;
    }
    if (grp.format) m.format = *grp.format;
    else if (quant_->format != compression_format::mixed_precision && quant_->format != compression_format::dense)
      m.format = quant_->format;
    else m.format = infer_module_format(grp.scheme, quant_->version, m.module_type);
    if (quant_->quantization_status != "compressed") m.format = compression_format::dense;  // frozen: saved dense
    return m;
  }

  /// The model's floating-point dtype: config.json torch_dtype / dtype, else the dtype of the first
  /// floating-point tensor that is not a scale.
  /// @throws io_error llmc.io.216 when neither says.
  [[nodiscard]] scalar_type model_dtype() const {
    for (const char* key : {"torch_dtype", "dtype"}) {
      auto it = config_.find(key);
      if (it != config_.end() && it->is_string()) {
        const std::string s = it->get<std::string>();
        if (s == "bfloat16") return scalar_type::bfloat16;
        if (s == "float16") return scalar_type::float16;
        if (s == "float32") return scalar_type::float32;
      }
    }
    for (const auto& n : weights_.names()) {
      const auto& t = weights_.info(n);
      const bool qparam = n.find("_scale") != std::string::npos || n.find("_global_scale") != std::string::npos;
      if (!qparam && (t.dtype == dtype::bf16 || t.dtype == dtype::f16 || t.dtype == dtype::f32))
        return detail::ct_dtype_to_scalar(t.dtype);
    }
    LLMC_THROW(io_error, io_errc::ct_model_dtype,
               path_.string() + ": the model dtype is not recorded (no torch_dtype in config.json, no floating-point "
               "dense tensor); pass it to load_quantized / decompress explicitly");
  }

  /// The stored quantized weight of `module`, decoded into a quantized_tensor (codes unpacked,
  /// scales as floats, zero points unpacked), with the group's weight args.
  /// @throws io_error llmc.io.214 (no such module), 213 (tensor missing / wrong dtype or shape),
  ///         215 (invalid values); config_error llmc.io.203 when the module is dense
  [[nodiscard]] quantized_tensor load_quantized(std::string_view module, std::string_view module_type = {},
                                                std::optional<scalar_type> model_dtype_override = {}) const {
    const ct_module_info mi = info(module, module_type);
    require_module(module);
    if (!mi.group) {
      LLMC_THROW(config_error, io_errc::ct_format_mismatch,
                 path_.string() + ": module \"" + mi.name + "\" is not quantized (not targeted, or ignored)");
    }
    const runtime_scheme& s = quant_->config_groups[*mi.group].scheme;
    const quant_args& a = s.weights;
    if (mi.format == compression_format::dense) {
      LLMC_THROW(config_error, io_errc::ct_format_mismatch,
                 path_.string() + ": module \"" + mi.name + "\" is stored dense (quantization_status \"" +
                     quant_->quantization_status + "\"); use decompress()");
    }
    if (mi.format == compression_format::sparse_bitmask || mi.format == compression_format::sparse_24_bitmask ||
        mi.format == compression_format::marlin_24 || mi.format == compression_format::mixed_precision) {
      LLMC_THROW(io_error, io_errc::ct_unsupported_format,
                 path_.string() + ": module "" + mi.name + "" is stored as " + std::string(to_string(mi.format)) +
                     ", which llmc does not decode; decompress it with compressed-tensors first");
    }
    check_format_fits(mi.format, s, mi.name);
    const std::string p = mi.name + ".";
    // Shape and model dtype from the main weight tensor and the scales.
    std::size_t rows = 0, cols = 0;
    scalar_type mdt = scalar_type::float32;
    const bool fp_scaled = mi.format == compression_format::nvfp4_pack_quantized ||
                           mi.format == compression_format::mxfp4_pack_quantized ||
                           mi.format == compression_format::mxfp8_quantized;
    if (mi.format == compression_format::pack_quantized) {
      const tensor_view ws = need(p + "weight_shape", dtype::i64, {2});
      const auto v = ws.to_vector<std::int64_t>();
      if (v[0] <= 0 || v[1] <= 0) bad_values(mi.name, "weight_shape [" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + "] is not positive");
      rows = static_cast<std::size_t>(v[0]);
      cols = static_cast<std::size_t>(v[1]);
    } else if (fp_scaled && mi.format != compression_format::mxfp8_quantized) {
      const tensor_view wp = need_rank2(p + "weight_packed");
      rows = static_cast<std::size_t>(wp.shape[0]);
      cols = static_cast<std::size_t>(wp.shape[1]) * 2;
    } else {
      const tensor_view w = need_rank2(p + "weight");
      rows = static_cast<std::size_t>(w.shape[0]);
      cols = static_cast<std::size_t>(w.shape[1]);
    }
    if (fp_scaled) {
      mdt = model_dtype_override ? *model_dtype_override : model_dtype();
    } else {
      const tensor_view sc = need_any(p + "weight_scale");
      if (sc.dtype != dtype::bf16 && sc.dtype != dtype::f16 && sc.dtype != dtype::f32)
        wrong(sc, "a BF16, F16 or F32 scale (the model dtype)");
      mdt = detail::ct_dtype_to_scalar(sc.dtype);
    }
    const auto specs = module_tensor_specs(mi.format, s, rows, cols, mdt, quant_->version);
    for (const auto& spec : specs) {
      if (spec.suffix.rfind("input_", 0) == 0) continue;  // input qparams: input_qparams()
      need(p + spec.suffix, spec.dtype, spec.shape);
    }

    quantized_tensor q;
    q.args = a;
    q.model_dtype = mdt;
    q.params.layout = qparam_layout(a, rows, cols);
    const qparam_layout& l = q.params.layout;
    // Scales.
    {
      const tensor_view sc = weights_.tensor(p + "weight_scale");
      q.params.scale = matrix<float>(l.slot_rows, l.slot_cols);
      if (sc.dtype == dtype::u8) {
        const auto e = sc.to_vector<std::uint8_t>();
        for (std::size_t i = 0; i < e.size(); ++i) {
          if (e[i] == 0xFF) bad_values(mi.name, "weight_scale holds the E8M0 NaN code 255");
          q.params.scale.data()[i] = static_cast<float>(float8_e8m0::from_bits(e[i]));
        }
      } else {
        to_float32(sc, q.params.scale.span());
      }
      for (std::size_t i = 0; i < q.params.scale.size(); ++i) {
        const float v = q.params.scale.data()[i];
        if (!(std::isfinite(v) && v > 0.0f)) bad_values(mi.name, "weight_scale[" + std::to_string(i) + "] = " + std::to_string(v) + " is not a finite positive scale");
      }
    }
    if (a.strategy == quant_strategy::tensor_group) {
      const float g = weights_.tensor(p + "weight_global_scale").to_vector<float>()[0];
      if (!(std::isfinite(g) && g > 0.0f)) bad_values(mi.name, "weight_global_scale = " + std::to_string(g) + " is not finite and positive");
      q.params.global_scale = g;
    }
    const int_packing packing = quant_->version.packing();
    if (!a.symmetric) {
      const tensor_view zp = weights_.tensor(p + "weight_zero_point");
      if (zp.dtype == dtype::i32) {
        const auto words = zp.to_vector<std::int32_t>();
        const matrix<std::int32_t> packed(static_cast<std::size_t>(zp.shape[0]), static_cast<std::size_t>(zp.shape[1]), words);
        q.params.zero_point = unpack_zero_points(packed, l.slot_rows, a.num_bits, packing);
      } else {
        q.params.zero_point = matrix<std::int8_t>(l.slot_rows, l.slot_cols, zp.to_vector<std::int8_t>());
        for (std::size_t i = 0; i < q.params.zero_point.size(); ++i) {
          const int z = q.params.zero_point.data()[i];
          if (z < a.q_min() || z > a.q_max()) bad_values(mi.name, "weight_zero_point holds " + std::to_string(z) + ", outside the quantized range");
        }
      }
    }
    if (a.actorder == act_order::group) {
      q.g_idx = weights_.tensor(p + "weight_g_idx").to_vector<std::int32_t>();
      for (auto g : q.g_idx)
        if (g < 0 || static_cast<std::size_t>(g) >= l.slot_cols)
          bad_values(mi.name, "weight_g_idx names group " + std::to_string(g) + " of " + std::to_string(l.slot_cols));
    }
    // Codes.
    q.codes = matrix<std::uint8_t>(rows, cols);
    switch (mi.format) {
      case compression_format::pack_quantized: {
        const tensor_view wp = weights_.tensor(p + "weight_packed");
        const matrix<std::int32_t> packed(rows, static_cast<std::size_t>(wp.shape[1]), wp.to_vector<std::int32_t>());
        const matrix<std::int8_t> codes = unpack_int_codes(packed, cols, a.num_bits, packing);
        std::memcpy(q.codes.data(), codes.data(), codes.size());
        break;
      }
      case compression_format::nvfp4_pack_quantized:
      case compression_format::mxfp4_pack_quantized: {
        const tensor_view wp = weights_.tensor(p + "weight_packed");
        const matrix<std::uint8_t> packed(rows, cols / 2, wp.to_vector<std::uint8_t>());
        q.codes = unpack_fp4_codes(packed);
        break;
      }
      default: {
        const tensor_view w = weights_.tensor(p + "weight");
        std::memcpy(q.codes.data(), w.bytes.data(), w.bytes.size());
        if (a.is_int()) {
          for (std::size_t i = 0; i < q.codes.size(); ++i) {
            const int v = static_cast<std::int8_t>(q.codes.data()[i]);
            if (v < a.q_min() || v > a.q_max()) bad_values(mi.name, "weight holds " + std::to_string(v) + ", outside the " + std::to_string(a.num_bits) + "-bit range");
          }
        }
      }
    }
    return q;
  }

  /// The module's static input activation qparams (empty when its inputs are dynamic or absent).
  [[nodiscard]] activation_qparams input_qparams(std::string_view module, std::string_view module_type = {}) const {
    const ct_module_info mi = info(module, module_type);
    activation_qparams r;
    if (!mi.group) return r;
    const quant_args& in = quant_->config_groups[*mi.group].scheme.input_activations;
    const std::string p = mi.name + ".";
    if (in.enabled() && in.dynamic == quant_dynamic::local)
      r.global_scale = need(p + "input_global_scale", dtype::f32, {1}).to_vector<float>()[0];
    if (in.enabled() && in.dynamic == quant_dynamic::static_) {
      const tensor_view sc = need_any(p + "input_scale");
      if (sc.numel() != 1 || !is_floating(sc.dtype)) wrong(sc, "one floating-point value");
      r.scale = to_float32(sc)[0];
      if (!in.symmetric) r.zero_point = need(p + "input_zero_point", dtype::i8, {1}).to_vector<std::int8_t>()[0];
    }
    return r;
  }

  /// The module's weight in floating point, computed in the model dtype T (float, bfloat16,
  /// float16): dequantized when the module is quantized, read as stored when dense.
  template <class T>
  [[nodiscard]] matrix<T> decompress_as(std::string_view module, std::string_view module_type = {},
                                        std::optional<scalar_type> model_dtype_override = {}) const {
    static_assert(require_model_dtype<T>());
    const ct_module_info mi = info(module, module_type);
    require_module(module);
    if (!mi.group || mi.format == compression_format::dense) {
      const tensor_view w = need_rank2(mi.name + ".weight");
      if (!is_floating(w.dtype)) wrong(w, "a floating-point dense weight");
      const std::vector<float> v = to_float32(w);
      matrix<T> out(static_cast<std::size_t>(w.shape[0]), static_cast<std::size_t>(w.shape[1]));
      for (std::size_t i = 0; i < v.size(); ++i) out.data()[i] = compute_dtype<T>::from_float(v[i]);
      return out;
    }
    return dequantize<T>(load_quantized(module, mi.module_type, model_dtype_override));
  }

  /// decompress_as in the model's own dtype, widened to float (exact).
  [[nodiscard]] matrix<float> decompress(std::string_view module, std::string_view module_type = {},
                                         std::optional<scalar_type> model_dtype_override = {}) const {
    const ct_module_info mi = info(module, module_type);
    if (!mi.group || mi.format == compression_format::dense) return decompress_as<float>(module, module_type);
    const quantized_tensor q = load_quantized(module, mi.module_type, model_dtype_override);
    switch (q.model_dtype) {
      case scalar_type::bfloat16: return widen(dequantize<bfloat16>(q));
      case scalar_type::float16: return widen(dequantize<float16>(q));
      default: return dequantize<float>(q);
    }
  }

 private:
  template <class T>
  static matrix<float> widen(const matrix<T>& m) {
    matrix<float> out(m.rows(), m.cols());
    for (std::size_t i = 0; i < m.size(); ++i) out.data()[i] = static_cast<float>(m.data()[i]);
    return out;
  }
  void require_module(std::string_view module) const {
    const std::string m(module);
    if (!weights_.contains(m + ".weight") && !weights_.contains(m + ".weight_packed")) {
      LLMC_THROW(io_error, io_errc::ct_no_module,
                 path_.string() + ": no module \"" + m + "\" with a weight in the checkpoint (see modules())");
    }
  }
  [[noreturn]] void bad_values(const std::string& module, const std::string& why) const {
    LLMC_THROW(io_error, io_errc::ct_bad_values, path_.string() + ": module \"" + module + "\": " + why + "; the checkpoint is corrupt");
  }
  [[noreturn]] void wrong(const tensor_view& t, const std::string& expected) const {
    std::string shape = "[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
    shape += "]";
    LLMC_THROW(io_error, io_errc::ct_module_tensor,
               path_.string() + ": tensor \"" + t.name + "\" is " + std::string(dtype_name(t.dtype)) + " " + shape +
                   ", expected " + expected + "; the checkpoint does not match its quantization_config");
  }
  tensor_view need_any(const std::string& name) const {
    if (!weights_.contains(name)) {
      LLMC_THROW(io_error, io_errc::ct_module_tensor,
                 path_.string() + ": tensor \"" + name + "\" is missing; its module's format needs it");
    }
    return weights_.tensor(name);
  }
  tensor_view need_rank2(const std::string& name) const {
    tensor_view t = need_any(name);
    if (t.shape.size() != 2 || t.shape[0] <= 0 || t.shape[1] <= 0) wrong(t, "a non-empty matrix");
    return t;
  }
  tensor_view need(const std::string& name, llmc::dtype d, const std::vector<std::int64_t>& shape) const {
    tensor_view t = need_any(name);
    if (t.dtype != d || t.shape != shape) {
      std::string s = "[";
      for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
      s += "]";
      wrong(t, std::string(dtype_name(d)) + " " + s);
    }
    return t;
  }

  std::filesystem::path path_;
  nlohmann::ordered_json config_;
  std::optional<ct_quantization_config> quant_;
  safetensors_checkpoint weights_;
};

}  // namespace llmc
