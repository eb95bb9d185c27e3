// GPTQ on synthetic data: H = I is RTN bit for bit (every weight strategy, two dtypes, every
// actorder); correlated inputs lower the layer's output error below RTN's; every actorder mode
// dequantizes consistently (and group writes a valid g_idx); determinism; the Cholesky failure path
// (damping raised step by step, then RTN); dead columns; errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "llmc/core/parallel.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/method/rtn.hpp"
#include "llmc/scheme/presets.hpp"
#include "support/random.hpp"

using namespace llmc;
using test_support::random_weights;

namespace {

template <class T>
matrix<T> convert(const matrix<float>& m) {
  return matrix<T>::from(m, [](float x) { return compute_dtype<T>::from_float(x); });
}
template <class A, class B>
bool same_bytes(const matrix<A>& a, const matrix<B>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && sizeof(A) == sizeof(B) &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * sizeof(A)) == 0);
}
bool same_qparams(const qparams& a, const qparams& b) {
  return same_bytes(a.scale, b.scale) && same_bytes(a.zero_point, b.zero_point) && a.global_scale == b.global_scale;
}

matrix<float> identity(std::size_t n) {
  matrix<float> h(n, n, 0.0f);
  for (std::size_t i = 0; i < n; ++i) h(i, i) = 1.0f;
  return h;
}

/// Activations with strongly correlated channels and a spread of channel scales (like an LLM's).
matrix<float> correlated_inputs(std::size_t tokens, std::size_t cols, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  const std::size_t factors = 8;
  matrix<float> mix(factors, cols);
  for (auto& v : mix.storage()) v = d(g);
  matrix<float> x(tokens, cols);
  for (std::size_t t = 0; t < tokens; ++t) {
    float z[factors];
    for (auto& v : z) v = d(g);
    for (std::size_t c = 0; c < cols; ++c) {
      float s = 1.0f * d(g);
      for (std::size_t f = 0; f < factors; ++f) s += z[f] * mix(f, c);
      x(t, c) = s * (1.0f + 3.0f * static_cast<float>(c % 11 == 0));
    }
  }
  return x;
}

