// A naive fp64 forward pass of a Llama-family checkpoint, written from the transformers modeling code
// independently of include/llmc/model: it reads the tensors straight from the folder and is told
// the architecture's switches explicitly (which biases exist, q/k norm, per-layer windows, the RoPE
// frequencies), so a test can also switch one feature off and see that the output changes.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "llmc/io/model_directory.hpp"
#include "llmc/io/safetensors.hpp"

namespace model_test {

struct ref_switches {
  bool qkv_bias = false, o_bias = false, mlp_bias = false, qk_norm = false, tied = false;
  std::vector<std::size_t> window;  ///< per layer, 0 = full
  std::string rope = "default";     ///< default, linear, llama3
  double factor = 1.0, low = 1.0, high = 4.0, original = 8192.0;
};

class reference_forward {
 public:
  reference_forward(const llmc::model_directory& d, ref_switches sw) : d_(d), sw_(std::move(sw)) {
    const auto& c = d.config();
    H = static_cast<std::size_t>(c.hidden_size);
    I = static_cast<std::size_t>(c.intermediate_size);
    L = static_cast<std::size_t>(c.num_hidden_layers);
    nh = static_cast<std::size_t>(c.num_attention_heads);
    nkv = static_cast<std::size_t>(c.num_key_value_heads);
    hd = static_cast<std::size_t>(c.head_dim);
    V = static_cast<std::size_t>(c.vocab_size);
    eps = c.rms_norm_eps;
    theta = c.rope_theta;
    if (sw_.window.empty()) sw_.window.assign(L, 0);
  }

  /// Logits [seq][vocab] of one sequence at positions 0..seq-1.
  std::vector<std::vector<double>> logits(const std::vector<std::int32_t>& ids) const {
    const std::size_t S = ids.size();
    const auto emb = get("model.embed_tokens.weight");
    std::vector<std::vector<double>> x(S, std::vector<double>(H));
    for (std::size_t t = 0; t < S; ++t)
      for (std::size_t c = 0; c < H; ++c) x[t][c] = emb[static_cast<std::size_t>(ids[t]) * H + c];
    for (std::size_t l = 0; l < L; ++l) layer(l, x);
    const auto norm = get("model.norm.weight");
    const auto head = sw_.tied ? emb : get("lm_head.weight");
    std::vector<std::vector<double>> out(S, std::vector<double>(V));
    for (std::size_t t = 0; t < S; ++t) {
      const auto h = rms(x[t], norm);
      for (std::size_t v = 0; v < V; ++v) {
        double s = 0.0;
        for (std::size_t c = 0; c < H; ++c) s += h[c] * head[v * H + c];
        out[t][v] = s;
      }
    }
    return out;
  }

  std::vector<double> inv_freq() const {
    std::vector<double> f(hd / 2);
    for (std::size_t i = 0; i < hd / 2; ++i) {
      double v = std::pow(theta, -static_cast<double>(2 * i) / static_cast<double>(hd));
      if (sw_.rope == "linear") v /= sw_.factor;
      if (sw_.rope == "llama3") {
        const double wl = 2 * std::numbers::pi / v;
        if (wl > sw_.original / sw_.low) {
          v /= sw_.factor;
        } else if (wl >= sw_.original / sw_.high) {
          const double s = (sw_.original / wl - sw_.low) / (sw_.high - sw_.low);
          v = (1 - s) * v / sw_.factor + s * v;
        }
      }
      f[i] = v;
    }
    return f;
  }

