// llmc/backend/thrust/quantize.hpp — quantize, dequantize and weight qparams of device matrices.
//
// The device overloads of scheme/quantize.hpp and scheme/quantize_weight.hpp: slot_minmax,
// qparams_from_minmax, minmax_qparams, quantize, dequantize(_into), fake_quantize, weight_qparams,
// quantize_weight(_into), constrained on device_matrix so that a call with a thrust_matrix, a
// matrix_view<T, cuda_backend> or any type whose traits name cuda_backend selects them with the
// call unchanged. Every strategy (tensor, channel, token, group with a partial last group, block,
// tensor_group/NVFP4 with a computed or given global scale, MX), g_idx (actorder=group) and strided
// views are handled. The element math is the scheme layer's own LLMC_HOST_DEVICE functions
// (detail::quantize_element / dequantize_element, calculate_qparams, nvfp4_global_scale), so codes,
// scales and zero points are bit-identical to the CPU backend (spec §4.3; tests/thrust checks it).
// FP8 uses llmc::float8_e4m3fn, not the hardware conversion (__nv_cvt_float_to_fp8): ours is torch's
// cast, checked on every code, boundary and tie (tests/numeric), and runs unchanged on the device.
// The hardware one is not proven equal: with __NV_SATFINITE it saturates |x| > 464 and inf to 448 where torch's cast gives
// NaN (unreachable after quantize's clamp to +-448), its NaN sign handling is not documented to
// match ours (NaN -> 0x7F|sign), and checking all 2^32 inputs needs a GPU, which was not available;
// sm_80 has no e4m3 conversion instruction anyway, and these kernels are memory-bound.
// Per-slot min/max is order-independent, so parallel reductions cannot change a result.
// The weight observer is min-max (every preset); the MSE observer is host-only (llmc.backend.101).
// NaN inputs: min/max of NaN depends on the order, as on the host (the pipeline rejects NaN weights).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <thrust/device_vector.h>

#include "llmc/backend/thrust/launch.hpp"
#include "llmc/backend/thrust/quantized_tensor.hpp"
#include "llmc/core/error.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "llmc/tensor/adapt_thrust.hpp"
#include "llmc/tensor/concepts.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

namespace detail::dev {

/// Rows [r0, r1) whose qparams live in slot row sr.
LLMC_HOST_DEVICE inline void slot_row_range(const qparam_layout& l, std::size_t sr, std::size_t& r0, std::size_t& r1) noexcept {
  if (l.strategy == quant_strategy::tensor) {
    r0 = 0;
    r1 = l.rows;
  } else if (l.strategy == quant_strategy::block) {
    r0 = sr * l.block_height;
    r1 = r0 + l.block_height < l.rows ? r0 + l.block_height : l.rows;
  } else {
    r0 = sr;
    r1 = sr + 1;
  }
}

/// Min/max of the run of row r sharing slot column sc: i = r * slot_cols + sc.
template <class S>
struct run_minmax_fn {
  matrix_view<const S, cuda_backend> x;
  std::size_t slot_cols;
  std::size_t group;
  float* mn;
  float* mx;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    const std::size_t r = i / slot_cols, sc = i % slot_cols;
    const std::size_t c0 = sc * group;
    const std::size_t c1 = c0 + group < x.cols() ? c0 + group : x.cols();
    float lo = pos_inf, hi = neg_inf;
    for (std::size_t c = c0; c < c1; ++c) {
      const float v = compute_dtype<S>::to_float(x(r, c));
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    mn[i] = lo;
    mx[i] = hi;
  }
};

/// Block strategy: slot (sr, sc) = min/max over the per-row runs of its band of rows.
struct block_minmax_fn {
  qparam_layout l;
  const float* run_mn;
  const float* run_mx;
  float* mn;
  float* mx;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    const std::size_t sr = i / l.slot_cols, sc = i % l.slot_cols;
    std::size_t r0, r1;
    slot_row_range(l, sr, r0, r1);
    float lo = pos_inf, hi = neg_inf;
    for (std::size_t r = r0; r < r1; ++r) {
      const float a = run_mn[r * l.slot_cols + sc], b = run_mx[r * l.slot_cols + sc];
      lo = a < lo ? a : lo;
      hi = b > hi ? b : hi;
    }
    mn[i] = lo;
    mx[i] = hi;
  }
};

