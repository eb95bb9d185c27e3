// llmc/method/gptq_device.hpp — GPTQ with the weight, the Hessian and the solve in a policy's memory
// (a CUDA device, or the host for testing), giving the outputs of method/gptq.hpp.
//
// The algorithm is gptq.hpp's, step for step (see its header for the reference and our deliberate
// differences): dead columns, damping 0.01 x mean(diag H) raised x10 per failed try before the RTN
// fallback, U = J inv(chol(J P^T H P J)) J, qparams from the un-updated weight, blocked sweep.
// Split between host and policy:
//   host:   diag(H) (n floats downloaded) -> activation order, dead columns, damping values; the
//           qparams from per-slot min/max (downloaded, then qparams_from_minmax exactly as the
//           host observer does; the MSE observer downloads the weight and runs on the host).
//   policy: the damped, reordered H (a functor), cholesky / invert_lower (dense kernels), the
//           finite check, U; the working weight in sweep order; per block of columns, the fused
//           per-row functor gptq_row_sweep (thrust::for_each over rows: rows are independent given
//           U, each quantizes its columns in order, keeps (w - q) / U_ii and updates the block's
//           later columns) and the lazy update of the trailing columns as one GEMM.
// Layout: the working weight and the block's errors are column-major ([column][row]) so that
// the threads of the row functor (consecutive rows) touch consecutive addresses; the GEMM takes
// them as column-major views. Codes and the dequantized weight are written straight to their
// original columns (no un-permute pass).
// Agreement with gptq.hpp: with host_dense_policy the same kernels run in the same order, so codes
// are identical (tests/cuda); on a GPU the factor (cuSOLVER) and the GEMMs (cuBLAS) sum in other
// orders, so a few codes sitting on a rounding boundary may differ by one step; the test bounds
// that fraction and the loss difference (tests/cuda/test_cuda.cu, documented there).
// gptq_device_apply(k, m, ctx, hessian_of) is gptq::apply with each input's Hessian kept in the
// policy's memory (device_hessian_accumulator): the same grouping, factors, joint NVFP4 global
// scale, dtype rounding, write-back and notes (detail::gptq_note_message), so with
// host_dense_policy its outputs are identical to gptq::apply's (tests/cuda test_cuda_host.cpp).
// Errors: as gptq.hpp (llmc.method.311-313, llmc.scheme.001); gptq_device_apply also
// llmc.method.012 (no Hessian for an input) and llmc.method.304 (an empty one), as gptq::apply.
#pragma once

#include <thrust/count.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/device_policy.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/hessian_device.hpp"
#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "llmc/tensor/matrix.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc {

/// The inverse-Hessian factor in a policy's memory (gptq_factor's fields; U is n x n row-major).
template <class K>
struct device_gptq_factor {
  std::size_t n = 0;
  bool ordered = false;
  std::vector<std::int32_t> perm;  ///< host copy: original column swept i-th
  std::vector<std::uint8_t> dead;  ///< host copy: 1 for dead columns
  typename K::template vector<std::int32_t> perm_dev;
  typename K::template vector<std::uint8_t> dead_dev;
  typename K::template vector<float> hinv;  ///< U, upper triangular (0 below), row-major
  std::vector<damping_attempt> attempts;
  bool fell_back = false;
  std::size_t dead_columns = 0;

  [[nodiscard]] std::size_t columns() const noexcept { return n; }
  [[nodiscard]] matrix_view<const float, typename K::backend> u() const noexcept {
    return {raw_data(const_cast<typename K::template vector<float>&>(hinv)), n, n};
  }
};

/// GPTQ outputs in the policy's memory (original column order, row-major) plus the host copy.
template <class T, class K>
struct device_gptq_result {
  typename K::template vector<std::uint8_t> codes;     ///< [rows, cols]
  typename K::template vector<T> weight;               ///< dequantized, [rows, cols]
  typename K::template vector<float> scale;            ///< [slot_rows, slot_cols]
  typename K::template vector<std::int8_t> zero_point; ///< same shape; empty when symmetric
  typename K::template vector<std::int32_t> g_idx;     ///< actorder=group only
  gptq_result<T> host;  ///< quantized (codes, qparams, g_idx), weight, loss, attempts; see options
};

