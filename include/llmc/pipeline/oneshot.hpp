// llmc/pipeline/oneshot.hpp — LLM Compressor's oneshot(): a recipe applied to a Hugging Face
// checkpoint layer by layer, written as a compressed-tensors checkpoint.
//
// The sequential pipeline of the reference ([LC] pipelines/sequential/pipeline.py; spec §1.4):
// the calibration batches are embedded once; for each decoder layer only that layer is loaded, the
// cached hidden states run through it while hooks collect what the recipe's modifiers need (one
// collector per distinct Linear input: q/k/v share attn_in, gate/up share mlp_in), the modifiers
// are applied in recipe order (SmoothQuant/AWQ rescale, then GPTQ/RTN quantize, through a
// layer_context), the batches run again through the modified layer to give the next layer its
// inputs (error propagation), the layer's compressed tensors are written and the layer released.
// Peak memory is one layer plus the activation cache (activation_cache.hpp: past
// oneshot_args::activation_cache_limit the cache spills to a temporary file); a data-free recipe
// skips calibration. Several quantizing modifiers may share a recipe, as in the reference: each
// quantizes the Linears its targets/ignore select (a Linear claimed by two of them is an error),
// and the written quantization_config holds the config groups of all of them. The recipe is
// written next to the weights as recipe.yaml (recipe.hpp recipe_yaml(), spec §1.5).
// A compile-time recipe (method/recipe.hpp recipe<...> of method policies) runs through the same
// pipeline with its methods applied as they are (the oneshot overload for a complete_recipe).
// Invariants: every check that can fail without running the model (recipe, architecture, a
// scheme that does not fit a Linear's shape, AWQ/SmoothQuant mappings that name nothing, NaN/Inf
// weights, the output folder) runs before any heavy work; the output is written in a temporary
// folder committed only by finish(), so a failure leaves nothing at output_dir. Non-layer tensors
// (embeddings, final norm) pass through unchanged, lm_head is written dense (the reference ignores
// it in every example recipe). Memory: tensors of the mapped checkpoint are handed back to the
// kernel (madvise) as soon as they have been read; set LLMC_DEBUG_RSS=1 to print the resident
// set after each phase.
// Departure: the propagation pass uses the quantized weights but full-precision activations.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "llmc/core/error.hpp"
#include "llmc/core/progress.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/method/awq.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/recipe.hpp"
#include "llmc/method/rtn.hpp"
#include "llmc/method/smoothquant.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/pipeline/activation_cache.hpp"
#include "llmc/pipeline/executor.hpp"
#include "llmc/pipeline/recipe.hpp"
#include "llmc/pipeline/targets.hpp"
#include "llmc/text/dataset.hpp"

