// llmc/io/compressed_tensors_writer.hpp — writes a compressed-tensors checkpoint that Hugging Face
// Transformers and vLLM load unchanged, module by module, with bounded memory.
//
// compress_module() turns one quantized_tensor (+ the module's static activation qparams) into the
// exact tensors of its format (names, dtypes, shapes, packing: spec §8.3–8.5; which tensors and in
// which order: io/compressed_tensors_format.hpp). compressed_checkpoint_writer streams those and
// every passthrough tensor into shards inside an llmc::output_directory: a tensor's bytes go to the
// current shard's data file as soon as it is added, and a shard is turned into its .safetensors
// file (sorted exactly like the Python library, via io/safetensors_writer.hpp) when the next tensor
// would overflow it — memory holds one module at a time, never the model. Shards are assigned like
// huggingface_hub (tensors in the caller's order; a tensor above the limit gets a shard of its own)
// and renamed to model-0000i-of-0000N.safetensors (or model.safetensors) at finish(), which also
// writes the index, config.json with quantization_config (io/compressed_tensors_config.hpp) and the
// passthrough files, then commits (output_directory fsyncs every file and folder before the rename).
// Any exception before commit leaves nothing at the target.
// Invariants checked before a module's first byte is written: the tensor's args equal its config
// group's weights (llmc.io.205), the shape fits the scheme (204), the format can store it (203),
// activation qparams match the input args (206), every scale is finite, positive and exact in its
// storage dtype (207). NVFP4: weight_global_scale is stored as compressed-tensors keeps it, the
// large divisor 448*6/absmax (dequantization is q * scale / global_scale:
// [CT] quantization/lifecycle/forward_helpers.py _dequantize); vLLM inverts it at load
// ([VL] .../schemes/compressed_tensors_w4a4_nvfp4.py process_weights_after_loading: "CT stores as
// divisors"). Sharding order within a module follows compressed-tensors' state-dict order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/compressed_tensors_config.hpp"
#include "llmc/io/compressed_tensors_format.hpp"
#include "llmc/io/dtype.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/io/output_directory.hpp"
#include "llmc/io/safetensors_writer.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/float8.hpp"
#include "llmc/scheme/pack.hpp"
#include "llmc/scheme/quantized_tensor.hpp"

