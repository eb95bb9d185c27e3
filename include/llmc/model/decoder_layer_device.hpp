// llmc/model/decoder_layer_device.hpp — one Llama-family decoder layer run in a dense policy's
// memory (a CUDA device through cuBLAS and Thrust, or the host for testing): the calibration
// forward pass of the device pipeline.
//
// Reference: run_decoder_layer (model/decoder_layer.hpp, itself transformers' LlamaDecoderLayer /
// Qwen3DecoderLayer), step for step and with its conventions: RMSNorm statistics in double, q/k/v,
// optional per-head q/k RMSNorm (Qwen3), RoPE rotate_half with angles p * inv_freq computed in
// double and rounded once to float (rope.hpp), grouped-query causal attention with an optional
// sliding window and a key padding mask (a query with no visible key outputs 0), o_proj, residual,
// post norm, gate/up, silu(gate) * up, down, residual, optional biases. Written once against the
// dense policy contract (method/device_policy.hpp): Linears are k.gemm(1, x, W^T, 0, y); the
// element-wise steps are Thrust functors on k.exec() (no step waits for the device); RMSNorm
// statistics are double partial sums of 32 columns, then one per row.
// Attention, per sequence and per chunk of query rows [t0, t1) (keys [kbeg, t1): causal, and the
// window's first key of row t0): keys and values are first repeated per query head (GQA's
// repeat_kv, one functor each per call), then one strided-batched GEMM over all heads (count
// num_heads, head stride hd) writes scores scale * Q K^T, column-major per head so that adjacent threads of the
// softmax functors (max-subtracted, float exp, double sums, fully masked row -> 0; one pass over
// 32-key segments of every row for their max and sum, one per row, one per element: the scores
// are read twice and written once) touch adjacent addresses; then P V the same way
// straight into the heads' columns of the attention output. The score buffer is bounded by
// device_forward_options::attention_score_floats.
// Invariants: device_decoder_forward owns its scratch buffers (grown, never shrunk, between
// calls; not thread-safe: one forward per stream); run() leaves io.states = the layer's output.
// Agreement with run_decoder_layer: host_dense_policy runs the same host GEMM kernels for the
// Linears, so only exp (std::exp vs the host's Cephes polynomial, ~1e-7), the attention blocks
// and the order of the RMS partial sums differ: tests/cuda/test_cuda_host.cpp bounds outputs and
// hook inputs by 1e-5 of max |.| (measured on stories260k: outputs 4e-7, the attention output
// o_proj sees 2.5e-6). On a GPU, cuBLAS sums in other orders (1e-4, tests/cuda/test_cuda.cu);
// tf32_linears trades that for TF32 tensor cores (2e-2 bound there).
// Performance note: the scores make a round trip through memory (written by the first GEMM, read
// twice and written once by the softmax, read by the second GEMM; a fused attention kernel would
// avoid it): at S = 2048 the cost model puts that traffic at the order of the Linears' TF32 time
// (unmeasured: bench_gpu's layer-forward rows time the Linears alone to tell).
// Errors: shape_error llmc.model.120 / 121 (batch), 125 (a weight's shape).
#pragma once

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/method/device_policy.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/device_batch.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/model/rope.hpp"
#include "llmc/model/weights.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// One nn.Linear in a policy's memory: y = x W^T + b.
template <class K>
struct device_linear {
  std::string name;
  std::size_t out_features = 0, in_features = 0;
  typename K::template vector<float> weight;  ///< [out_features, in_features] row-major
  typename K::template vector<float> bias;    ///< [out_features], empty when the Linear has none

  [[nodiscard]] matrix_view<const float, typename K::backend> weight_view() const noexcept {
    return {raw_data(const_cast<typename K::template vector<float>&>(weight)), out_features, in_features};
  }
};

namespace detail {

template <class K>
typename K::template vector<float> upload_floats(const K& k, std::span<const float> h) {
  typename K::template vector<float> v(h.size());
  k.upload(h.data(), h.size(), raw_data(v));
  return v;
}

/// A host matrix as a contiguous row-major buffer (a copy only when `w` is strided).
inline matrix<float> contiguous_copy(matrix_view<const float> w) { return matrix<float>::from(w); }

}  // namespace detail

