// Random decoder specs, layers and batches for the device-forward parity tests (tests/cuda): the
// same inputs for test_cuda_host.cpp (g++, host policy) and test_cuda.cu (nvcc, CUDA policy).
// Weights are N(0, 1/in) so activations stay O(1) through a layer; norms 1 + N(0, 0.1).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/tensor/matrix.hpp"

namespace test_support {

struct random_spec_args {
  std::size_t hidden = 48, intermediate = 72, heads = 6, kv_heads = 2, head_dim = 8, layers = 2;
  bool qk_norm = true, biases = true;
  std::vector<std::size_t> windows = {0, 5};  ///< per layer
  const char* rope_type = "default";
};

inline llmc::decoder_spec random_spec(const random_spec_args& a) {
  llmc::decoder_spec s;
  s.family = a.qk_norm ? llmc::decoder_family::qwen3 : llmc::decoder_family::llama;
  s.hidden_size = a.hidden;
  s.intermediate_size = a.intermediate;
  s.num_layers = a.layers;
  s.num_heads = a.heads;
  s.num_kv_heads = a.kv_heads;
  s.head_dim = a.head_dim;
  s.vocab_size = 32;
  s.max_position_embeddings = 4096;
  s.rms_norm_eps = 1e-6f;
  s.rope.theta = 10000.0;
  s.rope.type = a.rope_type;
  s.rope.factor = 2.0;
  s.rope.original_max_position_embeddings = 64;
  s.q_bias = s.k_bias = s.v_bias = s.o_bias = s.mlp_bias = a.biases;
  s.qk_norm = a.qk_norm;
  s.layer_window = a.windows;
  s.layer_window.resize(a.layers, 0);
  return s;
}

inline llmc::linear_weights random_linear(std::mt19937& gen, const std::string& name, std::size_t out, std::size_t in,
                                          bool bias) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  llmc::linear_weights l;
  l.name = name;
  l.out_features = out;
  l.in_features = in;
  l.weight = llmc::matrix<float>(out, in);
  const float sd = 1.0f / std::sqrt(static_cast<float>(in));
  for (float& v : l.weight.storage()) v = d(gen) * sd;
  if (bias) {
    l.bias.resize(out);
    for (float& v : l.bias) v = 0.1f * d(gen);
  }
  return l;
}

inline llmc::decoder_layer_weights random_layer(const llmc::decoder_spec& s, std::size_t index, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  auto norm = [&](std::size_t n) {
    std::vector<float> w(n);
    for (float& v : w) v = 1.0f + 0.1f * d(gen);
    return w;
  };
  const std::string p = llmc::layer_prefix(index);
  llmc::decoder_layer_weights w;
  w.index = index;
  w.input_layernorm = norm(s.hidden_size);
  w.post_attention_layernorm = norm(s.hidden_size);
  if (s.qk_norm) {
    w.q_norm = norm(s.head_dim);
    w.k_norm = norm(s.head_dim);
  }
  const std::size_t H = s.hidden_size, I = s.intermediate_size;
  w.q_proj = random_linear(gen, p + "self_attn.q_proj", s.q_dim(), H, s.q_bias);
  w.k_proj = random_linear(gen, p + "self_attn.k_proj", s.kv_dim(), H, s.k_bias);
  w.v_proj = random_linear(gen, p + "self_attn.v_proj", s.kv_dim(), H, s.v_bias);
  w.o_proj = random_linear(gen, p + "self_attn.o_proj", H, s.q_dim(), s.o_bias);
  w.gate_proj = random_linear(gen, p + "mlp.gate_proj", I, H, s.mlp_bias);
  w.up_proj = random_linear(gen, p + "mlp.up_proj", I, H, s.mlp_bias);
  w.down_proj = random_linear(gen, p + "mlp.down_proj", H, I, s.mlp_bias);
  return w;
}

/// B sequences of S tokens, states N(0, 1); sequence b has b + 1 padding slots (left padding for
/// odd b, right padding for even b) when `pad`; explicit positions (the token index from the
/// first token, plus a per-sequence offset 3b; padding slots get 1) when `positions`.
inline llmc::hidden_batch random_batch(const llmc::decoder_spec& s, std::size_t B, std::size_t S, unsigned seed, bool pad,
                                       bool positions) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  llmc::hidden_batch h;
  h.batch = B;
  h.seq = S;
  h.states = llmc::matrix<float>(B * S, s.hidden_size);
  for (float& v : h.states.storage()) v = d(gen);
  if (pad) {
    h.mask.assign(B * S, 1);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t i = 0; i < std::min(S, b + 1); ++i) h.mask[b * S + (b % 2 == 1 ? i : S - 1 - i)] = 0;
  }
  if (positions) {
    h.positions.assign(B * S, 1);
    for (std::size_t b = 0; b < B; ++b) {
      std::int64_t p = static_cast<std::int64_t>(3 * b);
      for (std::size_t t = 0; t < S; ++t)
        if (h.is_token(b * S + t)) h.positions[b * S + t] = p++;
    }
  }
  return h;
}

/// max |got - want| / max |want|.
inline double max_rel_error(const float* got, const float* want, std::size_t n) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    num = std::max(num, std::abs(static_cast<double>(got[i]) - want[i]));
    den = std::max(den, std::abs(static_cast<double>(want[i])));
  }
  return den > 0.0 ? num / den : num;
}

}  // namespace test_support
