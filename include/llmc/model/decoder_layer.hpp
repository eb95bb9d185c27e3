// llmc/model/decoder_layer.hpp — one Llama-family decoder layer on a batch of hidden states.
//
// Follows transformers LlamaDecoderLayer / Qwen3DecoderLayer (modeling_llama.py, modeling_qwen3.py):
//   h = x + o_proj(attn(rope(norm_q(q_proj(rms(x)))), rope(norm_k(k_proj(rms(x)))), v_proj(rms(x))))
//   y = h + down_proj(silu(gate_proj(rms'(h))) * up_proj(rms'(h)))
// with grouped-query attention (query head j reads KV head j / (heads / kv_heads)), scale
// head_dim^-1/2, a causal mask, an optional sliding window, and a padding mask on the keys; the
// per-head q/k RMSNorm exists for Qwen3 only. Everything is computed in fp32 (RMS statistics in
// double; exp by a vectorized Cephes polynomial, ~1e-7 relative). The Linears run as GEMMs through
// backend/kernels.hpp (llmc's blocked SGEMM or CBLAS, per llmc::set_dense_implementation); the
// attention products use llmc's SGEMM on 64-query blocks, one (sequence, head) pair per thread.
// Hooks: before each Linear runs, forward_hooks::transform_linear_input may rewrite a private copy
// of its input (activation fake-quantization), then forward_hooks::on_linear_input observes exactly
// the matrix the Linear consumes, [batch * seq, in_features], with the per-row token mask (0 =
// padding) so statistics can leave padding out. q/k/v (and gate/up) share one input matrix when no
// transform is set. Positions default to 0..seq-1 per sequence (after the KV cache's length), as in
// a transformers forward without position_ids; padded batches may pass explicit positions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/model/rope.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// A batch of sequences between decoder layers: what a sequential pipeline caches.
/// Invariants (checked by run_decoder_layer): states is [batch * seq, hidden_size], row b * seq + t
/// is token t of sequence b; mask and positions are empty or have batch * seq entries.
struct hidden_batch {
  std::size_t batch = 0, seq = 0;
  matrix<float> states;                 ///< [batch * seq, hidden_size]
  std::vector<std::uint8_t> mask;       ///< 1 = token, 0 = padding; empty = every row is a token
  std::vector<std::int64_t> positions;  ///< RoPE position of each row; empty = cache length + t

  [[nodiscard]] std::size_t tokens() const noexcept { return batch * seq; }
  [[nodiscard]] bool is_token(std::size_t row) const noexcept { return mask.empty() || mask[row] != 0; }
  /// Rows that are tokens (padding excluded).
  [[nodiscard]] std::size_t real_tokens() const noexcept {
    std::size_t n = 0;
    for (std::size_t r = 0; r < tokens(); ++r) n += is_token(r) ? 1 : 0;
    return n;
  }
};

/// What a Linear's input hook sees.
struct linear_input {
  const linear_weights& linear;        ///< name ("model.layers.3.mlp.down_proj"), weight, bias
  std::size_t layer = 0;               ///< decoder layer index
  matrix_view<const float> x;          ///< [batch * seq, in_features], exactly what the Linear consumes
  std::span<const std::uint8_t> mask;  ///< per row, 0 = padding; empty = every row is a token
  std::size_t batch = 0, seq = 0;
};

/// Callbacks around every Linear of a layer (both optional).
struct forward_hooks {
  /// Rewrites the Linear's input in place (it is a private copy when this is set).
  std::function<void(const linear_weights&, matrix_view<float> x, std::span<const std::uint8_t> mask)> transform_linear_input;
  /// Observes the Linear's input (after any transform).
  std::function<void(const linear_input&)> on_linear_input;

  /// Stop once the last Linear's input (down_proj's) has been observed: its product and the MLP
  /// residual are skipped and io.states is left unspecified. For a statistics pass over a scratch
  /// copy of the batch, whose output nobody reads (down_proj is ~1/4 of a Llama layer's FLOPs).
  bool inputs_only = false;

  [[nodiscard]] bool empty() const noexcept { return !transform_linear_input && !on_linear_input && !inputs_only; }
};