/// sum over tokens and outputs of ((W - Q) x)^2, in double.
template <class T>
double output_error(const matrix<float>& w, const matrix<T>& q, const matrix<float>& x) {
  const std::size_t rows = w.rows(), cols = w.cols();
  std::vector<double> dw(rows * cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      dw[r * cols + c] = static_cast<double>(w(r, c)) - static_cast<double>(compute_dtype<T>::to_float(q(r, c)));
  double e = 0.0;
  for (std::size_t t = 0; t < x.rows(); ++t)
    for (std::size_t r = 0; r < rows; ++r) {
      double s = 0.0;
      for (std::size_t c = 0; c < cols; ++c) s += dw[r * cols + c] * x(t, c);
      e += s * s;
    }
  return e;
}

constexpr quant_args int4_group32{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
using W4G32 = scheme<int4_group32>;

template <class S, class T>
void check_identity_is_rtn(const char* name) {
  const auto wf = random_weights(256, 256, 3, 0.02f, 6.0f);
  const auto w = convert<T>(wf);
  const auto h = identity(256);
  const quant_args a = S::weights;
  const quantized_tensor rtn_q = quantize_weight(S{}, w);
  const matrix<T> rtn_w = dequantize<T>(rtn_q);
  std::vector<act_order> modes{act_order::none, act_order::weight};
  if (a.strategy == quant_strategy::group || a.strategy == quant_strategy::tensor_group) modes.push_back(act_order::group);
  for (act_order mode : modes) {
    gptq<S> m;
    m.actorder = mode;
    const auto res = m.quantize_weight(w, h);
    INFO(name, " dtype ", to_string(compute_dtype<T>::type), " actorder ", to_string(mode));
    CHECK(res.actorder == mode);
    CHECK(!res.fell_back_to_rtn);
    CHECK(res.attempts.size() == 1);
    CHECK(same_bytes(res.quantized.codes, rtn_q.codes));
    CHECK(same_qparams(res.quantized.params, rtn_q.params));
    CHECK(same_bytes(res.weight, rtn_w));
    if (mode == act_order::group) {
      REQUIRE(res.quantized.g_idx.size() == 256);
      for (std::size_t c = 0; c < 256; ++c) CHECK(res.quantized.g_idx[c] == static_cast<std::int32_t>(c / a.group_size));
    } else {
      CHECK(res.quantized.g_idx.empty());
    }
    // loss = sum (w - q)^2 / d^2 / 2 with d = 1 / sqrt(1.01) (H + 0.01 I).
    double sq = 0.0;
    for (std::size_t r = 0; r < 256; ++r)
      for (std::size_t c = 0; c < 256; ++c) {
        const double e = static_cast<double>(compute_dtype<T>::to_float(w(r, c))) - compute_dtype<T>::to_float(rtn_w(r, c));
        sq += e * e;
      }
    CHECK(res.loss == doctest::Approx(sq * 1.01 / 2.0).epsilon(1e-4));
  }
}

}  // namespace

TEST_CASE_TEMPLATE("gptq: with H = I it is RTN bit for bit, for every weight strategy and actorder", T, float, bfloat16) {
  check_identity_is_rtn<presets::W4A16, T>("W4A16 (group 128)");
  check_identity_is_rtn<presets::W4A16_ASYM, T>("W4A16_ASYM");
  check_identity_is_rtn<W4G32, T>("int4 group 32");
  check_identity_is_rtn<presets::W8A8, T>("W8A8 (channel)");
  check_identity_is_rtn<presets::W8A16, T>("W8A16 (group 128)");
  check_identity_is_rtn<presets::FP8, T>("FP8 (tensor)");
  check_identity_is_rtn<presets::FP8_DYNAMIC, T>("FP8_DYNAMIC (channel)");
  check_identity_is_rtn<presets::FP8_BLOCK, T>("FP8_BLOCK (block 128x128)");
  check_identity_is_rtn<presets::NVFP4A16, T>("NVFP4A16 (tensor_group 16)");
  check_identity_is_rtn<presets::MXFP4A16, T>("MXFP4A16 (group 32, E8M0)");
}

TEST_CASE("gptq: on correlated inputs the output error ||W X - Q(W) X||^2 is below RTN's") {
  const auto x = correlated_inputs(1024, 256, 7);
  hessian_accumulator h;
  h.add(x);
  const auto w = random_weights(128, 256, 5, 0.02f, 4.0f);
  auto compare = [&](auto scheme_tag, const std::string& name, double max_ratio) {
    using S = decltype(scheme_tag);
    const auto rtn_w = dequantize<float>(quantize_weight(S{}, w));
    const double e_rtn = output_error(w, rtn_w, x);
    gptq<S> m;
    const auto res = m.quantize_weight(w, h);
    const double e_gptq = output_error(w, res.weight, x);
    MESSAGE(name, ": RTN ", e_rtn, ", GPTQ ", e_gptq, ", ratio ", e_gptq / e_rtn);
    CHECK_MESSAGE(e_gptq < max_ratio * e_rtn, name, " ratio ", e_gptq / e_rtn);
    CHECK(res.loss > 0.0);
  };
  compare(W4G32{}, "int4 group 32", 0.7);
  compare(presets::W4A16{}, "W4A16", 0.7);
  compare(presets::W4A16_ASYM{}, "W4A16_ASYM", 0.7);
  compare(presets::W8A8{}, "W8A8", 0.9);
  compare(presets::NVFP4A16{}, "NVFP4A16", 0.9);
  compare(presets::MXFP4A16{}, "MXFP4A16", 0.9);
  compare(presets::FP8_BLOCK{}, "FP8_BLOCK", 0.95);
  compare(presets::FP8{}, "FP8", 0.95);
}

TEST_CASE_TEMPLATE("gptq: every actorder mode dequantizes consistently; group writes a valid, invertible g_idx", T, float,
                   bfloat16) {
  const auto x = correlated_inputs(512, 256, 11);
  hessian_accumulator h;
  h.add(x);
  const auto wf = random_weights(96, 256, 13, 0.02f, 4.0f);
  const auto w = convert<T>(wf);
  const quant_args a = W4G32::weights;
  const double e_rtn = output_error(wf, dequantize<T>(quantize_weight(W4G32{}, w)), x);
  // The activation order: diag(H) descending.
  const auto hm = h.hessian();
  std::vector<std::int32_t> order(256);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return hm(i, i) > hm(j, j); });
  for (act_order mode : {act_order::none, act_order::weight, act_order::group}) {
    INFO("actorder ", to_string(mode));
    gptq<W4G32> m;
    m.actorder = mode;
    const auto res = m.quantize_weight(w, h);
    const quantized_tensor& q = res.quantized;
    // The stored weight is on the grid: it dequantizes from the codes, and re-quantizing it with
    // the same qparams (what the compressor does at save time) gives the same codes.
    CHECK(same_bytes(dequantize<T>(q), res.weight));
    CHECK(same_bytes(quantize(a, res.weight, q.params, q.g_idx).codes, q.codes));
    CHECK(output_error(wf, res.weight, x) < 0.8 * e_rtn);
    if (mode != act_order::group) {
      CHECK(q.g_idx.empty());
      CHECK(q.params.scale.cols() == 256 / 32);
      continue;
    }
    REQUIRE(q.g_idx.size() == 256);
    std::vector<int> count(8, 0);
    for (auto gi : q.g_idx) {
      REQUIRE(gi >= 0);
      REQUIRE(gi < 8);
      ++count[static_cast<std::size_t>(gi)];
    }
    for (int cnt : count) CHECK(cnt == 32);
    // Group g = the g-th block of 32 columns in activation order.
    for (std::size_t i = 0; i < 256; ++i) CHECK(q.g_idx[static_cast<std::size_t>(order[i])] == static_cast<std::int32_t>(i / 32));
    // Invertible: permuting columns by argsort(g_idx) makes the groups contiguous; quantizing that
    // permuted weight as plain groups (how compressed-tensors applies g_idx, spec §4.3) gives the
    // permuted codes, and the inverse permutation restores the original column order.
    std::vector<std::int32_t> perm(256);
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(), [&](int i, int j) { return q.g_idx[i] < q.g_idx[j]; });
    matrix<T> wp(96, 256);
    for (std::size_t r = 0; r < 96; ++r)
      for (std::size_t i = 0; i < 256; ++i) wp(r, i) = res.weight(r, static_cast<std::size_t>(perm[i]));
    const auto qp = quantize(a, wp, q.params);
    bool same = true;
    for (std::size_t r = 0; r < 96; ++r)
      for (std::size_t i = 0; i < 256; ++i) same = same && qp.codes(r, i) == q.codes(r, static_cast<std::size_t>(perm[i]));
    CHECK(same);
    std::vector<std::int32_t> inv(256);
    for (std::size_t i = 0; i < 256; ++i) inv[static_cast<std::size_t>(perm[i])] = static_cast<std::int32_t>(i);
    for (std::size_t c = 0; c < 256; ++c) CHECK(perm[static_cast<std::size_t>(inv[c])] == static_cast<std::int32_t>(c));
  }
}

