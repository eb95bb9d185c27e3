// llmc/method/gptq.hpp — GPTQ: quantize a Linear column by column, folding each column's rounding
// error into the columns not yet quantized through the inverse Hessian of its inputs.
//
// Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers" (ICLR 2023, arXiv:2210.17323, Alg. 1), as LLM Compressor runs it
// ([LC] modifiers/gptq/gptq_quantize.py quantize_weight, modifiers/gptq/base.py; spec §5.1, §5.3):
// activation ordering by diag(H) (static = "weight": columns swept in that order, groups kept in
// the original order; group: groups are contiguous blocks of the swept order and g_idx is written);
// qparams computed once, before the sweep, from the un-updated weight (the observer of the args,
// re-run on the permuted weight for actorder=group; NVFP4's global scale from the whole weight);
// dead columns (H_jj == 0) zeroed; dampening 0.01 x mean(diag H); the upper Cholesky factor of
// H^-1; a blocked sweep (128 columns) with the within-block update per column and lazy batch
// updates as GEMMs; loss = sum (w - q)^2 / d^2 / 2.
// Differences from the reference, each deliberate:
//  * Better than the reference: when the Cholesky factorization fails, the damping is raised
//    (x10 per step, damping_retries times) and every attempt is reported before falling back to
//    round-to-nearest for the layer (the reference falls back at once).
//  * U = chol(H^-1, upper) is computed as J inv(chol(J H J)) J (J reverses the order) — one
//    Cholesky and one triangular inverse, the same factor in exact arithmetic as the reference's
//    cholesky -> cholesky_inverse -> cholesky(upper), with half the FLOPs.
//  * The factor depends on H only, so it is computed once per distinct input (q/k/v share it).
//  * Each column is quantized with the save-time arithmetic of the model dtype T (x / s rounded to
//    T, as compressed-tensors quantizes the stored weight, quantize.hpp) rather than the sweep's fp32
//    divide: the codes are exactly those the checkpoint holds, and GPTQ with H = I is RTN bit for bit.
//    For fp32 weights both are the same.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/method/rtn.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "llmc/scheme/scheme.hpp"
#include "llmc/tensor/matrix.hpp"

namespace llmc {

/// One try at factoring the damped Hessian.
struct damping_attempt {
  float fraction = 0.0f;  ///< dampening fraction of this try
  float damp = 0.0f;      ///< value added to the diagonal: fraction * mean(diag H)
  bool succeeded = false;
};

/// What the sweep needs from H (which depends on H alone): shareable by every Linear of one input.
struct gptq_factor {
  bool ordered = false;               ///< columns are swept in activation order (actorder static/group)
  std::vector<std::int32_t> perm;     ///< perm[i] = original column swept i-th (identity when !ordered)
  std::vector<std::uint8_t> dead;     ///< per original column: 1 when H_jj == 0 (the column is zeroed)
  matrix<float> hinv;                 ///< upper Cholesky factor of (H_perm + damp I)^-1; I on fallback
  std::vector<damping_attempt> attempts;
  bool fell_back = false;             ///< no damping worked: the layer is rounded to nearest
  std::size_t dead_columns = 0;