struct device_gptq_options {
  bool host_codes = true;   ///< download the codes into host.quantized.codes
  bool host_weight = true;  ///< download the dequantized weight into host.weight
};

namespace detail {

/// Largest block whose row slice the row functor keeps in a per-thread array (local memory on a
/// GPU); wider blocks update the working weight in place.
inline constexpr std::size_t gptq_local_block = 128;

LLMC_HOST_DEVICE inline bool finite_f32(float x) noexcept { return x - x == 0.0f; }

struct gptq_diag_of {
  matrix_view<const float, host_backend> h;  // backend tag only; dereferenced where the data lives
  LLMC_HOST_DEVICE float operator()(std::size_t i) const { return h(i, i); }
};

/// R = J P^T (H + damp I) P J (lower triangle; 0 above), dead diagonal entries 1 before damping.
struct gptq_build_r {
  matrix_view<const float, host_backend> h;
  const std::int32_t* rev;
  const std::uint8_t* dead;
  float* r;
  std::size_t n;
  float damp;
  bool upper_only;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t i = idx / n, j = idx % n;
    if (j > i) {
      r[idx] = 0.0f;
      return;
    }
    const auto a = static_cast<std::size_t>(rev[i]), b = static_cast<std::size_t>(rev[j]);
    float v;
    if (a == b) v = dead[a] ? 1.0f : h(a, a);
    else v = upper_only && b < a ? h(b, a) : h(a, b);
    if (i == j) v += damp;
    r[idx] = v;
  }
};

struct gptq_lower_nonfinite {
  const float* r;
  std::size_t n;
  LLMC_HOST_DEVICE bool operator()(std::size_t idx) const { return idx % n <= idx / n && !finite_f32(r[idx]); }
};

/// U = J L^-1 J on the upper triangle, 0 below; identity when `identity`.
struct gptq_build_u {
  const float* l;
  float* u;
  std::size_t n;
  bool identity;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t i = idx / n, j = idx % n;
    if (identity) u[idx] = i == j ? 1.0f : 0.0f;
    else u[idx] = j >= i ? l[(n - 1 - i) * n + (n - 1 - j)] : 0.0f;
  }
};

/// Per-row, per-slot-column min/max of the weight as the observer sees it (permuted columns for
/// actorder=group): mins/maxs [rows][slot_cols].
template <class T>
struct gptq_row_minmax {
  matrix_view<const T, host_backend> w;
  const std::int32_t* perm;  // nullptr: original order
  qparam_layout layout;
  float* mins;
  float* maxs;
  LLMC_HOST_DEVICE void operator()(std::size_t r) const {
    using D = compute_dtype<T>;
    const std::size_t sc = layout.slot_cols;
    for (std::size_t g = 0; g < sc; ++g) {
      mins[r * sc + g] = std::numeric_limits<float>::infinity();
      maxs[r * sc + g] = -std::numeric_limits<float>::infinity();
    }
    for (std::size_t i = 0; i < layout.cols; ++i) {
      const float v = D::to_float(w(r, perm ? static_cast<std::size_t>(perm[i]) : i));
      const std::size_t g = layout.slot_col(i);
      float& mn = mins[r * sc + g];
      float& mx = maxs[r * sc + g];
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
  }
};

/// A strided weight copied row-major (for the host-side MSE observer).
template <class T>
struct gptq_copy_rows {
  matrix_view<const T, host_backend> w;
  T* out;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t r = idx / w.cols(), c = idx % w.cols();
    out[idx] = w(r, c);
  }
};

/// The working weight in sweep order, fp32, column-major; dead columns zeroed.
template <class T>
struct gptq_init_work {
  matrix_view<const T, host_backend> w;
  const std::int32_t* perm;
  const std::uint8_t* dead;
  float* wf;
  std::size_t rows;
  LLMC_HOST_DEVICE void operator()(std::size_t idx) const {
    using D = compute_dtype<T>;
    const std::size_t i = idx / rows, r = idx % rows;
    const auto c = static_cast<std::size_t>(perm[i]);
    wf[idx] = dead[c] ? 0.0f : D::to_float(w(r, c));
  }
};