namespace llmc {

/// The arguments of oneshot(), named after the reference's (spec §1.1).
struct oneshot_args {
  std::filesystem::path model;       ///< Hugging Face model folder (safetensors)
  std::filesystem::path dataset;     ///< local calibration file; may be empty for data-free recipes
  dataset_format data_format = dataset_format::automatic;
  std::string text_column = "text";
  std::filesystem::path output_dir;
  std::int64_t max_seq_length = 384;  ///< the reference's default
  std::size_t num_calibration_samples = 512;
  bool shuffle_calibration_samples = true;
  std::uint64_t seed = 42;
  std::size_t batch_size = 1;
  bool concatenate_data = false;
  bool replace = false;               ///< overwrite an existing output_dir
  progress_sink progress;             ///< "layer i/N" updates (none when empty)
  bool keep_weights = false;          ///< report.weights: every Linear as written (dequantized), for checks
  /// Bytes of cached hidden states kept in memory; the batches past it spill to a temporary file
  /// in spill_dir (0: no limit, everything stays in memory). Results do not depend on it.
  std::uint64_t activation_cache_limit = 0;
  /// Folder of the spill file; empty: the folder that holds output_dir.
  std::filesystem::path spill_dir;
  bool save_recipe = true;            ///< write recipe.yaml into the output, as the reference does
};

/// What happened to one decoder layer.
struct oneshot_layer_report {
  std::size_t index = 0;
  double seconds = 0.0;
  /// Where the layer's seconds went: reading and converting its weights, the statistics pass
  /// (forward with hooks, Hessians), the methods (smoothing, GPTQ, RTN), writing, and the
  /// propagation pass. The device executor synchronizes at the end of its passes, so each
  /// phase holds its own device work.
  double load_seconds = 0.0, statistics_seconds = 0.0, methods_seconds = 0.0, write_seconds = 0.0, propagate_seconds = 0.0;
  std::size_t quantized = 0, dense = 0;
  std::vector<method_note> notes;
};

/// What oneshot() did.
struct oneshot_report {
  std::filesystem::path output;
  std::size_t layers = 0, quantized_linears = 0, dense_linears = 0;
  std::size_t calibration_samples = 0, calibration_tokens = 0;
  double calibration_seconds = 0.0, total_seconds = 0.0;
  std::vector<oneshot_layer_report> per_layer;
  std::vector<std::string> warnings;
  std::map<std::string, matrix<float>> weights;  ///< keep_weights only: module -> weight written (fp32)
  /// Quantized Linear -> index in the recipe's modifiers of the modifier that quantized it.
  std::map<std::string, std::size_t> quantized_by;
  std::uint64_t bytes_written = 0;
  std::uint64_t activation_cache_bytes = 0;  ///< hidden states cached in all (memory + spill file)
  std::uint64_t spilled_bytes = 0;           ///< of which in the spill file
  std::size_t spilled_batches = 0;
  std::string executor;                      ///< "cpu", or the device executor's description
  std::uint64_t device_cache_bytes = 0;      ///< device executor: batches kept in device memory
  std::uint64_t pinned_cache_bytes = 0;      ///< device executor: batches kept in pinned host memory
};

namespace detail {

inline constexpr std::array<const char*, 2> oneshot_norms{"input_layernorm", "post_attention_layernorm"};

/// Memory of this process in MB: {resident now, peak resident} from /proc/self/status (Linux);
/// {0, 0} elsewhere.
inline std::pair<double, double> resident_mb() {
  std::pair<double, double> r{0.0, 0.0};
  if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      double kb = 0.0;
      if (std::sscanf(line, "VmRSS: %lf", &kb) == 1) r.first = kb / 1024.0;
      else if (std::sscanf(line, "VmHWM: %lf", &kb) == 1) r.second = kb / 1024.0;
    }
    std::fclose(f);
  }
  return r;
}
/// Prints the resident set after a phase when LLMC_DEBUG_RSS is set (to find what drives the peak).
inline void debug_rss(const std::string& phase) {
  static const bool on = std::getenv("LLMC_DEBUG_RSS") != nullptr;
  if (!on) return;
  const auto [now, peak] = resident_mb();
  std::fprintf(stderr, "[rss] %-44s %8.1f MB (peak %8.1f MB)\n", phase.c_str(), now, peak);
}
/// Hands freed heap pages back to the kernel between layers (glibc keeps them otherwise, and the
/// layer-sized blocks of the next layer then land beside them instead of in them).
inline void trim_heap() noexcept {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

inline scalar_type scalar_of(llmc::dtype d) {
  switch (d) {
    case llmc::dtype::bf16: return scalar_type::bfloat16;
    case llmc::dtype::f16: return scalar_type::float16;
    default: return scalar_type::float32;
  }
}

/// Adds an fp32 tensor to the writer in the checkpoint dtype d (bf16/f16 rounded to nearest even).
inline void add_float_tensor(compressed_checkpoint_writer& w, const std::string& name, std::span<const float> v,
                             std::vector<std::int64_t> shape, llmc::dtype d, bool dense_module = false) {
  auto put = [&](const tensor_ref& ref) {
    if (dense_module) w.add_dense_module(name.substr(0, name.size() - 7), "Linear", ref);
    else w.add_tensor(ref);
  };
  if (d == llmc::dtype::bf16) {
    std::vector<bfloat16> b(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) b[i] = bfloat16(v[i]);
    put(tensor_ref::of<bfloat16>(name, b, std::move(shape)));
  } else if (d == llmc::dtype::f16) {
    std::vector<float16> b(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) b[i] = float16(v[i]);
    put(tensor_ref::of<float16>(name, b, std::move(shape)));
  } else {
    put(tensor_ref::of<float>(name, v, std::move(shape)));
  }
}

/// Static input qparams of a calibrated input from its channel min/max (the static_minmax
/// observer over every calibration token, as rtn.hpp computes them), in the model dtype.
inline activation_qparams static_input_qparams(const quant_args& in, const channel_minmax& mm, scalar_type dt,
                                               const std::string& where) {
  if (mm.channels() == 0)
    LLMC_THROW(config_error, "llmc.pipeline.130",
               where + ": the scheme has static input activations but no calibration range was collected");
  float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
  for (float v : mm.min()) mn = std::min(mn, v);
  for (float v : mm.max()) mx = std::max(mx, v);
  matrix<float> x(1, 2);
  x(0, 0) = mn;
  x(0, 1) = mx;
  activation_observer ao(in, observer_options{});
  ao.observe(x);
  const qparams p = detail::with_model_dtype(dt, [&](auto tag) { return ao.get_qparams<typename decltype(tag)::type>(); });
  activation_qparams r;
  if (in.dynamic == quant_dynamic::local) r.global_scale = p.global_scale;
  else {
    r.scale = p.scale(0, 0);
    if (!in.symmetric && !p.zero_point.empty()) r.zero_point = p.zero_point(0, 0);
  }
  return r;
}

/// A recipe's SmoothQuant mappings (patterns over full names) resolved to one layer's local names.
inline std::vector<llmc::smoothquant_mapping> local_sq_mappings(const std::vector<pipeline::smoothquant_mapping>& ms,
                                                                const std::string& prefix) {
  std::vector<llmc::smoothquant_mapping> out;
  for (const auto& m : ms) {
    llmc::smoothquant_mapping lm;
    for (const char* norm : {"input_layernorm", "post_attention_layernorm"})
      if (pipeline::match(m.smooth_layer, pipeline::module_ref{prefix + norm, {"LlamaRMSNorm", "RMSNorm"}}) != pipeline::match_kind::none)
        lm.smooth = norm;
    for (const char* l : oneshot_linears)
      if (pipeline::matches_any(m.balance_layers, pipeline::module_ref{prefix + l, {"Linear"}})) lm.balance.emplace_back(l);
    if (lm.smooth.empty() || lm.balance.empty())
      LLMC_THROW(config_error, "llmc.pipeline.106",
                 "SmoothQuantModifier mapping [" + pipeline::detail::join(m.balance_layers) + "], " + m.smooth_layer +
                     " selects no norm or no Linear of " + prefix + "; mappings must name a decoder layer's norms and Linears");
    out.push_back(std::move(lm));
  }
  return out;
}


/// The statistics a calibration pass must collect for recipe r (empty: the recipe is data-free).
inline statistic_set recipe_statistics_of(const pipeline::recipe& r) {
  statistic_set s;
  for (const auto& m : r.modifiers) {
    switch (m.kind) {
      case pipeline::modifier_kind::smoothquant: s = s | statistic::channel_minmax; break;
      case pipeline::modifier_kind::awq: s = s | statistic::channel_absmean | statistic::samples; break;
      case pipeline::modifier_kind::gptq: s = s | statistic::hessian; break;
      case pipeline::modifier_kind::quantization: break;
    }
    if (m.quantizes())
      for (const auto& g : m.config_groups)
        if (needs_activation_calibration(g.scheme.input_activations)) s = s | statistic::channel_minmax;
  }
  return s;
}

/// Checks every element of every floating tensor for NaN/Inf, a chunk at a time (a 32000 x 2048
/// embedding is never widened whole), handing each tensor's pages back once it is checked.
/// @throws numeric_error llmc.pipeline.120 naming the tensor and the element.
inline void scan_finite(const model_directory& dir, const std::filesystem::path& model) {
  constexpr std::size_t chunk = std::size_t{1} << 18;
  std::vector<float> buf(chunk);
  for (const auto& name : dir.tensor_names()) {
    const tensor_view v = dir.tensor(name);
    if (!is_floating(v.dtype)) continue;
    const std::size_t n = static_cast<std::size_t>(v.numel());
    const std::size_t es = n == 0 ? 0 : v.bytes.size() / n;
    for (std::size_t at = 0; at < n; at += chunk) {
      const std::size_t len = std::min(chunk, n - at);
      const tensor_view part{v.name, v.dtype, {static_cast<std::int64_t>(len)}, v.bytes.subspan(at * es, len * es)};
      to_float32(part, std::span<float>(buf.data(), len));
      for (std::size_t j = 0; j < len; ++j)
        if (!std::isfinite(buf[j]))
          LLMC_THROW(numeric_error, "llmc.pipeline.120",
                     model.string() + ": tensor \"" + name + "\" holds " + (std::isnan(buf[j]) ? "NaN" : "Inf") +
                         " at element " + std::to_string(at + j) + "; the checkpoint is damaged, nothing was written");
    }
    dir.weights().release(name);
  }
}

/// Where each Linear of each layer goes: the config group (index into oneshot_plan::groups) and
/// through it the quantizing modifier; nullopt = left dense.
struct oneshot_plan {
  std::vector<pipeline::config_group> groups;   ///< the config groups of every quantizing modifier
  std::vector<std::size_t> group_modifier;      ///< groups[g] belongs to recipe.modifiers[group_modifier[g]]
  std::vector<std::array<std::optional<std::size_t>, 7>> linear_group;  ///< [layer][Linear]
  std::vector<std::vector<llmc::awq_mapping>> awq_mappings;  ///< per modifier (AWQ with mappings only): resolved, local names
  std::vector<std::vector<llmc::smoothquant_mapping>> sq_mappings;  ///< per modifier (SmoothQuant with mappings only)
  statistic_set need;
};

/// A recipe's AWQ mappings (patterns over full module names, [LC] AWQMapping) resolved to a decoder
/// layer's local names, checked against every layer of the model before any heavy work: each
/// mapping must select exactly one smooth layer (a norm or a Linear) and at least one balance
/// Linear in every layer, balance Linears must share the smooth layer's output, and a mapping
/// must resolve to the same local names in every layer. The parent AWQ evaluates is the lowest
/// common ancestor of the balance layers, as the reference takes it (spec §6.1): self_attn ->
/// the attention block, mlp (gate/up) -> the gated MLP, a single Linear -> itself.
/// @throws config_error llmc.pipeline.105 naming the mapping and what to change.
inline std::vector<llmc::awq_mapping> resolve_awq_mappings(const std::vector<pipeline::awq_mapping>& ms,
                                                            std::size_t num_layers, const std::string& where) {
  std::vector<llmc::awq_mapping> out;
  const std::string valid = "the modules of a decoder layer are input_layernorm, post_attention_layernorm and the Linears "
                            "self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj (e.g. smooth_layer: \"re:.*input_layernorm$\", "
                            "balance_layers: [\"re:.*q_proj$\", \"re:.*k_proj$\", \"re:.*v_proj$\"])";
  for (std::size_t mi = 0; mi < ms.size(); ++mi) {
    const auto& m = ms[mi];
    const std::string what = where + ": AWQ mapping " + std::to_string(mi) + " {smooth_layer: " + m.smooth_layer +
                             ", balance_layers: [" + pipeline::detail::join(m.balance_layers) + "]}";
    if (m.smooth_layer.empty() || m.balance_layers.empty())
      LLMC_THROW(config_error, "llmc.pipeline.105", what + " needs a smooth_layer and at least one balance layer");
    std::optional<llmc::awq_mapping> first;
    for (std::size_t i = 0; i < num_layers; ++i) {
      const std::string prefix = layer_prefix(i);
      std::vector<std::string> smooth;
      for (const char* n : oneshot_norms)
        if (pipeline::match(m.smooth_layer, pipeline::module_ref{prefix + n, {"LlamaRMSNorm", "RMSNorm"}}) != pipeline::match_kind::none)
          smooth.emplace_back(n);
      for (const char* l : oneshot_linears)
        if (pipeline::match(m.smooth_layer, pipeline::module_ref{prefix + l, {"Linear"}}) != pipeline::match_kind::none)
          smooth.emplace_back(l);
      llmc::awq_mapping lm;
      for (const char* l : oneshot_linears)
        if (pipeline::matches_any(m.balance_layers, pipeline::module_ref{prefix + l, {"Linear"}})) lm.balance.emplace_back(l);
      if (smooth.size() != 1)
        LLMC_THROW(config_error, "llmc.pipeline.105",
                   what + " selects " + (smooth.empty() ? std::string("no smooth layer") : std::to_string(smooth.size()) + " smooth layers (" +
                                                                                                 pipeline::detail::join(smooth) + ")") +
                       " in " + prefix.substr(0, prefix.size() - 1) + "; a mapping's smooth_layer must name one module per layer: " + valid);
      if (lm.balance.empty())
        LLMC_THROW(config_error, "llmc.pipeline.105",
                   what + " selects no balance Linear in " + prefix.substr(0, prefix.size() - 1) + "; " + valid);
      lm.smooth = smooth.front();
      for (const auto& b : lm.balance) {
        if (b == lm.smooth)
          LLMC_THROW(config_error, "llmc.pipeline.105", what + ": " + b + " is both the smooth layer and a balance layer");
        if (std::string(oneshot_inputs[linear_index(b)]) != oneshot_inputs[linear_index(lm.balance.front())])
          LLMC_THROW(config_error, "llmc.pipeline.105",
                     what + ": balance layers " + lm.balance.front() + " and " + b +
                         " read different inputs; the balance layers of a mapping must all read the smooth layer's output");
      }
      // What feeds the balance input: the norm before attention / the MLP, v_proj for o_proj, up_proj for down_proj.
      static const std::map<std::string, std::vector<std::string>> feeds{
          {"attn_in", {"input_layernorm"}}, {"o_in", {"self_attn.v_proj"}}, {"mlp_in", {"post_attention_layernorm"}}, {"down_in", {"mlp.up_proj"}}};
      const auto& f = feeds.at(oneshot_inputs[linear_index(lm.balance.front())]);
      if (std::find(f.begin(), f.end(), lm.smooth) == f.end())
        LLMC_THROW(config_error, "llmc.pipeline.105",
                   what + ": the output of " + lm.smooth + " is not the input of " + lm.balance.front() + " (that is " + f.front() +
                       "); pair each smooth layer with the Linears it feeds");
      if (lm.balance.size() == 1) {
        lm.parent = lm.balance.front();
        lm.kind = parent_kind::linear_group;
      } else if (lm.balance.front().rfind("self_attn.", 0) == 0) {
        lm.parent = "self_attn";
        lm.kind = parent_kind::attention;
      } else {
        lm.parent = "mlp";
        lm.kind = parent_kind::gated_mlp;
        lm.mlp_down = "mlp.down_proj";
      }
      if (!first) first = lm;
      else if (first->smooth != lm.smooth || first->balance != lm.balance)
        LLMC_THROW(config_error, "llmc.pipeline.105",
                   what + " selects " + lm.smooth + " -> [" + pipeline::detail::join(lm.balance) + "] in " + prefix.substr(0, prefix.size() - 1) +
                       " but " + first->smooth + " -> [" + pipeline::detail::join(first->balance) +
                       "] in model.layers.0; use patterns that select the same modules in every layer");
    }
    if (first) out.push_back(*first);
  }
  return out;
}

/// Builds the plan of recipe r for a model of spec's shape and runs every check that needs no
/// weights. @throws config_error llmc.pipeline.101 (a Linear claimed by two quantizing
/// modifiers), 102, 104, 105, 106, 108 (kv_cache_scheme), 110 (see oneshot()).
inline oneshot_plan make_plan(const pipeline::recipe& r, const decoder_spec& spec, bool has_dataset, std::vector<std::string>& warnings,
                              bool has_lm_head) {
  pipeline::validate_recipe(r);
  oneshot_plan p;
  for (std::size_t mi = 0; mi < r.modifiers.size(); ++mi) {
    const pipeline::modifier& m = r.modifiers[mi];
    // Refused rather than dropped: a checkpoint without k_scale / v_scale would silently run vLLM's
    // KV cache unquantized (or with scale 1.0 under kv_cache_dtype="fp8").
    if (m.kv_cache_scheme)
      LLMC_THROW(config_error, "llmc.pipeline.108",
                 r.origin + ": " + std::string(pipeline::to_string(m.kind)) +
                     " has a kv_cache_scheme; llmc does not calibrate KV-cache scales (k_scale / v_scale) yet: remove "
                     "kv_cache_scheme from the recipe (and run vLLM without kv_cache_dtype=\"fp8\")");
    if (!m.quantizes()) continue;
    for (pipeline::config_group cg : m.config_groups) {
      if (m.kind == pipeline::modifier_kind::gptq && cg.scheme.weights.enabled()) {
        // The actorder GPTQ uses is the one the checkpoint records (the reference writes it back into the scheme).
        gptq<runtime_scheme> g;
        g.actorder = m.actorder;
        cg.scheme.weights.actorder = g.resolve_actorder(cg.scheme.weights);
      }
      p.groups.push_back(std::move(cg));
      p.group_modifier.push_back(mi);
    }
  }
  if (p.groups.empty())
    LLMC_THROW(config_error, "llmc.pipeline.102",
               r.origin + ": the recipe quantizes nothing; add a QuantizationModifier or GPTQModifier with a scheme or config_groups");
  p.need = recipe_statistics_of(r);
  if (!p.need.empty() && !has_dataset)
    LLMC_THROW(config_error, "llmc.pipeline.104",
               r.origin + ": the recipe needs calibration data (SmoothQuant, AWQ, GPTQ or static activations); pass a dataset file");

  p.linear_group.resize(spec.num_layers);
  std::vector<std::string> misfits;
  const std::array<std::pair<std::size_t, std::size_t>, 7> shapes{
      std::pair{spec.q_dim(), spec.hidden_size},  {spec.kv_dim(), spec.hidden_size},
      {spec.kv_dim(), spec.hidden_size},          {spec.hidden_size, spec.q_dim()},
      {spec.intermediate_size, spec.hidden_size}, {spec.intermediate_size, spec.hidden_size},
      {spec.hidden_size, spec.intermediate_size}};
  for (std::size_t i = 0; i < spec.num_layers; ++i)
    for (std::size_t k = 0; k < 7; ++k) {
      const std::string name = layer_prefix(i) + oneshot_linears[k];
      const pipeline::module_ref ref{name, {"Linear"}};
      std::optional<std::size_t> chosen;
      std::size_t offset = 0;
      for (std::size_t mi = 0; mi < r.modifiers.size(); ++mi) {
        const pipeline::modifier& m = r.modifiers[mi];
        if (!m.quantizes()) continue;
        const std::size_t n = m.config_groups.size();
        std::vector<pipeline::config_group> own(p.groups.begin() + static_cast<std::ptrdiff_t>(offset),
                                                p.groups.begin() + static_cast<std::ptrdiff_t>(offset + n));
        auto g = pipeline::resolve_config_group(own, m.ignore, ref);
        if (g && !own[*g].scheme.weights.enabled()) g.reset();
        if (g) {
          if (chosen)
            LLMC_THROW(config_error, "llmc.pipeline.101",
                       r.origin + ": " + name + " is quantized by both " + std::string(pipeline::to_string(r.modifiers[p.group_modifier[*chosen]].kind)) +
                           " (modifier " + std::to_string(p.group_modifier[*chosen]) + ") and " + std::string(pipeline::to_string(m.kind)) +
                           " (modifier " + std::to_string(mi) + "); give each Linear to one quantizing modifier (narrow `targets` "
                           "or add it to the other's `ignore`)");
          chosen = offset + *g;
        }
        offset += n;
      }
      p.linear_group[i][k] = chosen;
      if (!chosen) continue;
      if (r.modifiers[p.group_modifier[*chosen]].bypass_divisibility_checks) continue;
      const auto [rows, cols] = shapes[k];
      const std::string why = check_shape_fits(p.groups[*chosen].scheme.weights, rows, cols);
      if (!why.empty())
        misfits.push_back(name + " [" + std::to_string(rows) + ", " + std::to_string(cols) + "] (" + p.groups[*chosen].name + "): " + why);
    }
  if (!misfits.empty()) {
    std::string list;
    for (const auto& m : misfits) list += "\n  " + m;
    LLMC_THROW(config_error, "llmc.pipeline.110",
               r.origin + ": the scheme does not fit " + std::to_string(misfits.size()) + " Linear(s):" + list +
                   "\nadd them to `ignore`, or give them a config group of their own with a channel-wise strategy "
                   "(e.g. targets: [\"re:.*down_proj$\"], strategy: channel)");
  }
  p.awq_mappings.resize(r.modifiers.size());
  p.sq_mappings.resize(r.modifiers.size());
  for (std::size_t mi = 0; mi < r.modifiers.size(); ++mi) {
    const pipeline::modifier& m = r.modifiers[mi];
    if (m.kind == pipeline::modifier_kind::awq && !m.awq_mappings.empty())
      p.awq_mappings[mi] = resolve_awq_mappings(m.awq_mappings, spec.num_layers, r.origin);
    if (m.kind == pipeline::modifier_kind::smoothquant && !m.sq_mappings.empty())
      for (std::size_t i = 0; i < spec.num_layers; ++i) {
        auto local = local_sq_mappings(m.sq_mappings, layer_prefix(i));  // throws llmc.pipeline.106
        if (i == 0) p.sq_mappings[mi] = std::move(local);
      }
    if (m.quantizes() && has_lm_head && pipeline::matches_any(m.targets, pipeline::module_ref{"lm_head", {"Linear"}}) &&
        !pipeline::matches_any(m.ignore, pipeline::module_ref{"lm_head", {"Linear"}}))
      warnings.push_back("lm_head matches the targets of " + std::string(pipeline::to_string(m.kind)) +
                         " but is kept dense (llmc does not quantize lm_head)");
  }
  return p;
}

/// The runtime modifiers of r applied to one layer, in recipe order. Each quantizing modifier sees
/// only its own Linears (the others' weight args are switched off while it runs); GPTQ runs one
/// Linear input at a time and frees that input's Hessian once no later modifier needs it, so one
/// Hessian factor at a time exists beside the statistics still to be used.
inline void apply_runtime_modifiers(const pipeline::recipe& r, const oneshot_plan& p, std::size_t layer, layer_context& ctx,
                                    const runtime_gptq_fn& run_gptq = {}) {
  const auto& lg = p.linear_group[layer];
  auto args_for = [&](std::size_t k, std::optional<std::size_t> only_modifier) -> quant_args {
    if (!lg[k]) return no_quantization;
    if (only_modifier && p.group_modifier[*lg[k]] != *only_modifier) return no_quantization;
    return p.groups[*lg[k]].scheme.weights;
  };
  auto set_args = [&](std::optional<std::size_t> only_modifier) {
    for (std::size_t k = 0; k < 7; ++k) ctx.linears[k].weight_args = args_for(k, only_modifier);
  };
  // The scheme of modifier mi (a quantizer), or for a transform the one of the quantizer after it.
  auto next_scheme = [&](std::size_t mi) {
    for (std::size_t g = 0; g < p.groups.size(); ++g)
      if (p.group_modifier[g] >= mi) return p.groups[g].scheme;
    return p.groups.front().scheme;
  };
  // Last GPTQ modifier quantizing a Linear of each input, after which its Hessian can go.
  std::map<std::string, std::size_t> last_gptq;
  for (std::size_t k = 0; k < 7; ++k)
    if (lg[k] && r.modifiers[p.group_modifier[*lg[k]]].kind == pipeline::modifier_kind::gptq) {
      std::size_t& v = last_gptq[oneshot_inputs[k]];
      v = std::max(v, p.group_modifier[*lg[k]]);
    }
  for (std::size_t mi = 0; mi < r.modifiers.size(); ++mi) {
    const pipeline::modifier& m = r.modifiers[mi];
    switch (m.kind) {
      case pipeline::modifier_kind::smoothquant: {
        set_args(std::nullopt);
        smoothquant sq;
        sq.smoothing_strength = m.smoothing_strength;
        if (!m.sq_mappings.empty()) sq.mappings = local_sq_mappings(m.sq_mappings, ctx.prefix);
        sq.apply(ctx);
        break;
      }
      case pipeline::modifier_kind::awq: {
        set_args(std::nullopt);
        awq<runtime_scheme> aw;
        aw.scheme = next_scheme(mi);
        aw.n_grid = m.n_grid;
        aw.duo = m.duo_scaling == pipeline::modifier::duo::on    ? duo_scaling::on
                 : m.duo_scaling == pipeline::modifier::duo::off ? duo_scaling::off
                                                                 : duo_scaling::both;
        aw.clip = m.awq_clip_search;
        if (!m.awq_mappings.empty()) aw.mappings = p.awq_mappings[mi];
        aw.apply(ctx);
        break;
      }
      case pipeline::modifier_kind::gptq: {
        gptq<runtime_scheme> g;
        g.scheme = next_scheme(mi);
        g.block_size = static_cast<std::size_t>(std::max(1, m.block_size));
        g.dampening_frac = m.dampening_frac;
        g.actorder = m.actorder;
        for (const char* in : {"attn_in", "o_in", "mlp_in", "down_in"}) {
          bool any = false;
          for (std::size_t k = 0; k < 7; ++k) {
            const bool mine = std::string_view(oneshot_inputs[k]) == in;
            ctx.linears[k].weight_args = mine ? args_for(k, mi) : no_quantization;
            any = any || (mine && ctx.linears[k].weight_args->enabled());
          }
          if (!any) continue;
          if (run_gptq) run_gptq(g, ctx);
          else g.apply(ctx);
          if (auto it = last_gptq.find(in); it != last_gptq.end() && it->second == mi) ctx.inputs[in].hessian = hessian_accumulator{};
        }
        set_args(std::nullopt);
        break;
      }
      case pipeline::modifier_kind::quantization: {
        set_args(mi);
        rtn<runtime_scheme> q;
        q.scheme = next_scheme(mi);
        q.scheme.input_activations = no_quantization;  // static inputs are calibrated per group when written
        q.apply(ctx);
        set_args(std::nullopt);
        break;
      }
    }
  }
}

/// The CPU executor (executor.hpp's contract): batches in an activation_cache that spills to a
/// file past its limit, layers run by run_decoder_layer, GPTQ by the host methods.
class host_layer_executor {
 public:
  host_layer_executor(std::uint64_t limit, std::filesystem::path spill_dir) : cache_(limit, std::move(spill_dir)) {}

  void push(hidden_batch hb) {
    real_tokens_ += hb.real_tokens();
    cache_.push(std::move(hb));
  }

  void collect(const decoder_spec& spec, const decoder_layer_weights& w, statistic_set need, layer_context& ctx) {
    const std::string& prefix = ctx.prefix;
    if (need.contains(statistic::samples)) reserve_samples(w, ctx, real_tokens_);
    forward_hooks hooks;
    hooks.inputs_only = true;  // the scratch copy's output is dropped: down_proj's product is not needed
    hooks.on_linear_input = [&](const linear_input& li) {
      const std::size_t k = linear_index(std::string_view(li.linear.name).substr(prefix.size()));
      if (k >= 7 || !owns_input_statistics(k)) return;
      feed_statistics(ctx.inputs[oneshot_inputs[k]], need, li.x, li.mask, li.batch);
    };
    cache_.for_each(
        [&](const hidden_batch& hb) {
          hidden_batch scratch = hb;  // the outputs of the unmodified layer are not needed
          run_decoder_layer(spec, w, scratch, hooks);
        },
        false);
  }

  [[nodiscard]] runtime_gptq_fn gptq_runner() { return {}; }

  void propagate(const decoder_spec& spec, const decoder_layer_weights& w) {
    cache_.for_each([&](hidden_batch& hb) { run_decoder_layer(spec, w, hb); }, true);
  }

  void end_layer() {}
  void clear() { cache_.clear(); }
  [[nodiscard]] executor_summary summary() const {
    executor_summary s;
    s.spilled_bytes = cache_.spilled_bytes();
    s.spilled_batches = cache_.spilled_batches();
    return s;
  }

 private:
  activation_cache cache_;
  std::uint64_t real_tokens_ = 0;  ///< calibration tokens pushed (padding excluded)
};

/// The apply step of a runtime recipe (apply_runtime_modifiers with the executor's GPTQ).
inline auto runtime_recipe_apply(const pipeline::recipe& r) {
  return [&r](layer_context& ctx, std::size_t layer, const oneshot_plan& plan, const runtime_gptq_fn& run_gptq) {
    apply_runtime_modifiers(r, plan, layer, ctx, run_gptq);
  };
}

/// The host executor run_oneshot makes for args (its spill file beside the output by default).
inline auto host_executor_for(const oneshot_args& args) {
  return [&args](const decoder_spec&, const std::filesystem::path& out_parent) {
    return host_layer_executor(args.activation_cache_limit, args.spill_dir.empty() ? out_parent : args.spill_dir);
  };
}

/// The pipeline itself, for a plan, a function that applies the recipe's methods to one layer
/// (apply(layer_context&, layer index, plan, runtime_gptq_fn); on entry every Linear's weight_args
/// are its config group's) and an executor (host_layer_executor's contract). `make_executor`
/// (decoder_spec, output parent folder) -> executor is called once the cheap checks have passed.
template <class Apply, class MakeExecutor>
oneshot_report run_oneshot(const oneshot_args& args, const pipeline::recipe& r, std::optional<statistic_set> extra_need,
                           Apply&& apply, MakeExecutor&& make_executor) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  oneshot_report rep;

  // ---- checks that need no weights ----------------------------------------------------------------
  if (args.output_dir.empty())
    LLMC_THROW(config_error, "llmc.pipeline.103", "oneshot: output_dir is empty; name the folder the compressed model goes to");
  pipeline::validate_recipe(r);
  const model_directory dir = model_directory::open(args.model);
  const decoder_spec spec = decoder_spec::from_config(dir.config());
  rep.layers = spec.num_layers;
  oneshot_plan plan = make_plan(r, spec, !args.dataset.empty(), rep.warnings, dir.contains("lm_head.weight"));
  if (extra_need) {
    plan.need = plan.need | *extra_need;
    if (!plan.need.empty() && args.dataset.empty())
      LLMC_THROW(config_error, "llmc.pipeline.104",
                 r.origin + ": the recipe needs calibration data (SmoothQuant, AWQ, GPTQ or static activations); pass a dataset file");
  }
  const statistic_set need = plan.need;
  const bool needs_data = !need.empty();
  std::string existing_recipe;
  if (args.save_recipe && std::filesystem::is_regular_file(args.model / "recipe.yaml")) {
    std::ifstream in(args.model / "recipe.yaml", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    existing_recipe = ss.str();
  }
  const std::string saved_recipe = args.save_recipe ? pipeline::recipe_yaml(r, existing_recipe) : std::string();
  // ---- where the batches live and the layers run (a missing GPU fails here, before any work) ------
  const std::filesystem::path out_parent =
      std::filesystem::absolute(args.output_dir).lexically_normal().parent_path();
  auto exec = make_executor(static_cast<const decoder_spec&>(spec), out_parent);

  // ---- the weights: NaN/Inf anywhere fails before anything is written --------------------------
  scan_finite(dir, args.model);
  debug_rss("after the NaN/Inf scan");

  // ---- the output (a temporary folder until finish()) ------------------------------------------
  ct_writer_options wo;
  wo.replace = args.replace;
  auto writer = compressed_checkpoint_writer::for_model(dir, args.output_dir, wo);
  std::vector<std::size_t> wgroup;
  for (const auto& g : plan.groups) wgroup.push_back(writer->add_config_group(g.scheme, g.targets));

  // ---- calibration: embed the batches once -------------------------------------------------------
  if (needs_data) {
    const auto tc = clock::now();
    calibration_options co;
    co.num_calibration_samples = args.num_calibration_samples;
    co.max_seq_length = args.max_seq_length;
    co.order = args.shuffle_calibration_samples ? sample_order::shuffled : sample_order::file_order;
    co.seed = args.seed;
    co.batch_size = args.batch_size;
    co.concatenate = args.concatenate_data;
    co.on_warning = [&](const dataset_warning& w) { rep.warnings.push_back(w.id + ": " + w.message); };
    dataset_source src;
    src.path = args.dataset;
    src.format = args.data_format;
    src.text_column = args.text_column;
    const calibration_set set = build_calibration_set(src, args.model, co);
    // Rows are widened from the mapped embedding one token at a time: the fp32 table is never built.
    const tensor_view embed = llmc::detail::model_tensor(
        dir, "model.embed_tokens.weight", {static_cast<std::int64_t>(spec.vocab_size), static_cast<std::int64_t>(spec.hidden_size)});
    const std::size_t row_bytes = embed.bytes.size() / spec.vocab_size;
    for (const auto& b : set.batches) {
      hidden_batch hb;
      hb.batch = b.rows;
      hb.seq = b.seq_len;
      hb.mask = b.attention_mask;
      hb.states = matrix<float>(b.rows * b.seq_len, spec.hidden_size);
      for (std::size_t t = 0; t < b.input_ids.size(); ++t) {
        const auto id = b.input_ids[t];
        if (id < 0 || static_cast<std::size_t>(id) >= spec.vocab_size)
          LLMC_THROW(shape_error, "llmc.pipeline.107",
                     args.dataset.string() + ": token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                         std::to_string(spec.vocab_size) + "; the tokenizer does not belong to the model");
        const tensor_view row{embed.name, embed.dtype, {static_cast<std::int64_t>(spec.hidden_size)},
                              embed.bytes.subspan(static_cast<std::size_t>(id) * row_bytes, row_bytes)};
        to_float32(row, std::span<float>(&hb.states(t, 0), spec.hidden_size));
      }
      rep.activation_cache_bytes += hb.states.rows() * hb.states.cols() * sizeof(float);
      exec.push(std::move(hb));
    }
    dir.weights().release("model.embed_tokens.weight");
    rep.calibration_samples = set.num_samples();
    rep.calibration_tokens = set.real_tokens;
    rep.calibration_seconds = since(tc);
    const executor_summary es = exec.summary();
    rep.spilled_bytes = es.spilled_bytes;
    rep.spilled_batches = es.spilled_batches;
  }
  debug_rss("after embedding the calibration batches");

  // ---- the layers ----------------------------------------------------------------------------------
  std::set<std::string> consumed;
  const progress_tracker progress(args.progress, "layer", spec.num_layers);
  progress.update(0);
  for (std::size_t i = 0; i < spec.num_layers; ++i) {
    const auto tl = clock::now();
    const std::string prefix = layer_prefix(i);
    oneshot_layer_report lr;
    lr.index = i;
    decoder_layer_weights w = load_decoder_layer(dir, spec, i);
    dir.weights().release_all();  // the layer now lives in fp32 copies: drop the mapped pages
    debug_rss(prefix + " loaded");
    lr.load_seconds = since(tl);
    layer_context ctx;
    // Without calibration nothing propagates: the quantized tensors are all that is written.
    ctx.keep_float_weights = needs_data || args.keep_weights;
    ctx.prefix = prefix;
    if (needs_data) {
      const auto ts = clock::now();
      for (const char* in : oneshot_inputs) ctx.inputs[in];
      exec.collect(spec, w, need, ctx);
      debug_rss(prefix + " statistics");
      lr.statistics_seconds = since(ts);
    }
    std::array<llmc::dtype, 7> dtypes{};
    for (std::size_t k = 0; k < 7; ++k) {
      linear_weights& src = *w.linears()[k];
      dtypes[k] = dir.tensor(src.name + ".weight").dtype;
      linear_weight lw;
      lw.name = oneshot_linears[k];
      lw.input = oneshot_inputs[k];
      lw.weight = std::move(src.weight);
      lw.bias = src.bias;
      lw.dtype = scalar_of(dtypes[k]);
      const auto& g = plan.linear_group[i][k];
      lw.weight_args = g ? plan.groups[*g].scheme.weights : no_quantization;
      ctx.linears.push_back(std::move(lw));
    }
    const llmc::dtype norm_dtype = dir.tensor(prefix + "input_layernorm.weight").dtype;
    ctx.norms.push_back({"input_layernorm", w.input_layernorm, {}, scalar_of(norm_dtype)});
    ctx.norms.push_back({"post_attention_layernorm", w.post_attention_layernorm, {}, scalar_of(norm_dtype)});

    const auto tm = clock::now();
    apply(ctx, i, static_cast<const oneshot_plan&>(plan), exec.gptq_runner());
    lr.methods_seconds = since(tm);
    for (auto& [name, st] : ctx.inputs) {  // what the writer and the propagation still need: the min/max
      st.hessian = hessian_accumulator{};
      st.samples = matrix<float>();
    }
    debug_rss(prefix + " modifiers");

    // Write the layer.
    const auto tw = clock::now();
    for (std::size_t k = 0; k < 7; ++k) {
      linear_weight& lw = ctx.linears[k];
      const std::string full = prefix + lw.name;
      const auto& g = plan.linear_group[i][k];
      consumed.insert(full + ".weight");
      if (g && lw.quantized) {
        const runtime_scheme& s = plan.groups[*g].scheme;
        activation_qparams aq;
        if (needs_activation_calibration(s.input_activations))
          aq = static_input_qparams(s.input_activations, ctx.inputs[lw.input].minmax, lw.dtype, full);
        writer->add_quantized(full, wgroup[*g], *lw.quantized, aq);
        lw.quantized.reset();
        rep.quantized_by[full] = plan.group_modifier[*g];
        ++lr.quantized;
      } else {
        if (g) LLMC_THROW(config_error, "llmc.pipeline.131", full + ": the recipe targets it but no modifier quantized it");
        add_float_tensor(*writer, full + ".weight", lw.weight.span(),
                         {static_cast<std::int64_t>(lw.out_features()), static_cast<std::int64_t>(lw.in_features())}, dtypes[k],
                         true);
        ++lr.dense;
      }
      if (!lw.bias.empty()) {
        consumed.insert(full + ".bias");
        writer->add_tensor(tensor_ref::of(dir.tensor(full + ".bias")));
        dir.weights().release(full + ".bias");
      }
      if (args.keep_weights) rep.weights[full] = lw.weight;
    }
    for (const norm_weight& n : ctx.norms) {
      consumed.insert(prefix + n.name + ".weight");
      add_float_tensor(*writer, prefix + n.name + ".weight", n.weight, {static_cast<std::int64_t>(n.weight.size())}, norm_dtype);
    }
    rep.quantized_linears += lr.quantized;
    rep.dense_linears += lr.dense;
    debug_rss(prefix + " written");
    lr.write_seconds = since(tw);

    // The next layer's inputs come from this layer as it was written, computed in place batch by batch.
    if (needs_data && i + 1 < spec.num_layers) {
      for (std::size_t k = 0; k < 7; ++k) w.linears()[k]->weight = std::move(ctx.linears[k].weight);
      w.input_layernorm = ctx.norms[0].weight;
      w.post_attention_layernorm = ctx.norms[1].weight;
      ctx.linears.clear();
      ctx.inputs.clear();
      const auto tp = clock::now();
      exec.propagate(spec, w);
      debug_rss(prefix + " propagated");
      lr.propagate_seconds = since(tp);
    }
    lr.notes = std::move(ctx.notes);
    lr.seconds = since(tl);
    rep.per_layer.push_back(std::move(lr));
    progress.update(i + 1, prefix.substr(0, prefix.size() - 1));
    {
      layer_context drop = std::move(ctx);
      decoder_layer_weights drop_w = std::move(w);
    }
    exec.end_layer();
    trim_heap();
  }
  exec.clear();
  trim_heap();

  // ---- everything else passes through ------------------------------------------------------------
  for (const auto& name : dir.tensor_names()) {
    if (consumed.count(name)) continue;
    const tensor_view v = dir.tensor(name);
    if (name == "lm_head.weight") writer->add_dense_module("lm_head", "Linear", tensor_ref::of(v));
    else writer->add_tensor(tensor_ref::of(v));
    dir.weights().release(name);
  }
  if (!saved_recipe.empty()) writer->write_file("recipe.yaml", saved_recipe);
  debug_rss("passthrough tensors written");
  {
    const executor_summary es = exec.summary();
    rep.executor = es.name;
    rep.device_cache_bytes = es.device_cache_bytes;
    rep.pinned_cache_bytes = es.pinned_cache_bytes;
  }
  const ct_write_result res = writer->finish();
  debug_rss("finished");
  rep.output = res.path;
  rep.bytes_written = res.total_size;
  rep.total_seconds = since(t_start);
  return rep;
}

// ---- compile-time recipes --------------------------------------------------------------------------

/// The modifier a compile-time method stands for, for the plan, the checks and recipe.yaml (the
/// methods themselves are what run). Specialized for gptq, rtn, awq, smoothquant and recipe.
template <class M>
struct modifier_of {
  static_assert(sizeof(M) == 0,
                "llmc::oneshot: this method has no LLM Compressor modifier (supported: gptq<S>, rtn<S>, awq<S>, smoothquant, "
                "and recipe<...> of them)");
};

inline std::vector<std::string> local_patterns(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) {
    std::string esc;
    for (char c : n) esc += c == '.' ? std::string("\\.") : std::string(1, c);
    out.push_back("re:.*\\." + esc + "$");
  }
  return out;
}

inline pipeline::modifier quantizing_modifier(pipeline::modifier_kind kind, const runtime_scheme& s, const std::vector<std::string>& ignore) {
  pipeline::modifier m;
  m.kind = kind;
  m.targets = {"Linear"};
  m.ignore = ignore;
  m.config_groups.push_back({"group_0", {"Linear"}, s});
  return m;
}

template <quantization_scheme S>
struct modifier_of<gptq<S>> {
  static void add(const gptq<S>& g, std::vector<pipeline::modifier>& out, const std::vector<std::string>& ignore) {
    pipeline::modifier m = quantizing_modifier(pipeline::modifier_kind::gptq, runtime_scheme::from(g.scheme), ignore);
    m.block_size = static_cast<int>(g.block_size);
    m.dampening_frac = g.dampening_frac;
    m.actorder = g.actorder;
    m.actorder_given = g.actorder.has_value();
    out.push_back(std::move(m));
  }
};
template <quantization_scheme S>
struct modifier_of<rtn<S>> {
  static void add(const rtn<S>& q, std::vector<pipeline::modifier>& out, const std::vector<std::string>& ignore) {
    out.push_back(quantizing_modifier(pipeline::modifier_kind::quantization, runtime_scheme::from(q.scheme), ignore));
  }
};
template <quantization_scheme S>
struct modifier_of<awq<S>> {
  static void add(const awq<S>& a, std::vector<pipeline::modifier>& out, const std::vector<std::string>&) {
    pipeline::modifier m;
    m.kind = pipeline::modifier_kind::awq;
    m.n_grid = a.n_grid;
    m.duo_scaling = a.duo == duo_scaling::on ? pipeline::modifier::duo::on
                    : a.duo == duo_scaling::off ? pipeline::modifier::duo::off
                                                : pipeline::modifier::duo::both;
    m.awq_clip_search = a.clip;
    const auto defaults = llama_awq_mappings();
    bool same = a.mappings.size() == defaults.size();
    for (std::size_t i = 0; same && i < defaults.size(); ++i)
      same = a.mappings[i].smooth == defaults[i].smooth && a.mappings[i].balance == defaults[i].balance;
    if (!same)
      for (const auto& mp : a.mappings) m.awq_mappings.push_back({local_patterns({mp.smooth}).front(), local_patterns(mp.balance)});
    out.push_back(std::move(m));
  }
};
template <>
struct modifier_of<smoothquant> {
  static void add(const smoothquant& s, std::vector<pipeline::modifier>& out, const std::vector<std::string>&) {
    pipeline::modifier m;
    m.kind = pipeline::modifier_kind::smoothquant;
    m.smoothing_strength = s.smoothing_strength;
    const auto defaults = llama_smoothquant_mappings();
    bool same = s.mappings.size() == defaults.size();
    for (std::size_t i = 0; same && i < defaults.size(); ++i)
      same = s.mappings[i].smooth == defaults[i].smooth && s.mappings[i].balance == defaults[i].balance;
    if (!same)
      for (const auto& mp : s.mappings) m.sq_mappings.push_back({local_patterns(mp.balance), local_patterns({mp.smooth}).front()});
    out.push_back(std::move(m));
  }
};
template <class... Ms>
struct modifier_of<llmc::recipe<Ms...>> {
  static void add(const llmc::recipe<Ms...>& r, std::vector<pipeline::modifier>& out, const std::vector<std::string>& ignore) {
    std::apply([&](const Ms&... m) { (modifier_of<Ms>::add(m, out, ignore), ...); }, r.methods);
  }
};

}  // namespace detail