  [[nodiscard]] std::size_t columns() const noexcept { return hinv.rows(); }
  /// The dampening fraction that worked (0 after a fallback).
  [[nodiscard]] float damp_fraction() const noexcept {
    return !attempts.empty() && attempts.back().succeeded ? attempts.back().fraction : 0.0f;
  }
};

/// Result of quantizing one weight with GPTQ.
template <class T>
struct gptq_result {
  quantized_tensor quantized;  ///< codes, qparams, and g_idx for actorder=group
  matrix<T> weight;            ///< dequantize(quantized) in the model dtype: what the reference writes back
  double loss = 0.0;           ///< sum over rows and columns of (w - q)^2 / d^2, halved (the reference's loss)
  act_order actorder = act_order::none;  ///< the ordering actually used
  std::vector<damping_attempt> attempts;
  bool fell_back_to_rtn = false;
  std::size_t dead_columns = 0;
  [[nodiscard]] float damp_fraction() const noexcept {
    return !attempts.empty() && attempts.back().succeeded ? attempts.back().fraction : 0.0f;
  }
};

namespace detail {

/// Columns in decreasing order of diag(H); ties keep the original order (torch.argsort is not
/// stable, so ties may be ordered differently by the reference — any order is a valid GPTQ).
template <class Diag>
std::vector<std::int32_t> activation_order(std::size_t n, Diag&& diag) {
  std::vector<std::int32_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::stable_sort(p.begin(), p.end(), [&](std::int32_t a, std::int32_t b) { return diag(a) > diag(b); });
  return p;
}

/// Rows swept together: one SIMD lane per row, so the per-column quantization and the
/// within-block rank-1 updates run as vector operations over independent rows.
inline constexpr std::size_t gptq_tile_rows = 16;

struct sweep_params {
  float q_min, q_max;
  bool fp32_math;
};

/// The within-block sweep of GPTQ for rows [r0, r1) and columns [i1, i2) of the working weight
/// wf (sweep order): each column is quantized with its qparams, its scaled error
/// e = (w - q) / U_ii is propagated to the block's later columns (w_j -= e U_ij) and kept in err
/// for the lazy trailing update; the dequantized value replaces the column in wf. The tile is
/// transposed into [column][row] buffers first.
template <kernel_family F, class T>
void sweep_tile(const sweep_params& sp, std::size_t r0, std::size_t r1, std::size_t i1, std::size_t i2,
                matrix<float>& wf, const matrix<float>& u, const std::vector<std::int32_t>& gsweep,
                const matrix<float>& scale_t, const matrix<float>* zp_t, matrix<std::uint8_t>& codes,
                matrix<float>& err, std::vector<double>& row_loss) {
  constexpr std::size_t R = gptq_tile_rows;
  const std::size_t nb = i2 - i1, rr = r1 - r0;
  // Blocks up to 128 columns use the stack (a heap buffer per tile cost 5 % of the sweep).
  alignas(64) float tw[128 * R], te[128 * R];
  alignas(64) std::uint8_t tc[128 * R];
  std::vector<float> heap_w, heap_e;
  std::vector<std::uint8_t> heap_c;
  float* w = tw;
  float* e_tile = te;
  std::uint8_t* c_tile = tc;
  if (nb > 128) {
    heap_w.resize(nb * R);
    heap_e.resize(nb * R);
    heap_c.resize(nb * R);
    w = heap_w.data();
    e_tile = heap_e.data();
    c_tile = heap_c.data();
  }
  // Transposes through raw row pointers: indexing the matrices inside the loops made GCC reload
  // their data pointers after every uint8_t store (which may alias anything).
  for (std::size_t r = 0; r < R; ++r) {
    if (r < rr) {
      const float* LLMC_RESTRICT src = &wf(r0 + r, i1);
      for (std::size_t i = 0; i < nb; ++i) w[i * R + r] = src[i];
    } else {
      for (std::size_t i = 0; i < nb; ++i) w[i * R + r] = 0.0f;
    }
  }
  double loss[R] = {};
  // Columns go in groups of G: inside a group each column's error updates the group's later
  // columns at once; the block's columns past the group get the G updates in one pass over each
  // (y_j = (y_j - e_0 h_0j) - e_1 h_1j ..., the same operations in the same order as one column at
  // a time, so the results are identical), loading and storing y_j once instead of G times.
  constexpr std::size_t G = 4;
  for (std::size_t i0 = 0; i0 < nb; i0 += G) {
    const std::size_t g_end = std::min(nb, i0 + G);
    for (std::size_t i = i0; i < g_end; ++i) {
      const auto g = static_cast<std::size_t>(gsweep[i1 + i]);
      const float* LLMC_RESTRICT s = &scale_t(g, 0) + r0;
      const float* LLMC_RESTRICT z = zp_t ? &(*zp_t)(g, 0) + r0 : nullptr;
      const float d = u(i1 + i, i1 + i);
      float* LLMC_RESTRICT x = w + i * R;
      float* LLMC_RESTRICT e = e_tile + i * R;
      std::uint8_t* LLMC_RESTRICT c = c_tile + i * R;
      float col_loss[R];
      for (std::size_t r = 0; r < R; ++r) {
        const float sr = r < rr ? s[r] : 1.0f;
        const float zr = z && r < rr ? z[r] : 0.0f;
        const std::uint8_t code = quantize_element<F, T>(x[r], sr, zr, sp.q_min, sp.q_max, sp.fp32_math);
        const float q = dequantize_element<F, T>(code, sr, zr, sp.fp32_math);
        e[r] = (x[r] - q) / d;
        x[r] = q;
        c[r] = code;
        col_loss[r] = e[r] * e[r];
      }
      for (std::size_t r = 0; r < R; ++r) loss[r] += static_cast<double>(col_loss[r]);
      const float* LLMC_RESTRICT h = &u(i1 + i, i1);
      for (std::size_t j = i + 1; j < g_end; ++j) {
        const float hj = h[j];
        float* LLMC_RESTRICT y = w + j * R;
        for (std::size_t r = 0; r < R; ++r) y[r] -= e[r] * hj;
      }
    }
    // The group's errors applied to the block's remaining columns, G at a time.
    if (g_end - i0 == G) {
      const float* LLMC_RESTRICT e0 = e_tile + (i0 + 0) * R;
      const float* LLMC_RESTRICT e1 = e_tile + (i0 + 1) * R;
      const float* LLMC_RESTRICT e2 = e_tile + (i0 + 2) * R;
      const float* LLMC_RESTRICT e3 = e_tile + (i0 + 3) * R;
      const float* LLMC_RESTRICT h0 = &u(i1 + i0 + 0, i1);
      const float* LLMC_RESTRICT h1 = &u(i1 + i0 + 1, i1);
      const float* LLMC_RESTRICT h2 = &u(i1 + i0 + 2, i1);
      const float* LLMC_RESTRICT h3 = &u(i1 + i0 + 3, i1);
      for (std::size_t j = g_end; j < nb; ++j) {
        const float a0 = h0[j], a1 = h1[j], a2 = h2[j], a3 = h3[j];
        float* LLMC_RESTRICT y = w + j * R;
        for (std::size_t r = 0; r < R; ++r) {
          float v = y[r];
          v -= e0[r] * a0;
          v -= e1[r] * a1;
          v -= e2[r] * a2;
          v -= e3[r] * a3;
          y[r] = v;
        }
      }
    } else {
      for (std::size_t i = i0; i < g_end; ++i) {
        const float* LLMC_RESTRICT e = e_tile + i * R;
        const float* LLMC_RESTRICT h = &u(i1 + i, i1);
        for (std::size_t j = g_end; j < nb; ++j) {
          const float hj = h[j];
          float* LLMC_RESTRICT y = w + j * R;
          for (std::size_t r = 0; r < R; ++r) y[r] -= e[r] * hj;
        }
      }
    }
  }
  for (std::size_t r = 0; r < rr; ++r) {
    float* LLMC_RESTRICT wrow = &wf(r0 + r, i1);
    float* LLMC_RESTRICT erow = &err(r0 + r, 0);
    std::uint8_t* LLMC_RESTRICT crow = &codes(r0 + r, i1);
    for (std::size_t i = 0; i < nb; ++i) wrow[i] = w[i * R + r];
    for (std::size_t i = 0; i < nb; ++i) erow[i] = e_tile[i * R + r];
    for (std::size_t i = 0; i < nb; ++i) crow[i] = c_tile[i * R + r];
    row_loss[r0 + r] += loss[r];
  }
}

/// The text of GPTQ's note for one Linear (gptq::apply and gptq_device_apply write the same).
template <class T>
std::string gptq_note_message(const gptq_result<T>& res) {
  std::string msg = "loss " + std::to_string(res.loss) + ", actorder " + std::string(to_string(res.actorder)) +
                    ", damping " + std::to_string(res.damp_fraction());
  if (res.attempts.size() > 1) msg += " after " + std::to_string(res.attempts.size() - 1) + " failed Cholesky factorization(s)";
  if (res.fell_back_to_rtn)
    msg = "Cholesky failed at every damping (last " + std::to_string(res.attempts.back().fraction) + "): rounded to nearest";
  if (res.dead_columns) msg += ", " + std::to_string(res.dead_columns) + " dead input column(s) zeroed";
  return msg;
}

/// min(0, .) and max(0, .) over the Linears of a group with tensor_group (NVFP4) weight args, each
/// weight rounded to its model dtype: the range of the joint global scale vLLM's fused q/k/v and
/// gate/up layers share (spec §4.5). Both GPTQ paths (gptq::apply, gptq_device_apply) use it.
template <quantization_scheme S>
std::pair<float, float> joint_tensor_group_range(const S& scheme, const std::vector<linear_weight*>& group) {
  float lo = 0.0f, hi = 0.0f;
  for (const linear_weight* l : group) {
    if (weight_args_for(scheme, *l).strategy != quant_strategy::tensor_group) continue;
    with_model_dtype(l->dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (float v : l->weight.storage()) {
        const float t = compute_dtype<T>::round(v);
        lo = std::min(lo, t);
        hi = std::max(hi, t);
      }
    });
  }
  return {lo, hi};
}

}  // namespace detail

