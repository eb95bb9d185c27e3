// Parity of every optimized dense kernel with the generic reference loops (backend/generic):
// llmc's packed GEMM / SYRK / Cholesky / triangular inverse for each ISA clone this CPU can run,
// and the CBLAS forwarders when the test is built with llmc::blas. Tolerances are the fp32
// rounding-error bounds of a k-term dot product, element by element; a wrong kernel misses by O(1).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/parallel.hpp"

using namespace llmc;

namespace {

matrix<float> random_matrix(std::size_t r, std::size_t c, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, scale);
  matrix<float> m(r, c);
  for (auto& v : m.storage()) v = d(g);
  return m;
}

/// An SPD matrix X X^T / k + 0.1 I of order n, built in double then rounded.
matrix<float> spd_matrix(std::size_t n, std::uint32_t seed) {
  const std::size_t k = n + 16;
  const auto x = random_matrix(n, k, seed);
  matrix<float> a(n, n);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (std::size_t p = 0; p < k; ++p) s += static_cast<double>(x(i, p)) * x(j, p);
      a(i, j) = static_cast<float>(s / static_cast<double>(k) + (i == j ? 0.1 : 0.0));
    }
  return a;
}

constexpr double u32 = 0x1p-24;  // unit roundoff of fp32

/// Every ISA clone this CPU can run.
std::vector<cpu::isa> runnable_isas() {
  std::vector<cpu::isa> out;
  for (auto i : {cpu::isa::baseline, cpu::isa::avx2, cpu::isa::avx512})
    if (cpu::isa_supported(i)) out.push_back(i);
  return out;
}

struct isa_guard {
  explicit isa_guard(cpu::isa i) { cpu::force_isa(i); }
  ~isa_guard() { cpu::reset_isa(); }
};

/// The implementations under test: name + gemm + syrk + cholesky + invert_lower.
struct impl {
  std::string name;
  cpu::isa isa;
  bool blas;
};

std::vector<impl> implementations() {
  std::vector<impl> out;
  for (auto i : runnable_isas()) out.push_back({"llmc/" + std::string(cpu::to_string(i)), i, false});
  if (blas::available) out.push_back({"cblas", cpu::detected_isa(), true});
  return out;
}

void run_gemm(const impl& im, float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta,
              matrix_view<float> c, unsigned threads = 0) {
  isa_guard g(im.isa);
#if defined(LLMC_HAS_CBLAS)
  if (im.blas) return blas::gemm(alpha, a, b, beta, c, threads);
#endif
  cpu::gemm(alpha, a, b, beta, c, threads);
}
void run_syrk(const impl& im, triangle t, float alpha, matrix_view<const float> a, float beta, matrix_view<float> c) {
  isa_guard g(im.isa);
#if defined(LLMC_HAS_CBLAS)
  if (im.blas) return blas::syrk(t, alpha, a, beta, c);
#endif
  cpu::syrk(t, alpha, a, beta, c);
}
std::size_t run_cholesky(const impl& im, matrix_view<float> a) {
  isa_guard g(im.isa);
#if defined(LLMC_HAS_CBLAS)
  if (im.blas) return blas::cholesky(a);
#endif
  return cpu::cholesky(a);
}
void run_invert_lower(const impl& im, matrix_view<float> l) {
  isa_guard g(im.isa);
#if defined(LLMC_HAS_CBLAS)
  if (im.blas) return blas::invert_lower(l);
#endif
  cpu::invert_lower(l);
}

