// llmc/model/weights.hpp — the fp32 weights of a Llama-family decoder, loaded per layer.
//
// A decoder layer's weights are plain owning matrices so that a pipeline can swap them before the
// layer runs (fake-quantize in place, or replace a weight by one decompressed from a
// compressed-tensors checkpoint): the forward pass only requires every Linear to keep its shape,
// which run_decoder_layer() re-checks (llmc.model.125). Weights stored as F32, BF16, F16 (or F64,
// FP8) are widened to fp32 on load (io/safetensors.hpp to_float32). Names are Hugging Face's
// (transformers LlamaForCausalLM state dict): model.embed_tokens.weight,
// model.layers.{i}.self_attn.{q,k,v,o}_proj.{weight,bias}, model.layers.{i}.self_attn.{q,k}_norm.weight
// (Qwen3), model.layers.{i}.mlp.{gate,up,down}_proj.{weight,bias}, model.layers.{i}.{input,
// post_attention}_layernorm.weight, model.norm.weight, lm_head.weight (ignored when tied, as
// transformers and vLLM do). Which biases must exist comes from decoder_spec, not from the file.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// One nn.Linear: y = x W^T + b, W [out_features, in_features].
struct linear_weights {
  std::string name;          ///< full module name, e.g. "model.layers.3.self_attn.q_proj"
  matrix<float> weight;      ///< [out_features, in_features]
  std::vector<float> bias;   ///< [out_features], empty when the Linear has none
  std::size_t out_features = 0, in_features = 0;  ///< the shape the forward pass requires

  /// @throws shape_error llmc.model.125 when a swapped weight or bias lost the Linear's shape.
  void check_shape() const {
    if (weight.rows() != out_features || weight.cols() != in_features ||
        (!bias.empty() && bias.size() != out_features)) {
      LLMC_THROW(shape_error, model_errc::weight_swap,
                 name + ": weight is " + std::to_string(weight.rows()) + "x" + std::to_string(weight.cols()) +
                     (bias.empty() ? std::string() : " with a bias of " + std::to_string(bias.size())) + ", the Linear is " +
                     std::to_string(out_features) + "x" + std::to_string(in_features) +
                     "; a replaced weight must keep [out_features, in_features]");
    }
  }
};

/// The weights of one decoder layer.
struct decoder_layer_weights {
  std::size_t index = 0;
  std::vector<float> input_layernorm, post_attention_layernorm;  ///< [hidden]
  std::vector<float> q_norm, k_norm;                             ///< [head_dim], Qwen3 only
  linear_weights q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;

  /// The seven Linears in execution order (q, k, v, o, gate, up, down).
  [[nodiscard]] std::vector<linear_weights*> linears() {
    return {&q_proj, &k_proj, &v_proj, &o_proj, &gate_proj, &up_proj, &down_proj};
  }
  [[nodiscard]] std::vector<const linear_weights*> linears() const {
    return {&q_proj, &k_proj, &v_proj, &o_proj, &gate_proj, &up_proj, &down_proj};
  }
};

/// "model.layers.{i}." — the prefix of a layer's tensors.
inline std::string layer_prefix(std::size_t i) { return "model.layers." + std::to_string(i) + "."; }

namespace detail {

inline std::string shape_string(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

inline tensor_view model_tensor(const model_directory& dir, const std::string& name, std::vector<std::int64_t> shape) {
  if (!dir.contains(name)) {
    LLMC_THROW(io_error, model_errc::missing_tensor,
               dir.path().string() + ": tensor \"" + name + "\" " + shape_string(shape) + " is missing, but " +
                   dir.config().architecture + " with this config.json needs it; the checkpoint is incomplete "
                   "or config.json does not belong to it");
  }
  tensor_view v = dir.tensor(name);
  if (v.shape != shape) {
    LLMC_THROW(shape_error, model_errc::tensor_shape,
               dir.path().string() + ": tensor \"" + name + "\" has shape " + shape_string(v.shape) + ", config.json implies " +
                   shape_string(shape) + "; the checkpoint and config.json disagree");
  }
  if (!is_floating(v.dtype)) {
    LLMC_THROW(io_error, model_errc::tensor_dtype,
               dir.path().string() + ": tensor \"" + name + "\" is " + std::string(dtype_name(v.dtype)) +
                   "; the forward pass reads floating-point weights (decompress a quantized checkpoint first)");
  }
  return v;
}

}  // namespace detail

/// Reads a 2-D floating tensor as fp32, checking its shape.
/// @throws io_error llmc.model.110 (missing), 112 (not floating); shape_error llmc.model.111
inline matrix<float> load_matrix(const model_directory& dir, const std::string& name, std::size_t rows, std::size_t cols) {
  const tensor_view v = detail::model_tensor(dir, name, {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)});
  matrix<float> m(rows, cols);
  to_float32(v, m.span());
  return m;
}