/// The weights of one decoder layer in a policy's memory (the device twin of decoder_layer_weights).
template <class K>
struct device_decoder_layer {
  std::size_t index = 0;
  std::array<device_linear<K>, 7> linears;  ///< q, k, v, o, gate, up, down
  typename K::template vector<float> input_layernorm, post_attention_layernorm;  ///< [hidden]
  typename K::template vector<float> q_norm, k_norm;  ///< [head_dim], empty unless Qwen3

  /// Uploads every weight of `w`.
  /// @throws shape_error llmc.model.125 when a Linear lost its shape
  static device_decoder_layer upload(const K& k, const decoder_layer_weights& w) {
    device_decoder_layer d;
    d.index = w.index;
    const auto host = w.linears();
    for (std::size_t i = 0; i < 7; ++i) {
      const linear_weights& l = *host[i];
      l.check_shape();
      device_linear<K>& o = d.linears[i];
      o.name = l.name;
      o.out_features = l.out_features;
      o.in_features = l.in_features;
      o.weight = detail::upload_floats(k, std::span<const float>(l.weight.data(), l.weight.size()));
      o.bias = detail::upload_floats(k, std::span<const float>(l.bias));
    }
    d.input_layernorm = detail::upload_floats(k, std::span<const float>(w.input_layernorm));
    d.post_attention_layernorm = detail::upload_floats(k, std::span<const float>(w.post_attention_layernorm));
    d.q_norm = detail::upload_floats(k, std::span<const float>(w.q_norm));
    d.k_norm = detail::upload_floats(k, std::span<const float>(w.k_norm));
    return d;
  }

  /// Replaces Linear `i`'s weight (0..6: q, k, v, o, gate, up, down), e.g. by its quantized value.
  /// @throws shape_error llmc.model.125 when `host_w` is not [out_features, in_features] or i > 6
  void set_linear_weight(const K& k, std::size_t i, matrix_view<const float> host_w) {
    if (i >= linears.size() || host_w.rows() != linears[i].out_features || host_w.cols() != linears[i].in_features) {
      LLMC_THROW(shape_error, model_errc::weight_swap,
                 "device_decoder_layer::set_linear_weight: Linear " + std::to_string(i) +
                     (i < linears.size() ? " (" + linears[i].name + ", " + std::to_string(linears[i].out_features) + "x" +
                                               std::to_string(linears[i].in_features) + ")"
                                         : std::string(" (there are 7)")) +
                     " cannot take a " + std::to_string(host_w.rows()) + "x" + std::to_string(host_w.cols()) + " weight");
    }
    device_linear<K>& l = linears[i];
    if (host_w.is_row_major_contiguous()) {
      k.upload(host_w.data_handle(), host_w.size(), raw_data(l.weight));
    } else {
      const matrix<float> c = detail::contiguous_copy(host_w);
      k.upload(c.data(), c.size(), raw_data(l.weight));
    }
  }

  /// Replaces the two RMSNorm weights (e.g. after SmoothQuant / AWQ folded scales into them).
  /// @throws shape_error llmc.model.125 when a size changes
  void set_norms(const K& k, std::span<const float> input_ln, std::span<const float> post_ln) {
    if (input_ln.size() != input_layernorm.size() || post_ln.size() != post_attention_layernorm.size()) {
      LLMC_THROW(shape_error, model_errc::weight_swap,
                 "device_decoder_layer::set_norms: norms of " + std::to_string(input_ln.size()) + " and " +
                     std::to_string(post_ln.size()) + " values for a layer whose norms have " +
                     std::to_string(input_layernorm.size()) + " and " + std::to_string(post_attention_layernorm.size()));
    }
    k.upload(input_ln.data(), input_ln.size(), raw_data(input_layernorm));
    k.upload(post_ln.data(), post_ln.size(), raw_data(post_attention_layernorm));
  }