TEST_CASE("gptq: the same bytes twice, and with 1 or 2 threads") {
  const auto x = correlated_inputs(600, 384, 17);
  const auto w = random_weights(300, 384, 19, 0.02f, 4.0f);
  auto run = [&](unsigned threads) {
    set_max_threads(threads);
    hessian_accumulator h;
    h.add(x);
    gptq<presets::W4A16> m;
    m.actorder = act_order::group;
    auto r = m.quantize_weight(w, h);
    set_max_threads(0);
    return r;
  };
  const auto a = run(1), b = run(2), c = run(2);
  for (const auto* r : {&b, &c}) {
    CHECK(same_bytes(a.quantized.codes, r->quantized.codes));
    CHECK(same_qparams(a.quantized.params, r->quantized.params));
    CHECK(a.quantized.g_idx == r->quantized.g_idx);
    CHECK(same_bytes(a.weight, r->weight));
    CHECK(a.loss == r->loss);
  }
}

TEST_CASE("gptq: a Hessian that does not factor raises the damping step by step, then falls back to RTN") {
  // J = (1 - c) I + c 11^T with c = 1.5 has eigenvalues -0.5 (n - 1 times) and 1 + 1.5 (n - 1):
  // indefinite (as a Hessian accumulated in low precision can be). Damping f * mean(diag) = f
  // makes it positive definite only for f > 0.5: 0.01 and 0.1 fail, 1.0 succeeds.
  const std::size_t n = 64;
  matrix<float> h(n, n, 1.5f);
  for (std::size_t i = 0; i < n; ++i) h(i, i) = 1.0f;
  const auto w = random_weights(32, n, 23);
  gptq<W4G32> m;
  const auto res = m.quantize_weight(w, h);
  REQUIRE(res.attempts.size() == 3);
  CHECK(!res.attempts[0].succeeded);
  CHECK(res.attempts[0].fraction == doctest::Approx(0.01f));
  CHECK(!res.attempts[1].succeeded);
  CHECK(res.attempts[1].fraction == doctest::Approx(0.1f));
  CHECK(res.attempts[2].succeeded);
  CHECK(res.attempts[2].damp == doctest::Approx(1.0f));
  CHECK(res.damp_fraction() == doctest::Approx(1.0f));
  CHECK(!res.fell_back_to_rtn);

  // Without retries (the reference's behaviour) the layer is rounded to nearest, and says so.
  m.damping_retries = 0;
  const auto rtn = m.quantize_weight(w, h);
  REQUIRE(rtn.attempts.size() == 1);
  CHECK(rtn.fell_back_to_rtn);
  CHECK(rtn.damp_fraction() == 0.0f);
  const auto plain = quantize_weight(W4G32{}, w);
  CHECK(same_bytes(rtn.quantized.codes, plain.codes));

  // A NaN in H fails at every damping: RTN after 1 + damping_retries attempts.
  m.damping_retries = 4;
  auto hn = identity(n);
  hn(5, 7) = hn(7, 5) = std::nanf("");
  const auto nan_res = m.quantize_weight(w, hn);
  CHECK(nan_res.attempts.size() == 5);
  CHECK(nan_res.fell_back_to_rtn);
  CHECK(same_bytes(nan_res.quantized.codes, plain.codes));
}