/// Reads a 1-D floating tensor as fp32, checking its length.
inline std::vector<float> load_vector(const model_directory& dir, const std::string& name, std::size_t n) {
  const tensor_view v = detail::model_tensor(dir, name, {static_cast<std::int64_t>(n)});
  std::vector<float> out(n);
  to_float32(v, out);
  return out;
}

/// Loads one Linear (and its bias when `bias`).
inline linear_weights load_linear(const model_directory& dir, const std::string& module, std::size_t out_features,
                                  std::size_t in_features, bool bias) {
  linear_weights l;
  l.name = module;
  l.out_features = out_features;
  l.in_features = in_features;
  l.weight = load_matrix(dir, module + ".weight", out_features, in_features);
  if (bias) l.bias = load_vector(dir, module + ".bias", out_features);
  return l;
}

/// Loads decoder layer i.
/// @throws shape_error llmc.model.124 when i >= num_layers, and the errors of load_matrix().
inline decoder_layer_weights load_decoder_layer(const model_directory& dir, const decoder_spec& s, std::size_t i) {
  if (i >= s.num_layers) {
    LLMC_THROW(shape_error, model_errc::layer_index,
               "layer " + std::to_string(i) + " does not exist (" + std::to_string(s.num_layers) + " layers)");
  }
  const std::string p = layer_prefix(i);
  decoder_layer_weights w;
  w.index = i;
  w.input_layernorm = load_vector(dir, p + "input_layernorm.weight", s.hidden_size);
  w.post_attention_layernorm = load_vector(dir, p + "post_attention_layernorm.weight", s.hidden_size);
  if (s.qk_norm) {
    w.q_norm = load_vector(dir, p + "self_attn.q_norm.weight", s.head_dim);
    w.k_norm = load_vector(dir, p + "self_attn.k_norm.weight", s.head_dim);
  }
  w.q_proj = load_linear(dir, p + "self_attn.q_proj", s.q_dim(), s.hidden_size, s.q_bias);
  w.k_proj = load_linear(dir, p + "self_attn.k_proj", s.kv_dim(), s.hidden_size, s.k_bias);
  w.v_proj = load_linear(dir, p + "self_attn.v_proj", s.kv_dim(), s.hidden_size, s.v_bias);
  w.o_proj = load_linear(dir, p + "self_attn.o_proj", s.hidden_size, s.q_dim(), s.o_bias);
  w.gate_proj = load_linear(dir, p + "mlp.gate_proj", s.intermediate_size, s.hidden_size, s.mlp_bias);
  w.up_proj = load_linear(dir, p + "mlp.up_proj", s.intermediate_size, s.hidden_size, s.mlp_bias);
  w.down_proj = load_linear(dir, p + "mlp.down_proj", s.hidden_size, s.intermediate_size, s.mlp_bias);
  return w;
}

/// model.embed_tokens.weight [vocab, hidden].
inline matrix<float> load_embedding(const model_directory& dir, const decoder_spec& s) {
  return load_matrix(dir, "model.embed_tokens.weight", s.vocab_size, s.hidden_size);
}

/// model.norm.weight [hidden].
inline std::vector<float> load_final_norm(const model_directory& dir, const decoder_spec& s) {
  return load_vector(dir, "model.norm.weight", s.hidden_size);
}

/// lm_head.weight [vocab, hidden] of an untied model (a tied model reuses the embedding).
inline matrix<float> load_lm_head(const model_directory& dir, const decoder_spec& s) {
  return load_matrix(dir, "lm_head.weight", s.vocab_size, s.hidden_size);
}

}  // namespace llmc