  /// Bytes of the policy memory the weights take.
  [[nodiscard]] std::uint64_t bytes() const noexcept {
    std::uint64_t n = input_layernorm.size() + post_attention_layernorm.size() + q_norm.size() + k_norm.size();
    for (const auto& l : linears) n += l.weight.size() + l.bias.size();
    return n * sizeof(float);
  }
};

struct device_forward_options {
  /// Linears and attention products on TF32 tensor cores (cuBLAS CUBLAS_COMPUTE_32F_FAST_TF32):
  /// ~1e-3 relative instead of fp32's ~1e-6 (host policy: no effect).
  bool tf32_linears = false;
  /// Upper bound of the attention score buffer, in floats (heads x query rows x keys of one chunk);
  /// the default 2^25 (128 MiB) takes S = 2048 with 32 heads in chunks of 512 query rows.
  std::size_t attention_score_floats = std::size_t{1} << 25;
};

namespace detail {

/// Columns per partial sum of the RMS statistics (one thread each).
inline constexpr std::size_t rms_part_cols = 32;
/// part[r * parts + j] = sum of x[r, c]^2 over columns [32 j, 32 j + 32), in double.
struct fwd_square_parts {
  const float* x;
  double* part;
  std::size_t n, parts;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t r = idx / parts, j = idx % parts;
    const std::size_t c0 = j * rms_part_cols, c1 = c0 + rms_part_cols < n ? c0 + rms_part_cols : n;
    const float* row = x + r * n;
    double s = 0.0;
    for (std::size_t c = c0; c < c1; ++c) s += static_cast<double>(row[c]) * row[c];
    part[idx] = s;
  }
};
/// inv[r] = 1 / sqrt(sum_j part[r, j] / n + eps), rounded to float (as rms_norm_rows).
struct fwd_rms_inv {
  const double* part;
  float* inv;
  std::size_t parts;
  double n, eps;
  LLMC_HOST_DEVICE void operator()(std::size_t r) const {
    double ss = 0.0;
    for (std::size_t j = 0; j < parts; ++j) ss += part[r * parts + j];
    inv[r] = static_cast<float>(1.0 / std::sqrt(ss / n + eps));
  }
};
/// out[r, c] = w[c] * (x[r, c] * inv[r]); out may be x.
struct fwd_rms_apply {
  const float* x;
  const float* w;
  const float* inv;
  float* out;
  std::size_t n;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const { out[i] = w[i % n] * (x[i] * inv[i / n]); }
};
/// cos / sin of position(t) * inv_freq[i], in double, rounded once to float (rope_angles).
struct fwd_rope_table {
  const double* inv_freq;
  const std::int64_t* positions;  // null: t % seq
  float* cos_out;
  float* sin_out;
  std::size_t half, seq;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t t = idx / half, i = idx % half;
    const double p = positions != nullptr ? static_cast<double>(positions[t]) : static_cast<double>(t % seq);
    const double a = p * inv_freq[i];
    cos_out[idx] = static_cast<float>(std::cos(a));
    sin_out[idx] = static_cast<float>(std::sin(a));
  }
};
/// Rotates element pair (i, i + half) of head h of row r (rope_angles::apply).
struct fwd_rope_apply {
  float* x;
  const float* cos_t;
  const float* sin_t;
  std::size_t heads, half;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t per_row = heads * half;
    const std::size_t r = idx / per_row, rem = idx % per_row, h = rem / half, i = rem % half;
    float* a = x + r * 2 * per_row + h * 2 * half;
    const float c = cos_t[r * half + i], s = sin_t[r * half + i];
    const float x1 = a[i], x2 = a[i + half];
    a[i] = x1 * c - x2 * s;
    a[i + half] = x2 * c + x1 * s;
  }
};
struct fwd_add_bias {
  float* y;
  const float* b;
  std::size_t n;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const { y[i] += b[i % n]; }
};
struct fwd_add {
  float* y;
  const float* a;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const { y[i] += a[i]; }
};
/// Grouped-query attention's repeat_kv: dst [T, heads * hd], head h = src's KV head h / group.
struct fwd_repeat_kv {
  const float* src;
  float* dst;
  std::size_t kv_dim, q_dim, hd, group;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const {
    const std::size_t t = i / q_dim, c = i % q_dim;
    dst[i] = src[t * kv_dim + (c / hd / group) * hd + c % hd];
  }
};
/// g = silu(g) * u = g / (1 + e^-g) * u.
struct fwd_silu_mul {
  float* g;
  const float* u;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const {
    const float v = g[i];
    g[i] = v / (1.0f + std::exp(-v)) * u[i];
  }
};
/// Masked softmax of the score rows of one attention chunk, in place, in three element-parallel
/// passes that read the scores twice and write them once (the scores' memory traffic, not the
/// arithmetic, bounds a calibration forward's attention; a thread per row would leave a GPU mostly
/// idle: a chunk has heads x rows rows of up to S keys). Scores: blocks of `rows` query rows x
/// `cols` keys, column-major (element (r, c) of block b at b * rows * cols + r + c * rows); global
/// row g = b * rows + r is the query at slot t0 + r, column c the key at slot kbeg + c. Visible:
/// causal, inside the window, and a token per key_ok (null: all).
///   1. per (32-key segment, row): the segment's max m_s and sum_s = sum of exp(x - m_s) (float exp,
///      double sum) over its visible scores -> part[seg * R + g] (adjacent threads, adjacent rows);
///   2. per row: M = max m_s, Z = sum_s sum_s * exp(m_s - M) (double), inv = 1 / Z;
///   3. per element (flat, coalesced): p = exp(x - M) * inv if visible, else 0.
/// A row with no visible key becomes 0 (as run_decoder_layer's padding queries).
inline constexpr std::size_t softmax_seg_cols = 32;
struct fwd_softmax_geom {
  float* sc;
  const std::uint8_t* key_ok;  // per key slot of the sequence, or null
  std::size_t rows, cols, t0, kbeg, window, total_rows, segs;