/// The fused within-block sweep of one row over columns [i1, i2) of the sweep order (gptq.hpp
/// detail::sweep_tile does the same for a tile of rows): quantize column i with its slot's
/// qparams, e = (w - q) / U_ii, w_j -= e U_ij for the block's later columns; writes the code and
/// the dequantized value to the original column, e to err[i][row], and adds e^2 to the row loss.
template <kernel_family F, class T>
struct gptq_row_sweep {
  float* wf;                  // working weight, column-major [cols][rows]
  std::size_t rows, cols;
  const float* u;             // U, row-major [cols][cols]
  const float* scale_t;       // effective scales [slot_col][rows]
  const float* zp_t;          // zero points [slot_col][rows], or nullptr
  const std::int32_t* gsweep; // slot column of each swept column
  const std::int32_t* perm;   // original column of each swept column
  std::uint8_t* codes;        // [rows][cols], original order
  T* out;                     // [rows][cols], original order
  float* err;                 // [i2 - i1][rows]
  double* row_loss;
  std::size_t i1, i2;
  float q_min, q_max;
  bool fp32_math;

  LLMC_HOST_DEVICE void operator()(std::size_t r) const {
    using D = compute_dtype<T>;
    const std::size_t nb = i2 - i1;
    float local[gptq_local_block];
    float* x = local;
    std::size_t step = 1;
    if (nb <= gptq_local_block) {
      for (std::size_t j = 0; j < nb; ++j) local[j] = wf[(i1 + j) * rows + r];
    } else {
      x = wf + i1 * rows + r;
      step = rows;
    }
    double loss = 0.0;
    for (std::size_t i = 0; i < nb; ++i) {
      const std::size_t c = i1 + i;
      const auto g = static_cast<std::size_t>(gsweep[c]);
      const float s = scale_t[g * rows + r];
      const float z = zp_t ? zp_t[g * rows + r] : 0.0f;
      const float d = u[c * cols + c];
      const float xi = x[i * step];
      const std::uint8_t code = quantize_element<F, T>(xi, s, z, q_min, q_max, fp32_math);
      const float q = dequantize_element<F, T>(code, s, z, fp32_math);
      const float e = (xi - q) / d;
      loss += static_cast<double>(e) * e;
      const auto oc = static_cast<std::size_t>(perm[c]);
      codes[r * cols + oc] = code;
      out[r * cols + oc] = D::from_float(q);
      err[i * rows + r] = e;
      const float* h = u + c * cols + i1;
      for (std::size_t j = i + 1; j < nb; ++j) x[j * step] -= e * h[j];
    }
    row_loss[r] += loss;
  }
};

template <class B, class T>
matrix_view<T, host_backend> as_host_tagged(matrix_view<T, B> v) noexcept {
  return {v.data_handle(), v.rows(), v.cols(), v.stride(0), v.stride(1)};
}

template <class K, class Vec>
auto download_all(const K& k, const Vec& v) {
  std::vector<typename Vec::value_type> out(v.size());
  k.download(raw_data(const_cast<Vec&>(v)), v.size(), out.data());
  return out;
}

template <class K, class T>
typename K::template vector<T> upload_all(const K& k, const T* src, std::size_t n) {
  typename K::template vector<T> v(n);
  k.upload(src, n, raw_data(v));
  return v;
}

}  // namespace detail

