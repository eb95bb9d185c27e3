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
// Peak memory is one layer plus the activation cache. A data-free recipe skips calibration.
// Invariants: every check that can fail without running the model (recipe, architecture, a
// scheme that does not fit a Linear's shape, NaN/Inf weights, the output folder) runs before any
// heavy work; the output is written in a temporary folder committed only by finish(), so a
// failure leaves nothing at output_dir. Non-layer tensors (embeddings, final norm) pass through
// unchanged, lm_head is written dense (the reference ignores it in every example recipe).
// Departures: at most one quantizing modifier per recipe (llmc.pipeline.101); the propagation pass
// uses the quantized weights but full-precision activations.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/core/progress.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/method/awq.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/rtn.hpp"
#include "llmc/method/smoothquant.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/float16.hpp"
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
};

/// What happened to one decoder layer.
struct oneshot_layer_report {
  std::size_t index = 0;
  double seconds = 0.0;
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
  std::uint64_t bytes_written = 0;
};

namespace detail {

inline constexpr std::array<const char*, 7> oneshot_linears{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                            "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                                            "mlp.down_proj"};
/// The distinct input of each Linear: q/k/v read the same normed states, gate/up too.
inline constexpr std::array<const char*, 7> oneshot_inputs{"attn_in", "attn_in", "attn_in", "o_in",
                                                           "mlp_in",  "mlp_in",  "down_in"};

inline linear_weights& layer_linear(decoder_layer_weights& w, std::size_t k) { return *w.linears()[k]; }

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

}  // namespace detail

/// The statistics a calibration pass must collect for recipe r (empty: the recipe is data-free).
inline statistic_set recipe_statistics(const pipeline::recipe& r) {
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

/// Runs recipe r on args.model and writes the compressed checkpoint to args.output_dir.
/// @throws config_error llmc.pipeline.101 (several quantizing modifiers), 102 (none, or no config
///         group), 103 (no output_dir), 104 (calibration data needed but no dataset), 105 (AWQ
///         options), 106 (SmoothQuant mappings), 110 (a scheme that does not fit some Linears:
///         they are listed), 130 (static activations not calibrated); numeric_error llmc.pipeline.120
///         (NaN/Inf weight); the errors of model_directory::open, decoder_spec::from_config (an
///         unsupported architecture), the dataset, the methods and the writer.
inline oneshot_report oneshot(const oneshot_args& args, const pipeline::recipe& r) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  oneshot_report rep;

  // ---- checks that need no model ---------------------------------------------------------------
  pipeline::validate_recipe(r);
  const pipeline::modifier* quant = nullptr;
  for (const auto& m : r.modifiers) {
    if (!m.quantizes()) continue;
    if (quant != nullptr)
      LLMC_THROW(config_error, "llmc.pipeline.101",
                 r.origin + ": more than one QuantizationModifier/GPTQModifier; llmc's oneshot applies one quantizing "
                            "modifier per recipe (merge their config_groups into one modifier)");
    quant = &m;
  }
  if (quant == nullptr || quant->config_groups.empty())
    LLMC_THROW(config_error, "llmc.pipeline.102",
               r.origin + ": the recipe quantizes nothing; add a QuantizationModifier or GPTQModifier with a scheme or config_groups");
  if (args.output_dir.empty())
    LLMC_THROW(config_error, "llmc.pipeline.103", "oneshot: output_dir is empty; name the folder the compressed model goes to");
  std::vector<pipeline::config_group> groups = quant->config_groups;
  if (quant->kind == pipeline::modifier_kind::gptq) {
    // The actorder GPTQ uses is the one the checkpoint records (the reference writes it back into the scheme).
    gptq<runtime_scheme> g;
    g.actorder = quant->actorder;
    for (auto& cg : groups)
      if (cg.scheme.weights.enabled()) cg.scheme.weights.actorder = g.resolve_actorder(cg.scheme.weights);
  }
  const statistic_set need = recipe_statistics(r);
  const bool needs_data = !need.empty();
  if (needs_data && args.dataset.empty())
    LLMC_THROW(config_error, "llmc.pipeline.104",
               r.origin + ": the recipe needs calibration data (SmoothQuant, AWQ, GPTQ or static activations); pass a dataset file");

  // ---- checks on the model, before any heavy work ----------------------------------------------
  const model_directory dir = model_directory::open(args.model);
  const decoder_spec spec = decoder_spec::from_config(dir.config());
  rep.layers = spec.num_layers;
  // Which config group each Linear gets (nullopt: left dense).
  std::vector<std::array<std::optional<std::size_t>, 7>> plan(spec.num_layers);
  std::vector<std::string> misfits;
  const std::array<std::pair<std::size_t, std::size_t>, 7> shapes{
      std::pair{spec.q_dim(), spec.hidden_size},  {spec.kv_dim(), spec.hidden_size},
      {spec.kv_dim(), spec.hidden_size},          {spec.hidden_size, spec.q_dim()},
      {spec.intermediate_size, spec.hidden_size}, {spec.intermediate_size, spec.hidden_size},
      {spec.hidden_size, spec.intermediate_size}};
  for (std::size_t i = 0; i < spec.num_layers; ++i)
    for (std::size_t k = 0; k < 7; ++k) {
      const std::string name = layer_prefix(i) + detail::oneshot_linears[k];
      auto g = pipeline::resolve_config_group(groups, quant->ignore, pipeline::module_ref{name, {"Linear"}});
      if (g && !groups[*g].scheme.weights.enabled()) g.reset();
      plan[i][k] = g;
      if (!g || quant->bypass_divisibility_checks) continue;
      const auto [rows, cols] = shapes[k];
      const std::string why = check_shape_fits(groups[*g].scheme.weights, rows, cols);
      if (!why.empty())
        misfits.push_back(name + " [" + std::to_string(rows) + ", " + std::to_string(cols) + "] (" + groups[*g].name + "): " + why);
    }
  if (!misfits.empty()) {
    std::string list;
    for (const auto& m : misfits) list += "\n  " + m;
    LLMC_THROW(config_error, "llmc.pipeline.110",
               r.origin + ": the scheme does not fit " + std::to_string(misfits.size()) + " Linear(s):" + list +
                   "\nadd them to `ignore`, or give them a config group of their own with a channel-wise strategy "
                   "(e.g. targets: [\"re:.*down_proj$\"], strategy: channel)");
  }
  if (pipeline::matches_any(quant->targets, pipeline::module_ref{"lm_head", {"Linear"}}) &&
      !pipeline::matches_any(quant->ignore, pipeline::module_ref{"lm_head", {"Linear"}}) && dir.contains("lm_head.weight"))
    rep.warnings.push_back("lm_head matches the recipe's targets but is kept dense (llmc does not quantize lm_head)");
  for (const auto& name : dir.tensor_names()) {
    const tensor_view v = dir.tensor(name);
    if (!is_floating(v.dtype)) continue;
    const std::vector<float> f = to_float32(v);
    for (std::size_t j = 0; j < f.size(); ++j)
      if (!std::isfinite(f[j]))
        LLMC_THROW(numeric_error, "llmc.pipeline.120",
                   args.model.string() + ": tensor \"" + name + "\" holds " + (std::isnan(f[j]) ? "NaN" : "Inf") +
                       " at element " + std::to_string(j) + "; the checkpoint is damaged, nothing was written");
    // The scan pages the whole checkpoint in once: hand each tensor's pages back as soon as it is
    // checked, so peak memory stays one layer plus the activation cache whatever the model's size.
    dir.weights().release(name);
  }

  // ---- the output (a temporary folder until finish()) ------------------------------------------
  ct_writer_options wo;
  wo.replace = args.replace;
  auto writer = compressed_checkpoint_writer::for_model(dir, args.output_dir, wo);
  std::vector<std::size_t> wgroup;
  for (const auto& g : groups) wgroup.push_back(writer->add_config_group(g.scheme, g.targets));

  // ---- calibration: embed the batches once -------------------------------------------------------
  std::vector<hidden_batch> cache;
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
    const matrix<float> embed = load_embedding(dir, spec);
    dir.weights().release_all();
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
        std::copy_n(&embed(static_cast<std::size_t>(id), 0), spec.hidden_size, &hb.states(t, 0));
      }
      cache.push_back(std::move(hb));
    }
    rep.calibration_samples = set.num_samples();
    rep.calibration_tokens = set.real_tokens;
    rep.calibration_seconds = since(tc);
  }

  // ---- the layers ----------------------------------------------------------------------------------
  std::set<std::string> consumed;
  const progress_tracker progress(args.progress, "layer", spec.num_layers);
  progress.update(0);
  for (std::size_t i = 0; i < spec.num_layers; ++i) {
    const auto tl = clock::now();
    const std::string prefix = layer_prefix(i);
    decoder_layer_weights w = load_decoder_layer(dir, spec, i);
    dir.weights().release_all();  // the layer now lives in fp32 copies: drop the mapped pages
    layer_context ctx;
    ctx.prefix = prefix;
    if (needs_data) {
      for (const char* in : detail::oneshot_inputs) ctx.inputs[in];
      forward_hooks hooks;
      hooks.on_linear_input = [&](const linear_input& li) {
        const std::string local = li.linear.name.substr(prefix.size());
        std::size_t k = 0;
        while (k < 7 && local != detail::oneshot_linears[k]) ++k;
        if (k == 1 || k == 2 || k == 5 || k >= 7) return;  // shares the input of q_proj / gate_proj
        input_statistics& st = ctx.inputs[detail::oneshot_inputs[k]];
        if (need.contains(statistic::channel_minmax)) st.minmax.add(li.x, li.mask);
        if (need.contains(statistic::channel_absmean)) st.absmean.add(li.x, li.mask);
        if (need.contains(statistic::hessian)) st.hessian.add(li.x, li.mask, li.batch);
        if (need.contains(statistic::samples)) {
          std::size_t real = 0;
          for (std::size_t row = 0; row < li.x.rows(); ++row) real += li.mask.empty() || li.mask[row] ? 1 : 0;
          matrix<float> grown(st.samples.rows() + real, li.x.cols());
          std::copy(st.samples.storage().begin(), st.samples.storage().end(), grown.storage().begin());
          std::size_t out = st.samples.rows();
          for (std::size_t row = 0; row < li.x.rows(); ++row)
            if (li.mask.empty() || li.mask[row]) std::copy_n(li.x.row(row), li.x.cols(), &grown(out++, 0));
          st.samples = std::move(grown);
        }
      };
      for (const hidden_batch& hb : cache) {
        hidden_batch scratch = hb;  // the outputs of the unmodified layer are not needed
        run_decoder_layer(spec, w, scratch, hooks);
      }
    }
    std::array<llmc::dtype, 7> dtypes{};
    for (std::size_t k = 0; k < 7; ++k) {
      linear_weights& src = detail::layer_linear(w, k);
      dtypes[k] = dir.tensor(src.name + ".weight").dtype;
      linear_weight lw;
      lw.name = detail::oneshot_linears[k];
      lw.input = detail::oneshot_inputs[k];
      lw.weight = std::move(src.weight);
      lw.bias = src.bias;
      lw.dtype = detail::scalar_of(dtypes[k]);
      lw.weight_args = plan[i][k] ? groups[*plan[i][k]].scheme.weights : no_quantization;
      ctx.linears.push_back(std::move(lw));
    }
    const llmc::dtype norm_dtype = dir.tensor(prefix + "input_layernorm.weight").dtype;
    ctx.norms.push_back({"input_layernorm", w.input_layernorm, {}, detail::scalar_of(norm_dtype)});
    ctx.norms.push_back({"post_attention_layernorm", w.post_attention_layernorm, {}, detail::scalar_of(norm_dtype)});

    // Modifiers, in recipe order.
    const runtime_scheme first_scheme = groups.front().scheme;
    for (const auto& m : r.modifiers) {
      switch (m.kind) {
        case pipeline::modifier_kind::smoothquant: {
          smoothquant sq;
          sq.smoothing_strength = m.smoothing_strength;
          if (!m.sq_mappings.empty()) sq.mappings = detail::local_sq_mappings(m.sq_mappings, prefix);
          sq.apply(ctx);
          break;
        }
        case pipeline::modifier_kind::awq: {
          if (!m.awq_mappings.empty())
            LLMC_THROW(config_error, "llmc.pipeline.105",
                       r.origin + ": custom AWQModifier mappings are not supported by llmc's oneshot yet; remove `mappings` "
                                  "to use the Llama-family defaults");
          awq<runtime_scheme> aw;
          aw.scheme = first_scheme;
          aw.n_grid = m.n_grid;
          aw.duo = m.duo_scaling == pipeline::modifier::duo::on    ? duo_scaling::on
                   : m.duo_scaling == pipeline::modifier::duo::off ? duo_scaling::off
                                                                   : duo_scaling::both;
          aw.clip = m.awq_clip_search;
          aw.apply(ctx);
          break;
        }
        case pipeline::modifier_kind::gptq: {
          gptq<runtime_scheme> g;
          g.scheme = first_scheme;
          g.block_size = static_cast<std::size_t>(std::max(1, m.block_size));
          g.dampening_frac = m.dampening_frac;
          g.actorder = m.actorder;
          g.apply(ctx);
          break;
        }
        case pipeline::modifier_kind::quantization: {
          rtn<runtime_scheme> q;
          q.scheme = first_scheme;
          q.scheme.input_activations = no_quantization;  // static inputs are calibrated per group below
          q.apply(ctx);
          break;
        }
      }
    }

    // Write the layer.
    oneshot_layer_report lr;
    lr.index = i;
    for (std::size_t k = 0; k < 7; ++k) {
      linear_weight& lw = ctx.linears[k];
      const std::string full = prefix + lw.name;
      consumed.insert(full + ".weight");
      if (plan[i][k] && lw.quantized) {
        const runtime_scheme& s = groups[*plan[i][k]].scheme;
        activation_qparams aq;
        if (needs_activation_calibration(s.input_activations))
          aq = detail::static_input_qparams(s.input_activations, ctx.inputs[lw.input].minmax, lw.dtype, full);
        writer->add_quantized(full, wgroup[*plan[i][k]], *lw.quantized, aq);
        ++lr.quantized;
      } else {
        if (plan[i][k])
          LLMC_THROW(config_error, "llmc.pipeline.131", full + ": the recipe targets it but no modifier quantized it");
        detail::add_float_tensor(*writer, full + ".weight", lw.weight.span(),
                                 {static_cast<std::int64_t>(lw.out_features()), static_cast<std::int64_t>(lw.in_features())},
                                 dtypes[k], true);
        ++lr.dense;
      }
      if (!lw.bias.empty()) {
        consumed.insert(full + ".bias");
        writer->add_tensor(tensor_ref::of(dir.tensor(full + ".bias")));
      }
      if (args.keep_weights) rep.weights[full] = lw.weight;
    }
    for (const norm_weight& n : ctx.norms) {
      consumed.insert(prefix + n.name + ".weight");
      detail::add_float_tensor(*writer, prefix + n.name + ".weight", n.weight, {static_cast<std::int64_t>(n.weight.size())},
                               norm_dtype);
    }
    rep.quantized_linears += lr.quantized;
    rep.dense_linears += lr.dense;

    // The next layer's inputs come from this layer as it was written.
    if (needs_data && i + 1 < spec.num_layers) {
      for (std::size_t k = 0; k < 7; ++k) detail::layer_linear(w, k).weight = std::move(ctx.linears[k].weight);
      w.input_layernorm = ctx.norms[0].weight;
      w.post_attention_layernorm = ctx.norms[1].weight;
      for (hidden_batch& hb : cache) run_decoder_layer(spec, w, hb);
    }
    lr.notes = std::move(ctx.notes);
    lr.seconds = since(tl);
    rep.per_layer.push_back(std::move(lr));
    progress.update(i + 1, prefix.substr(0, prefix.size() - 1));
  }
  cache.clear();

  // ---- everything else passes through ------------------------------------------------------------
  for (const auto& name : dir.tensor_names()) {
    if (consumed.count(name)) continue;
    const tensor_view v = dir.tensor(name);
    if (name == "lm_head.weight") writer->add_dense_module("lm_head", "Linear", tensor_ref::of(v));
    else writer->add_tensor(tensor_ref::of(v));
  }
  const ct_write_result res = writer->finish();
  rep.output = res.path;
  rep.bytes_written = res.total_size;
  rep.total_seconds = since(t_start);
  return rep;
}

}  // namespace llmc
