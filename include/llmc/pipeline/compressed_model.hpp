// llmc/pipeline/compressed_model.hpp — a model folder, compressed or not, loaded for evaluation as
// the runtime would compute it.
//
// A compressed-tensors checkpoint is decompressed module by module (io/compressed_tensors_reader.hpp
// compressed_checkpoint::decompress: the weights in the model dtype, widened to fp32) into a
// causal_lm; each Linear's scheme comes from quantization_config (the config group its name
// resolves to, ignore first, as compressed-tensors matches), and hooks() fake-quantizes the inputs
// of Linears whose scheme quantizes input activations, as vLLM would at run time
// ([CT] quantization/lifecycle/forward.py; spec §4.4): dynamic args from each input's own range,
// static per-tensor args (FP8, static INT8) with the checkpoint's input_scale / input_zero_point,
// NVFP4 "local" args with dynamic local scales under the stored input_global_scale. A folder
// without quantization_config loads as the plain model with no hooks.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "llmc/io/compressed_tensors_reader.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/model/causal_lm.hpp"
#include "llmc/model/fake_quant.hpp"
#include "llmc/model/weights.hpp"

namespace llmc {

/// A model ready for perplexity/KL: weights as stored (decompressed), and each Linear's scheme.
struct evaluation_model {
  causal_lm model;
  std::map<std::string, runtime_scheme> schemes;  ///< quantized Linears only
  std::map<std::string, activation_qparams> stored_inputs;  ///< calibrated input qparams from the checkpoint
  bool compressed = false;

  /// Hooks that quantize the input activations of the quantized Linears (empty if none do).
  /// @throws config_error llmc.model.140 (at the first forward) for static inputs the checkpoint
  ///         has no calibrated scale for, or static strategies other than per tensor.
  [[nodiscard]] forward_hooks hooks() const {
    bool any = false;
    for (const auto& [n, s] : schemes) any = any || s.input_activations.enabled();
    if (!any) return {};
    auto table = schemes;
    forward_hooks h = activation_fake_quant_hooks([table](std::string_view name) -> std::optional<runtime_scheme> {
      auto it = table.find(std::string(name));
      if (it == table.end() || it->second.input_activations.dynamic != quant_dynamic::dynamic) return std::nullopt;
      return it->second;
    });
    auto dynamic = std::move(h.transform_linear_input);
    h.transform_linear_input = [table, stored = stored_inputs, dynamic](const linear_weights& l, matrix_view<float> x,
                                                                        std::span<const std::uint8_t> mask) {
      auto it = table.find(l.name);
      if (it == table.end() || !it->second.input_activations.enabled()) return;
      const quant_args& a = it->second.input_activations;
      if (a.dynamic == quant_dynamic::dynamic) {
        dynamic(l, x, mask);
        return;
      }
      auto si = stored.find(l.name);
      if (a.dynamic == quant_dynamic::local && si != stored.end() && si->second.global_scale) {
        fake_quantize(a, x, minmax_qparams(a, x, *si->second.global_scale));
        return;
      }
      if (a.strategy != quant_strategy::tensor || si == stored.end() || !si->second.scale)
        LLMC_THROW(config_error, model_errc::static_activation,
                   l.name + ": static input activations need the checkpoint's per-tensor input_scale; none was stored");
      qparams p;
      p.layout = qparam_layout(a, x.rows(), x.cols());
      p.scale = matrix<float>(1, 1, *si->second.scale);
      if (si->second.zero_point) p.zero_point = matrix<std::int8_t>(1, 1, *si->second.zero_point);
      fake_quantize(a, x, p);
    };
    return h;
  }
};

/// Loads `dir` (a Hugging Face folder, or a compressed-tensors one) for evaluation.
/// @throws the errors of model_directory::open, compressed_checkpoint::open / decompress and the
///         model loaders (an unsupported architecture: llmc.model.100).
inline evaluation_model load_evaluation_model(const std::filesystem::path& dir) {
  const model_directory md = model_directory::open(dir);
  const compressed_checkpoint cc = compressed_checkpoint::open(dir);
  evaluation_model em;
  if (!cc.is_compressed()) {
    em.model = causal_lm::load(md);
    return em;
  }
  em.compressed = true;
  const decoder_spec s = decoder_spec::from_config(md.config());
  const ct_quantization_config& qc = cc.quantization_config();
  auto linear = [&](const std::string& name, std::size_t out, std::size_t in, bool bias) {
    linear_weights l;
    l.name = name;
    l.out_features = out;
    l.in_features = in;
    l.weight = cc.decompress(name, "Linear");
    if (bias) l.bias = load_vector(md, name + ".bias", out);
    const ct_module_info mi = cc.info(name, "Linear");
    if (mi.group) {
      const runtime_scheme& sc = qc.config_groups[*mi.group].scheme;
      em.schemes.emplace(name, sc);
      if (sc.input_activations.enabled() && sc.input_activations.dynamic != quant_dynamic::dynamic)
        em.stored_inputs.emplace(name, cc.input_qparams(name, "Linear"));
    }
    return l;
  };
  std::vector<decoder_layer_weights> layers;
  for (std::size_t i = 0; i < s.num_layers; ++i) {
    const std::string p = layer_prefix(i);
    decoder_layer_weights w;
    w.index = i;
    w.input_layernorm = load_vector(md, p + "input_layernorm.weight", s.hidden_size);
    w.post_attention_layernorm = load_vector(md, p + "post_attention_layernorm.weight", s.hidden_size);
    if (s.qk_norm) {
      w.q_norm = load_vector(md, p + "self_attn.q_norm.weight", s.head_dim);
      w.k_norm = load_vector(md, p + "self_attn.k_norm.weight", s.head_dim);
    }
    w.q_proj = linear(p + "self_attn.q_proj", s.q_dim(), s.hidden_size, s.q_bias);
    w.k_proj = linear(p + "self_attn.k_proj", s.kv_dim(), s.hidden_size, s.k_bias);
    w.v_proj = linear(p + "self_attn.v_proj", s.kv_dim(), s.hidden_size, s.v_bias);
    w.o_proj = linear(p + "self_attn.o_proj", s.hidden_size, s.q_dim(), s.o_bias);
    w.gate_proj = linear(p + "mlp.gate_proj", s.intermediate_size, s.hidden_size, s.mlp_bias);
    w.up_proj = linear(p + "mlp.up_proj", s.intermediate_size, s.hidden_size, s.mlp_bias);
    w.down_proj = linear(p + "mlp.down_proj", s.hidden_size, s.intermediate_size, s.mlp_bias);
    layers.push_back(std::move(w));
  }
  std::optional<matrix<float>> head;
  if (!s.tie_word_embeddings) head = cc.decompress("lm_head", "Linear");
  em.model = causal_lm(s, load_embedding(md, s), std::move(layers), load_final_norm(md, s), std::move(head));
  return em;
}

}  // namespace llmc