  LLMC_HOST_DEVICE float* row(std::size_t g) const { return sc + (g / rows) * rows * cols + g % rows; }
  LLMC_HOST_DEVICE bool visible(std::size_t g, std::size_t c) const {
    const std::size_t t = t0 + g % rows, slot = kbeg + c;
    const std::size_t lo = window > 0 && t + 1 > window ? t + 1 - window : 0;
    return slot >= lo && slot <= t && (key_ok == nullptr || key_ok[slot] != 0);
  }
  LLMC_HOST_DEVICE std::size_t seg_end(std::size_t seg) const {
    return (seg + 1) * softmax_seg_cols < cols ? (seg + 1) * softmax_seg_cols : cols;
  }
};
/// Pass 1: the segment's max and its sum of exp(x - max) over the visible scores (max -inf and
/// sum 0 when none is visible); the scores are read, not written.
struct fwd_softmax_part {
  fwd_softmax_geom m;
  float* pmax;
  double* psum;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t seg = idx / m.total_rows, g = idx % m.total_rows;
    const float* row = m.row(g);
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t c = seg * softmax_seg_cols; c < m.seg_end(seg); ++c)
      if (m.visible(g, c)) mx = row[c * m.rows] > mx ? row[c * m.rows] : mx;
    double sum = 0.0;
    if (mx != -std::numeric_limits<float>::infinity())
      for (std::size_t c = seg * softmax_seg_cols; c < m.seg_end(seg); ++c)
        if (m.visible(g, c)) sum += static_cast<double>(std::exp(row[c * m.rows] - mx));
    pmax[idx] = mx;
    psum[idx] = sum;
  }
};
/// Pass 2: the row's max (into rmax[g]) and 1 / its sum of exponentials (into inv[g]; 0 for a row
/// with no visible key), from the segments' partial results.
struct fwd_softmax_row_norm {
  fwd_softmax_geom m;
  const float* pmax;
  const double* psum;
  float* rmax;
  float* inv;
  LLMC_HOST_DEVICE void operator()(std::size_t g) const {
    float mx = -std::numeric_limits<float>::infinity();
    for (std::size_t seg = 0; seg < m.segs; ++seg) mx = pmax[seg * m.total_rows + g] > mx ? pmax[seg * m.total_rows + g] : mx;
    double sum = 0.0;
    if (mx != -std::numeric_limits<float>::infinity())
      for (std::size_t seg = 0; seg < m.segs; ++seg) {
        const float ms = pmax[seg * m.total_rows + g];
        if (ms != -std::numeric_limits<float>::infinity())
          sum += psum[seg * m.total_rows + g] * std::exp(static_cast<double>(ms) - static_cast<double>(mx));
      }
    rmax[g] = mx;
    inv[g] = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
  }
};
/// Pass 3: every score element becomes its probability (flat over the chunk's blocks).
struct fwd_softmax_write {
  fwd_softmax_geom m;
  const float* rmax;
  const float* inv;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t block = m.rows * m.cols, in_block = idx % block;
    const std::size_t g = (idx / block) * m.rows + in_block % m.rows, c = in_block / m.rows;
    const float w = inv[g];
    m.sc[idx] = w > 0.0f && m.visible(g, c) ? std::exp(m.sc[idx] - rmax[g]) * w : 0.0f;
  }
};