/// Where the time of a forward went (accumulated over calls; optional).
struct forward_stats {
  double linear_seconds = 0.0, attention_seconds = 0.0, other_seconds = 0.0;
  double linear_flops = 0.0;     ///< 2 * tokens * in * out over the Linears run
  double attention_flops = 0.0;  ///< QK^T and PV products actually computed
  std::size_t tokens = 0;        ///< token rows through layers (padding included), summed over layers
  [[nodiscard]] double seconds() const noexcept { return linear_seconds + attention_seconds + other_seconds; }
};

/// Keys and values of past tokens for incremental decoding, for every layer of one model.
/// Rows of layer l: sequence b's slot j is row b * capacity + j (post-RoPE keys, values).
class kv_cache {
 public:
  kv_cache() = default;
  kv_cache(const decoder_spec& s, std::size_t batch, std::size_t capacity)
      : batch_(batch), capacity_(capacity), kv_dim_(s.kv_dim()), valid_(batch * capacity, 0) {
    k_.reserve(s.num_layers);
    v_.reserve(s.num_layers);
    for (std::size_t l = 0; l < s.num_layers; ++l) {
      k_.emplace_back(batch * capacity, kv_dim_);
      v_.emplace_back(batch * capacity, kv_dim_);
    }
  }
  [[nodiscard]] std::size_t batch() const noexcept { return batch_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t layers() const noexcept { return k_.size(); }
  /// Tokens committed so far (the next tokens go to slots length()..).
  [[nodiscard]] std::size_t length() const noexcept { return length_; }
  /// Makes the `n` tokens every layer just appended part of the past.
  void commit(std::size_t n) {
    if (length_ + n > capacity_) {
      LLMC_THROW(shape_error, model_errc::kv_cache, "kv_cache: committing past its capacity of " + std::to_string(capacity_));
    }
    length_ += n;
  }
  /// Forgets every token (the buffers are kept).
  void clear() noexcept {
    length_ = 0;
    std::fill(valid_.begin(), valid_.end(), std::uint8_t{0});
  }
  matrix<float>& keys(std::size_t layer) { return k_[layer]; }
  matrix<float>& values(std::size_t layer) { return v_[layer]; }
  std::vector<std::uint8_t>& valid() noexcept { return valid_; }

 private:
  std::size_t batch_ = 0, capacity_ = 0, kv_dim_ = 0, length_ = 0;
  std::vector<matrix<float>> k_, v_;
  std::vector<std::uint8_t> valid_;
};

namespace detail {

using model_clock = std::chrono::steady_clock;
inline double seconds_since(model_clock::time_point t0) {
  return std::chrono::duration<double>(model_clock::now() - t0).count();
}

/// Rows [0, n) split over the threads when each chunk gets >= 64k elements of work (row_cost each):
/// starting a thread costs more than a smaller chunk.
template <class F>
void for_rows(std::size_t n, std::size_t row_cost, F&& f) {
  const std::size_t min_rows = std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(1, row_cost));
  parallel_for_chunks(n, parallel_chunks(n, min_rows), [&](std::size_t, std::size_t r0, std::size_t r1) { f(r0, r1); });
}

/// out[r] = w * x[r] / sqrt(mean(x[r]^2) + eps), row by row (HF LlamaRMSNorm, statistics in double).
inline void rms_norm_rows(matrix_view<const float> x, std::span<const float> w, float eps, matrix_view<float> out) {
  const std::size_t n = x.cols();
  for_rows(x.rows(), 2 * n, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const float* in = x.row(r);
      float* o = out.row(r);
      double ss = 0.0;
      for (std::size_t c = 0; c < n; ++c) ss += static_cast<double>(in[c]) * in[c];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + static_cast<double>(eps)));
      for (std::size_t c = 0; c < n; ++c) o[c] = w[c] * (in[c] * inv);
    }
  });
}

/// y = x W^T + b through the dense kernels.
inline void linear_forward(const linear_weights& l, matrix_view<const float> x, matrix_view<float> y) {
  dense_kernels<host_backend>::gemm(1.0f, x, cview(l.weight).transposed(), 0.0f, y);
  if (!l.bias.empty()) {
    for_rows(y.rows(), y.cols(), [&](std::size_t r0, std::size_t r1) {
      for (std::size_t r = r0; r < r1; ++r) {
        float* o = y.row(r);
        for (std::size_t c = 0; c < y.cols(); ++c) o[c] += l.bias[c];
      }
    });
  }
}