/// The statistics a calibration pass must collect for recipe r (empty: the recipe is data-free).
inline statistic_set recipe_statistics(const pipeline::recipe& r) { return detail::recipe_statistics_of(r); }

/// Runs recipe r on args.model and writes the compressed checkpoint to args.output_dir.
/// @throws config_error llmc.pipeline.101 (a Linear selected by two quantizing modifiers), 102
///         (nothing quantized), 103 (no output_dir), 104 (calibration data needed but no dataset),
///         105 (AWQ mappings that do not fit the model: the mapping is named), 106 (SmoothQuant
///         mappings), 108 (a kv_cache_scheme: not calibrated yet), 110 (a scheme that does not fit
///         some Linears: they are listed), 130 (static
///         activations not calibrated); numeric_error llmc.pipeline.120 (NaN/Inf weight); io_error
///         llmc.pipeline.140 (spill file); the errors of model_directory::open,
///         decoder_spec::from_config (an unsupported architecture), the dataset, the methods and
///         the writer.
inline oneshot_report oneshot(const oneshot_args& args, const pipeline::recipe& r) {
  return detail::run_oneshot(args, r, std::nullopt, detail::runtime_recipe_apply(r), detail::host_executor_for(args));
}

/// oneshot() with another executor (executor.hpp): the factory is called once the cheap checks
/// have passed (the CLI's `--device cuda` passes the CUDA executor built by its nvcc unit).
/// args.activation_cache_limit and spill_dir belong to the host executor and are not used.
inline oneshot_report oneshot(const oneshot_args& args, const pipeline::recipe& r, const executor_factory& make) {
  return detail::run_oneshot(args, r, std::nullopt, detail::runtime_recipe_apply(r),
                             [&](const decoder_spec& spec, const std::filesystem::path&) { return detail::executor_handle(make(spec)); });
}

/// A recipe composed at compile time (method/recipe.hpp: recipe<smoothquant, gptq<presets::W8A8>>,
/// or one quantizing method), run through the same pipeline: its methods are applied to each
/// layer as they are, with their compile-time schemes; every quantizing method targets Linear
/// minus `ignore` (so a recipe holds one quantizing method, as two would claim the same Linears:
/// llmc.pipeline.101). recipe.yaml records the equivalent LLM Compressor recipe.
template <class R>
  requires complete_recipe<R>
oneshot_report oneshot(const oneshot_args& args, const R& r, const std::vector<std::string>& ignore = {"lm_head"}) {
  pipeline::recipe shadow;
  shadow.origin = "compile-time recipe";
  detail::modifier_of<R>::add(r, shadow.modifiers, ignore);
  return detail::run_oneshot(
      args, shadow, statistic_set(R::statistics),
      [&](layer_context& ctx, std::size_t, const detail::oneshot_plan&, const detail::runtime_gptq_fn&) { apply_recipe(r, ctx); },
      detail::host_executor_for(args));
}

}  // namespace llmc