/// v.size() >= n; the old contents are dropped (a scratch buffer).
template <class V>
void ensure_size(V& v, std::size_t n) {
  if (v.size() < n) {
    V().swap(v);
    v = V(n);
  }
}

}  // namespace detail

/// The forward pass of one decoder layer in a policy's memory, with reusable scratch buffers.
template <class K>
class device_decoder_forward {
 public:
  using backend = typename K::backend;
  template <class T>
  using vec = typename K::template vector<T>;
  template <class T>
  using view = matrix_view<T, backend>;

  device_decoder_forward(const K& k, const decoder_spec& s, device_forward_options opt = {}) : k_(k), s_(s), opt_(opt) {
    const std::vector<double> f = rope_inv_freq(s.rope, s.head_dim);
    inv_freq_ = vec<double>(f.size());
    k_.upload(f.data(), f.size(), raw_data(inv_freq_));
  }

  [[nodiscard]] const decoder_spec& spec() const noexcept { return s_; }
  [[nodiscard]] const device_forward_options& options() const noexcept { return opt_; }

  /// Bytes of the scratch buffers held now.
  [[nodiscard]] std::uint64_t scratch_bytes() const noexcept {
    std::uint64_t f = x_.size() + q_.size() + k_buf_.size() + v_.size() + attn_.size() + proj_.size() + gate_.size() +
                      up_.size() + scores_.size() + cos_.size() + sin_.size() + inv_.size() + row_max_.size() +
                      row_inv_.size() + k_rep_.size() + v_rep_.size();
    return f * sizeof(float) + (ss_.size() + row_sum_.size()) * sizeof(double);
  }