/// With g_idx: one thread per slot row walks its rows; column c feeds slot column g_idx[c].
template <class S>
struct gidx_minmax_fn {
  matrix_view<const S, cuda_backend> x;
  qparam_layout l;
  const std::int32_t* g_idx;
  float* mn;  // initialised to +inf
  float* mx;  // initialised to -inf
  LLMC_HOST_DEVICE void operator()(std::size_t sr) const noexcept {
    std::size_t r0, r1;
    slot_row_range(l, sr, r0, r1);
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t c = 0; c < x.cols(); ++c) {
        const float v = compute_dtype<S>::to_float(x(r, c));
        const std::size_t k = sr * l.slot_cols + static_cast<std::size_t>(g_idx[c]);
        mn[k] = v < mn[k] ? v : mn[k];
        mx[k] = v > mx[k] ? v : mx[k];
      }
  }
};

/// calculate_qparams of every slot.
template <class T>
struct qparams_fn {
  quant_args a;
  const float* mn;
  const float* mx;
  float global_scale;
  float* scale;
  std::int8_t* zero_point;  // null when symmetric
  LLMC_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    const slot_qparams s = calculate_qparams<T>(a, mn[i], mx[i], global_scale);
    scale[i] = s.scale;
    if (zero_point != nullptr) zero_point[i] = static_cast<std::int8_t>(s.zero_point);
  }
};

/// The scale / zero point of element (r, c).
struct slot_lookup {
  qparam_layout l;
  const float* scale;
  const std::int8_t* zero_point;  // null when there are none
  const std::int32_t* g_idx;      // null without actorder=group
  float global_scale;
  LLMC_HOST_DEVICE void operator()(std::size_t r, std::size_t c, float& s, float& zp) const noexcept {
    const std::size_t sc = g_idx != nullptr ? static_cast<std::size_t>(g_idx[c]) : l.slot_col(c);
    const std::size_t k = l.slot_row(r) * l.slot_cols + sc;
    s = effective_scale(scale[k], global_scale);
    zp = zero_point != nullptr ? static_cast<float>(zero_point[k]) : 0.0f;
  }
};

/// The element quantizer of one kernel family. The family is a runtime value, uniform over a
/// launch (no divergence): one kernel per dtype instead of four keeps nvcc builds short.
template <class S>
LLMC_HOST_DEVICE inline std::uint8_t quantize_any(kernel_family fam, float x, float s, float zp, float q_min, float q_max,
                                                  bool fp32_divide) noexcept {
  switch (fam) {
    case kernel_family::int_sym: return quantize_element<kernel_family::int_sym, S>(x, s, zp, q_min, q_max, fp32_divide);
    case kernel_family::int_asym: return quantize_element<kernel_family::int_asym, S>(x, s, zp, q_min, q_max, fp32_divide);
    case kernel_family::fp8: return quantize_element<kernel_family::fp8, S>(x, s, zp, q_min, q_max, fp32_divide);
    case kernel_family::fp4: break;
  }
  return quantize_element<kernel_family::fp4, S>(x, s, zp, q_min, q_max, fp32_divide);
}
template <class T>
LLMC_HOST_DEVICE inline float dequantize_any(kernel_family fam, std::uint8_t code, float s, float zp, bool fp32_scale) noexcept {
  switch (fam) {
    case kernel_family::int_sym: return dequantize_element<kernel_family::int_sym, T>(code, s, zp, fp32_scale);
    case kernel_family::int_asym: return dequantize_element<kernel_family::int_asym, T>(code, s, zp, fp32_scale);
    case kernel_family::fp8: return dequantize_element<kernel_family::fp8, T>(code, s, zp, fp32_scale);
    case kernel_family::fp4: break;
  }
  return dequantize_element<kernel_family::fp4, T>(code, s, zp, fp32_scale);
}

template <class S>
struct quantize_fn {
  matrix_view<const S, cuda_backend> x;
  slot_lookup slot;
  kernel_family fam;
  float q_min;
  float q_max;
  bool fp32_divide;
  std::uint8_t* out;  // row-major rows x cols
  LLMC_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    const std::size_t r = i / x.cols(), c = i % x.cols();
    float s, zp;
    slot(r, c, s, zp);
    out[i] = quantize_any<S>(fam, compute_dtype<S>::to_float(x(r, c)), s, zp, q_min, q_max, fp32_divide);
  }
};

