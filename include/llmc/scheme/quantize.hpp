// llmc/scheme/quantize.hpp — quantize, dequantize and fake-quantize for every strategy.
//
// The element math is compressed-tensors' eager path ([CT] quantization/lifecycle/forward_helpers.py
// _quantize/_dequantize; spec §4.3): y = x / s in the compute dtype (an fp32 divide rounded to
// bf16/fp16), + zp, clamp to [q_min, q_max], then round-half-even (int), the E4M3 cast (fp8) or
// the E2M1 table (fp4). NVFP4 divides by s / global_scale in fp32; dequantization multiplies in the
// scale's dtype and casts to the model dtype. Runs sharing one qparam slot are processed as a
// unit so the inner loops are branch-free and vectorize. Partial last groups are supported (use
// check_shape_fits() to know whether compressed-tensors would accept the shape).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#if defined(__CUDACC__)
#include <cuda_fp8.h>  // sm_89+: the hardware E4M3 conversion in quantize_element
#endif

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/core/simd.hpp"
#include "llmc/numeric/float4.hpp"
#include "llmc/numeric/float8.hpp"
#include "llmc/numeric/rounding.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/quantize_avx512.hpp"
#include "llmc/scheme/quantized_tensor.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

namespace detail {

enum class kernel_family : std::uint8_t { int_sym, int_asym, fp8, fp4 };

constexpr kernel_family family_of(const quant_args& a) noexcept {
  if (a.is_int()) return a.symmetric ? kernel_family::int_sym : kernel_family::int_asym;
  return a.num_bits == 8 ? kernel_family::fp8 : kernel_family::fp4;
}

/// The divisor actually used for one slot: NVFP4 divides by scale / global_scale (fp32).
LLMC_HOST_DEVICE inline float effective_scale(float scale, float global_scale) noexcept {
  return global_scale > 0.0f ? scale / global_scale : scale;
}

/// Nearest integer, ties to even (torch.round). One instruction where the target has one
/// (SSE4.1/AVX roundps, CUDA rint); round_half_even's add/subtract form otherwise. rint rounds in
/// the current mode, which llmc requires to be the default round-to-nearest-even (as
/// round_half_even does); GCC 12 vectorizes rint but not roundeven. Same result for every input
/// (tested against round_half_even over all floats in [-2^24, 2^24]).
LLMC_HOST_DEVICE LLMC_ALWAYS_INLINE float round_even(float x) noexcept {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#elif defined(__GNUC__) && (defined(__SSE4_1__) || defined(__aarch64__))
  return __builtin_rintf(x);
#else
  return round_half_even(x);
#endif
}

/// E4M3 magnitude code (0..0x7E) of the float whose magnitude bits are a, a <= bits(448),
/// round-to-nearest-even: normals round the fp32 mantissa to 3 bits with an integer add and
/// rebias the exponent (127 -> 7); below 2^-6 the code is the subnormal count |y| / 2^-9, rounded
/// (8 = 2^-6, the first normal, lines up). Equal to float8_e4m3fn's conversion on that domain
/// (tested on every bf16 value and on fp32 samples).
LLMC_HOST_DEVICE LLMC_ALWAYS_INLINE std::uint32_t e4m3_magnitude_code(std::uint32_t a) noexcept {
  const std::uint32_t normal = ((a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20) - (120u << 3);
  const auto sub = static_cast<std::uint32_t>(static_cast<std::int32_t>(round_even(detail::bits_to_float(a) * 512.0f)));
  return a < 0x3C800000u ? sub : normal;
}

/// One element's code. The quotient q = x / s is tested for NaN once, at the end (NaN -> code 0
/// for integers, what torch's `.to(int8)` gives on x86; NaN -> 0x7F|sign for FP8), so the
/// rounding steps before it use the cheaper non-NaN forms and the loop stays branch-free.
template <kernel_family F, class T>
LLMC_HOST_DEVICE LLMC_ALWAYS_INLINE std::uint8_t quantize_element(float x, float s, float zp, float q_min,
                                                                  float q_max, bool fp32_divide) noexcept {
  using D = compute_dtype<T>;
  if constexpr (F == kernel_family::int_sym || F == kernel_family::int_asym) {
    const float q = x / s;
    float y = D::round_non_nan(q);
    if constexpr (F == kernel_family::int_asym) y = D::round_non_nan(y + zp);
    // round(clamp(y)) == clamp(round(y)) for integer bounds; this order vectorizes. Selecting
    // the NaN lanes before the clamps lets the clamps become plain max/min instructions.
    float r = q == q ? round_even(y) : 0.0f;
    r = r < q_min ? q_min : r;
    r = r > q_max ? q_max : r;
    return static_cast<std::uint8_t>(static_cast<std::int8_t>(static_cast<std::int32_t>(r)));
  } else if constexpr (F == kernel_family::fp8) {
    const float q = x / s;
    const float y = fp32_divide ? q : D::round_non_nan(q);
    // Clamping to +-448 is a min on the magnitude bits (integer, so it needs no NaN care); NaN
    // lanes are replaced by the NaN code at the end.
    const std::uint32_t u = detail::float_to_bits(y);
    std::uint32_t a = u & 0x7FFFFFFFu;
    a = a < 0x43E00000u ? a : 0x43E00000u;
    const std::uint32_t sign = (detail::float_to_bits(q) >> 24) & 0x80u;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    // Ada/Hopper: the hardware conversion (cvt.rn.satfinite.e4m3x2.f32: round to nearest even) of
    // the clamped value carrying q's sign gives the same code as the integer path below, which
    // sm_80 (no FP8 conversion instruction) and the host keep (tests/thrust: bit-identical).
    const float clamped = detail::bits_to_float(a | (sign << 24));
    const auto hw = static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(clamped, __NV_SATFINITE, __NV_E4M3));
    return q == q ? hw : static_cast<std::uint8_t>(0x7Fu | sign);
#else
    return static_cast<std::uint8_t>((q == q ? e4m3_magnitude_code(a) : 0x7Fu) | sign);
#endif
  } else {
    // FP4 (NVFP4 with its fp32 effective scale, MX with a power-of-two scale): fp32 division,
    // clamp, then compressed-tensors' eager cast_to_fp4, which rounds to bf16 before applying the
    // E2M1 thresholds ([CT] quantization/utils/fp4_utils.py cast_to_fp4).
    float y = x / s;
    y = y < -6.0f ? -6.0f : y;
    y = y > 6.0f ? 6.0f : y;
    return ct_cast_to_fp4(y).bits;
  }
}

/// Quantizes n contiguous elements sharing one slot. Everything is taken by value: the uint8_t
/// stores may alias any object, so bounds read through references would be reloaded per element
/// and the loop would not vectorize.
template <kernel_family F, class S>
inline void quantize_run(const S* LLMC_RESTRICT in, std::size_t n, std::uint8_t* LLMC_RESTRICT out, float s, float zp,
                         float q_min, float q_max, bool fp32_divide) noexcept {
  using D = compute_dtype<S>;
#if defined(LLMC_HAS_AVX512_QUANTIZE)
  if constexpr (std::is_same_v<S, bfloat16>) {
    // INT and FP8 round the quotient to bf16 unless the scale is fp32 (NVFP4/MX); FP4 always
    // divides in fp32 and rounds to bf16 inside cast_to_fp4, which the kernel does too.
    if (!fp32_divide || F == kernel_family::fp4) {
      constexpr auto K = F == kernel_family::int_sym    ? avx512::code_kind::int_sym
                         : F == kernel_family::int_asym ? avx512::code_kind::int_asym
                         : F == kernel_family::fp8      ? avx512::code_kind::fp8
                                                        : avx512::code_kind::fp4;
      avx512::quantize_bf16_run<K>(reinterpret_cast<const std::uint16_t*>(in), n, out, s, zp, q_min, q_max);
      return;
    }
  }
#endif
  if (fp32_divide) {
    for (std::size_t c = 0; c < n; ++c) out[c] = quantize_element<F, S>(D::to_float(in[c]), s, zp, q_min, q_max, true);
  } else {
    for (std::size_t c = 0; c < n; ++c) out[c] = quantize_element<F, S>(D::to_float(in[c]), s, zp, q_min, q_max, false);
  }
}

template <kernel_family F>
LLMC_HOST_DEVICE LLMC_ALWAYS_INLINE float code_value(std::uint8_t code) noexcept {
  if constexpr (F == kernel_family::int_sym || F == kernel_family::int_asym) {
    return static_cast<float>(static_cast<std::int8_t>(code));
  } else if constexpr (F == kernel_family::fp8) {
    return static_cast<float>(float8_e4m3fn::from_bits(code));
  } else {
    return static_cast<float>(float4_e2m1::from_bits(code));
  }
}

/// Dequantized value in the model dtype T (as a float holding a T value).
template <kernel_family F, class T>
LLMC_HOST_DEVICE LLMC_ALWAYS_INLINE float dequantize_element(std::uint8_t code, float s, float zp,
                                                             bool fp32_scale) noexcept {
  using D = compute_dtype<T>;
  float q = code_value<F>(code);
  if constexpr (F == kernel_family::int_asym) q = q - zp;  // small integers: exact in any dtype
  // The product is formed in the scale's dtype (fp32 for NVFP4/MX, T otherwise) and cast to T:
  // both are one fp32 multiply rounded to T.
  (void)fp32_scale;
  return D::round(q * s);
}

/// Min and max of n contiguous values (vectorized for float and bfloat16, see core/simd.hpp).
template <class S>
LLMC_ALWAYS_INLINE void run_minmax(const S* LLMC_RESTRICT in, std::size_t n, float& mn_out, float& mx_out) noexcept {
  if constexpr (std::is_same_v<S, float>) {
    simd::minmax_f32(in, n, mn_out, mx_out);
  } else if constexpr (std::is_same_v<S, bfloat16>) {
    static_assert(sizeof(bfloat16) == sizeof(std::uint16_t));
    simd::minmax_bf16_bits(reinterpret_cast<const std::uint16_t*>(in), n, mn_out, mx_out);
  } else {
    using D = compute_dtype<S>;
    float mn = std::numeric_limits<float>::infinity(), mx = -std::numeric_limits<float>::infinity();
    for (std::size_t c = 0; c < n; ++c) {
      const float v = D::to_float(in[c]);
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
    mn_out = mn;
    mx_out = mx;
  }
}

/// Rows per parallel chunk: at least ~256k elements of work each, so small tensors stay on one thread.
inline std::size_t row_chunks(const qparam_layout& l) noexcept {
  const std::size_t min_rows = std::max<std::size_t>(1, (std::size_t{1} << 18) / std::max<std::size_t>(1, l.cols));
  return parallel_chunks(l.rows, min_rows);
}

/// Calls f(row, col_begin, col_end, slot_row, slot_col) for every run of rows [r0, r1) sharing one slot.
template <class F>
void for_each_run(const qparam_layout& l, std::size_t r0, std::size_t r1, F&& f) {
  for (std::size_t r = r0; r < r1; ++r) {
    const std::size_t sr = l.slot_row(r);
    for (std::size_t c0 = 0; c0 < l.cols; c0 += l.group) {
      const std::size_t c1 = std::min(l.cols, c0 + l.group);
      f(r, c0, c1, sr, l.slot_col(c0));
    }
  }
}

/// Calls f(row, col_begin, col_end, slot_row, slot_col) for every run of a row sharing one slot.
template <class F>
void for_each_run(const qparam_layout& l, F&& f) {
  for (std::size_t r = 0; r < l.rows; ++r) {
    const std::size_t sr = l.slot_row(r);
    for (std::size_t c0 = 0; c0 < l.cols; c0 += l.group) {
      const std::size_t c1 = std::min(l.cols, c0 + l.group);
      f(r, c0, c1, sr, l.slot_col(c0));
    }
  }
}

template <kernel_family F, class T, class S>
void quantize_rows(const quant_args& a, matrix_view<const S> x, const qparams& p, matrix_view<std::uint8_t> out,
                   std::span<const std::int32_t> g_idx) {
  using D = compute_dtype<T>;
  const float q_min = a.q_min(), q_max = a.q_max();
  const bool fp32_divide = p.global_scale > 0.0f || a.is_mx();
  const bool has_zp = !p.zero_point.empty();
  if (!g_idx.empty()) {
    for (std::size_t r = 0; r < x.rows(); ++r) {
      const std::size_t sr = p.layout.slot_row(r);
      for (std::size_t c = 0; c < x.cols(); ++c) {
        const auto sc = static_cast<std::size_t>(g_idx[c]);
        const float s = effective_scale(p.scale(sr, sc), p.global_scale);
        const float zp = has_zp ? static_cast<float>(p.zero_point(sr, sc)) : 0.0f;
        out(r, c) = quantize_element<F, T>(D::to_float(x(r, c)), s, zp, q_min, q_max, fp32_divide);
      }
    }
    return;
  }
  // Rows write disjoint outputs: split them over threads.
  parallel_for_chunks(p.layout.rows, row_chunks(p.layout), [&](std::size_t, std::size_t r0, std::size_t r1) {
  for_each_run(p.layout, r0, r1, [&](std::size_t r, std::size_t c0, std::size_t c1, std::size_t sr, std::size_t sc) {
    const float s = effective_scale(p.scale(sr, sc), p.global_scale);
    const float zp = has_zp ? static_cast<float>(p.zero_point(sr, sc)) : 0.0f;
    std::uint8_t* LLMC_RESTRICT o = &out(r, c0);
    if (x.stride(1) == 1) {
      quantize_run<F, S>(&x(r, c0), c1 - c0, o, s, zp, q_min, q_max, fp32_divide);
    } else {
      for (std::size_t c = c0; c < c1; ++c)
        o[c - c0] = quantize_element<F, T>(D::to_float(x(r, c)), s, zp, q_min, q_max, fp32_divide);
    }
  });
  });
}

template <kernel_family F, class T>
void dequantize_rows(const quantized_tensor& q, matrix_view<T> out) {
  using D = compute_dtype<T>;
  const qparams& p = q.params;
  const bool fp32_scale = p.global_scale > 0.0f || q.args.is_mx();
  const bool has_zp = !p.zero_point.empty();
  auto slot_value = [&](std::size_t sr, std::size_t sc, float& s, float& zp) {
    s = effective_scale(p.scale(sr, sc), p.global_scale);
    zp = has_zp ? static_cast<float>(p.zero_point(sr, sc)) : 0.0f;
  };
  if (!q.g_idx.empty()) {
    for (std::size_t r = 0; r < q.rows(); ++r)
      for (std::size_t c = 0; c < q.cols(); ++c) {
        float s, zp;
        slot_value(p.layout.slot_row(r), static_cast<std::size_t>(q.g_idx[c]), s, zp);
        out(r, c) = D::from_float(dequantize_element<F, T>(q.codes(r, c), s, zp, fp32_scale));
      }
    return;
  }
  for_each_run(p.layout, [&](std::size_t r, std::size_t c0, std::size_t c1, std::size_t sr, std::size_t sc) {
    float s, zp;
    slot_value(sr, sc, s, zp);
    const std::uint8_t* LLMC_RESTRICT in = &q.codes(r, c0);
    for (std::size_t c = c0; c < c1; ++c)
      out(r, c) = D::from_float(dequantize_element<F, T>(in[c - c0], s, zp, fp32_scale));
  });
}

template <class F>
decltype(auto) with_family(const quant_args& a, F&& f) {
  switch (family_of(a)) {
    case kernel_family::int_sym: return f(std::integral_constant<kernel_family, kernel_family::int_sym>{});
    case kernel_family::int_asym: return f(std::integral_constant<kernel_family, kernel_family::int_asym>{});
    case kernel_family::fp8: return f(std::integral_constant<kernel_family, kernel_family::fp8>{});
    case kernel_family::fp4: break;
  }
  return f(std::integral_constant<kernel_family, kernel_family::fp4>{});
}

template <class T>
void require_args(const quant_args& a) {
  static_assert(require_model_dtype<T>());
  if (const char* why = validate_quant_args(a)) LLMC_THROW(config_error, "llmc.scheme.001", std::string("invalid quantization args: ") + why);
  if (!a.enabled()) LLMC_THROW(config_error, "llmc.scheme.002", "quantize called with args that quantize nothing");
}

}  // namespace detail

/// Per-slot min and max of x (the statistic of the memoryless min-max observer, spec §4.7).
/// With g_idx, column c belongs to slot column g_idx[c] (activation ordering).
template <host_matrix M>
void slot_minmax(const quant_args& a, const M& x_in, matrix<float>& mins, matrix<float>& maxs,
                 std::span<const std::int32_t> g_idx = {}) {
  auto x = cview(x_in);
  using T = std::remove_cv_t<typename decltype(x)::value_type>;
  using D = compute_dtype<T>;
  static_assert(require_model_dtype<T>());
  // Before the layout (internal callers pass partial args, so only the sizes the layout divides by).
  if (((a.strategy == quant_strategy::group || a.strategy == quant_strategy::tensor_group) && a.group_size <= 0) ||
      (a.strategy == quant_strategy::block && (a.block_rows <= 0 || a.block_cols <= 0)))
    LLMC_THROW(config_error, "llmc.scheme.001",
               "invalid quantization args: the " + std::string(to_string(a.strategy)) +
                   " strategy needs a positive group_size (group) or block_structure (block)");
  const qparam_layout l(a, x.rows(), x.cols());
  mins = matrix<float>(l.slot_rows, l.slot_cols, std::numeric_limits<float>::infinity());
  maxs = matrix<float>(l.slot_rows, l.slot_cols, -std::numeric_limits<float>::infinity());
  if (!g_idx.empty()) {
    for (std::size_t r = 0; r < x.rows(); ++r)
      for (std::size_t c = 0; c < x.cols(); ++c) {
        const float v = D::to_float(x(r, c));
        float& mn = mins(l.slot_row(r), static_cast<std::size_t>(g_idx[c]));
        float& mx = maxs(l.slot_row(r), static_cast<std::size_t>(g_idx[c]));
        mn = std::min(mn, v);
        mx = std::max(mx, v);
      }
    return;
  }
  // Each chunk of rows reduces into its own partial (blocks and the tensor strategy share slots
  // across rows); partials are merged in chunk order, so the result does not depend on threads.
  const std::size_t chunks = detail::row_chunks(l);
  std::vector<matrix<float>> part_min(chunks), part_max(chunks);
  parallel_for_chunks(l.rows, chunks, [&](std::size_t k, std::size_t r0, std::size_t r1) {
    matrix<float> pmn(l.slot_rows, l.slot_cols, std::numeric_limits<float>::infinity());
    matrix<float> pmx(l.slot_rows, l.slot_cols, -std::numeric_limits<float>::infinity());
    detail::for_each_run(l, r0, r1, [&](std::size_t r, std::size_t c0, std::size_t c1, std::size_t sr, std::size_t sc) {
      float mn, mx;
      if (x.stride(1) == 1) {
        detail::run_minmax(&x(r, c0), c1 - c0, mn, mx);
      } else {
        mn = std::numeric_limits<float>::infinity();
        mx = -std::numeric_limits<float>::infinity();
        for (std::size_t c = c0; c < c1; ++c) {
          const float v = D::to_float(x(r, c));
          mn = v < mn ? v : mn;
          mx = v > mx ? v : mx;
        }
      }
      pmn(sr, sc) = std::min(pmn(sr, sc), mn);
      pmx(sr, sc) = std::max(pmx(sr, sc), mx);
    });
    part_min[k] = std::move(pmn);
    part_max[k] = std::move(pmx);
  });
  for (std::size_t k = 0; k < chunks; ++k)
    for (std::size_t i = 0; i < mins.size(); ++i) {
      mins.data()[i] = std::min(mins.data()[i], part_min[k].data()[i]);
      maxs.data()[i] = std::max(maxs.data()[i], part_max[k].data()[i]);
    }
}

/// qparams from per-slot min/max. For tensor_group the global scale is computed from the whole
/// tensor's range unless one is given (fused q/k/v and gate/up share one, spec §4.5).
template <class T>
qparams qparams_from_minmax(const quant_args& a, std::size_t rows, std::size_t cols, const matrix<float>& mins,
                            const matrix<float>& maxs, float global_scale = 0.0f) {
  detail::require_args<T>(a);
  qparams p;
  p.layout = qparam_layout(a, rows, cols);
  if (mins.rows() != p.layout.slot_rows || mins.cols() != p.layout.slot_cols || maxs.rows() != mins.rows() ||
      maxs.cols() != mins.cols())
    LLMC_THROW(shape_error, "llmc.scheme.003", "qparams_from_minmax: min/max tensors do not match the qparam layout");
  if (a.strategy == quant_strategy::tensor_group && global_scale <= 0.0f) {
    float mn = 0.0f, mx = 0.0f;
    for (std::size_t i = 0; i < mins.size(); ++i) {
      mn = std::min(mn, mins.data()[i]);
      mx = std::max(mx, maxs.data()[i]);
    }
    global_scale = nvfp4_global_scale(mn, mx);
  }
  if (a.strategy != quant_strategy::tensor_group) global_scale = 0.0f;
  p.global_scale = global_scale;
  p.scale = matrix<float>(p.layout.slot_rows, p.layout.slot_cols);
  if (!a.symmetric) p.zero_point = matrix<std::int8_t>(p.layout.slot_rows, p.layout.slot_cols);
  for (std::size_t i = 0; i < p.scale.size(); ++i) {
    const slot_qparams s = calculate_qparams<T>(a, mins.data()[i], maxs.data()[i], global_scale);
    p.scale.data()[i] = s.scale;
    if (!a.symmetric) p.zero_point.data()[i] = static_cast<std::int8_t>(s.zero_point);
  }
  return p;
}

/// qparams of the memoryless min-max observer: the default for weights.
template <host_matrix M>
qparams minmax_qparams(const quant_args& a, const M& x, float global_scale = 0.0f, std::span<const std::int32_t> g_idx = {}) {
  using T = std::remove_cv_t<element_of_t<M>>;
  matrix<float> mins, maxs;
  slot_minmax(a, x, mins, maxs, g_idx);
  auto v = cview(x);
  return qparams_from_minmax<T>(a, v.rows(), v.cols(), mins, maxs, global_scale);
}

/// Quantizes x with the given qparams into codes (see quantized_tensor). The source's dtype is
/// the compute dtype. With g_idx (actorder=group) column c uses qparam column g_idx[c].
template <host_matrix M>
quantized_tensor quantize(const quant_args& a, const M& x_in, qparams p, std::span<const std::int32_t> g_idx = {}) {
  auto x = cview(x_in);
  using S = std::remove_cv_t<typename decltype(x)::value_type>;
  detail::require_args<S>(a);
  if (p.layout.rows != x.rows() || p.layout.cols != x.cols())
    LLMC_THROW(shape_error, "llmc.scheme.004", "quantize: qparams were computed for another shape");
  if (!g_idx.empty() && g_idx.size() != x.cols())
    LLMC_THROW(shape_error, "llmc.scheme.005", "quantize: g_idx must have one entry per input column");
  for (auto g : g_idx)
    if (g < 0 || static_cast<std::size_t>(g) >= p.layout.slot_cols)
      LLMC_THROW(shape_error, "llmc.scheme.006", "quantize: g_idx names a group outside the scale tensor");
  quantized_tensor q;
  q.args = a;
  q.model_dtype = compute_dtype<S>::type;
  q.codes = matrix<std::uint8_t>(x.rows(), x.cols());
  q.g_idx.assign(g_idx.begin(), g_idx.end());
  detail::with_family(a, [&](auto fam) {
    detail::quantize_rows<decltype(fam)::value, S, S>(a, x, p, q.codes.view(), g_idx);
  });
  q.params = std::move(p);
  return q;
}

/// Writes dequantize(q) into out (same shape), in out's dtype.
template <host_matrix Out>
  requires mutable_matrix<Out>
void dequantize_into(const quantized_tensor& q, Out&& out_in) {
  auto out = view(out_in);
  using T = std::remove_cv_t<typename decltype(out)::value_type>;
  static_assert(require_model_dtype<T>());
  if (out.rows() != q.rows() || out.cols() != q.cols())
    LLMC_THROW(shape_error, "llmc.scheme.007", "dequantize: output shape differs from the quantized tensor");
  detail::with_family(q.args, [&](auto fam) { detail::dequantize_rows<decltype(fam)::value, T>(q, out); });
}

/// dequantize(q) as a new matrix of T (the model dtype the codes were made from, usually).
template <class T>
matrix<T> dequantize(const quantized_tensor& q) {
  matrix<T> out(q.rows(), q.cols());
  dequantize_into(q, out);
  return out;
}

/// Replaces x by dequantize(quantize(x, p)) in place: what the model computes with once quantized.
template <host_matrix M>
  requires mutable_matrix<M>
void fake_quantize(const quant_args& a, M&& x, const qparams& p, std::span<const std::int32_t> g_idx = {}) {
  dequantize_into(quantize(a, x, p, g_idx), x);
}

}  // namespace llmc