/// GPTQ as a policy: hyperparameters (the reference's defaults) over a quantization scheme.
/// @tparam Scheme a compile-time scheme (presets::W4A16, ...) or runtime_scheme.
template <quantization_scheme Scheme>
struct gptq {
  static constexpr std::string_view name = "gptq";
  static constexpr bool quantizes = true;
  static constexpr statistic_set statistics = statistic::hessian;

  Scheme scheme{};
  std::size_t block_size = 128;             ///< columns per lazy batch (reference block_size)
  float dampening_frac = 0.01f;             ///< damp = dampening_frac * mean(diag H) (reference dampening_frac)
  std::optional<act_order> actorder{};      ///< unset: the scheme's, else static (reference default)
  int damping_retries = 4;                  ///< extra tries with damping x damping_growth each (0: the reference)
  float damping_growth = 10.0f;
  observer_options observer{};              ///< options of the weight observer (MSE grid, ...)

  /// The ordering GPTQ uses for weights quantized with args a (spec §5.1: an explicit value must
  /// agree with the scheme's; group on a strategy without groups falls back to none).
  /// @throws config_error llmc.method.310 when the method's and the scheme's actorder conflict.
  [[nodiscard]] act_order resolve_actorder(const quant_args& a) const {
    act_order r = a.actorder != act_order::none ? a.actorder : act_order::weight;
    if (actorder) {
      if (a.actorder != act_order::none && a.actorder != *actorder)
        LLMC_THROW(config_error, "llmc.method.310",
                   "gptq: actorder " + std::string(to_string(*actorder)) + " conflicts with the scheme's weight actorder " +
                       std::string(to_string(a.actorder)) + "; set it in one place");
      r = *actorder;
    }
    if (r == act_order::group && a.strategy != quant_strategy::group && a.strategy != quant_strategy::tensor_group)
      r = act_order::none;
    return r;
  }