  /// Runs layer `w` on `io` in place; `hook` sees each Linear's input before it runs (q/k/v and
  /// gate/up share one matrix), in the policy's memory.
  /// @throws shape_error llmc.model.120 / 121 (batch), 125 (a Linear's shape)
  /// inputs_only: stop once down_proj's input has reached the hook (its product and the MLP
  /// residual are skipped; io.states is left unspecified): a statistics pass on a scratch copy.
  void run(const device_decoder_layer<K>& w, device_hidden_batch<K>& io, const device_input_hook<K>& hook = {},
           bool inputs_only = false) {
    check(w, io);
    const std::size_t B = io.batch, S = io.seq, T = io.tokens(), H = s_.hidden_size;
    if (T == 0) return;
    const std::size_t hd = s_.head_dim, nh = s_.num_heads, nkv = s_.num_kv_heads, half = hd / 2;
    const std::size_t qd = s_.q_dim(), kvd = s_.kv_dim(), I = s_.intermediate_size;
    const std::size_t window = w.index < s_.layer_window.size() ? s_.layer_window[w.index] : 0;
    const std::uint8_t* mask = io.mask_data();
    detail::ensure_size(x_, T * H);
    detail::ensure_size(q_, T * qd);
    detail::ensure_size(k_buf_, T * kvd);
    detail::ensure_size(v_, T * kvd);
    detail::ensure_size(attn_, T * qd);
    detail::ensure_size(proj_, T * H);
    detail::ensure_size(gate_, T * I);
    detail::ensure_size(up_, T * I);
    detail::ensure_size(cos_, T * half);
    detail::ensure_size(sin_, T * half);

    float* states = raw_data(io.states);
    float* x = raw_data(x_);
    float* q = raw_data(q_);
    float* kk = raw_data(k_buf_);
    float* v = raw_data(v_);
    float* attn = raw_data(attn_);
    float* proj = raw_data(proj_);
    float* gate = raw_data(gate_);
    float* up = raw_data(up_);

    auto linear = [&](std::size_t i, const float* in, float* out) {
      const device_linear<K>& l = w.linears[i];
      const view<const float> xin(in, T, l.in_features);
      if (hook) hook(device_linear_input<backend>{i, w.index, xin, mask, B, S});
      const view<float> y(out, T, l.out_features);
      if (opt_.tf32_linears) k_.gemm_tf32(1.0f, xin, l.weight_view().transposed(), 0.0f, y);
      else k_.gemm(1.0f, xin, l.weight_view().transposed(), 0.0f, y);
      if (!l.bias.empty()) for_n(T * l.out_features, detail::fwd_add_bias{out, raw_data(l.bias), l.out_features});
    };

    // Self-attention block.
    rms_norm(states, raw_data(w.input_layernorm), T, H, x);
    linear(0, x, q);
    linear(1, x, kk);
    linear(2, x, v);
    if (s_.qk_norm) {
      rms_norm(q, raw_data(w.q_norm), T * nh, hd, q);
      rms_norm(kk, raw_data(w.k_norm), T * nkv, hd, kk);
    }
    const std::int64_t* pos = io.positions.empty() ? nullptr : raw_data(io.positions);
    for_n(T * half, detail::fwd_rope_table{raw_data(inv_freq_), pos, raw_data(cos_), raw_data(sin_), half, S});
    for_n(T * nh * half, detail::fwd_rope_apply{q, raw_data(cos_), raw_data(sin_), nh, half});
    for_n(T * nkv * half, detail::fwd_rope_apply{kk, raw_data(cos_), raw_data(sin_), nkv, half});
    attention(B, S, window, mask, q, kk, v, attn);
    linear(3, attn, proj);
    for_n(T * H, detail::fwd_add{states, proj});

    // MLP block.
    rms_norm(states, raw_data(w.post_attention_layernorm), T, H, x);
    linear(4, x, gate);
    linear(5, x, up);
    for_n(T * I, detail::fwd_silu_mul{gate, up});
    if (inputs_only) {
      if (hook) hook(device_linear_input<backend>{6, w.index, view<const float>(gate, T, w.linears[6].in_features), mask, B, S});
      return;
    }
    linear(6, gate, proj);
    for_n(T * H, detail::fwd_add{states, proj});
  }

  /// Query rows per attention chunk for sequences of `seq` tokens (what run() uses).
  [[nodiscard]] std::size_t attention_chunk(std::size_t seq) const noexcept {
    const std::size_t per_row = std::max<std::size_t>(1, s_.num_heads * seq);
    return std::clamp<std::size_t>(opt_.attention_score_floats / per_row, 1, std::max<std::size_t>(1, seq));
  }

 private:
  template <class F>
  void for_n(std::size_t n, F f) const {
    if (n == 0) return;
    thrust::for_each(k_.exec(), thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(n), f);
  }

  /// out[r] = w * x[r] / sqrt(mean(x[r]^2) + eps) over `rows` contiguous rows of n (out may be x).
  void rms_norm(const float* x, const float* w, std::size_t rows, std::size_t n, float* out) {
    const std::size_t parts = (n + detail::rms_part_cols - 1) / detail::rms_part_cols;
    detail::ensure_size(ss_, rows * parts);
    detail::ensure_size(inv_, rows);
    for_n(rows * parts, detail::fwd_square_parts{x, raw_data(ss_), n, parts});
    for_n(rows, detail::fwd_rms_inv{raw_data(ss_), raw_data(inv_), parts, static_cast<double>(n), static_cast<double>(s_.rms_norm_eps)});
    for_n(rows * n, detail::fwd_rms_apply{x, w, raw_data(inv_), out, n});
  }