/// The element-wise loops below (softmax, SiLU) are written on GCC/Clang vectors because GCC does
/// not if-convert float compares under the default -ftrapping-math, so plain loops stay scalar. The
/// width is the target's widest float register (a wider vector would be split lane by lane on a
/// narrower target); vectors are only passed by reference, so no function's ABI depends on it.
#if defined(__AVX512F__)
inline constexpr int vec_lanes = 16;
#elif defined(__AVX__)
inline constexpr int vec_lanes = 8;
#else
inline constexpr int vec_lanes = 4;
#endif
typedef float floatv __attribute__((vector_size(vec_lanes * sizeof(float))));
typedef std::int32_t intv __attribute__((vector_size(vec_lanes * sizeof(float))));

/// x = e^x, lane-wise, to ~1e-7 relative for x in [-87, 88], clamped outside (Cephes expf: x = n ln2 + r
/// with n rounded by the 1.5 * 2^23 trick, a degree-6 polynomial for e^r, 2^n built in the exponent bits).
LLMC_ALWAYS_INLINE void expv(floatv& x) noexcept {
  const floatv lo = floatv{} - 87.0f, hi = floatv{} + 88.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const floatv t = x * 1.44269504088896341f + 12582912.0f;
  const floatv n = t - 12582912.0f;
  const floatv r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  floatv p = floatv{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const intv bits = ((__builtin_bit_cast(intv, t) - 0x4B400000) + 127) << 23;
  x = (p * r * r + r + 1.0f) * __builtin_bit_cast(floatv, bits);
}

/// Max of n > 0 floats.
inline float max_value(const float* x, std::size_t n) noexcept {
  floatv m = floatv{} - std::numeric_limits<float>::infinity(), v;
  std::size_t j = 0;
  for (; j + vec_lanes <= n; j += vec_lanes) {
    std::memcpy(&v, x + j, sizeof v);
    m = v > m ? v : m;
  }
  float r = -std::numeric_limits<float>::infinity();
  for (int l = 0; l < vec_lanes; ++l) r = std::max(r, m[l]);
  for (; j < n; ++j) r = std::max(r, x[j]);
  return r;
}

/// x[j] = e^(x[j] - shift) in place; returns the sum.
inline double exp_shift_sum(float* x, std::size_t n, float shift) noexcept {
  floatv acc{}, v;
  std::size_t j = 0;
  for (; j + vec_lanes <= n; j += vec_lanes) {
    std::memcpy(&v, x + j, sizeof v);
    v -= shift;
    expv(v);
    std::memcpy(x + j, &v, sizeof v);
    acc += v;
  }
  double total = 0.0;
  for (int l = 0; l < vec_lanes; ++l) total += acc[l];
  if (j < n) {
    v = floatv{};
    for (std::size_t l = 0; l < n - j; ++l) v[l] = x[j + l] - shift;
    expv(v);
    for (std::size_t l = 0; l < n - j; ++l) {
      x[j + l] = v[l];
      total += v[l];
    }
  }
  return total;
}

/// g[j] = silu(g[j]) * u[j] = g / (1 + e^-g) * u.
inline void silu_mul(float* g, const float* u, std::size_t n) noexcept {
  floatv v, e, w;
  std::size_t j = 0;
  for (; j + vec_lanes <= n; j += vec_lanes) {
    std::memcpy(&v, g + j, sizeof v);
    std::memcpy(&w, u + j, sizeof w);
    e = -v;
    expv(e);
    v = v / (1.0f + e) * w;
    std::memcpy(g + j, &v, sizeof v);
  }
  if (j < n) {
    v = floatv{};
    w = floatv{};
    for (std::size_t l = 0; l < n - j; ++l) {
      v[l] = g[j + l];
      w[l] = u[j + l];
    }
    e = -v;
    expv(e);
    v = v / (1.0f + e) * w;
    for (std::size_t l = 0; l < n - j; ++l) g[j + l] = v[l];
  }
}

/// Scaled dot-product attention of one (sequence, query head) pair.
/// q: [S, hd], the queries of key slots first..first+S; k, v: [L, hd], key slots 0..L; key_ok: one
/// flag per key slot (null: all usable). Writes the S output rows into out [S, hd]; returns the
/// FLOPs of the two products. Queries go in blocks of 64 rows, each against only the keys some row
/// of the block may see (causal: up to the block's last slot; windowed: from the first row's
/// window start), which halves the work of a causal prefill and bounds a windowed one.
inline double attention_pair(matrix_view<const float> q, matrix_view<const float> k, matrix_view<const float> v,
                             const std::uint8_t* key_ok, std::size_t first, std::size_t window, float scale,
                             std::vector<float>& scratch, matrix_view<float> out) {
  constexpr std::size_t block_rows = 64;
  constexpr float neg_inf = -std::numeric_limits<float>::infinity();
  const std::size_t S = q.rows(), L = k.rows(), hd = q.cols();
  double flops = 0.0;
  for (std::size_t i0 = 0; i0 < S; i0 += block_rows) {
    const std::size_t rows = std::min(block_rows, S - i0);
    const std::size_t kend = std::min(L, first + i0 + rows);  // one past the last visible slot
    const std::size_t q0 = first + i0;                         // slot of the block's first query
    const std::size_t kbeg = window > 0 && q0 + 1 > window ? q0 + 1 - window : 0;
    const std::size_t nk = kend - kbeg;
    scratch.resize(rows * nk);
    matrix_view<float> sc(scratch.data(), rows, nk);
    cpu::gemm(scale, q.block(i0, 0, rows, hd), k.block(kbeg, 0, nk, hd).transposed(), 0.0f, sc, 1);
    for (std::size_t i = 0; i < rows; ++i) {
      float* row = sc.row(i);
      const std::size_t qi = q0 + i;  // the query's slot
      // Visible slots [j0, j1): causal and windowed, in block-local indices.
      const std::size_t j1 = std::min(kend, qi + 1) - kbeg;
      const std::size_t j0 = (window > 0 && qi + 1 > window ? qi + 1 - window : 0) - kbeg;
      std::fill(row, row + j0, 0.0f);
      std::fill(row + j1, row + nk, 0.0f);
      if (key_ok != nullptr)
        for (std::size_t j = j0; j < j1; ++j) row[j] = key_ok[kbeg + j] ? row[j] : neg_inf;
      const float mx = j1 > j0 ? max_value(row + j0, j1 - j0) : neg_inf;
      if (mx == neg_inf) {  // no visible key (a padding query): output 0
        std::fill(row + j0, row + j1, 0.0f);
        continue;
      }
      const float inv = static_cast<float>(1.0 / exp_shift_sum(row + j0, j1 - j0, mx));
      if (key_ok != nullptr) {
        for (std::size_t j = j0; j < j1; ++j) row[j] = key_ok[kbeg + j] ? row[j] * inv : 0.0f;
      } else {
        for (std::size_t j = j0; j < j1; ++j) row[j] *= inv;
      }
    }
    cpu::gemm(1.0f, matrix_view<const float>(sc), v.block(kbeg, 0, nk, hd), 0.0f, out.block(i0, 0, rows, hd), 1);
    flops += 4.0 * static_cast<double>(rows) * static_cast<double>(nk) * static_cast<double>(hd);
  }
  return flops;
}

inline void check_batch(const decoder_spec& s, const hidden_batch& io) {
  if (io.states.rows() != io.tokens() || io.states.cols() != s.hidden_size) {
    LLMC_THROW(shape_error, model_errc::hidden_shape,
               "hidden states are " + std::to_string(io.states.rows()) + "x" + std::to_string(io.states.cols()) +
                   ", expected [batch * seq, hidden_size] = " + std::to_string(io.tokens()) + "x" +
                   std::to_string(s.hidden_size));
  }
  if ((!io.mask.empty() && io.mask.size() != io.tokens()) ||
      (!io.positions.empty() && io.positions.size() != io.tokens())) {
    LLMC_THROW(shape_error, model_errc::mask_shape,
               "the attention mask (" + std::to_string(io.mask.size()) + ") and position ids (" +
                   std::to_string(io.positions.size()) + ") must be empty or have batch * seq = " +
                   std::to_string(io.tokens()) + " entries");
  }
}

}  // namespace detail