  /// The inverse-Hessian factor for a symmetric H [cols, cols] (full, or only its upper triangle
  /// valid when `upper_only`). `ordered`: sweep in activation order (resolve_actorder != none).
  /// @throws shape_error llmc.method.311 when H is not square.
  template <host_matrix H>
  [[nodiscard]] gptq_factor factor(const H& h_in, bool ordered, bool upper_only = false) const {
    auto h = cview(h_in);
    if (h.rows() != h.cols())
      LLMC_THROW(shape_error, "llmc.method.311",
                 "gptq: the Hessian is " + std::to_string(h.rows()) + " x " + std::to_string(h.cols()) + ", not square");
    const std::size_t n = h.rows();
    auto at = [&](std::size_t i, std::size_t j) -> float {
      if (upper_only && j < i) std::swap(i, j);
      return static_cast<float>(h(i, j));
    };
    gptq_factor f;
    f.ordered = ordered;
    f.perm.resize(n);
    std::iota(f.perm.begin(), f.perm.end(), 0);
    if (ordered) f.perm = detail::activation_order(n, [&](std::int32_t c) { return at(static_cast<std::size_t>(c), static_cast<std::size_t>(c)); });
    f.dead.assign(n, 0);
    double diag_sum = 0.0;
    for (std::size_t c = 0; c < n; ++c) {
      float d = at(c, c);
      if (d == 0.0f) {
        f.dead[c] = 1;
        ++f.dead_columns;
        d = 1.0f;  // H[dead, dead] = 1
      }
      diag_sum += d;
    }
    const double mean_diag = n ? diag_sum / static_cast<double>(n) : 0.0;
    // H as a full symmetric matrix (dead diagonal entries set to 1), so that the reordering below
    // reads whole rows: rows copied as they are (the upper triangle only, when that is all H
    // holds), then the lower triangle mirrored tile by tile (both tiles stay in cache).
    matrix<float> hs(n, n);
    // O(n^2) passes split over rows (each writes its own rows), like the O(n^3) kernels.
    const std::size_t row_chunks = parallel_chunks(n, 256);
    auto for_rows = [&](auto&& body) {
      parallel_for_chunks(n, row_chunks, [&](std::size_t, std::size_t i0, std::size_t i1) {
        for (std::size_t i = i0; i < i1; ++i) body(i);
      });
    };
    for_rows([&](std::size_t i) {
      float* dst = &hs(i, 0);
      for (std::size_t j = upper_only ? i : 0; j < n; ++j) dst[j] = static_cast<float>(h(i, j));
    });
    if (upper_only) {
      constexpr std::size_t tb = 64;
      const std::size_t tiles = (n + tb - 1) / tb;
      parallel_for_chunks(tiles, parallel_chunks(tiles, 4), [&](std::size_t, std::size_t t0, std::size_t t1) {
        for (std::size_t i0 = t0 * tb; i0 < std::min(n, t1 * tb); i0 += tb)
          for (std::size_t j0 = 0; j0 <= i0; j0 += tb)
            for (std::size_t i = i0; i < std::min(n, i0 + tb); ++i)
              for (std::size_t j = j0; j < std::min(i, j0 + tb); ++j) hs(i, j) = hs(j, i);
      });
    }
    for (std::size_t c = 0; c < n; ++c)
      if (f.dead[c]) hs(c, c) = 1.0f;
    // R = J P^T (H + damp I) P J (P: activation order, J: order reversal), lower triangle.
    matrix<float> r(n, n);
    std::vector<std::int32_t> rev(n);
    for (std::size_t j = 0; j < n; ++j) rev[j] = f.perm[n - 1 - j];
    float fraction = dampening_frac;
    for (int attempt = 0; attempt <= std::max(0, damping_retries); ++attempt, fraction *= damping_growth) {
      const auto damp = static_cast<float>(static_cast<double>(fraction) * mean_diag);
      for_rows([&](std::size_t i) {
        const float* LLMC_RESTRICT hrow = hs.data() + static_cast<std::size_t>(rev[i]) * n;
        float* LLMC_RESTRICT rrow = &r(i, 0);
        for (std::size_t j = 0; j <= i; ++j) rrow[j] = hrow[rev[j]];
        rrow[i] += damp;
      });
      bool ok = std::isfinite(damp) && cholesky(r) == 0;
      if (ok) {
        invert_lower(r);
        std::vector<std::uint8_t> finite(n, 1);
        for_rows([&](std::size_t i) {
          const float* rrow = &r(i, 0);
          bool fin = true;
          for (std::size_t j = 0; j <= i; ++j) fin &= std::isfinite(rrow[j]);
          finite[i] = fin;
        });
        ok = std::all_of(finite.begin(), finite.end(), [](std::uint8_t v) { return v != 0; });
      }
      f.attempts.push_back({fraction, damp, ok});
      if (ok) {
        // U = J L^-1 J: row i of U is row n-1-i of L^-1, reversed. hs is no longer needed: reuse it.
        f.hinv = std::move(hs);
        for_rows([&](std::size_t i) {
          float* LLMC_RESTRICT dst = &f.hinv(i, 0);
          const float* LLMC_RESTRICT src = &r(n - 1 - i, 0);
          for (std::size_t j = 0; j < i; ++j) dst[j] = 0.0f;
          for (std::size_t j = i; j < n; ++j) dst[j] = src[n - 1 - j];
        });
        return f;
      }
    }
    f.fell_back = true;
    f.hinv = matrix<float>(n, n, 0.0f);
    for (std::size_t i = 0; i < n; ++i) f.hinv(i, i) = 1.0f;
    return f;
  }