 private:
  std::vector<double> get(const std::string& name) const {
    const auto f = llmc::to_float32(d_.tensor(name));
    return std::vector<double>(f.begin(), f.end());
  }
  std::vector<double> rms(const std::vector<double>& x, const std::vector<double>& w) const {
    double ss = 0.0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
    std::vector<double> o(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) o[i] = w[i] * x[i] * inv;
    return o;
  }
  std::vector<double> linear(const std::string& m, const std::vector<double>& x, std::size_t out, bool bias) const {
    const auto w = get(m + ".weight");
    std::vector<double> y(out, 0.0);
    if (bias) y = get(m + ".bias");
    for (std::size_t o = 0; o < out; ++o)
      for (std::size_t i = 0; i < x.size(); ++i) y[o] += w[o * x.size() + i] * x[i];
    return y;
  }
  void rope(std::vector<double>& v, std::size_t heads, std::size_t pos) const {
    const auto f = inv_freq();
    for (std::size_t h = 0; h < heads; ++h)
      for (std::size_t i = 0; i < hd / 2; ++i) {
        const double c = std::cos(static_cast<double>(pos) * f[i]), s = std::sin(static_cast<double>(pos) * f[i]);
        double& a = v[h * hd + i];
        double& b = v[h * hd + i + hd / 2];
        const double x1 = a, x2 = b;
        a = x1 * c - x2 * s;  // q * cos + rotate_half(q) * sin, rotate_half(x) = [-x2, x1]
        b = x2 * c + x1 * s;
      }
  }
  void head_norm(std::vector<double>& v, std::size_t heads, const std::vector<double>& w) const {
    for (std::size_t h = 0; h < heads; ++h) {
      std::vector<double> part(v.begin() + static_cast<std::ptrdiff_t>(h * hd), v.begin() + static_cast<std::ptrdiff_t>((h + 1) * hd));
      part = rms(part, w);
      std::copy(part.begin(), part.end(), v.begin() + static_cast<std::ptrdiff_t>(h * hd));
    }
  }
  void layer(std::size_t l, std::vector<std::vector<double>>& x) const {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const std::size_t S = x.size();
    const auto ln1 = get(p + "input_layernorm.weight"), ln2 = get(p + "post_attention_layernorm.weight");
    std::vector<std::vector<double>> q(S), k(S), v(S);
    for (std::size_t t = 0; t < S; ++t) {
      const auto h = rms(x[t], ln1);
      q[t] = linear(p + "self_attn.q_proj", h, nh * hd, sw_.qkv_bias);
      k[t] = linear(p + "self_attn.k_proj", h, nkv * hd, sw_.qkv_bias);
      v[t] = linear(p + "self_attn.v_proj", h, nkv * hd, sw_.qkv_bias);
      if (sw_.qk_norm) {
        head_norm(q[t], nh, get(p + "self_attn.q_norm.weight"));
        head_norm(k[t], nkv, get(p + "self_attn.k_norm.weight"));
      }
      rope(q[t], nh, t);
      rope(k[t], nkv, t);
    }
    const std::size_t w = sw_.window[l];
    for (std::size_t t = 0; t < S; ++t) {
      std::vector<double> attn(nh * hd, 0.0);
      for (std::size_t h = 0; h < nh; ++h) {
        const std::size_t g = h / (nh / nkv);
        std::vector<double> sc(t + 1, -INFINITY);
        double mx = -INFINITY;
        for (std::size_t j = 0; j <= t; ++j) {
          if (w > 0 && t - j >= w) continue;
          double s = 0.0;
          for (std::size_t i = 0; i < hd; ++i) s += q[t][h * hd + i] * k[j][g * hd + i];
          sc[j] = s / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, sc[j]);
        }
        double z = 0.0;
        for (auto& s : sc) z += (s = std::exp(s - mx));
        for (std::size_t j = 0; j <= t; ++j)
          for (std::size_t i = 0; i < hd; ++i) attn[h * hd + i] += sc[j] / z * v[j][g * hd + i];
      }
      const auto o = linear(p + "self_attn.o_proj", attn, H, sw_.o_bias);
      for (std::size_t c = 0; c < H; ++c) x[t][c] += o[c];
      const auto h2 = rms(x[t], ln2);
      const auto gt = linear(p + "mlp.gate_proj", h2, I, sw_.mlp_bias);
      const auto up = linear(p + "mlp.up_proj", h2, I, sw_.mlp_bias);
      std::vector<double> a(I);
      for (std::size_t i = 0; i < I; ++i) a[i] = gt[i] / (1.0 + std::exp(-gt[i])) * up[i];
      const auto dn = linear(p + "mlp.down_proj", a, H, sw_.mlp_bias);
      for (std::size_t c = 0; c < H; ++c) x[t][c] += dn[c];
    }
  }

  const llmc::model_directory& d_;
  ref_switches sw_;
  std::size_t H = 0, I = 0, L = 0, nh = 0, nkv = 0, hd = 0, V = 0;
  double eps = 1e-6, theta = 10000.0;
};

}  // namespace model_test