TEST_CASE("gptq: a singular Hessian with dead columns factors after damping; dead columns are zeroed") {
  // 20 tokens for 64 columns: rank 20; columns 3 and 40 never see a nonzero input (H_jj = 0).
  auto x = correlated_inputs(20, 64, 29);
  for (std::size_t t = 0; t < 20; ++t) x(t, 3) = x(t, 40) = 0.0f;
  hessian_accumulator h;
  h.add(x);
  const auto w = random_weights(48, 64, 31);
  gptq<W4G32> m;
  const auto res = m.quantize_weight(w, h);
  CHECK(res.attempts.size() == 1);
  CHECK(res.attempts[0].succeeded);
  CHECK(!res.fell_back_to_rtn);
  CHECK(res.dead_columns == 2);
  for (std::size_t r = 0; r < 48; ++r) {
    CHECK(res.weight(r, 3) == 0.0f);
    CHECK(res.weight(r, 40) == 0.0f);
  }
  // The live columns still carry the weight's content.
  double norm = 0.0;
  for (std::size_t r = 0; r < 48; ++r) norm += std::fabs(res.weight(r, 10));
  CHECK(norm > 0.0);
}

TEST_CASE("gptq: resolve_actorder follows the reference's rules") {
  gptq<W4G32> m;
  CHECK(m.resolve_actorder(W4G32::weights) == act_order::weight);  // default: static
  m.actorder = act_order::group;
  CHECK(m.resolve_actorder(W4G32::weights) == act_order::group);
  CHECK(m.resolve_actorder(presets::W8A8::weights) == act_order::none);  // group needs groups: falls back
  m.actorder = act_order::none;
  CHECK(m.resolve_actorder(W4G32::weights) == act_order::none);
  quant_args with_group = W4G32::weights;
  with_group.actorder = act_order::group;
  gptq<W4G32> unset;
  CHECK(unset.resolve_actorder(with_group) == act_order::group);  // the scheme's own value
  gptq<W4G32> conflicting;
  conflicting.actorder = act_order::weight;
  try {
    (void)conflicting.resolve_actorder(with_group);
    FAIL("conflicting actorder accepted");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.310");
  }
}

TEST_CASE("gptq: one factor serves every Linear of an input; mismatches are errors") {
  const auto x = correlated_inputs(256, 64, 37);
  hessian_accumulator h;
  h.add(x);
  gptq<W4G32> m;
  const gptq_factor f = m.factor(h, true);
  const auto q = random_weights(64, 64, 1), k = random_weights(32, 64, 2);
  const auto rq = m.quantize_weight(q, f), rk = m.quantize_weight(k, f);
  CHECK(same_bytes(rq.quantized.codes, m.quantize_weight(q, h).quantized.codes));
  CHECK(same_bytes(rk.quantized.codes, m.quantize_weight(k, h).quantized.codes));
  m.actorder = act_order::none;
  try {
    (void)m.quantize_weight(q, f);
    FAIL("a factor made with activation ordering was accepted without it");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.312");
  }
  const auto wide = random_weights(8, 96, 3);
  try {
    (void)m.quantize_weight(wide, m.factor(h, false));
    FAIL("a factor for 64 columns was accepted for 96");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.method.313");
  }
  try {
    (void)m.factor(matrix<float>(4, 5), false);
    FAIL("non-square Hessian accepted");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.method.311");
  }
  try {
    (void)m.factor(hessian_accumulator(64), false);
    FAIL("empty Hessian accepted");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.304");
  }
}