  /// The factor of an accumulated Hessian. @throws config_error llmc.method.304 when it is empty.
  [[nodiscard]] gptq_factor factor(const hessian_accumulator& acc, bool ordered) const {
    if (acc.samples() == 0)
      LLMC_THROW(config_error, "llmc.method.304",
                 "gptq: the Hessian has no calibration sample; run calibration data through the layer first");
    return factor(acc.upper(), ordered, true);
  }

  /// Quantizes w [out, in] (float, bfloat16 or float16: the model dtype T) with args a and a
  /// precomputed factor. global_scale: a shared NVFP4 global scale (fused q/k/v), 0 to compute it.
  /// @throws config_error llmc.method.312 when f was made for another ordering; shape_error
  /// llmc.method.313 when f does not match w's columns.
  template <host_matrix W>
  [[nodiscard]] auto quantize_weight_with(const quant_args& a, const W& w_in, const gptq_factor& f,
                                          float global_scale = 0.0f) const {
    auto w = cview(w_in);
    using T = std::remove_cv_t<typename decltype(w)::value_type>;
    using D = compute_dtype<T>;
    static_assert(require_model_dtype<T>());
    if (const char* why = validate_quant_args(a))
      LLMC_THROW(config_error, "llmc.scheme.001", std::string("gptq: invalid weight args: ") + why);
    const std::size_t rows = w.rows(), cols = w.cols();
    if (f.columns() != cols)
      LLMC_THROW(shape_error, "llmc.method.313",
                 "gptq: the Hessian factor is for " + std::to_string(f.columns()) + " input columns, the weight has " +
                     std::to_string(cols));
    const act_order act = resolve_actorder(a);
    if ((act != act_order::none) != f.ordered)
      LLMC_THROW(config_error, "llmc.method.312",
                 std::string("gptq: the Hessian factor was computed ") + (f.ordered ? "with" : "without") +
                     " activation ordering, but these weight args use actorder " + std::string(to_string(act)) +
                     "; call factor(H, resolve_actorder(args) != act_order::none)");
    const std::vector<std::int32_t>& perm = f.perm;

    // qparams, once, before the sweep; gsweep[i] = qparam column of the i-th swept column.
    const qparam_layout layout(a, rows, cols);
    std::vector<std::int32_t> gsweep(cols);
    qparams qp;
    if (act == act_order::group) {
      matrix<T> wp(rows, cols);
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < cols; ++i) wp(r, i) = w(r, static_cast<std::size_t>(perm[i]));
      qp = weight_qparams(a, wp, global_scale, observer);
      for (std::size_t i = 0; i < cols; ++i) gsweep[i] = static_cast<std::int32_t>(layout.slot_col(i));
    } else {
      qp = weight_qparams(a, w, global_scale, observer);
      for (std::size_t i = 0; i < cols; ++i)
        gsweep[i] = static_cast<std::int32_t>(layout.slot_col(static_cast<std::size_t>(perm[i])));
    }

