// llmc/scheme/quantize_weight.hpp — quantize a weight from its own statistics, the way the
// compressed-tensors compressor does at save time.
//
// The weight observer of the args is used, with LLM Compressor's override for weights
// ([LC] modifiers/quantization/calibration.py initialize_observer; spec §4.7): minmax and
// static_minmax become memoryless_minmax, mse becomes memoryless_mse, since a weight is observed once.
#pragma once

#include <type_traits>

#include "llmc/scheme/observer.hpp"
#include "llmc/scheme/pack.hpp"
#include "llmc/scheme/scheme.hpp"

namespace llmc {

/// The observer kind LLM Compressor actually uses for a weight with these args.
constexpr observer_kind weight_observer_kind(observer_kind k) noexcept {
  switch (k) {
    case observer_kind::mse:
    case observer_kind::memoryless_mse: return observer_kind::memoryless_mse;
    default: return observer_kind::memoryless_minmax;
  }
}

namespace detail {
/// A scheme whose weight args are a static member (scheme<...>'s are constexpr), not an object's.
template <class S>
concept static_weight_args = requires { &S::weights; } && !std::is_member_object_pointer_v<decltype(&S::weights)>;

/// The weight args as a callable: a constant for scheme<...>, the object's member otherwise.
template <class S>
auto weight_args_source(const S& s) noexcept {
  if constexpr (static_weight_args<S>)
    return [] { return S::weights; };
  else
    return [&s] { return s.weights; };
}

/// Memoryless min-max qparams and codes in one pass over the weight: each band of rows that
/// shares qparam slots (one row, or one block height) is reduced, turned into qparams and
/// quantized while it is still in cache. Bit-identical to observer + quantize (tested).
/// args() returns the quant_args: a lambda returning a scheme's static constexpr weights lets the
/// per-slot calculate_qparams fold its branches away (a third of the time for group size 128).
/// band_done(r0, r1) runs on the worker thread right after rows [r0, r1) got their codes, while
/// they are still in cache (quantize_pack_weight_into packs them there).
struct no_band_hook {
  void operator()(std::size_t, std::size_t) const noexcept {}
};

template <class S, class ArgsSource, class BandDone = no_band_hook>
quantized_tensor fused_minmax_quantize(ArgsSource args, matrix_view<const S> x, float global_scale,
                                       quantized_tensor&& reuse = {}, const BandDone& band_done = {}) {
  using D = compute_dtype<S>;
  const quant_args a = args();
  require_args<S>(a);
  const qparam_layout l(a, x.rows(), x.cols());
  qparams p;
  p.layout = l;
  p.scale = matrix<float>(l.slot_rows, l.slot_cols);
  if (!a.symmetric) p.zero_point = matrix<std::int8_t>(l.slot_rows, l.slot_cols);
  if (a.strategy == quant_strategy::tensor || (a.strategy == quant_strategy::tensor_group && global_scale <= 0.0f)) {
    // These need the whole tensor's range before any code can be written: one reduction pass first.
    const quant_args whole{.num_bits = a.num_bits, .type = a.type, .symmetric = a.symmetric};
    matrix<float> mn, mx;
    slot_minmax(whole, x, mn, mx);
    if (a.strategy == quant_strategy::tensor) {
      const slot_qparams q = calculate_qparams<S>(a, mn(0, 0), mx(0, 0));
      p.scale(0, 0) = q.scale;
      if (!a.symmetric) p.zero_point(0, 0) = static_cast<std::int8_t>(q.zero_point);
      // As quantize(a, x, p), but into the reused code buffer (a fresh 16 MB one per call costs
      // its page faults: 40 % of the time of a 4096 x 4096 FP8 weight).
      quantized_tensor out = std::move(reuse);
      out.args = a;
      out.model_dtype = D::type;
      out.g_idx.clear();
      if (out.codes.rows() != x.rows() || out.codes.cols() != x.cols()) out.codes = matrix<std::uint8_t>(x.rows(), x.cols());
      with_family(a, [&](auto fam) { quantize_rows<decltype(fam)::value, S, S>(a, x, p, out.codes.view(), {}); });
      band_done(std::size_t{0}, x.rows());
      out.params = std::move(p);
      return out;
    }
    global_scale = nvfp4_global_scale(mn(0, 0), mx(0, 0));
  }
  if (a.strategy != quant_strategy::tensor_group) global_scale = 0.0f;
  p.global_scale = global_scale;
  quantized_tensor q = std::move(reuse);
  q.args = a;
  q.model_dtype = D::type;
  q.g_idx.clear();
  // Reuse the previous result's code buffer when the shape matches: quantizing layer after layer
  // then never hands multi-megabyte buffers back to the OS and faults them in again.
  if (q.codes.rows() != x.rows() || q.codes.cols() != x.cols()) q.codes = matrix<std::uint8_t>(x.rows(), x.cols());
  const std::size_t band = a.strategy == quant_strategy::block ? l.block_height : 1;
  const std::size_t n_bands = l.slot_rows;
  const std::size_t min_bands = std::max<std::size_t>(1, (std::size_t{1} << 18) / std::max<std::size_t>(1, band * l.cols));
  const float q_min = a.q_min(), q_max = a.q_max();
  const bool fp32_divide = global_scale > 0.0f || a.is_mx();
  with_family(a, [&](auto fam) {
    constexpr auto F = decltype(fam)::value;
    parallel_for_chunks(n_bands, parallel_chunks(n_bands, min_bands), [&](std::size_t, std::size_t b0, std::size_t b1) {
      std::vector<float> row_min(l.slot_cols), row_max(l.slot_cols), zp_f(l.slot_cols);
      for (std::size_t sr = b0; sr < b1; ++sr) {
        const std::size_t r0 = sr * band, r1 = std::min(x.rows(), r0 + band);
        auto reduce_slot = [&](std::size_t sc) LLMC_LAMBDA_INLINE {
          const std::size_t c0 = sc * l.group, c1 = std::min(x.cols(), c0 + l.group);
          float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
          for (std::size_t r = r0; r < r1; ++r) {
            float a_mn, a_mx;
            if (x.stride(1) == 1) {
              run_minmax(&x(r, c0), c1 - c0, a_mn, a_mx);
            } else {
              a_mn = std::numeric_limits<float>::infinity();
              a_mx = -std::numeric_limits<float>::infinity();
              for (std::size_t c = c0; c < c1; ++c) {
                const float v = D::to_float(x(r, c));
                a_mn = v < a_mn ? v : a_mn;
                a_mx = v > a_mx ? v : a_mx;
              }
            }
            mn = std::min(mn, a_mn);
            mx = std::max(mx, a_mx);
          }
          const slot_qparams sq = calculate_qparams_inline<S>(a, mn, mx, global_scale);
          p.scale(sr, sc) = sq.scale;
          if (!a.symmetric) p.zero_point(sr, sc) = static_cast<std::int8_t>(sq.zero_point);
        };
        auto code_slot = [&](std::size_t sc) LLMC_LAMBDA_INLINE {
          const std::size_t c0 = sc * l.group, c1 = std::min(x.cols(), c0 + l.group);
          const float s = effective_scale(p.scale(sr, sc), global_scale);
          const float zp = a.symmetric ? 0.0f : static_cast<float>(p.zero_point(sr, sc));
          for (std::size_t r = r0; r < r1; ++r) {
            std::uint8_t* LLMC_RESTRICT o = &q.codes(r, c0);
            if (x.stride(1) == 1) {
              quantize_run<F, S>(&x(r, c0), c1 - c0, o, s, zp, q_min, q_max, fp32_divide);
            } else {
              for (std::size_t c = c0; c < c1; ++c)
                o[c - c0] = quantize_element<F, S>(D::to_float(x(r, c)), s, zp, q_min, q_max, fp32_divide);
            }
          }
        };
        if (band == 1) {
          // One row: all its slots' ranges first, then their qparams in one loop over the slots
          // (branch-free with constant args, so the compiler vectorizes the divides and roundings
          // across slots: 2x for the asymmetric qparams), then the codes in a second sweep over the
          // row (still in L1): no slot's codes wait on its own reduce -> divide chain.
          if (x.stride(1) == 1) {
            for (std::size_t sc = 0; sc < l.slot_cols; ++sc) {
              const std::size_t c0 = sc * l.group, c1 = std::min(x.cols(), c0 + l.group);
              run_minmax(&x(r0, c0), c1 - c0, row_min[sc], row_max[sc]);
            }
            float* LLMC_RESTRICT scale_row = &p.scale(sr, 0);
            float* LLMC_RESTRICT zp_row = zp_f.data();
            const float* LLMC_RESTRICT mn = row_min.data();
            const float* LLMC_RESTRICT mx = row_max.data();
            for (std::size_t sc = 0; sc < l.slot_cols; ++sc) {
              const slot_qparams sq = calculate_qparams_inline<S>(a, mn[sc], mx[sc], global_scale);
              scale_row[sc] = sq.scale;
              zp_row[sc] = sq.zero_point;
            }
            if (!a.symmetric)
              for (std::size_t sc = 0; sc < l.slot_cols; ++sc)
                p.zero_point(sr, sc) = static_cast<std::int8_t>(zp_row[sc]);
          } else {
            for (std::size_t sc = 0; sc < l.slot_cols; ++sc) reduce_slot(sc);
          }
          for (std::size_t sc = 0; sc < l.slot_cols; ++sc) code_slot(sc);
        } else if (x.stride(1) == 1) {
          // Block strategy: both sweeps go row by row across the band (sequential reads the
          // prefetchers follow; block by block meant 128 interleaved 256-byte streams). The second
          // sweep finds the 1 MB band in L2/L3.
          std::fill(row_min.begin(), row_min.end(), std::numeric_limits<float>::infinity());
          std::fill(row_max.begin(), row_max.end(), -std::numeric_limits<float>::infinity());
          for (std::size_t r = r0; r < r1; ++r) {
            for (std::size_t sc = 0; sc < l.slot_cols; ++sc) {
              const std::size_t c0 = sc * l.group, c1 = std::min(x.cols(), c0 + l.group);
              float a_mn, a_mx;
              run_minmax(&x(r, c0), c1 - c0, a_mn, a_mx);
              row_min[sc] = std::min(row_min[sc], a_mn);
              row_max[sc] = std::max(row_max[sc], a_mx);
            }
          }
          for (std::size_t sc = 0; sc < l.slot_cols; ++sc) {
            const slot_qparams sq = calculate_qparams_inline<S>(a, row_min[sc], row_max[sc], global_scale);
            p.scale(sr, sc) = sq.scale;
            if (!a.symmetric) p.zero_point(sr, sc) = static_cast<std::int8_t>(sq.zero_point);
          }
          for (std::size_t r = r0; r < r1; ++r) {
            for (std::size_t sc = 0; sc < l.slot_cols; ++sc) {
              const std::size_t c0 = sc * l.group, c1 = std::min(x.cols(), c0 + l.group);
              const float s = effective_scale(p.scale(sr, sc), global_scale);
              const float zp = a.symmetric ? 0.0f : static_cast<float>(p.zero_point(sr, sc));
              quantize_run<F, S>(&x(r, c0), c1 - c0, &q.codes(r, c0), s, zp, q_min, q_max, fp32_divide);
            }
          }
        } else {
          for (std::size_t sc = 0; sc < l.slot_cols; ++sc) {
            reduce_slot(sc);
            code_slot(sc);
          }
        }
        band_done(r0, r1);
      }
    });
  });
  q.params = std::move(p);
  return q;
}
}  // namespace detail

/// qparams of a weight (global_scale: a shared NVFP4 global scale, or 0 to compute it).
template <host_matrix M>
qparams weight_qparams(const quant_args& a, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  using T = std::remove_cv_t<element_of_t<M>>;
  quant_args obs_args = a;
  obs_args.observer = weight_observer_kind(a.observer);
  observer obs(obs_args, o);
  obs.observe(w);
  return obs.get_qparams<T>(global_scale);
}

/// Round-to-nearest quantization of a weight with the scheme's weight args.
/// As quantize_weight below, reusing `out`'s buffers (same shape) for the result.
template <quantization_scheme S, host_matrix M>
void quantize_weight_into(quantized_tensor& out, const S& s, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  if (weight_observer_kind(s.weights.observer) == observer_kind::memoryless_minmax)
    out = detail::fused_minmax_quantize(detail::weight_args_source(s), cview(w), global_scale, std::move(out));
  else
    out = quantize(s.weights, w, weight_qparams(s.weights, w, global_scale, o));
}

/// The min-max observer takes the fused single-pass path; the MSE observer searches first.
template <quantization_scheme S, host_matrix M>
quantized_tensor quantize_weight(const S& s, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  if (weight_observer_kind(s.weights.observer) == observer_kind::memoryless_minmax)
    return detail::fused_minmax_quantize(detail::weight_args_source(s), cview(w), global_scale);
  return quantize(s.weights, w, weight_qparams(s.weights, w, global_scale, o));
}

/// quantize_weight_into(out, s, w) and pack_int_codes_into(words, out, layout) in one pass: each
/// band of rows is packed right after it is coded, while its codes are in cache (the separate
/// pack re-reads every code from memory). Same bytes as the two calls (tested). Integer schemes.
/// @throws config_error llmc.scheme.020 when the weights are not integer-quantized.
template <quantization_scheme S, host_matrix M>
void quantize_pack_weight_into(matrix<std::int32_t>& words, quantized_tensor& out, const S& s, const M& w,
                               int_packing layout = int_packing::dense, float global_scale = 0.0f,
                               observer_options o = {}) {
  const quant_args a = s.weights;
  if (!a.is_int()) LLMC_THROW(config_error, "llmc.scheme.020", "quantize_pack_weight: the weights are not integer-quantized");
  if (weight_observer_kind(a.observer) != observer_kind::memoryless_minmax) {
    quantize_weight_into(out, s, w, global_scale, o);
    pack_int_codes_into(words, out, layout);
    return;
  }
  const auto x = cview(w);
  const std::size_t n_words = detail::words_for(x.cols(), a.num_bits, layout);
  if (words.rows() != x.rows() || words.cols() != n_words) words = matrix<std::int32_t>(x.rows(), n_words);
  // The hook reads the codes from out's buffer, which fused_minmax_quantize fills in place (it
  // keeps a buffer of the right shape; allocated below before the workers start).
  const std::uint8_t* codes_data = nullptr;
  auto pack_band = [&](std::size_t r0, std::size_t r1) {
    for (std::size_t r = r0; r < r1; ++r) {
      const auto* row = reinterpret_cast<const std::int8_t*>(codes_data + r * x.cols());
      detail::pack_row({row, x.cols()}, a.num_bits, {&words(r, 0), n_words}, layout);
    }
  };
  if (out.codes.rows() != x.rows() || out.codes.cols() != x.cols()) out.codes = matrix<std::uint8_t>(x.rows(), x.cols());
  codes_data = out.codes.data();
  out = detail::fused_minmax_quantize(detail::weight_args_source(s), x, global_scale, std::move(out), pack_band);
}

}  // namespace llmc