/// |got - ref| <= (k + 4) u (|alpha| sum_p |a_ip b_pj| + |beta c_ij|) + tiny, element by element.
void check_gemm_close(const std::string& what, float alpha, matrix_view<const float> a, matrix_view<const float> b,
                      float beta, const matrix<float>& c0, const matrix<float>& ref, const matrix<float>& got) {
  const std::size_t k = a.cols();
  std::size_t bad = 0;
  double worst = 0.0;
  for (std::size_t i = 0; i < ref.rows(); ++i)
    for (std::size_t j = 0; j < ref.cols(); ++j) {
      double mag = 0.0;
      for (std::size_t p = 0; p < k; ++p) mag += std::fabs(static_cast<double>(a(i, p)) * b(p, j));
      const double old = beta == 0.0f ? 0.0 : std::fabs(static_cast<double>(beta) * c0(i, j));
      const double bound = static_cast<double>(k + 4) * u32 * (std::fabs(alpha) * mag + old) + 1e-30;
      const double err = std::fabs(static_cast<double>(got(i, j)) - ref(i, j));
      worst = std::max(worst, err / bound);
      if (!(err <= bound)) ++bad;
    }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " elements outside the fp32 error bound (worst ", worst, " x bound)");
}

}  // namespace

TEST_CASE("gemm: every implementation matches the reference for odd shapes, transposes, strides, alpha/beta") {
  struct shape {
    std::size_t m, n, k;
  };
  const shape shapes[] = {{1, 1, 1}, {5, 3, 7}, {37, 53, 29}, {130, 257, 300}, {301, 45, 600}};
  for (const impl& im : implementations()) {
    for (const shape& s : shapes) {
      for (int variant = 0; variant < 4; ++variant) {
        const bool ta = variant & 1, tb = variant & 2;
        // Operands stored transposed when ta / tb: the kernel sees a transposed view.
        const auto a_store = random_matrix(ta ? s.k : s.m, ta ? s.m : s.k, 11 + static_cast<std::uint32_t>(s.m));
        const auto b_store = random_matrix(tb ? s.n : s.k, tb ? s.k : s.n, 29 + static_cast<std::uint32_t>(s.n));
        const auto a = ta ? cview(a_store).transposed() : cview(a_store);
        const auto b = tb ? cview(b_store).transposed() : cview(b_store);
        for (float beta : {0.0f, 0.5f}) {
          auto c0 = random_matrix(s.m, s.n, 5);
          if (beta == 0.0f) c0.storage().assign(c0.size(), std::numeric_limits<float>::quiet_NaN());  // must be overwritten
          matrix<float> ref = c0, got = c0;
          generic::gemm(1.25f, a, b, beta, ref.view());
          run_gemm(im, 1.25f, a, b, beta, got.view());
          check_gemm_close(im.name + " m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" +
                               std::to_string(s.k) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                               " beta=" + std::to_string(beta),
                           1.25f, a, b, beta, c0, ref, got);
        }
      }
    }
    // A sub-block of a larger matrix as C (row stride > cols) and a column-major C (col stride != 1).
    const auto a = random_matrix(70, 90, 3), b = random_matrix(90, 50, 4);
    matrix<float> big(100, 80, 7.0f), ref_big = big;
    run_gemm(im, 1.0f, cview(a), cview(b), 0.0f, big.view().block(10, 20, 70, 50));
    generic::gemm(1.0f, cview(a), cview(b), 0.0f, ref_big.view().block(10, 20, 70, 50));
    matrix<float> got_blk(70, 50), ref_blk(70, 50);
    for (std::size_t i = 0; i < 70; ++i)
      for (std::size_t j = 0; j < 50; ++j) {
        got_blk(i, j) = big(10 + i, 20 + j);
        ref_blk(i, j) = ref_big(10 + i, 20 + j);
      }
    check_gemm_close(im.name + " sub-block C", 1.0f, cview(a), cview(b), 0.0f, ref_blk, ref_blk, got_blk);
    matrix<float> ct(50, 70, 0.0f), ref_c(70, 50, 0.0f);
    run_gemm(im, 1.0f, cview(a), cview(b), 0.0f, ct.view().transposed());
    generic::gemm(1.0f, cview(a), cview(b), 0.0f, ref_c.view());
    matrix<float> got_c(70, 50);
    for (std::size_t i = 0; i < 70; ++i)
      for (std::size_t j = 0; j < 50; ++j) got_c(i, j) = ct(j, i);
    check_gemm_close(im.name + " column-major C", 1.0f, cview(a), cview(b), 0.0f, ref_c, ref_c, got_c);
    // Outside the sub-block nothing changed.
    CHECK(big(0, 0) == 7.0f);
    CHECK(big(99, 79) == 7.0f);
    CHECK(big(10, 19) == 7.0f);
    CHECK(big(80, 70) == 7.0f);
  }
}