namespace {
/// GPTQ written the plain way, in double, from the reference's pseudo-code (spec §5.3): the
/// inverse via cholesky -> inverse -> cholesky(upper), no lazy batches, every update applied at
/// once. Same qparams and element quantizer as llmc, so the codes may differ only where fp32 and
/// double land on different sides of a rounding boundary.
template <detail::kernel_family F>
std::pair<matrix<std::uint8_t>, double> plain_gptq(const quant_args& a, const matrix<float>& w, const matrix<float>& h,
                                                   bool ordered) {
  const std::size_t rows = w.rows(), n = w.cols();
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  if (ordered) std::stable_sort(perm.begin(), perm.end(), [&](auto i, auto j) { return h(i, i) > h(j, j); });
  std::vector<double> hp(n * n), wp(rows * n);
  double mean = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) hp[i * n + j] = h(perm[i], perm[j]);
    mean += hp[i * n + i] / static_cast<double>(n);
  }
  for (std::size_t i = 0; i < n; ++i) hp[i * n + i] += 0.01 * mean;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t i = 0; i < n; ++i) wp[r * n + i] = w(r, perm[i]);
  auto chol_lower = [n](std::vector<double>& m) {
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t p = 0; p < j; ++p) m[j * n + j] -= m[j * n + p] * m[j * n + p];
      m[j * n + j] = std::sqrt(m[j * n + j]);
      for (std::size_t i = j + 1; i < n; ++i) {
        for (std::size_t p = 0; p < j; ++p) m[i * n + j] -= m[i * n + p] * m[j * n + p];
        m[i * n + j] /= m[j * n + j];
      }
      for (std::size_t i = 0; i < j; ++i) m[i * n + j] = 0.0;
    }
  };
  // H^-1 = L^-T L^-1 (column solves), then its upper Cholesky factor U = chol(H^-1)^T.
  chol_lower(hp);
  std::vector<double> inv(n * n, 0.0);
  for (std::size_t c = 0; c < n; ++c) {
    std::vector<double> y(n, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      double s = i == c ? 1.0 : 0.0;
      for (std::size_t p = 0; p < i; ++p) s -= hp[i * n + p] * y[p];
      y[i] = s / hp[i * n + i];
    }
    for (std::size_t i = n; i-- > 0;) {
      double s = y[i];
      for (std::size_t p = i + 1; p < n; ++p) s -= hp[p * n + i] * inv[p * n + c];
      inv[i * n + c] = s / hp[i * n + i];
    }
  }
  chol_lower(inv);  // inv = L2 with L2 L2^T = H^-1; U = L2^T
  const qparams qp = weight_qparams(a, w);
  const qparam_layout layout(a, rows, n);
  matrix<std::uint8_t> codes(rows, n);
  double loss = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = inv[i * n + i];
    for (std::size_t r = 0; r < rows; ++r) {
      const float s = detail::effective_scale(qp.scale(layout.slot_row(r), layout.slot_col(perm[i])), qp.global_scale);
      const auto x = static_cast<float>(wp[r * n + i]);
      const std::uint8_t code = detail::quantize_element<F, float>(x, s, 0.0f, a.q_min(), a.q_max(), false);
      const double q = detail::dequantize_element<F, float>(code, s, 0.0f, false);
      const double e = (wp[r * n + i] - q) / d;
      loss += e * e / 2.0;
      codes(r, perm[i]) = code;
      for (std::size_t j = i + 1; j < n; ++j) wp[r * n + j] -= e * inv[j * n + i];
    }
  }
  return {codes, loss};
}
}  // namespace