template <class T>
struct dequantize_fn {
  const std::uint8_t* codes;  // row-major rows x cols
  slot_lookup slot;
  kernel_family fam;
  bool fp32_scale;
  matrix_view<T, cuda_backend> out;
  LLMC_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    const std::size_t r = i / out.cols(), c = i % out.cols();
    float s, zp;
    slot(r, c, s, zp);
    out(r, c) = compute_dtype<T>::from_float(dequantize_any<T>(fam, codes[i], s, zp, fp32_scale));
  }
};

/// g_idx from host memory, checked as scheme/quantize.hpp checks it, then uploaded.
inline thrust::device_vector<std::int32_t> checked_g_idx(std::span<const std::int32_t> g_idx, std::size_t cols,
                                                         std::size_t slot_cols) {
  if (g_idx.empty()) return {};
  if (g_idx.size() != cols)
    LLMC_THROW(shape_error, "llmc.scheme.005", "quantize: g_idx must have one entry per input column");
  for (auto g : g_idx)
    if (g < 0 || static_cast<std::size_t>(g) >= slot_cols)
      LLMC_THROW(shape_error, "llmc.scheme.006", "quantize: g_idx names a group outside the scale tensor");
  return thrust::device_vector<std::int32_t>(g_idx.begin(), g_idx.end());
}

inline slot_lookup lookup_of(const device_qparams& p, const thrust::device_vector<std::int32_t>& g_idx) {
  return {p.layout, device_data(p.scale), p.zero_point.empty() ? nullptr : device_data(p.zero_point),
          g_idx.empty() ? nullptr : device_data(g_idx), p.global_scale};
}

template <class S>
void slot_minmax_view(const quant_args& a, matrix_view<const S, cuda_backend> x, thrust::device_vector<float>& mins,
                      thrust::device_vector<float>& maxs, const thrust::device_vector<std::int32_t>& g_idx) {
  static_assert(require_model_dtype<S>());
  const qparam_layout l(a, x.rows(), x.cols());
  mins.assign(l.slots(), pos_inf);
  maxs.assign(l.slots(), neg_inf);
  if (!g_idx.empty()) {
    launch(l.slot_rows, gidx_minmax_fn<S>{x, l, device_data(g_idx), device_data(mins), device_data(maxs)});
    return;
  }
  if (l.strategy == quant_strategy::tensor) {
    // Per-row min/max (layout group == cols), then over the rows.
    thrust::device_vector<float> row_mn(x.rows()), row_mx(x.rows());
    launch(x.rows(), run_minmax_fn<S>{x, 1, l.group, device_data(row_mn), device_data(row_mx)});
    const minmax_pair m = minmax_of(device_data(row_mn), device_data(row_mx), x.rows());
    mins[0] = m.mn;
    maxs[0] = m.mx;
    return;
  }
  if (l.strategy == quant_strategy::block) {
    thrust::device_vector<float> run_mn(x.rows() * l.slot_cols), run_mx(x.rows() * l.slot_cols);
    launch(run_mn.size(), run_minmax_fn<S>{x, l.slot_cols, l.group, device_data(run_mn), device_data(run_mx)});
    launch(l.slots(), block_minmax_fn{l, device_data(run_mn), device_data(run_mx), device_data(mins), device_data(maxs)});
    return;
  }
  // channel, token, attn_head, group, tensor_group: slot (r, sc) is exactly one run of row r.
  launch(l.slots(), run_minmax_fn<S>{x, l.slot_cols, l.group, device_data(mins), device_data(maxs)});
}

template <class S>
void quantize_view(const quant_args& a, matrix_view<const S, cuda_backend> x, const device_qparams& p,
                   const thrust::device_vector<std::int32_t>& g_idx, std::uint8_t* out) {
  const bool fp32_divide = p.global_scale > 0.0f || a.is_mx();
  launch(x.size(), quantize_fn<S>{x, lookup_of(p, g_idx), family_of(a), a.q_min(), a.q_max(), fp32_divide, out});
}