TEST_CASE("syrk: one triangle of alpha A A^T + beta C matches the reference; the other triangle is untouched") {
  for (const impl& im : implementations()) {
    for (std::size_t n : {1u, 9u, 70u, 333u}) {
      for (std::size_t k : {1u, 64u, 700u}) {
        // A = X^T with X [k, n] row-major: the Hessian's layout.
        const auto x = random_matrix(k, n, static_cast<std::uint32_t>(n * 31 + k));
        const auto a = cview(x).transposed();
        for (triangle t : {triangle::upper, triangle::lower}) {
          auto c0 = spd_matrix(n, 3);
          matrix<float> ref = c0, got = c0;
          const float sentinel = -12345.0f;
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j)
              if (t == triangle::upper ? j < i : j > i) got(i, j) = ref(i, j) = sentinel;
          generic::syrk(t, 0.5f, a, 0.75f, ref.view());
          run_syrk(im, t, 0.5f, a, 0.75f, got.view());
          std::size_t bad = 0, touched = 0;
          for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < n; ++j) {
              const bool inside = t == triangle::upper ? j >= i : j <= i;
              if (!inside) {
                touched += got(i, j) != sentinel;
                continue;
              }
              double mag = 0.0;
              for (std::size_t p = 0; p < k; ++p) mag += std::fabs(static_cast<double>(a(i, p)) * a(j, p));
              const double bound = static_cast<double>(k + 4) * u32 * (0.5 * mag + 0.75 * std::fabs(c0(i, j))) + 1e-30;
              bad += !(std::fabs(static_cast<double>(got(i, j)) - ref(i, j)) <= bound);
            }
          CHECK_MESSAGE(bad == 0, im.name, " n=", n, " k=", k, " upper=", t == triangle::upper);
          CHECK_MESSAGE(touched == 0, im.name, " wrote ", touched, " elements of the other triangle");
        }
      }
    }
  }
}

TEST_CASE("cholesky: L L^T reproduces A, L matches the reference, and a failing pivot is reported at the same index") {
  for (const impl& im : implementations()) {
    for (std::size_t n : {1u, 7u, 129u, 300u}) {
      const auto a = spd_matrix(n, static_cast<std::uint32_t>(n));
      matrix<float> ref = a, got = a;
      REQUIRE(generic::cholesky(ref.view()) == 0);
      REQUIRE(run_cholesky(im, got.view()) == 0);
      double worst_rel = 0.0, worst_rec = 0.0, anorm = 0.0;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j <= i; ++j) {
          anorm = std::max(anorm, std::fabs(static_cast<double>(a(i, j))));
          worst_rel = std::max(worst_rel, std::fabs(static_cast<double>(got(i, j)) - ref(i, j)) /
                                              (std::fabs(static_cast<double>(ref(i, i))) + 1e-30));
          double s = 0.0;
          for (std::size_t p = 0; p <= j; ++p) s += static_cast<double>(got(i, p)) * got(j, p);
          worst_rec = std::max(worst_rec, std::fabs(s - a(i, j)));
        }
      CHECK_MESSAGE(worst_rec <= 64.0 * static_cast<double>(n) * u32 * anorm, im.name, " n=", n, " |LL^T - A| = ", worst_rec);
      CHECK_MESSAGE(worst_rel <= 1e-3, im.name, " n=", n, " |L - L_ref| / L_ii = ", worst_rel);
    }
    // An indefinite matrix: pivot 150 (0-based 149) fails in both.
    auto bad = spd_matrix(200, 9);
    bad(149, 149) = -50.0f;
    matrix<float> ref = bad, got = bad;
    const std::size_t ref_info = generic::cholesky(ref.view());
    CHECK(ref_info == 150);
    CHECK_MESSAGE(run_cholesky(im, got.view()) == ref_info, im.name);
    // NaN fails too.
    auto nan_m = spd_matrix(10, 1);
    nan_m(3, 3) = std::numeric_limits<float>::quiet_NaN();
    CHECK(run_cholesky(im, nan_m.view()) == 4);
  }
}