  void batched(float alpha, view<const float> a, std::ptrdiff_t sa, view<const float> b, std::ptrdiff_t sb, view<float> c,
               std::ptrdiff_t sc, std::size_t count) const {
    if (opt_.tf32_linears) k_.gemm_strided_batched_tf32(alpha, a, sa, b, sb, 0.0f, c, sc, count);
    else k_.gemm_strided_batched(alpha, a, sa, b, sb, 0.0f, c, sc, count);
  }

  void attention(std::size_t B, std::size_t S, std::size_t window, const std::uint8_t* mask, const float* q, const float* kk,
                 const float* v, float* out) {
    const std::size_t hd = s_.head_dim, nh = s_.num_heads, nkv = s_.num_kv_heads, group = nh / nkv;
    const auto qd = static_cast<std::ptrdiff_t>(s_.q_dim());
    const auto shd = static_cast<std::ptrdiff_t>(hd);
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
    const std::size_t chunk = attention_chunk(S);
    detail::ensure_size(scores_, nh * chunk * S);
    const std::size_t max_segs = (S + detail::softmax_seg_cols - 1) / detail::softmax_seg_cols;
    detail::ensure_size(row_max_, nh * chunk * max_segs);
    detail::ensure_size(row_sum_, nh * chunk * max_segs);
    detail::ensure_size(row_inv_, 2 * nh * chunk);  // 1 / sum, then the row max
    float* sc = raw_data(scores_);
    float* pmax = raw_data(row_max_);
    double* psum = raw_data(row_sum_);
    float* rinv = raw_data(row_inv_);
    float* rmax = rinv + nh * chunk;
    // Keys and values repeated per query head (transformers' repeat_kv), so that one strided-batched
    // GEMM covers every head of a chunk: 2 GEMMs per chunk instead of 2 x group (the products are
    // small, so the launches, not the FLOPs, bound a calibration forward's attention).
    const float* kh = kk;
    const float* vh = v;
    if (group > 1) {
      const std::size_t T = B * S;
      detail::ensure_size(k_rep_, T * s_.q_dim());
      detail::ensure_size(v_rep_, T * s_.q_dim());
      for_n(T * s_.q_dim(), detail::fwd_repeat_kv{kk, raw_data(k_rep_), s_.kv_dim(), s_.q_dim(), hd, group});
      for_n(T * s_.q_dim(), detail::fwd_repeat_kv{v, raw_data(v_rep_), s_.kv_dim(), s_.q_dim(), hd, group});
      kh = raw_data(k_rep_);
      vh = raw_data(v_rep_);
    }
    for (std::size_t b = 0; b < B; ++b) {
      const std::uint8_t* key_ok = mask == nullptr ? nullptr : mask + b * S;
      for (std::size_t t0 = 0; t0 < S; t0 += chunk) {
        const std::size_t t1 = std::min(S, t0 + chunk), rows = t1 - t0;
        const std::size_t kbeg = window > 0 && t0 + 1 > window ? t0 + 1 - window : 0, keys = t1 - kbeg;
        const auto blk = static_cast<std::ptrdiff_t>(rows * keys);
        // Head h: queries rows t0..t1, keys / values rows kbeg..t1 of sequence b, columns h*hd..
        // (stride hd over h); its scores are block h, column-major (rows adjacent).
        const view<const float> qh(q + (b * S + t0) * s_.q_dim(), rows, hd, qd, 1);
        const view<const float> kt = view<const float>(kh + (b * S + kbeg) * s_.q_dim(), keys, hd, qd, 1).transposed();
        const view<const float> vv(vh + (b * S + kbeg) * s_.q_dim(), keys, hd, qd, 1);
        batched(scale, qh, shd, kt, shd, view<float>(sc, rows, keys, 1, static_cast<std::ptrdiff_t>(rows)), blk, nh);
        const std::size_t R = nh * rows, segs = (keys + detail::softmax_seg_cols - 1) / detail::softmax_seg_cols;
        const detail::fwd_softmax_geom geom{sc, key_ok, rows, keys, t0, kbeg, window, R, segs};
        for_n(segs * R, detail::fwd_softmax_part{geom, pmax, psum});
        for_n(R, detail::fwd_softmax_row_norm{geom, pmax, psum, rmax, rinv});
        for_n(R * keys, detail::fwd_softmax_write{geom, rmax, rinv});
        const view<const float> p(sc, rows, keys, 1, static_cast<std::ptrdiff_t>(rows));
        batched(1.0f, p, blk, vv, shd, view<float>(out + (b * S + t0) * s_.q_dim(), rows, hd, qd, 1), shd, nh);
      }
    }
  }