inline void check_qparams_shape(const device_qparams& p, std::size_t rows, std::size_t cols) {
  if (p.layout.rows != rows || p.layout.cols != cols)
    LLMC_THROW(shape_error, "llmc.scheme.004", "quantize: qparams were computed for another shape");
  if (p.scale.size() != p.layout.slots() || (!p.zero_point.empty() && p.zero_point.size() != p.layout.slots()))
    LLMC_THROW(shape_error, "llmc.backend.102",
               "quantize (device): the scale / zero-point vectors do not have one entry per qparam slot (" +
                   std::to_string(p.layout.slot_rows) + "x" + std::to_string(p.layout.slot_cols) +
                   "); build device_qparams with minmax_qparams or device_qparams::from_host");
}

/// quantize() into `out`, reusing its code buffer when the shape matches.
template <class S>
void quantize_into(device_quantized_tensor& out, const quant_args& a, matrix_view<const S, cuda_backend> x,
                   device_qparams p, thrust::device_vector<std::int32_t> g_idx) {
  require_args<S>(a);
  check_qparams_shape(p, x.rows(), x.cols());
  out.args = a;
  out.model_dtype = compute_dtype<S>::type;
  if (out.codes.rows() != x.rows() || out.codes.cols() != x.cols())
    out.codes = thrust_matrix<std::uint8_t>(x.rows(), x.cols());
  quantize_view<S>(a, x, p, g_idx, out.codes.data());
  out.g_idx = std::move(g_idx);
  out.params = std::move(p);
}

inline void reject_mse_on_device(const quant_args& a) {
  if (weight_observer_kind(a.observer) == observer_kind::memoryless_mse)
    LLMC_THROW(config_error, "llmc.backend.101",
               "the MSE observer runs on the host only: its error sums use pow() in double, whose device "
               "implementation is not bit-identical to the host's; quantize this weight from a host matrix, or "
               "use the min-max observer");
}

}  // namespace detail::dev

/// Per-slot min and max of a device matrix into device vectors [slot_rows * slot_cols] (row-major);
/// with g_idx (host memory, one entry per column), column c feeds slot column g_idx[c].
template <device_matrix M>
void slot_minmax(const quant_args& a, const M& x_in, thrust::device_vector<float>& mins, thrust::device_vector<float>& maxs,
                 std::span<const std::int32_t> g_idx = {}) {
  auto x = cview(x_in);
  using S = std::remove_cv_t<typename decltype(x)::value_type>;
  detail::require_args<S>(a);  // before the layout: group_size 0 would divide by zero
  const qparam_layout l(a, x.rows(), x.cols());
  detail::dev::slot_minmax_view<S>(a, x, mins, maxs, detail::dev::checked_g_idx(g_idx, x.cols(), l.slot_cols));
}

/// qparams from device per-slot min/max (see the host qparams_from_minmax: same rules, same bits).
template <class T>
device_qparams qparams_from_minmax(const quant_args& a, std::size_t rows, std::size_t cols,
                                   const thrust::device_vector<float>& mins, const thrust::device_vector<float>& maxs,
                                   float global_scale = 0.0f) {
  detail::require_args<T>(a);
  device_qparams p;
  p.layout = qparam_layout(a, rows, cols);
  if (mins.size() != p.layout.slots() || maxs.size() != mins.size())
    LLMC_THROW(shape_error, "llmc.scheme.003", "qparams_from_minmax: min/max tensors do not match the qparam layout");
  if (a.strategy == quant_strategy::tensor_group && global_scale <= 0.0f) {
    // min(0, mins...) and max(0, maxs...): order-independent, so any reduction order gives the host's value.
    const detail::dev::minmax_pair m = detail::dev::minmax_of(device_data(mins), device_data(maxs), mins.size());
    global_scale = nvfp4_global_scale(std::min(0.0f, m.mn), std::max(0.0f, m.mx));
  }
  if (a.strategy != quant_strategy::tensor_group) global_scale = 0.0f;
  p.global_scale = global_scale;
  p.scale.resize(p.layout.slots());
  if (!a.symmetric) p.zero_point.resize(p.layout.slots());
  detail::dev::launch(p.layout.slots(),
                      detail::dev::qparams_fn<T>{a, device_data(mins), device_data(maxs), global_scale,
                                                 device_data(p.scale),
                                                 a.symmetric ? nullptr : device_data(p.zero_point)});
  return p;
}