    // Working copy in sweep order, fp32; dead columns zeroed.
    matrix<float> wf(rows, cols);
    const std::size_t copy_chunks = parallel_chunks(rows, std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(cols, 1)));
    auto for_rows = [&](auto&& body) {
      parallel_for_chunks(rows, copy_chunks, [&](std::size_t, std::size_t r0, std::size_t r1) {
        for (std::size_t r = r0; r < r1; ++r) body(r);
      });
    };
    for_rows([&](std::size_t r) {
      for (std::size_t i = 0; i < cols; ++i) {
        const auto c = static_cast<std::size_t>(perm[i]);
        wf(r, i) = f.dead[c] ? 0.0f : D::to_float(w(r, c));
      }
    });

    matrix<std::uint8_t> codes_sweep(rows, cols);
    std::vector<double> row_loss(rows, 0.0);
    const std::size_t bs = std::max<std::size_t>(1, block_size);
    matrix<float> err(rows, std::min(bs, std::max<std::size_t>(cols, 1)));
    const matrix<float>& u = f.hinv;
    // Effective scales and zero points transposed to [slot column][row], so a tile of rows reads
    // them contiguously.
    matrix<float> scale_t(layout.slot_cols, rows), zp_t;
    const bool has_zp = !qp.zero_point.empty();
    if (has_zp) zp_t = matrix<float>(layout.slot_cols, rows);
    for_rows([&](std::size_t r) {
      for (std::size_t g = 0; g < layout.slot_cols; ++g) {
        scale_t(g, r) = detail::effective_scale(qp.scale(layout.slot_row(r), g), qp.global_scale);
        if (has_zp) zp_t(g, r) = static_cast<float>(qp.zero_point(layout.slot_row(r), g));
      }
    });
    constexpr std::size_t R = detail::gptq_tile_rows;
    const std::size_t tiles = (rows + R - 1) / R;
    const std::size_t tile_chunks = parallel_chunks(tiles, 2);
    detail::with_family(a, [&](auto fam) {
      constexpr auto F = decltype(fam)::value;
      detail::sweep_params sp{a.q_min(), a.q_max(), qp.global_scale > 0.0f || a.is_mx()};  // as quantize.hpp decides
      for (std::size_t i1 = 0; i1 < cols; i1 += bs) {
        const std::size_t i2 = std::min(cols, i1 + bs);
        // Rows are independent inside a block: each thread sweeps its own tiles of rows.
        parallel_for_chunks(tiles, tile_chunks, [&](std::size_t, std::size_t t0, std::size_t t1) {
          for (std::size_t t = t0; t < t1; ++t)
            detail::sweep_tile<F, T>(sp, t * R, std::min(rows, t * R + R), i1, i2, wf, u, gsweep, scale_t,
                                     has_zp ? &zp_t : nullptr, codes_sweep, err, row_loss);
        });
        // Lazy batch update of the trailing columns: W[:, i2:] -= E U[i1:i2, i2:]. (A left-looking
        // form, W[:, i1:i2] -= E[:, :i1] U[:i1, i1:i2] before each block, was measured 36 % slower
        // here: the tall-skinny GEMM with N = 128 packs far more A than it reuses.)
        if (i2 < cols)
          gemm(-1.0f, cview(err).block(0, 0, rows, i2 - i1), cview(u).block(i1, i2, i2 - i1, cols - i2), 1.0f,
               wf.view().block(0, i2, rows, cols - i2));
      }
    });

    gptq_result<T> res;
    res.actorder = act;
    res.attempts = f.attempts;
    res.fell_back_to_rtn = f.fell_back;
    res.dead_columns = f.dead_columns;
    for (double l : row_loss) res.loss += l;
    res.loss /= 2.0;
    quantized_tensor& q = res.quantized;
    q.args = a;
    q.args.actorder = act;
    q.model_dtype = D::type;
    q.codes = matrix<std::uint8_t>(rows, cols);
    for_rows([&](std::size_t r) {
      for (std::size_t i = 0; i < cols; ++i) q.codes(r, static_cast<std::size_t>(perm[i])) = codes_sweep(r, i);
    });
    if (act == act_order::group) {
      q.g_idx.assign(cols, 0);
      for (std::size_t i = 0; i < cols; ++i) q.g_idx[static_cast<std::size_t>(perm[i])] = gsweep[i];
    }
    q.params = std::move(qp);
    // The working copy now holds every column's dequantized value (in T): un-permute it.
    res.weight = matrix<T>(rows, cols);
    for_rows([&](std::size_t r) {
      for (std::size_t i = 0; i < cols; ++i) res.weight(r, static_cast<std::size_t>(perm[i])) = D::from_float(wf(r, i));
    });
    return res;
  }

  /// Quantizes w with the scheme's weight args and a precomputed factor.
  template <host_matrix W>
  [[nodiscard]] auto quantize_weight(const W& w, const gptq_factor& f, float global_scale = 0.0f) const {
    return quantize_weight_with(static_cast<quant_args>(scheme.weights), w, f, global_scale);
  }

  /// Quantizes w with the scheme's weight args and the Hessian of its input (a full symmetric
  /// matrix, or a hessian_accumulator).
  template <host_matrix W, class H>
    requires(host_matrix<H> || std::same_as<H, hessian_accumulator>)
  [[nodiscard]] auto quantize_weight(const W& w, const H& h, float global_scale = 0.0f) const {
    const quant_args a = scheme.weights;
    return quantize_weight_with(a, w, factor(h, resolve_actorder(a) != act_order::none), global_scale);
  }

  /// Quantizes every Linear of a decoder layer whose input has a Hessian: one factor per distinct
  /// input (and ordering), a joint NVFP4 global scale for the Linears sharing an input (vLLM fuses
  /// q/k/v and gate/up, spec §4.5); writes linear_weight::quantized and the dequantized weight.
  void apply(layer_context& ctx) const {
    std::vector<std::string> done;
    for (const linear_weight& first : ctx.linears) {
      if (std::find(done.begin(), done.end(), first.input) != done.end()) continue;
      done.push_back(first.input);
      std::vector<linear_weight*> group;
      for (linear_weight& l : ctx.linears)
        if (l.input == first.input && weight_args_for(scheme, l).enabled()) group.push_back(&l);
      if (group.empty()) continue;
      const hessian_accumulator& acc = ctx.input_of(*group.front()).hessian;
      std::optional<gptq_factor> factors[2];
      const auto [joint_min, joint_max] = detail::joint_tensor_group_range(scheme, group);
      for (linear_weight* l : group) {
        const quant_args a = weight_args_for(scheme, *l);
        const bool ordered = resolve_actorder(a) != act_order::none;
        if (!factors[ordered]) factors[ordered] = factor(acc, ordered);
        const float gs = a.strategy == quant_strategy::tensor_group ? nvfp4_global_scale(joint_min, joint_max) : 0.0f;
        detail::with_model_dtype(l->dtype, [&](auto tag) {
          using T = typename decltype(tag)::type;
          const auto wt = matrix<T>::from(l->weight, [](float v) { return compute_dtype<T>::from_float(v); });
          auto res = quantize_weight_with(a, wt, *factors[ordered], gs);
          l->weight = matrix<float>::from(res.weight, [](T v) { return static_cast<float>(compute_dtype<T>::to_float(v)); });
          ctx.note(name, l->name, detail::gptq_note_message(res), 0.0, res.loss);
          l->quantized = std::move(res.quantized);
        });
      }
    }
  }
};

}  // namespace llmc