/// The GPTQ factor of H [n, n] (full symmetric, or only its upper triangle valid when
/// `upper_only`) in the policy's memory; the same steps and damping schedule as gptq::factor.
/// @throws shape_error llmc.method.311 when H is not square.
template <class K, quantization_scheme S>
device_gptq_factor<K> gptq_device_factor(const K& k, const gptq<S>& m, matrix_view<const float, typename K::backend> h,
                                         bool ordered, bool upper_only = false) {
  if (h.rows() != h.cols())
    LLMC_THROW(shape_error, "llmc.method.311",
               "gptq: the Hessian is " + std::to_string(h.rows()) + " x " + std::to_string(h.cols()) + ", not square");
  using it = thrust::counting_iterator<std::size_t>;
  const std::size_t n = h.rows();
  const auto hh = detail::as_host_tagged(h);
  device_gptq_factor<K> f;
  f.n = n;
  f.ordered = ordered;
  // diag(H) on the host: ordering, dead columns and the damping scale are O(n) decisions.
  typename K::template vector<float> diag_dev(n);
  thrust::transform(k.exec(), it(0), it(n), diag_dev.begin(), detail::gptq_diag_of{hh});
  const std::vector<float> diag = detail::download_all(k, diag_dev);
  f.perm.resize(n);
  std::iota(f.perm.begin(), f.perm.end(), 0);
  if (ordered) f.perm = detail::activation_order(n, [&](std::int32_t c) { return diag[static_cast<std::size_t>(c)]; });
  f.dead.assign(n, 0);
  double diag_sum = 0.0;
  for (std::size_t c = 0; c < n; ++c) {
    float d = diag[c];
    if (d == 0.0f) {
      f.dead[c] = 1;
      ++f.dead_columns;
      d = 1.0f;
    }
    diag_sum += d;
  }
  const double mean_diag = n ? diag_sum / static_cast<double>(n) : 0.0;
  std::vector<std::int32_t> rev(n);
  for (std::size_t j = 0; j < n; ++j) rev[j] = f.perm[n - 1 - j];
  f.perm_dev = detail::upload_all(k, f.perm.data(), n);
  f.dead_dev = detail::upload_all(k, f.dead.data(), n);
  const auto rev_dev = detail::upload_all(k, rev.data(), n);
  typename K::template vector<float> r(n * n);
  f.hinv = typename K::template vector<float>(n * n);
  float* rp = raw_data(r);
  const matrix_view<float, typename K::backend> rv(rp, n, n);
  float fraction = m.dampening_frac;
  for (int attempt = 0; attempt <= std::max(0, m.damping_retries); ++attempt, fraction *= m.damping_growth) {
    const auto damp = static_cast<float>(static_cast<double>(fraction) * mean_diag);
    bool ok = std::isfinite(damp);
    if (ok) {
      thrust::for_each(k.exec(), it(0), it(n * n),
                       detail::gptq_build_r{hh, raw_data(const_cast<typename K::template vector<std::int32_t>&>(rev_dev)),
                                            raw_data(f.dead_dev), rp, n, damp, upper_only});
      ok = k.cholesky(rv) == 0;
    }
    if (ok) {
      k.invert_lower(rv);
      ok = thrust::count_if(k.exec(), it(0), it(n * n), detail::gptq_lower_nonfinite{rp, n}) == 0;
    }
    f.attempts.push_back({fraction, damp, ok});
    if (ok) {
      thrust::for_each(k.exec(), it(0), it(n * n), detail::gptq_build_u{rp, raw_data(f.hinv), n, false});
      k.synchronize();
      return f;
    }
  }
  f.fell_back = true;
  thrust::for_each(k.exec(), it(0), it(n * n), detail::gptq_build_u{rp, raw_data(f.hinv), n, true});
  k.synchronize();
  return f;
}