namespace llmc {

/// Static qparams of a module's input activations, as calibration produced them.
struct activation_qparams {
  /// input_scale of static per-tensor inputs (FP8, static INT8), rounded to the model dtype on write.
  std::optional<float> scale;
  /// input_zero_point of static asymmetric integer inputs.
  std::optional<std::int8_t> zero_point;
  /// input_global_scale of NVFP4 inputs (dynamic="local"): 448*6/absmax over calibration, fp32.
  std::optional<float> global_scale;
};

/// One tensor with its own bytes.
struct ct_stored_tensor {
  std::string name;
  llmc::dtype dtype = dtype::f32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
  [[nodiscard]] tensor_ref ref() const { return tensor_ref{name, dtype, shape, bytes}; }
};

namespace detail {

template <class T>
void ct_append(std::vector<std::byte>& out, const T& v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

/// The bytes of a contiguous range (a std::vector, a matrix's span).
template <class R>
std::vector<std::byte> ct_bytes_of(const R& r) {
  const auto b = std::as_bytes(std::span(r));
  return std::vector<std::byte>(b.begin(), b.end());
}

[[noreturn]] inline void ct_bad_scale(const std::string& what) {
  LLMC_THROW(numeric_error, io_errc::ct_bad_scale, what);
}

/// Appends scale `s` in dtype `d`; it must be finite, positive and exactly representable (a scale
/// that is not was not computed for this model dtype, and would dequantize differently on load).
inline void ct_put_scale(std::vector<std::byte>& out, float s, llmc::dtype d, const std::string& what) {
  if (!(std::isfinite(s) && s > 0.0f)) ct_bad_scale(what + " = " + std::to_string(s) + " is not a finite positive scale");
  auto inexact = [&](const char* dt) {
    ct_bad_scale(what + " = " + std::to_string(s) + " is not exactly representable in " + dt +
                 "; quantize with the model's own dtype");
  };
  switch (d) {
    case dtype::bf16: {
      const bfloat16 b(s);
      if (static_cast<float>(b) != s) inexact("bfloat16");
      ct_append(out, b.bits);
      return;
    }
    case dtype::f16: {
      const float16 h(s);
      if (static_cast<float>(h) != s) inexact("float16");
      ct_append(out, h.bits);
      return;
    }
    case dtype::f32: ct_append(out, s); return;
    case dtype::f8_e4m3: {
      const float8_e4m3fn f(s);
      if (static_cast<float>(f) != s) inexact("float8_e4m3fn");
      ct_append(out, f.bits);
      return;
    }
    case dtype::u8: {  // E8M0: 127 + log2(s) (compress_mx_scale), s a power of two
      int e = 0;
      const float m = std::frexp(s, &e);
      const int biased = e - 1 + 127;
      if (m != 0.5f || biased < 0 || biased > 254) inexact("E8M0 (a power of two in [2^-127, 2^127])");
      ct_append(out, static_cast<std::uint8_t>(biased));
      return;
    }
    default: ct_bad_scale(what + ": scales cannot be stored as " + std::string(dtype_name(d)));
  }
}

/// Appends an activation scale rounded (RNE) to the model dtype, as assigning to the parameter does.
inline void ct_put_rounded(std::vector<std::byte>& out, float s, llmc::dtype d, const std::string& what) {
  if (!(std::isfinite(s) && s > 0.0f)) ct_bad_scale(what + " = " + std::to_string(s) + " is not a finite positive scale");
  switch (d) {
    case dtype::bf16: ct_append(out, bfloat16(s).bits); return;
    case dtype::f16: ct_append(out, float16(s).bits); return;
    default: ct_append(out, s); return;
  }
}

inline void ct_check_tensor(std::string_view module, const quantized_tensor& w) {
  auto fail = [&](const std::string& why) {
    LLMC_THROW(shape_error, io_errc::ct_shape, "module \"" + std::string(module) + "\": the quantized tensor " + why);
  };
  const quant_args& a = w.args;
  const qparams& p = w.params;
  const qparam_layout expect(a, w.rows(), w.cols());
  if (p.layout.strategy != expect.strategy || p.layout.rows != w.rows() || p.layout.cols != w.cols() ||
      p.layout.slot_rows != expect.slot_rows || p.layout.slot_cols != expect.slot_cols)
    fail("has a qparam layout made for another shape or strategy");
  if (p.scale.rows() != expect.slot_rows || p.scale.cols() != expect.slot_cols)
    fail("has " + std::to_string(p.scale.rows()) + "x" + std::to_string(p.scale.cols()) + " scales, its layout needs " +
         std::to_string(expect.slot_rows) + "x" + std::to_string(expect.slot_cols));
  if (a.symmetric != p.zero_point.empty()) fail(a.symmetric ? "is symmetric but carries zero points" : "is asymmetric but has no zero points");
  if (!a.symmetric && (p.zero_point.rows() != expect.slot_rows || p.zero_point.cols() != expect.slot_cols))
    fail("has zero points of the wrong shape");
  if ((a.strategy == quant_strategy::tensor_group) != (p.global_scale > 0.0f))
    fail(a.strategy == quant_strategy::tensor_group ? "is NVFP4 (tensor_group) but has no global scale"
                                                    : "has a global scale but is not tensor_group");
  if ((a.actorder == act_order::group) != !w.g_idx.empty())
    fail(a.actorder == act_order::group ? "has actorder=group but no g_idx" : "has a g_idx but actorder is not group");
  if (!w.g_idx.empty()) {
    if (w.g_idx.size() != w.cols()) fail("has a g_idx whose length differs from the input width");
    for (auto g : w.g_idx)
      if (g < 0 || static_cast<std::size_t>(g) >= expect.slot_cols) fail("has a g_idx naming a group outside the scales");
  }
  if (a.is_int()) {
    const int lo = static_cast<int>(a.q_min()), hi = static_cast<int>(a.q_max());
    for (std::size_t i = 0; i < w.codes.size(); ++i) {
      const int q = static_cast<std::int8_t>(w.codes.data()[i]);
      if (q < lo || q > hi) fail("has an integer code outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  }
  if (!a.symmetric) {
    for (std::size_t i = 0; i < p.zero_point.size(); ++i) {
      const float z = p.zero_point.data()[i];
      if (z < a.q_min() || z > a.q_max()) fail("has a zero point outside the quantized range");
    }
  }
}

inline void ct_check_activation(std::string_view module, const runtime_scheme& s, const activation_qparams& in) {
  const quant_args& a = s.input_activations;
  auto fail = [&](const std::string& why) {
    LLMC_THROW(config_error, io_errc::ct_activation_qparams, "module \"" + std::string(module) + "\": " + why);
  };
  const bool static_tensor = a.enabled() && a.dynamic == quant_dynamic::static_;
  const bool local = a.enabled() && a.dynamic == quant_dynamic::local;
  if (static_tensor && !in.scale) fail("static input activations need input_scale from calibration (activation_qparams.scale)");
  if (!static_tensor && in.scale) fail("an input scale was given but the input activations are not static per-tensor");
  if (static_tensor && !a.symmetric && !in.zero_point)
    fail("asymmetric static input activations need input_zero_point (activation_qparams.zero_point)");
  if ((!static_tensor || a.symmetric) && in.zero_point) fail("an input zero point was given but the inputs are not static asymmetric");
  if (in.zero_point && (*in.zero_point < a.q_min() || *in.zero_point > a.q_max()))
    fail("the input zero point is outside the quantized range");
  if (local && !in.global_scale) fail("NVFP4 input activations need input_global_scale from calibration (activation_qparams.global_scale)");
  if (!local && in.global_scale) fail("an input global scale was given but the inputs are not NVFP4 (dynamic=\"local\")");
}

}  // namespace detail

/// The tensors of one compressed module ("<module>.<suffix>"), in compressed-tensors' order.
/// `w` must be quantized with `s.weights`; `f` must be a format that stores it (normally
/// infer_module_format(s, v)). Nothing is written; all checks of the file comment run here.
/// @throws config_error llmc.io.202/203/205/206, shape_error llmc.io.204, numeric_error llmc.io.207
inline std::vector<ct_stored_tensor> compress_module(std::string_view module, const quantized_tensor& w,
                                                     const runtime_scheme& s, compression_format f,
                                                     const activation_qparams& in = {}, const ct_version& v = {},
                                                     std::string_view module_type = "Linear") {
  const std::string m(module);
  if (!(w.args == s.weights)) {
    LLMC_THROW(config_error, io_errc::ct_group_mismatch,
               "module \"" + m + "\": its weight was quantized with other arguments than its config group's weights; "
               "quantize it with the group's scheme (or put it in a group with its scheme)");
  }
  check_scheme_writable(s, v, module_type);
  if (const std::string why = check_shape_fits(w.args, w.rows(), w.cols()); !why.empty()) {
    LLMC_THROW(shape_error, io_errc::ct_shape,
               "module \"" + m + "\" [" + std::to_string(w.rows()) + ", " + std::to_string(w.cols()) + "]: " + why);
  }
  detail::ct_check_tensor(module, w);
  check_format_fits(f, s, module);
  detail::ct_check_activation(module, s, in);

  const quant_args& a = w.args;
  const auto specs = module_tensor_specs(f, s, w.rows(), w.cols(), w.model_dtype, v);
  const llmc::dtype sd = ct_scale_dtype(w.model_dtype);
  const int_packing packing = v.packing();
  std::vector<ct_stored_tensor> out;
  out.reserve(specs.size());
  for (const auto& spec : specs) {
    ct_stored_tensor t;
    t.name = m + "." + spec.suffix;
    t.dtype = spec.dtype;
    t.shape = spec.shape;
    const std::string& x = spec.suffix;
    if (x == "input_global_scale") {
      const float g = *in.global_scale;
      if (!(std::isfinite(g) && g > 0.0f)) detail::ct_bad_scale(t.name + " = " + std::to_string(g) + " is not finite and positive");
      detail::ct_append(t.bytes, g);
    } else if (x == "input_scale") {
      detail::ct_put_rounded(t.bytes, *in.scale, sd, t.name);
    } else if (x == "input_zero_point") {
      detail::ct_append(t.bytes, *in.zero_point);
    } else if (x == "weight_g_idx") {
      t.bytes = detail::ct_bytes_of(w.g_idx);
    } else if (x == "weight_global_scale") {
      const float g = w.params.global_scale;
      if (!std::isfinite(g)) detail::ct_bad_scale(t.name + " is not finite");
      detail::ct_append(t.bytes, g);
    } else if (x == "weight_scale") {
      t.bytes.reserve(w.params.scale.size() * dtype_size(spec.dtype));
      for (std::size_t i = 0; i < w.params.scale.size(); ++i)
        detail::ct_put_scale(t.bytes, w.params.scale.data()[i], spec.dtype, t.name + "[" + std::to_string(i) + "]");
    } else if (x == "weight_zero_point") {
      if (spec.dtype == dtype::i32) {
        const matrix<std::int32_t> zp = pack_zero_points(w, packing);
        t.bytes = detail::ct_bytes_of(zp.span());
      } else {
        t.bytes = detail::ct_bytes_of(w.params.zero_point.span());
      }
    } else if (x == "weight") {
      // int8 two's complement codes or E4M3 bytes: the codes are already the stored bytes.
      t.bytes = detail::ct_bytes_of(w.codes.span());
    } else if (x == "weight_packed") {
      if (a.is_int()) t.bytes = detail::ct_bytes_of(pack_int_codes(w, packing).span());
      else t.bytes = detail::ct_bytes_of(pack_fp4_codes(w).span());
    } else if (x == "weight_shape") {
      detail::ct_append(t.bytes, static_cast<std::int64_t>(w.rows()));
      detail::ct_append(t.bytes, static_cast<std::int64_t>(w.cols()));
    }
    out.push_back(std::move(t));
  }
  return out;
}

/// Options of compressed_checkpoint_writer.
struct ct_writer_options {
  /// compressed-tensors release the checkpoint is for (fields, packing, format inference).
  ct_version version;
  /// Global format override (LLM Compressor's quantization_format): wins over group formats.
  std::optional<compression_format> format;
  /// Largest shard in tensor bytes; LLM Compressor saves with "20GB" (spec §1.5).
  std::uint64_t max_shard_size = 20'000'000'000ULL;
  /// "__metadata__" of every shard (transformers writes {"format": "pt"}).
  std::map<std::string, std::string> shard_metadata{{"format", "pt"}};
  /// Replace an existing output folder (it is refused otherwise).
  bool replace = false;
  /// Folders that must never be written to (the source model).
  std::vector<std::filesystem::path> inputs;
  /// kv_cache_scheme to record (the k_scale / v_scale tensors are added with add_tensor).
  std::optional<quant_args> kv_cache_scheme;
  /// Module names appended to the computed ignore list.
  std::vector<std::string> extra_ignore;
};

/// What finish() wrote.
struct ct_write_result {
  std::filesystem::path path;                     ///< the committed folder
  std::vector<std::string> files;                 ///< weight files, in shard order
  std::map<std::string, std::string> weight_map;  ///< tensor -> file
  std::uint64_t total_size = 0;                   ///< bytes of tensor data
  bool sharded = false;
  bool quantized = false;                         ///< config.json carries quantization_config
  ct_quantization_config quantization_config;     ///< valid when quantized
  std::map<std::string, compression_format> module_formats;
  std::string config_json;                        ///< the config.json text written
  std::vector<std::string> copied_files;          ///< passthrough files copied
};

/// Streams a compressed-tensors checkpoint into a folder (see the file comment).
class compressed_checkpoint_writer {
 public:
  /// Starts an output folder for a model whose config.json is `config` (kept verbatim, with
  /// quantization_config added at finish()).
  /// @throws io_error llmc.io.160/161/162 (output folder), config_error llmc.io.202 (kv_cache_scheme)
  compressed_checkpoint_writer(const std::filesystem::path& target, nlohmann::json config, ct_writer_options opt = {})
      : opt_(std::move(opt)),
        out_(target, output_options{opt_.replace, opt_.inputs}),
        config_(std::move(config)) {
    if (!config_.is_object()) {
      LLMC_THROW(io_error, io_errc::config_field, "config.json for the output must be a JSON object");
    }
    if (opt_.kv_cache_scheme) {
      if (const char* why = validate_quant_args(*opt_.kv_cache_scheme))
        detail::ct_unsupported(std::string("invalid kv_cache_scheme: ") + why);
    }
  }

  /// A writer for a compressed copy of `src`: its config.json, the source folder protected, and its
  /// tokenizer / generation files copied at finish().
  static std::unique_ptr<compressed_checkpoint_writer> for_model(const model_directory& src,
                                                                 const std::filesystem::path& target,
                                                                 ct_writer_options opt = {}) {
    opt.inputs.push_back(src.path());
    auto w = std::make_unique<compressed_checkpoint_writer>(target, src.config().raw, std::move(opt));
    w->passthrough_source_ = src.path();
    return w;
  }

  compressed_checkpoint_writer(const compressed_checkpoint_writer&) = delete;
  compressed_checkpoint_writer& operator=(const compressed_checkpoint_writer&) = delete;

  /// Declares a config group; returns its index for add_quantized(). `format` is the group's
  /// QuantizationScheme.format (normally left empty: inferred per module).
  /// @throws config_error llmc.io.202 when the scheme cannot be written for the target version.
  std::size_t add_config_group(const runtime_scheme& scheme, std::vector<std::string> targets = {"Linear"},
                               std::optional<compression_format> format = std::nullopt) {
    check_open();
    if (const char* why = scheme.validate()) detail::ct_unsupported(std::string("invalid scheme: ") + why);
    if (targets.empty()) detail::ct_unsupported("a config group needs at least one target");
    declared_.push_back(ct_config_group{"", scheme, std::move(targets), format});
    return declared_.size() - 1;
  }

  /// Adds a quantized module: its compressed tensors are written before this returns (nothing of
  /// it when a check fails). Returns the format used.
  /// @throws see compress_module(); io_error llmc.io.208 (module twice), 130/132 (tensor names, I/O)
  compression_format add_quantized(std::string_view module, std::size_t group, const quantized_tensor& w,
                                   const activation_qparams& input = {}, std::string_view module_type = "Linear") {
    check_open();
    if (group >= declared_.size()) {
      LLMC_THROW(config_error, io_errc::ct_group_mismatch,
                 "module \"" + std::string(module) + "\": config group " + std::to_string(group) +
                     " was not declared (declare it with add_config_group)");
    }
    check_new_module(module);
    const ct_config_group& g = declared_[group];
    const compression_format f = opt_.format ? *opt_.format
                                             : (g.format ? *g.format : infer_module_format(g.scheme, opt_.version, module_type));
    auto tensors = compress_module(module, w, g.scheme, f, input, opt_.version, module_type);
    for (const auto& t : tensors) check_new_name(t.name);
    modules_.insert(std::string(module));
    for (const auto& t : tensors) append(t.ref());
    ct_config_group emitted{"", g.scheme, g.targets, f};
    auto it = std::find_if(groups_.begin(), groups_.end(), [&](const ct_config_group& e) {
      return e.scheme == emitted.scheme && e.targets == emitted.targets && e.format == emitted.format;
    });
    if (it == groups_.end()) {
      emitted.name = "group_" + std::to_string(groups_.size());
      groups_.push_back(std::move(emitted));
    }
    if (std::find(quantized_types_.begin(), quantized_types_.end(), module_type) == quantized_types_.end())
      quantized_types_.emplace_back(module_type);
    module_formats_.emplace(std::string(module), f);
    return f;
  }

  /// Records a module left unquantized (listed in `ignore` when modules of its type are quantized,
  /// as compressed-tensors does) and writes its tensors unchanged (none for a tied lm_head).
  void add_dense_module(std::string_view module, std::string_view module_type, std::span<const tensor_ref> tensors = {}) {
    check_open();
    check_new_module(module);
    for (const auto& t : tensors) check_new_name(t.name);
    modules_.insert(std::string(module));
    for (const auto& t : tensors) append(t);
    unquantized_.emplace_back(std::string(module_type), std::string(module));
  }
  void add_dense_module(std::string_view module, std::string_view module_type, const tensor_ref& weight) {
    add_dense_module(module, module_type, std::span<const tensor_ref>(&weight, 1));
  }

  /// Adds a tensor that is not a module weight (norms, biases, embeddings, k_scale ...), unchanged.
  /// The bytes are copied before this returns.
  /// @throws io_error llmc.io.130 (name taken), 131/133 (size, name), 132 (I/O)
  void add_tensor(const tensor_ref& t) {
    check_open();
    check_new_name(t.name);
    append(t);
  }

  /// Copies files (tokenizer, generation config) from `source_dir` into the output at finish-time
  /// order; returns the names copied. Default: passthrough_file_names().
  std::vector<std::string> copy_passthrough_files(const std::filesystem::path& source_dir,
                                                  const std::vector<std::string>& names = passthrough_file_names()) {
    check_open();
    auto copied = out_.copy_passthrough_files(source_dir, names);
    copied_.insert(copied_.end(), copied.begin(), copied.end());
    return copied;
  }

  /// Writes an extra file (e.g. recipe.yaml) into the output.
  void write_file(std::string_view relative, std::string_view content) {
    check_open();
    out_.write_file(relative, content);
  }

  /// The quantization_config as it stands (groups so far); the same object finish() writes.
  [[nodiscard]] ct_quantization_config quantization_config() const {
    ct_quantization_config c;
    c.version = opt_.version;
    c.config_groups = groups_;
    std::vector<compression_format> fs;
    for (const auto& [m, f] : module_formats_) fs.push_back(f);
    c.format = summarize_formats(fs);
    c.ignore = ignore_list();
    c.kv_cache_scheme = opt_.kv_cache_scheme;
    return c;
  }

  /// Flushes the last shard, names the shards, writes the index and config.json, copies the
  /// passthrough files (for_model) and commits the folder.
  /// @throws io_error llmc.io.208 (twice), and the I/O errors of the steps
  ct_write_result finish() {
    check_open();
    finished_ = true;
    close_shard();
    ct_write_result r;
    r.total_size = total_size_;
    const std::size_t n = shards_.size();
    r.sharded = n > 1;
    if (n == 0) {
      // An empty state dict still gives a (tensor-less) model.safetensors.
      write_safetensors(out_.file(safetensors_weights_name), {}, opt_.shard_metadata);
      r.files.push_back(safetensors_weights_name);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const std::string name = r.sharded ? shard_file_name(i, n) : std::string(safetensors_weights_name);
      std::error_code ec;
      std::filesystem::rename(shards_[i].file, out_.file(name), ec);
      if (ec) {
        LLMC_THROW(io_error, io_errc::output_fs,
                   shards_[i].file.string() + ": cannot rename to " + name + " (" + ec.message() + ")");
      }
      for (const auto& t : shards_[i].names) r.weight_map[t] = name;
      r.files.push_back(name);
    }
    if (r.sharded) {
      nlohmann::json index;
      index["metadata"]["total_size"] = total_size_;
      index["weight_map"] = nlohmann::json::object();
      for (const auto& [k, v] : r.weight_map) index["weight_map"][k] = v;
      write_file_checked(safetensors_index_name, python_json_dumps(index, 2, true) + "\n");
    }
    r.quantized = !groups_.empty() || opt_.kv_cache_scheme.has_value();
    if (r.quantized) {
      r.quantization_config = quantization_config();
      r.config_json = config_json_with_quantization(config_, r.quantization_config);
    } else {
      r.config_json = python_json_dumps(config_, 2, true) + "\n";  // transformers' to_json_file
    }
    write_file_checked("config.json", r.config_json);
    if (passthrough_source_) {
      auto copied = out_.copy_passthrough_files(*passthrough_source_);
      copied_.insert(copied_.end(), copied.begin(), copied.end());
    }
    r.copied_files = copied_;
    r.module_formats = module_formats_;
    out_.commit();
    r.path = out_.target();
    return r;
  }

  /// The staging folder (files appear under the target only after finish()).
  [[nodiscard]] const std::filesystem::path& staging() const noexcept { return out_.staging(); }
  [[nodiscard]] const ct_writer_options& options() const noexcept { return opt_; }

 private:
  struct shard_entry {
    std::string name;
    llmc::dtype dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t offset;
    std::uint64_t size;
  };
  struct open_shard {
    std::filesystem::path data_path;
    std::unique_ptr<output_file> data;
    std::vector<shard_entry> entries;
    std::uint64_t size = 0;
  };
  struct closed_shard {
    std::filesystem::path file;
    std::vector<std::string> names;
  };

  void check_open() const {
    if (finished_) {
      LLMC_THROW(io_error, io_errc::ct_duplicate,
                 out_.target().string() + ": the checkpoint writer was already finished; create a new writer");
    }
  }
  void check_new_module(std::string_view module) const {
    if (module.empty()) LLMC_THROW(io_error, io_errc::ct_duplicate, "a module name must not be empty");
    if (modules_.count(std::string(module))) {
      LLMC_THROW(io_error, io_errc::ct_duplicate,
                 "module \"" + std::string(module) + "\" was added twice; add every module once");
    }
  }
  void check_new_name(const std::string& name) {
    detail::check_write_name(name, "tensor");
    if (names_.count(name)) {
      LLMC_THROW(io_error, io_errc::duplicate_tensor,
                 "tensor \"" + name + "\" is given twice; every tensor of a checkpoint needs a distinct name");
    }
  }
  void write_file_checked(std::string_view name, std::string_view content) {
    llmc::write_file(out_.file(name), content);
  }

  /// Places one tensor like huggingface_hub's split_state_dict_into_shards_factory.
  void append(const tensor_ref& t) {
    const std::uint64_t sz = detail::checked_nbytes(t);
    names_.insert(t.name);
    total_size_ += sz;
    if (sz > opt_.max_shard_size) {
      open_shard own = start_shard();
      write_into(own, t, sz);
      finish_shard(own);
      return;
    }
    if (current_ && current_->size + sz > opt_.max_shard_size) close_shard();
    if (!current_) current_ = std::make_unique<open_shard>(start_shard());
    write_into(*current_, t, sz);
  }
  open_shard start_shard() {
    open_shard s;
    s.data_path = out_.file(".llmc-shard-" + std::to_string(next_shard_id_++) + ".data");
    s.data = std::make_unique<output_file>(s.data_path);
    return s;
  }
  static void write_into(open_shard& s, const tensor_ref& t, std::uint64_t sz) {
    s.data->write(t.bytes);
    s.entries.push_back(shard_entry{t.name, t.dtype, t.shape, s.size, sz});
    s.size += sz;
  }
  void close_shard() {
    if (!current_) return;
    finish_shard(*current_);
    current_.reset();
  }
  /// Turns the shard's data file into a .safetensors file (tensors re-ordered as the library sorts them).
  void finish_shard(open_shard& s) {
    s.data->finish(false);
    const mapped_file data = mapped_file::open(s.data_path);
    std::vector<tensor_ref> refs;
    refs.reserve(s.entries.size());
    closed_shard c;
    for (const auto& e : s.entries) {
      refs.push_back(tensor_ref{e.name, e.dtype, e.shape,
                                data.bytes().subspan(static_cast<std::size_t>(e.offset), static_cast<std::size_t>(e.size))});
      c.names.push_back(e.name);
    }
    c.file = out_.file(".llmc-shard-" + std::to_string(shards_.size()) + ".safetensors");
    // write_safetensors() of refs, handing each tensor's mapped pages back once copied: the shard
    // (the whole model for a single-file output) is never resident at once.
    const safetensors_layout L = plan_safetensors(refs, opt_.shard_metadata);
    output_file f(c.file);
    f.write(detail::le_u64(L.header.size()));
    f.write(L.header);
    for (std::size_t i : L.order) {
      f.write(refs[i].bytes);
      data.release(static_cast<std::size_t>(s.entries[i].offset), static_cast<std::size_t>(s.entries[i].size));
    }
    f.finish(false);
    std::error_code ec;
    std::filesystem::remove(s.data_path, ec);
    shards_.push_back(std::move(c));
  }
  std::vector<std::string> ignore_list() const {
    // compressed-tensors (QuantizationConfig.from_pretrained): unquantized modules grouped by type in
    // order of each type's first appearance, only types that are quantized somewhere.
    std::vector<std::string> types;
    for (const auto& [type, name] : unquantized_)
      if (std::find(types.begin(), types.end(), type) == types.end()) types.push_back(type);
    std::vector<std::string> out;
    for (const auto& type : types) {
      if (std::find(quantized_types_.begin(), quantized_types_.end(), type) == quantized_types_.end()) continue;
      for (const auto& [t, name] : unquantized_)
        if (t == type) out.push_back(name);
    }
    for (const auto& e : opt_.extra_ignore)
      if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
    return out;
  }

  ct_writer_options opt_;
  output_directory out_;
  nlohmann::json config_;
  std::optional<std::filesystem::path> passthrough_source_;
  std::vector<ct_config_group> declared_;
  std::vector<ct_config_group> groups_;
  std::vector<std::string> quantized_types_;
  std::vector<std::pair<std::string, std::string>> unquantized_;  ///< (type, module) in order
  std::map<std::string, compression_format> module_formats_;
  std::set<std::string> modules_;
  std::set<std::string> names_;
  std::unique_ptr<open_shard> current_;
  std::vector<closed_shard> shards_;
  std::size_t next_shard_id_ = 0;
  std::uint64_t total_size_ = 0;
  std::vector<std::string> copied_;
  bool finished_ = false;
};

}  // namespace llmc
