// The Hessian accumulator: H = (2/N) sum x x^T over streamed batches (N = sequences), masks,
// dtypes, merge, rescale, determinism and its errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "llmc/core/parallel.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/numeric/bfloat16.hpp"

using namespace llmc;

namespace {

matrix<float> activations(std::size_t tokens, std::size_t cols, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  matrix<float> x(tokens, cols);
  for (std::size_t t = 0; t < tokens; ++t) {
    const float shared = d(g);
    for (std::size_t c = 0; c < cols; ++c) x(t, c) = 0.5f * shared + d(g) * (c % 5 == 0 ? 4.0f : 1.0f);
  }
  return x;
}

/// (2 / n) sum over the given rows of x x^T, in double.
std::vector<double> reference_h(const std::vector<const matrix<float>*>& batches, double n) {
  const std::size_t cols = batches.front()->cols();
  std::vector<double> h(cols * cols, 0.0);
  for (const auto* x : batches)
    for (std::size_t t = 0; t < x->rows(); ++t)
      for (std::size_t i = 0; i < cols; ++i)
        for (std::size_t j = 0; j < cols; ++j) h[i * cols + j] += static_cast<double>((*x)(t, i)) * (*x)(t, j);
  for (auto& v : h) v *= 2.0 / n;
  return h;
}

double max_rel_diff(const matrix<float>& h, const std::vector<double>& ref) {
  double scale = 0.0, worst = 0.0;
  for (double v : ref) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < h.size(); ++i) worst = std::max(worst, std::fabs(h.data()[i] - ref[i]));
  return worst / scale;
}

}  // namespace

TEST_CASE("hessian: streamed batches give (2/N) sum x x^T with N the number of sequences") {
  const auto x1 = activations(300, 96, 1), x2 = activations(77, 96, 2), x3 = activations(1500, 96, 3);
  hessian_accumulator acc;
  acc.add(x1);
  acc.add(x2);
  acc.add(x3, {}, 2);  // a batch of two sequences
  CHECK(acc.samples() == 4);
  CHECK(acc.tokens() == 300 + 77 + 1500);
  const matrix<float> h = acc.hessian();
  CHECK(max_rel_diff(h, reference_h({&x1, &x2, &x3}, 4.0)) < 2e-6);
  // Symmetric, and exactly the stored upper triangle.
  for (std::size_t i = 0; i < 96; ++i)
    for (std::size_t j = i; j < 96; ++j) {
      CHECK(h(i, j) == h(j, i));
      CHECK(h(i, j) == acc.upper()(i, j));
    }
  // The diagonal is 2/N times the sum of squares: positive.
  CHECK(h(0, 0) > 0.0f);
}

TEST_CASE("hessian: how the data is split into batches does not matter (beyond fp32 rounding)") {
  const auto x = activations(1200, 64, 5);
  hessian_accumulator one, many;
  one.add(x, {}, 3);
  for (std::size_t r0 = 0; r0 < 1200; r0 += 400) many.add(cview(x).block(r0, 0, 400, 64));
  CHECK(one.samples() == many.samples());
  const auto a = one.hessian(), b = many.hessian();
  double worst = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(a.data()[i] - b.data()[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(a.data()[i])));
  }
  CHECK(worst / scale < 1e-5);
}

TEST_CASE("hessian: masked rows (padding) never enter H") {
  const auto x = activations(200, 32, 9);
  std::vector<std::uint8_t> mask(200, 1);
  matrix<float> kept_rows(0, 32);
  std::vector<float> kept;
  for (std::size_t t = 0; t < 200; ++t)
    if (t % 3 == 0 || t > 180) mask[t] = 0;
  std::size_t n_kept = 0;
  for (std::size_t t = 0; t < 200; ++t)
    if (mask[t]) {
      for (std::size_t c = 0; c < 32; ++c) kept.push_back(x(t, c));
      ++n_kept;
    }
  kept_rows = matrix<float>(n_kept, 32, std::move(kept));
  hessian_accumulator masked, plain;
  masked.add(x, mask);
  plain.add(kept_rows);
  CHECK(masked.tokens() == n_kept);
  const auto a = masked.hessian(), b = plain.hessian();
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  // Padding with huge values would dominate H if it leaked in.
  auto poisoned = x;
  for (std::size_t t = 0; t < 200; ++t)
    if (!mask[t])
      for (std::size_t c = 0; c < 32; ++c) poisoned(t, c) = 1e6f;
  hessian_accumulator p;
  p.add(poisoned, mask);
  const auto c = p.hessian();
  CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0);
  // A fully masked batch still counts its sequence: H is scaled by n / (n + 1).
  hessian_accumulator q;
  q.add(x);
  const float before = q.hessian()(1, 2);
  q.add(x, std::vector<std::uint8_t>(200, 0));
  CHECK(q.samples() == 2);
  CHECK(q.hessian()(1, 2) == doctest::Approx(before * 0.5f).epsilon(1e-6));
}