/// Quantizes the weight w [out, in] (float, bfloat16 or float16, in the policy's memory, any
/// strides) with args a and a precomputed factor; outputs as gptq::quantize_weight_with.
/// @throws as gptq::quantize_weight_with (llmc.scheme.001, llmc.method.312, llmc.method.313).
template <class K, quantization_scheme S, class T>
device_gptq_result<std::remove_cv_t<T>, K> gptq_device_quantize(const K& k, const gptq<S>& m, const quant_args& a,
                                                                 matrix_view<T, typename K::backend> w_in,
                                                                 const device_gptq_factor<K>& f, float global_scale = 0.0f,
                                                                 device_gptq_options opt = {}) {
  using V = std::remove_cv_t<T>;
  using D = compute_dtype<V>;
  static_assert(require_model_dtype<V>());
  using it = thrust::counting_iterator<std::size_t>;
  const matrix_view<const V, host_backend> w(w_in.data_handle(), w_in.rows(), w_in.cols(), w_in.stride(0), w_in.stride(1));
  if (const char* why = validate_quant_args(a))
    LLMC_THROW(config_error, "llmc.scheme.001", std::string("gptq: invalid weight args: ") + why);
  const std::size_t rows = w.rows(), cols = w.cols();
  if (f.columns() != cols)
    LLMC_THROW(shape_error, "llmc.method.313",
               "gptq: the Hessian factor is for " + std::to_string(f.columns()) + " input columns, the weight has " +
                   std::to_string(cols));
  const act_order act = m.resolve_actorder(a);
  if ((act != act_order::none) != f.ordered)
    LLMC_THROW(config_error, "llmc.method.312",
               std::string("gptq: the Hessian factor was computed ") + (f.ordered ? "with" : "without") +
                   " activation ordering, but these weight args use actorder " + std::string(to_string(act)) +
                   "; call gptq_device_factor(k, m, H, m.resolve_actorder(args) != act_order::none)");
  const std::vector<std::int32_t>& perm = f.perm;
  const std::int32_t* perm_dev = raw_data(const_cast<typename K::template vector<std::int32_t>&>(f.perm_dev));

  // qparams from the un-updated weight (permuted for actorder=group), as the host observer.
  const qparam_layout layout(a, rows, cols);
  std::vector<std::int32_t> gsweep(cols);
  qparams qp;
  const bool permuted_qparams = act == act_order::group;
  if (weight_observer_kind(a.observer) == observer_kind::memoryless_minmax) {
    typename K::template vector<float> mins_dev(rows * layout.slot_cols), maxs_dev(rows * layout.slot_cols);
    thrust::for_each(k.exec(), it(0), it(rows),
                     detail::gptq_row_minmax<V>{w, permuted_qparams ? perm_dev : nullptr, layout, raw_data(mins_dev),
                                                raw_data(maxs_dev)});
    const std::vector<float> row_mins = detail::download_all(k, mins_dev), row_maxs = detail::download_all(k, maxs_dev);
    matrix<float> mins(layout.slot_rows, layout.slot_cols, std::numeric_limits<float>::infinity());
    matrix<float> maxs(layout.slot_rows, layout.slot_cols, -std::numeric_limits<float>::infinity());
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t g = 0; g < layout.slot_cols; ++g) {
        float& mn = mins(layout.slot_row(r), g);
        float& mx = maxs(layout.slot_row(r), g);
        mn = std::min(mn, row_mins[r * layout.slot_cols + g]);
        mx = std::max(mx, row_maxs[r * layout.slot_cols + g]);
      }
    qp = qparams_from_minmax<V>(a, rows, cols, mins, maxs, global_scale);
  } else {
    // The MSE observer's search runs on the host copy of the weight.
    matrix<V> wh(rows, cols);
    if (w.is_row_major_contiguous()) {
      k.download(w.data_handle(), rows * cols, wh.data());
    } else {
      typename K::template vector<V> tmp(rows * cols);
      thrust::for_each(k.exec(), it(0), it(rows * cols), detail::gptq_copy_rows<V>{w, raw_data(tmp)});
      k.download(raw_data(tmp), rows * cols, wh.data());
    }
    if (permuted_qparams) {
      matrix<V> wp(rows, cols);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < cols; ++i) wp(r, i) = wh(r, static_cast<std::size_t>(perm[i]));
      qp = weight_qparams(a, wp, global_scale, m.observer);
    } else {
      qp = weight_qparams(a, wh, global_scale, m.observer);
    }
  }
  for (std::size_t i = 0; i < cols; ++i)
    gsweep[i] = static_cast<std::int32_t>(layout.slot_col(permuted_qparams ? i : static_cast<std::size_t>(perm[i])));

  // Effective scales and zero points as [slot column][row].
  const bool has_zp = !qp.zero_point.empty();
  std::vector<float> scale_t(layout.slot_cols * rows), zp_t(has_zp ? layout.slot_cols * rows : 0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t g = 0; g < layout.slot_cols; ++g) {
      scale_t[g * rows + r] = detail::effective_scale(qp.scale(layout.slot_row(r), g), qp.global_scale);
      if (has_zp) zp_t[g * rows + r] = static_cast<float>(qp.zero_point(layout.slot_row(r), g));
    }

  device_gptq_result<V, K> res;
  const auto scale_t_dev = detail::upload_all(k, scale_t.data(), scale_t.size());
  const auto zp_t_dev = detail::upload_all(k, zp_t.data(), zp_t.size());
  const auto gsweep_dev = detail::upload_all(k, gsweep.data(), cols);
  res.scale = detail::upload_all(k, qp.scale.data(), qp.scale.size());
  if (has_zp) res.zero_point = detail::upload_all(k, qp.zero_point.data(), qp.zero_point.size());

  typename K::template vector<float> wf(rows * cols);
  thrust::for_each(k.exec(), it(0), it(rows * cols),
                   detail::gptq_init_work<V>{w, perm_dev, raw_data(const_cast<typename K::template vector<std::uint8_t>&>(f.dead_dev)),
                                             raw_data(wf), rows});
  res.codes = typename K::template vector<std::uint8_t>(rows * cols);
  res.weight = typename K::template vector<V>(rows * cols);
  const std::size_t bs = std::max<std::size_t>(1, m.block_size);
  typename K::template vector<float> err(rows * std::min(bs, std::max<std::size_t>(cols, 1)));
  typename K::template vector<double> row_loss(rows, 0.0);
  using view_t = matrix_view<float, typename K::backend>;
  using cview_t = matrix_view<const float, typename K::backend>;
  const view_t wfv(raw_data(wf), rows, cols, 1, static_cast<std::ptrdiff_t>(rows));
  const cview_t uv = f.u();
  detail::with_family(a, [&](auto fam) {
    constexpr auto F = decltype(fam)::value;
    const bool fp32_math = qp.global_scale > 0.0f || a.is_mx();  // as quantize.hpp decides
    for (std::size_t i1 = 0; i1 < cols; i1 += bs) {
      const std::size_t i2 = std::min(cols, i1 + bs), nb = i2 - i1;
      thrust::for_each(
          k.exec(), it(0), it(rows),
          detail::gptq_row_sweep<F, V>{raw_data(wf), rows, cols, uv.data_handle(),
                                       raw_data(const_cast<typename K::template vector<float>&>(scale_t_dev)),
                                       has_zp ? raw_data(const_cast<typename K::template vector<float>&>(zp_t_dev)) : nullptr,
                                       raw_data(const_cast<typename K::template vector<std::int32_t>&>(gsweep_dev)), perm_dev,
                                       raw_data(res.codes), raw_data(res.weight), raw_data(err), raw_data(row_loss), i1, i2,
                                       a.q_min(), a.q_max(), fp32_math});
      // Lazy batch update of the trailing columns: W[:, i2:] -= E U[i1:i2, i2:].
      if (i2 < cols)
        k.gemm(-1.0f, cview_t(raw_data(err), rows, nb, 1, static_cast<std::ptrdiff_t>(rows)), uv.block(i1, i2, nb, cols - i2),
               1.0f, wfv.block(0, i2, rows, cols - i2));
    }
  });

  gptq_result<V>& h = res.host;
  h.actorder = act;
  h.attempts = f.attempts;
  h.fell_back_to_rtn = f.fell_back;
  h.dead_columns = f.dead_columns;
  for (double l : detail::download_all(k, row_loss)) h.loss += l;
  h.loss /= 2.0;
  quantized_tensor& q = h.quantized;
  q.args = a;
  q.args.actorder = act;
  q.model_dtype = D::type;
  if (opt.host_codes) {
    q.codes = matrix<std::uint8_t>(rows, cols);
    k.download(raw_data(res.codes), rows * cols, q.codes.data());
  }
  if (act == act_order::group) {
    q.g_idx.assign(cols, 0);
    for (std::size_t i = 0; i < cols; ++i) q.g_idx[static_cast<std::size_t>(perm[i])] = gsweep[i];
    res.g_idx = detail::upload_all(k, q.g_idx.data(), cols);
  }
  q.params = std::move(qp);
  if (opt.host_weight) {
    h.weight = matrix<V>(rows, cols);
    k.download(raw_data(res.weight), rows * cols, h.weight.data());
  }
  k.synchronize();
  return res;
}