TEST_CASE("invert_lower: L X = I, X matches the reference, the strictly upper part is untouched") {
  for (const impl& im : implementations()) {
    for (std::size_t n : {1u, 7u, 129u, 300u}) {
      auto l = spd_matrix(n, 77 + static_cast<std::uint32_t>(n));
      REQUIRE(generic::cholesky(l.view()) == 0);
      const float sentinel = 99.0f;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) l(i, j) = sentinel;
      matrix<float> ref = l, got = l;
      generic::invert_lower(ref.view());
      run_invert_lower(im, got.view());
      double worst = 0.0, worst_id = 0.0, xnorm = 0.0;
      std::size_t touched = 0;
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          if (j > i) {
            touched += got(i, j) != sentinel;
            continue;
          }
          xnorm = std::max(xnorm, std::fabs(static_cast<double>(ref(i, j))));
          worst = std::max(worst, std::fabs(static_cast<double>(got(i, j)) - ref(i, j)));
          double s = 0.0;  // (L X)_ij
          for (std::size_t p = j; p <= i; ++p) s += static_cast<double>(l(i, p)) * got(p, j);
          worst_id = std::max(worst_id, std::fabs(s - (i == j ? 1.0 : 0.0)));
        }
      CHECK_MESSAGE(worst <= 1e-4 * xnorm, im.name, " n=", n, " |X - X_ref| = ", worst, " |X| = ", xnorm);
      CHECK_MESSAGE(worst_id <= 1e-4, im.name, " n=", n, " |LX - I| = ", worst_id);
      CHECK(touched == 0);
    }
  }
}

TEST_CASE("gemm and syrk give the same bytes with 1 and 2 threads, and the same bytes twice") {
  const auto a = random_matrix(517, 700, 1), b = random_matrix(700, 389, 2);
  for (auto i : runnable_isas()) {
    isa_guard g(i);
    matrix<float> c1(517, 389), c2(517, 389), c3(517, 389);
    cpu::gemm(1.0f, cview(a), cview(b), 0.0f, c1.view(), 1);
    cpu::gemm(1.0f, cview(a), cview(b), 0.0f, c2.view(), 2);
    cpu::gemm(1.0f, cview(a), cview(b), 0.0f, c3.view(), 2);
    CHECK(std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(c2.data(), c3.data(), c2.size() * sizeof(float)) == 0);
    matrix<float> h1(700, 700, 0.0f), h2(700, 700, 0.0f);
    cpu::syrk(triangle::upper, 1.0f, cview(a).transposed(), 0.0f, h1.view(), 1);
    cpu::syrk(triangle::upper, 1.0f, cview(a).transposed(), 0.0f, h2.view(), 2);
    CHECK(std::memcmp(h1.data(), h2.data(), h1.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("dense_kernels<host_backend> follows the selected implementation, and blas falls back when absent") {
  const auto a = random_matrix(40, 30, 1), b = random_matrix(30, 20, 2);
  matrix<float> c_own(40, 20), c_sel(40, 20);
  set_dense_implementation(dense_impl::own);
  CHECK(dense_implementation() == dense_impl::own);
  gemm(1.0f, a, b, 0.0f, c_own);
  set_dense_implementation(dense_impl::blas);
  CHECK(dense_implementation() == (blas::available ? dense_impl::blas : dense_impl::own));
  gemm(1.0f, a, b, 0.0f, c_sel);
  set_dense_implementation(dense_impl::own);
  matrix<float> ref(40, 20);
  generic::gemm(1.0f, cview(a), cview(b), 0.0f, ref.view());
  check_gemm_close("selected implementation", 1.0f, cview(a), cview(b), 0.0f, ref, ref, c_sel);
  check_gemm_close("own implementation", 1.0f, cview(a), cview(b), 0.0f, ref, ref, c_own);
}