TEST_CASE("gptq: the blocked sweep (lazy batches, reversed-order factor) agrees with a plain double-precision GPTQ") {
  const auto x = correlated_inputs(512, 160, 43);
  hessian_accumulator acc;
  acc.add(x);
  const auto h = acc.hessian();
  const auto w = random_weights(64, 160, 47, 0.02f, 4.0f);
  auto compare = [&](auto scheme_tag, bool ordered, std::size_t block) {
    using S = decltype(scheme_tag);
    const quant_args a = S::weights;
    gptq<S> m;
    m.actorder = ordered ? act_order::weight : act_order::none;
    m.block_size = block;  // 160 = one full block of 128 + a partial one of 32 (or 5 blocks of 32)
    const auto res = m.quantize_weight(w, h);
    const auto [codes, loss] = plain_gptq<detail::kernel_family::int_sym>(a, w, h, ordered);
    std::size_t diff = 0;
    for (std::size_t i = 0; i < codes.size(); ++i) diff += codes.data()[i] != res.quantized.codes.data()[i];
    const double frac = static_cast<double>(diff) / static_cast<double>(codes.size());
    INFO("bits ", a.num_bits, " ordered ", ordered, " block ", block, ": ", diff, " codes differ, loss ", res.loss, " vs ", loss);
    CHECK(frac < 0.002);
    CHECK(res.loss == doctest::Approx(loss).epsilon(1e-3));
  };
  for (std::size_t block : {128u, 32u}) {
    compare(W4G32{}, true, block);
    compare(W4G32{}, false, block);
    compare(presets::W8A8{}, true, block);
  }
}

static_assert(method<gptq<presets::W4A16>>);
static_assert(method<gptq<runtime_scheme>>);
static_assert(method<rtn<presets::FP8>>);
static_assert(gptq<presets::W8A8>::statistics.contains(statistic::hessian));

TEST_CASE("gptq: apply() quantizes a decoder layer with one factor per input and a joint NVFP4 global scale") {
  layer_context ctx;
  ctx.prefix = "model.layers.2.";
  const auto attn_in = correlated_inputs(300, 64, 51), o_in = correlated_inputs(300, 32, 52);
  ctx.inputs["attn_in"].hessian.add(attn_in);
  ctx.inputs["o_in"].hessian.add(o_in);
  ctx.linears.push_back({"self_attn.q_proj", "attn_in", random_weights(32, 64, 1), {}, scalar_type::float32, {}, {}});
  ctx.linears.push_back({"self_attn.k_proj", "attn_in", random_weights(16, 64, 2), {}, scalar_type::bfloat16, {}, {}});
  ctx.linears.push_back({"self_attn.v_proj", "attn_in", random_weights(16, 64, 3), {}, scalar_type::float32, {}, {}});
  ctx.linears.push_back({"self_attn.o_proj", "o_in", random_weights(64, 32, 4), {}, scalar_type::float32, {}, {}});
  ctx.linears[2].weight(1, 1) = -0.75f;  // v_proj holds the joint absmax of q/k/v
  const std::vector<linear_weight> before = ctx.linears;
  gptq<presets::NVFP4A16> m;
  m.apply(ctx);
  const float joint = nvfp4_global_scale(-0.75f, 0.75f);
  for (std::size_t i = 0; i < 4; ++i) {
    const linear_weight& l = ctx.linears[i];
    INFO(l.name);
    REQUIRE(l.quantized.has_value());
    if (i < 3) CHECK(l.quantized->params.global_scale == joint);
    // Same codes as quantizing the Linear alone with its input's Hessian and the joint scale.
    const auto& h = ctx.inputs[l.input].hessian;
    if (l.dtype == scalar_type::bfloat16) {
      const auto wt = convert<bfloat16>(before[i].weight);
      const auto ref = m.quantize_weight(wt, h, i < 3 ? joint : 0.0f);
      CHECK(same_bytes(ref.quantized.codes, l.quantized->codes));
      CHECK(l.quantized->model_dtype == scalar_type::bfloat16);
    } else {
      const auto ref = m.quantize_weight(before[i].weight, h, i < 3 ? joint : 0.0f);
      CHECK(same_bytes(ref.quantized.codes, l.quantized->codes));
      CHECK(same_bytes(ref.weight, l.weight));
    }
  }
  REQUIRE(ctx.notes.size() == 4);
  CHECK(ctx.notes[0].method == "gptq");
  CHECK(ctx.notes[0].target == "model.layers.2.self_attn.q_proj");
  CHECK(ctx.notes[0].after > 0.0);  // the loss
  // A Linear whose input has no Hessian is an error naming it.
  layer_context bare;
  bare.linears.push_back({"mlp.down_proj", "down_in", random_weights(8, 32, 5), {}, scalar_type::float32, {}, {}});
  bare.inputs["down_in"];
  try {
    m.apply(bare);
    FAIL("GPTQ without a Hessian accepted");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.304");
  }
}