  void check(const device_decoder_layer<K>& w, const device_hidden_batch<K>& io) const {
    const std::size_t T = io.tokens();
    if (io.hidden != s_.hidden_size || io.states.size() != T * s_.hidden_size) {
      LLMC_THROW(shape_error, model_errc::hidden_shape,
                 "device hidden states hold " + std::to_string(io.states.size()) + " floats of width " +
                     std::to_string(io.hidden) + ", expected [batch * seq, hidden_size] = " + std::to_string(T) + "x" +
                     std::to_string(s_.hidden_size));
    }
    if ((!io.mask.empty() && io.mask.size() != T) || (!io.positions.empty() && io.positions.size() != T)) {
      LLMC_THROW(shape_error, model_errc::mask_shape,
                 "the attention mask (" + std::to_string(io.mask.size()) + ") and position ids (" +
                     std::to_string(io.positions.size()) + ") must be empty or have batch * seq = " + std::to_string(T) +
                     " entries");
    }
    const std::size_t H = s_.hidden_size, qd = s_.q_dim(), kvd = s_.kv_dim(), I = s_.intermediate_size;
    const std::array<std::array<std::size_t, 2>, 7> shapes{{{qd, H}, {kvd, H}, {kvd, H}, {H, qd}, {I, H}, {I, H}, {H, I}}};
    for (std::size_t i = 0; i < 7; ++i) {
      const device_linear<K>& l = w.linears[i];
      if (l.out_features != shapes[i][0] || l.in_features != shapes[i][1] || l.weight.size() != shapes[i][0] * shapes[i][1] ||
          (!l.bias.empty() && l.bias.size() != shapes[i][0])) {
        LLMC_THROW(shape_error, model_errc::weight_swap,
                   "device decoder layer " + std::to_string(w.index) + ": Linear " + l.name + " is " +
                       std::to_string(l.out_features) + "x" + std::to_string(l.in_features) + " (" +
                       std::to_string(l.weight.size()) + " weights, " + std::to_string(l.bias.size()) +
                       " biases); the spec needs " + std::to_string(shapes[i][0]) + "x" + std::to_string(shapes[i][1]));
      }
    }
    if (w.input_layernorm.size() != H || w.post_attention_layernorm.size() != H ||
        (s_.qk_norm && (w.q_norm.size() != s_.head_dim || w.k_norm.size() != s_.head_dim))) {
      LLMC_THROW(shape_error, model_errc::weight_swap,
                 "device decoder layer " + std::to_string(w.index) + ": norm weights do not match hidden_size " +
                     std::to_string(H) + (s_.qk_norm ? " / head_dim " + std::to_string(s_.head_dim) : std::string()));
    }
  }

  K k_;
  decoder_spec s_;
  device_forward_options opt_;
  vec<double> inv_freq_;
  vec<float> x_, q_, k_buf_, v_, attn_, proj_, gate_, up_, scores_, cos_, sin_, inv_, row_max_, row_inv_, k_rep_, v_rep_;
  vec<double> ss_, row_sum_;
};

}  // namespace llmc
