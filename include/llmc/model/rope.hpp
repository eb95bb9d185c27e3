// llmc/model/rope.hpp — rotary position embeddings in Hugging Face's rotate_half layout.
//
// Frequencies follow transformers modeling_rope_utils.py: default inv_freq[i] = theta^(-2i/d);
// "linear" divides them by factor; "llama3" (_compute_llama3_parameters) divides the low
// frequencies (wavelength > original_max / low_freq_factor) by factor, keeps the high ones
// (wavelength < original_max / high_freq_factor) and blends linearly in between. All three have
// attention_scaling 1. Rotation (modeling_llama.py apply_rotary_pos_emb): with half = d/2 and
// c = cos(p * inv_freq[i]), s = sin(...), element i pairs with i + half:
//   x'[i] = x[i] c - x[i + half] s,    x'[i + half] = x[i + half] c + x[i] s.
// Angles are computed in double and rounded once to float (transformers computes p * inv_freq in
// fp32, which at position 500 already moves an angle by ~3e-5 rad; the fp64 references agree
// with the double angles).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <vector>

#include "llmc/model/decoder_spec.hpp"

namespace llmc {

/// The inverse frequencies of one head (head_dim / 2 values), per rope_spec.
inline std::vector<double> rope_inv_freq(const rope_spec& r, std::size_t head_dim) {
  const std::size_t half = head_dim / 2;
  std::vector<double> f(half);
  for (std::size_t i = 0; i < half; ++i)
    f[i] = 1.0 / std::pow(r.theta, static_cast<double>(2 * i) / static_cast<double>(head_dim));
  if (r.type == "linear") {
    for (auto& v : f) v /= r.factor;
  } else if (r.type == "llama3") {
    const double old_len = static_cast<double>(r.original_max_position_embeddings);
    const double low_wavelen = old_len / r.low_freq_factor;
    const double high_wavelen = old_len / r.high_freq_factor;
    for (auto& v : f) {
      const double wavelen = 2.0 * std::numbers::pi / v;
      if (wavelen > low_wavelen) {
        v = v / r.factor;
      } else if (wavelen >= high_wavelen) {  // medium band: smooth interpolation
        const double smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        v = (1.0 - smooth) * v / r.factor + smooth * v;
      }
    }
  }
  return f;
}

/// cos and sin of every (position, frequency) pair a batch of tokens needs: row t holds the
/// head_dim / 2 values for positions[t].
struct rope_angles {
  std::size_t half = 0;
  std::vector<float> cos, sin;  ///< [tokens, half]

  rope_angles(std::span<const double> inv_freq, std::span<const std::int64_t> positions)
      : half(inv_freq.size()), cos(positions.size() * inv_freq.size()), sin(positions.size() * inv_freq.size()) {
    for (std::size_t t = 0; t < positions.size(); ++t) {
      const double p = static_cast<double>(positions[t]);
      for (std::size_t i = 0; i < half; ++i) {
        const double a = p * inv_freq[i];
        cos[t * half + i] = static_cast<float>(std::cos(a));
        sin[t * half + i] = static_cast<float>(std::sin(a));
      }
    }
  }

  /// Rotates `heads` consecutive heads of 2 * half values at x, for token t, in place.
  void apply(float* x, std::size_t heads, std::size_t t) const noexcept {
    const float* c = cos.data() + t * half;
    const float* s = sin.data() + t * half;
    for (std::size_t h = 0; h < heads; ++h) {
      float* a = x + h * 2 * half;
      float* b = a + half;
      for (std::size_t i = 0; i < half; ++i) {
        const float x1 = a[i], x2 = b[i];
        a[i] = x1 * c[i] - x2 * s[i];
        b[i] = x2 * c[i] + x1 * s[i];
      }
    }
  }
};

}  // namespace llmc
