// Helpers shared by the AWQ / SmoothQuant / recipe tests: seeded data, error ids, reference forwards.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <initializer_list>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/tensor/matrix.hpp"

namespace method_test {

/// N(0, sigma) entries, seeded.
inline llmc::matrix<float> random_matrix(std::size_t rows, std::size_t cols, std::uint32_t seed, float sigma) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  llmc::matrix<float> m(rows, cols);
  for (auto& v : m.storage()) v = d(gen);
  return m;
}

/// Runs f and checks that it throws an llmc::error with exactly this id.
template <class F>
void check_error_id(F&& f, const std::string& id) {
  bool thrown = false;
  try {
    f();
  } catch (const llmc::error& e) {
    thrown = true;
    CHECK(e.id() == id);
  }
  CHECK_MESSAGE(thrown, "expected an llmc::error with id " << id);
}

/// Y = X W^T in double (the test oracle: no shared code with the library's GEMM).
inline llmc::matrix<double> linear_ref(const llmc::matrix<float>& x, const llmc::matrix<float>& w) {
  llmc::matrix<double> y(x.rows(), w.rows());
  for (std::size_t t = 0; t < x.rows(); ++t)
    for (std::size_t o = 0; o < w.rows(); ++o) {
      double s = 0.0;
      for (std::size_t i = 0; i < x.cols(); ++i) s += double(x(t, i)) * double(w(o, i));
      y(t, o) = s;
    }
  return y;
}

/// Llama MLP down(silu(x gate^T) * x up^T) in double.
inline llmc::matrix<double> mlp_ref(const llmc::matrix<float>& x, const llmc::matrix<float>& gate,
                                    const llmc::matrix<float>& up, const llmc::matrix<float>& down) {
  const auto g = linear_ref(x, gate), u = linear_ref(x, up);
  llmc::matrix<double> y(x.rows(), down.rows());
  for (std::size_t t = 0; t < x.rows(); ++t)
    for (std::size_t o = 0; o < down.rows(); ++o) {
      double s = 0.0;
      for (std::size_t k = 0; k < gate.rows(); ++k) {
        const double h = g(t, k) / (1.0 + std::exp(-g(t, k))) * u(t, k);
        s += h * double(down(o, k));
      }
      y(t, o) = s;
    }
  return y;
}

/// Sum of squared differences.
template <class A, class B>
double sse(const A& a, const B& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double e = double(a.data()[i]) - double(b.data()[i]);
    s += e * e;
  }
  return s;
}

/// RMSNorm rows of h with weight g (eps 1e-5, Llama's): x / rms(x) * g.
inline llmc::matrix<float> rmsnorm(const llmc::matrix<float>& h, const std::vector<float>& g) {
  llmc::matrix<float> y(h.rows(), h.cols());
  for (std::size_t t = 0; t < h.rows(); ++t) {
    double ms = 0.0;
    for (std::size_t c = 0; c < h.cols(); ++c) ms += double(h(t, c)) * h(t, c);
    const double inv = 1.0 / std::sqrt(ms / double(h.cols()) + 1e-5);
    for (std::size_t c = 0; c < h.cols(); ++c) y(t, c) = float(double(h(t, c)) * inv * g[c]);
  }
  return y;
}

/// Hidden states with a few outlier channels (x `outlier`), as LLM activations have.
inline llmc::matrix<float> hidden_with_outliers(std::size_t tokens, std::size_t hidden, std::uint32_t seed, float outlier,
                                                std::initializer_list<std::size_t> channels) {
  llmc::matrix<float> h = random_matrix(tokens, hidden, seed, 1.0f);
  for (std::size_t t = 0; t < tokens; ++t)
    for (std::size_t c : channels) h(t, c) = h(t, c) * outlier + outlier;
  return h;
}

/// A Llama-like decoder layer's weights (stories260k shapes by default: GQA, 172-wide MLP).
struct synthetic_layer {
  llmc::matrix<float> q, k, v, o, gate, up, down;
  std::vector<float> ln1, ln2;
  synthetic_layer(std::size_t hidden, std::size_t kv, std::size_t inter, std::uint32_t seed) {
    const float sd = 1.0f / std::sqrt(float(hidden));
    q = random_matrix(hidden, hidden, seed + 1, sd);
    k = random_matrix(kv, hidden, seed + 2, sd);
    v = random_matrix(kv, hidden, seed + 3, sd);
    o = random_matrix(hidden, hidden, seed + 4, sd);
    gate = random_matrix(inter, hidden, seed + 5, sd);
    up = random_matrix(inter, hidden, seed + 6, sd);
    down = random_matrix(hidden, inter, seed + 7, 1.0f / std::sqrt(float(inter)));
    std::mt19937 gen(seed + 8);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    ln1.resize(hidden);
    ln2.resize(hidden);
    for (auto& g : ln1) g = u(gen);
    for (auto& g : ln2) g = u(gen);
  }
  /// The layer as a context: Linears with their input keys, the two norms, no statistics yet.
  llmc::layer_context context() const {
    llmc::layer_context ctx;
    ctx.prefix = "model.layers.0.";
    auto add = [&](const char* name, const char* input, const llmc::matrix<float>& w) {
      llmc::linear_weight l;
      l.name = name;
      l.input = input;
      l.weight = w;
      ctx.linears.push_back(std::move(l));
    };
    add("self_attn.q_proj", "attn_in", q);
    add("self_attn.k_proj", "attn_in", k);
    add("self_attn.v_proj", "attn_in", v);
    add("self_attn.o_proj", "o_in", o);
    add("mlp.gate_proj", "mlp_in", gate);
    add("mlp.up_proj", "mlp_in", up);
    add("mlp.down_proj", "down_in", down);
    ctx.norms.push_back({"input_layernorm", ln1, {}, llmc::scalar_type::float32});
    ctx.norms.push_back({"post_attention_layernorm", ln2, {}, llmc::scalar_type::float32});
    return ctx;
  }
};

}  // namespace method_test