/// qparams of the memoryless min-max observer for a device matrix.
template <device_matrix M>
device_qparams minmax_qparams(const quant_args& a, const M& x, float global_scale = 0.0f,
                              std::span<const std::int32_t> g_idx = {}) {
  using T = std::remove_cv_t<element_of_t<M>>;
  thrust::device_vector<float> mins, maxs;
  slot_minmax(a, x, mins, maxs, g_idx);
  return qparams_from_minmax<T>(a, tensor_traits_of<M>::rows(x), tensor_traits_of<M>::cols(x), mins, maxs, global_scale);
}

/// Quantizes a device matrix with the given qparams (g_idx in host memory, as on the host).
template <device_matrix M>
device_quantized_tensor quantize(const quant_args& a, const M& x_in, device_qparams p, std::span<const std::int32_t> g_idx = {}) {
  auto x = cview(x_in);
  using S = std::remove_cv_t<typename decltype(x)::value_type>;
  detail::require_args<S>(a);
  detail::dev::check_qparams_shape(p, x.rows(), x.cols());
  auto d_idx = detail::dev::checked_g_idx(g_idx, x.cols(), p.layout.slot_cols);
  device_quantized_tensor q;
  detail::dev::quantize_into<S>(q, a, x, std::move(p), std::move(d_idx));
  return q;
}

/// Writes dequantize(q) into a device matrix of the same shape, in its dtype.
template <device_matrix Out>
  requires mutable_matrix<Out>
void dequantize_into(const device_quantized_tensor& q, Out&& out_in) {
  auto out = view(out_in);
  using T = std::remove_cv_t<typename decltype(out)::value_type>;
  static_assert(require_model_dtype<T>());
  if (out.rows() != q.rows() || out.cols() != q.cols())
    LLMC_THROW(shape_error, "llmc.scheme.007", "dequantize: output shape differs from the quantized tensor");
  detail::dev::check_qparams_shape(q.params, q.rows(), q.cols());
  const bool fp32_scale = q.params.global_scale > 0.0f || q.args.is_mx();
  const detail::dev::slot_lookup slot = detail::dev::lookup_of(q.params, q.g_idx);
  const std::uint8_t* codes = q.codes.data();
  detail::dev::launch(out.size(), detail::dev::dequantize_fn<T>{codes, slot, detail::family_of(q.args), fp32_scale, out});
}

/// dequantize(q) as a new device matrix of T.
template <class T>
thrust_matrix<T> dequantize(const device_quantized_tensor& q) {
  thrust_matrix<T> out(q.rows(), q.cols());
  dequantize_into(q, out);
  return out;
}

/// Replaces x by dequantize(quantize(x, p)) in place.
template <device_matrix M>
  requires mutable_matrix<M>
void fake_quantize(const quant_args& a, M&& x, const device_qparams& p, std::span<const std::int32_t> g_idx = {}) {
  device_qparams copy;
  copy.layout = p.layout;
  copy.scale = p.scale;
  copy.zero_point = p.zero_point;
  copy.global_scale = p.global_scale;
  dequantize_into(quantize(a, x, std::move(copy), g_idx), x);
}

/// qparams of a device weight (global_scale: a shared NVFP4 global scale, or 0 to compute it).
/// @throws config_error llmc.backend.101 for the MSE observer (host only).
template <device_matrix M>
device_qparams weight_qparams(const quant_args& a, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  (void)o;
  detail::dev::reject_mse_on_device(a);
  // One observation: memoryless, static and EMA min-max all reduce to this observation's min/max.
  return minmax_qparams(a, w, global_scale);
}

/// Round-to-nearest quantization of a device weight, reusing `out`'s code buffer (same shape).
template <quantization_scheme S, device_matrix M>
void quantize_weight_into(device_quantized_tensor& out, const S& s, const M& w, float global_scale = 0.0f,
                          observer_options o = {}) {
  auto x = cview(w);
  using T = std::remove_cv_t<typename decltype(x)::value_type>;
  detail::require_args<T>(s.weights);
  detail::dev::quantize_into<T>(out, s.weights, x, weight_qparams(s.weights, x, global_scale, o), {});
}

/// Round-to-nearest quantization of a device weight with the scheme's weight args; the result
/// stays on the device (to_host() for the host quantized_tensor).
template <quantization_scheme S, device_matrix M>
device_quantized_tensor quantize_weight(const S& s, const M& w, float global_scale = 0.0f, observer_options o = {}) {
  device_quantized_tensor q;
  quantize_weight_into(q, s, w, global_scale, o);
  return q;
}

}  // namespace llmc