TEST_CASE("hessian: bfloat16 and strided inputs give the same H as their fp32 values") {
  const auto x = activations(300, 48, 21);
  matrix<bfloat16> xb(300, 48);
  matrix<float> xr(300, 48);
  for (std::size_t i = 0; i < x.size(); ++i) {
    xb.data()[i] = bfloat16(x.data()[i]);
    xr.data()[i] = static_cast<float>(xb.data()[i]);
  }
  hessian_accumulator hb, hf, ht;
  hb.add(xb);
  hf.add(xr);
  // The same values stored column-major (a transposed view of the transpose).
  matrix<float> xt(48, 300);
  for (std::size_t t = 0; t < 300; ++t)
    for (std::size_t c = 0; c < 48; ++c) xt(c, t) = xr(t, c);
  ht.add(cview(xt).transposed());
  const auto a = hb.hessian(), b = hf.hessian(), c = ht.hessian();
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(max_rel_diff(c, reference_h({&xr}, 1.0)) < 2e-6);
}

TEST_CASE("hessian: merge equals accumulating everything in one, rescale equals the H of x / s") {
  const auto x1 = activations(500, 40, 31), x2 = activations(300, 40, 32);
  hessian_accumulator a, b, all;
  a.add(x1);
  b.add(x2, {}, 3);
  all.add(x1);
  all.add(x2, {}, 3);
  a.merge(b);
  CHECK(a.samples() == 4);
  CHECK(a.tokens() == 800);
  CHECK(max_rel_diff(a.hessian(), reference_h({&x1, &x2}, 4.0)) < 2e-6);
  CHECK(max_rel_diff(all.hessian(), reference_h({&x1, &x2}, 4.0)) < 2e-6);

  std::vector<float> s(40);
  for (std::size_t c = 0; c < 40; ++c) s[c] = 0.25f + 0.1f * static_cast<float>(c);
  auto xs = x1;
  for (std::size_t t = 0; t < xs.rows(); ++t)
    for (std::size_t c = 0; c < 40; ++c) xs(t, c) /= s[c];
  hessian_accumulator r;
  r.add(x1);
  r.rescale(s);
  CHECK(max_rel_diff(r.hessian(), reference_h({&xs}, 1.0)) < 4e-6);
}

TEST_CASE("hessian: same bytes with 1 and 2 threads") {
  const auto x = activations(2048, 300, 41);
  set_max_threads(1);
  hessian_accumulator a;
  a.add(x);
  set_max_threads(2);
  hessian_accumulator b;
  b.add(x);
  set_max_threads(0);
  const auto ha = a.hessian(), hb = b.hessian();
  CHECK(std::memcmp(ha.data(), hb.data(), ha.size() * sizeof(float)) == 0);
}

TEST_CASE("hessian: errors name the problem") {
  hessian_accumulator acc(16);
  const auto x = activations(10, 12, 1);
  try {
    acc.add(x);
    FAIL("width mismatch accepted");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.method.301");
  }
  const auto y = activations(10, 16, 1);
  try {
    acc.add(y, std::vector<std::uint8_t>(9, 1));
    FAIL("mask size mismatch accepted");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.method.302");
  }
  try {
    (void)acc.hessian();
    FAIL("empty Hessian returned");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.method.304");
  }
  try {
    acc.rescale(std::vector<float>(3, 1.0f));
    FAIL("rescale with wrong length accepted");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.method.303");
  }
}