/// GPTQ of w with the scheme's weight args and the Hessian h of its input (full symmetric, or
/// the upper triangle when `upper_only`), both in the policy's memory.
template <class K, quantization_scheme S, class T>
auto gptq_device_solve(const K& k, const gptq<S>& m, matrix_view<T, typename K::backend> w,
                       matrix_view<const float, typename K::backend> h, bool upper_only = false, float global_scale = 0.0f,
                       device_gptq_options opt = {}) {
  const quant_args a = m.scheme.weights;
  const auto f = gptq_device_factor(k, m, h, m.resolve_actorder(a) != act_order::none, upper_only);
  return gptq_device_quantize(k, m, a, w, f, global_scale, opt);
}

namespace detail {
template <class K, quantization_scheme S, class Lookup>
void gptq_device_apply_layer(const K& k, const gptq<S>& m, layer_context& ctx, Lookup& hessian_of) {
  std::vector<std::string> done;
  for (const linear_weight& first : ctx.linears) {
    if (std::find(done.begin(), done.end(), first.input) != done.end()) continue;
    done.push_back(first.input);
    std::vector<linear_weight*> group;
    for (linear_weight& l : ctx.linears)
      if (l.input == first.input && weight_args_for(m.scheme, l).enabled()) group.push_back(&l);
    if (group.empty()) continue;
    const device_hessian_accumulator<K>* acc = hessian_of(std::string_view(group.front()->input));
    if (acc == nullptr) ctx.throw_no_statistics(*group.front());
    if (acc->samples() == 0)
      LLMC_THROW(config_error, "llmc.method.304",
                 "gptq: the Hessian has no calibration sample; run calibration data through the layer first");
    std::optional<device_gptq_factor<K>> factors[2];
    const auto [joint_min, joint_max] = detail::joint_tensor_group_range(m.scheme, group);
    for (linear_weight* l : group) {
      const quant_args a = weight_args_for(m.scheme, *l);
      const bool ordered = m.resolve_actorder(a) != act_order::none;
      if (!factors[ordered]) factors[ordered] = gptq_device_factor(k, m, acc->upper(), ordered, true);
      const float gs = a.strategy == quant_strategy::tensor_group ? nvfp4_global_scale(joint_min, joint_max) : 0.0f;
      detail::with_model_dtype(l->dtype, [&](auto tag) {
        using T = typename decltype(tag)::type;
        const auto wt = matrix<T>::from(l->weight, [](float v) { return compute_dtype<T>::from_float(v); });
        auto w_dev = detail::upload_all(k, wt.data(), wt.size());
        const matrix_view<const T, typename K::backend> wv(raw_data(w_dev), wt.rows(), wt.cols());
        auto res = gptq_device_quantize(k, m, a, wv, *factors[ordered], gs);
        gptq_result<T>& h = res.host;
        l->weight = matrix<float>::from(h.weight, [](T v) { return static_cast<float>(compute_dtype<T>::to_float(v)); });
        ctx.note(gptq<S>::name, l->name, detail::gptq_note_message(h), 0.0, h.loss);
        l->quantized = std::move(h.quantized);
      });
    }
  }
}

}  // namespace detail

/// gptq::apply on a decoder layer whose input Hessians live in the policy's memory:
/// hessian_of(std::string_view input) returns the `const device_hessian_accumulator<K>*` of an
/// input (null: none). Step for step as gptq::apply: Linears grouped by input in order of first
/// appearance, only those whose weight args are enabled; one factor per (input, ordering); a joint
/// NVFP4 global scale over the group's tensor_group Linears; each weight rounded to its model
/// dtype T, uploaded as T and quantized; linear_weight::quantized and the dequantized weight (fp32)
/// written back, with the same note.
/// @throws config_error llmc.method.012 when an input has no Hessian, llmc.method.304 when it is
/// empty; the errors of gptq_device_factor / gptq_device_quantize; under CUDA, Thrust's failures
/// as cuda_error llmc.cuda.104 / 105 (k.guard).
template <class K, quantization_scheme S, class Lookup>
void gptq_device_apply(const K& k, const gptq<S>& m, layer_context& ctx, Lookup&& hessian_of) {
  const std::string what = "gptq_device_apply on layer " + ctx.prefix;
  detail::policy_guard(k, what.c_str(), [&] { detail::gptq_device_apply_layer(k, m, ctx, hessian_of); });
}

}  // namespace llmc