/// Runs decoder layer `w` on `io` in place: io.states becomes the layer's output.
/// @param cache  when given, the new keys/values go to slots cache->length().. and the queries also
///               see the cached past; call cache->commit(io.seq) after the last layer.
/// @throws shape_error llmc.model.120/121 (batch), 123 (cache), 125 (a swapped weight's shape)
inline void run_decoder_layer(const decoder_spec& s, const decoder_layer_weights& w, hidden_batch& io,
                              const forward_hooks& hooks = {}, kv_cache* cache = nullptr, forward_stats* stats = nullptr) {
  using detail::model_clock;
  detail::check_batch(s, io);
  for (const linear_weights* l : w.linears()) l->check_shape();
  const std::size_t B = io.batch, S = io.seq, T = io.tokens(), H = s.hidden_size;
  const std::size_t hd = s.head_dim, nh = s.num_heads, nkv = s.num_kv_heads, group = nh / nkv;
  const std::size_t window = w.index < s.layer_window.size() ? s.layer_window[w.index] : 0;
  std::size_t past = 0;
  if (cache != nullptr) {
    if (cache->batch() != B || w.index >= cache->layers() || cache->length() + S > cache->capacity()) {
      LLMC_THROW(shape_error, model_errc::kv_cache,
                 "kv_cache: made for batch " + std::to_string(cache->batch()) + " and " + std::to_string(cache->layers()) +
                     " layers with " + std::to_string(cache->capacity() - cache->length()) + " free slots; the call has batch " +
                     std::to_string(B) + ", layer " + std::to_string(w.index) + ", " + std::to_string(S) + " new tokens");
    }
    past = cache->length();
  }
  const std::span<const std::uint8_t> mask(io.mask);
  forward_stats local;
  forward_stats& st = stats != nullptr ? *stats : local;
  auto t0 = model_clock::now();

  // Runs one Linear with the hooks; `x` is the shared input, `y` receives the output.
  matrix<float> transformed;
  auto observe = [&](const linear_weights& l, matrix_view<const float> x) {
    matrix_view<const float> in = x;
    if (hooks.transform_linear_input) {
      transformed = matrix<float>::from(x);
      hooks.transform_linear_input(l, transformed.view(), mask);
      in = cview(transformed);
    }
    if (hooks.on_linear_input) hooks.on_linear_input(linear_input{l, w.index, in, mask, B, S});
    return in;
  };
  auto run_linear = [&](const linear_weights& l, matrix_view<const float> x, matrix_view<float> y) {
    const matrix_view<const float> in = observe(l, x);
    const auto tl = model_clock::now();
    detail::linear_forward(l, in, y);
    st.linear_seconds += detail::seconds_since(tl);
    st.linear_flops += 2.0 * static_cast<double>(T) * static_cast<double>(l.in_features) * static_cast<double>(l.out_features);
  };

  // Self-attention block.
  matrix<float> x(T, H);
  detail::rms_norm_rows(cview(io.states), w.input_layernorm, s.rms_norm_eps, x.view());
  matrix<float> q(T, s.q_dim()), k(T, s.kv_dim()), v(T, s.kv_dim());
  st.other_seconds += detail::seconds_since(t0);
  run_linear(w.q_proj, cview(x), q.view());
  run_linear(w.k_proj, cview(x), k.view());
  run_linear(w.v_proj, cview(x), v.view());
  t0 = model_clock::now();
  if (s.qk_norm) {
    // Per-head RMSNorm over head_dim (Qwen3RMSNorm on q/k viewed as [T * heads, head_dim]).
    detail::rms_norm_rows(matrix_view<const float>(q.data(), T * nh, hd), w.q_norm, s.rms_norm_eps,
                          matrix_view<float>(q.data(), T * nh, hd));
    detail::rms_norm_rows(matrix_view<const float>(k.data(), T * nkv, hd), w.k_norm, s.rms_norm_eps,
                          matrix_view<float>(k.data(), T * nkv, hd));
  }
  std::vector<std::int64_t> pos = io.positions;
  if (pos.empty()) {
    pos.resize(T);
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < S; ++t) pos[b * S + t] = static_cast<std::int64_t>(past + t);
  }
  const std::vector<double> inv_freq = rope_inv_freq(s.rope, hd);
  const rope_angles angles(inv_freq, pos);
  detail::for_rows(T, 2 * (s.q_dim() + s.kv_dim()), [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      angles.apply(&q(r, 0), nh, r);
      angles.apply(&k(r, 0), nkv, r);
    }
  });
  // Keys and values the queries see: this call's, or the cache with this call's appended.
  matrix_view<const float> keys = cview(k), values = cview(v);
  const std::uint8_t* key_ok = io.mask.empty() ? nullptr : io.mask.data();
  std::size_t key_stride = S;  // key rows per sequence
  if (cache != nullptr) {
    matrix<float>& ck = cache->keys(w.index);
    matrix<float>& cv = cache->values(w.index);
    const std::size_t cap = cache->capacity();
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t t = 0; t < S; ++t) {
        std::copy_n(&k(b * S + t, 0), s.kv_dim(), &ck(b * cap + past + t, 0));
        std::copy_n(&v(b * S + t, 0), s.kv_dim(), &cv(b * cap + past + t, 0));
        cache->valid()[b * cap + past + t] = io.is_token(b * S + t) ? 1 : 0;
      }
    keys = cview(ck);
    values = cview(cv);
    key_ok = cache->valid().data();
    key_stride = cap;
  }
  st.other_seconds += detail::seconds_since(t0);
  t0 = model_clock::now();
  matrix<float> attn(T, s.q_dim());
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const std::size_t pairs = B * nh;
  std::vector<double> pair_flops(pairs, 0.0);
  parallel_for_chunks(pairs, std::min<std::size_t>(max_threads(), pairs), [&](std::size_t, std::size_t p0, std::size_t p1) {
    std::vector<float> scratch;
    for (std::size_t p = p0; p < p1; ++p) {
      const std::size_t b = p / nh, h = p % nh, g = h / group;
      const std::size_t visible = past + S;
      pair_flops[p] = detail::attention_pair(
          cview(q).block(b * S, h * hd, S, hd), keys.block(b * key_stride, g * hd, visible, hd),
          values.block(b * key_stride, g * hd, visible, hd), key_ok == nullptr ? nullptr : key_ok + b * key_stride, past,
          window, scale, scratch, attn.view().block(b * S, h * hd, S, hd));
    }
  });
  st.attention_seconds += detail::seconds_since(t0);
  for (double f : pair_flops) st.attention_flops += f;

  matrix<float> proj(T, H);
  run_linear(w.o_proj, cview(attn), proj.view());
  t0 = model_clock::now();
  // Residual, then the MLP block's norm.
  detail::for_rows(T, H, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      float* o = &io.states(r, 0);
      const float* a = &proj(r, 0);
      for (std::size_t c = 0; c < H; ++c) o[c] += a[c];
    }
  });
  detail::rms_norm_rows(cview(io.states), w.post_attention_layernorm, s.rms_norm_eps, x.view());
  st.other_seconds += detail::seconds_since(t0);
  matrix<float> gate(T, s.intermediate_size), up(T, s.intermediate_size);
  run_linear(w.gate_proj, cview(x), gate.view());
  run_linear(w.up_proj, cview(x), up.view());
  t0 = model_clock::now();
  detail::for_rows(T, 8 * s.intermediate_size, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      detail::silu_mul(&gate(r, 0), &up(r, 0), s.intermediate_size);
    }
  });
  up = matrix<float>();  // release before down_proj's output is allocated
  st.other_seconds += detail::seconds_since(t0);
  if (hooks.inputs_only) {
    (void)observe(w.down_proj, cview(gate));
    return;
  }
  run_linear(w.down_proj, cview(gate), proj.view());
  t0 = model_clock::now();
  detail::for_rows(T, H, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      float* o = &io.states(r, 0);
      const float* a = &proj(r, 0);
      for (std::size_t c = 0; c < H; ++c) o[c] += a[c];
    }
  });
  st.other_seconds += detail::seconds_since(t0);
  st.tokens += T;
}

}  // namespace llmc
