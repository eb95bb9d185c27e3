// GPTQ solve at TinyLlama-1.1B Linear shapes ([out, in] = 2048x2048 q/o, 5632x2048 gate/up,
// 2048x5632 down; H from 4096 calibration tokens), W4A16 (int4 group 128, actorder static), beside
// this machine's SGEMM (OpenBLAS cblas_sgemm when built with llmc::blas, else llmc's gemm) for an
// [out, in] x [in, in] product, measured in the same process.
// The solve = the inverse-Hessian factor (Cholesky n^3/3 + triangular inverse n^3/3 FLOPs, on the
// order-reversed H) + the blocked sweep (within-block updates rows * sum nb(nb-1), lazy trailing
// GEMMs 2 rows nb (in - i2) per block) + the per-element quantization (not counted as FLOPs).
// Counters: GFLOPs (all the FLOPs above / time), sgemm_GFLOPs, vs_sgemm (target >= 0.5).
//   build/benchmarks/bench_gptq --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <tuple>
#include <random>
#include <utility>

#include "llmc/backend/kernels.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/scheme/presets.hpp"

using namespace llmc;

namespace {
constexpr std::size_t kTokens = 4096;

const hessian_accumulator& hessian(std::size_t cols) {
  static std::map<std::size_t, hessian_accumulator> cache;
  auto it = cache.find(cols);
  if (it == cache.end()) {
    // Correlated activations with a spread of channel scales, like an LLM layer's input.
    std::mt19937 gen(static_cast<std::uint32_t>(cols));
    std::normal_distribution<float> d(0.0f, 1.0f);
    matrix<float> x(kTokens, cols);
    for (std::size_t t = 0; t < kTokens; ++t) {
      const float shared = d(gen);
      for (std::size_t c = 0; c < cols; ++c) x(t, c) = 0.3f * shared + d(gen) * (c % 13 == 0 ? 5.0f : 1.0f);
    }
    hessian_accumulator h(cols);
    h.add(x);
    it = cache.emplace(cols, std::move(h)).first;
  }
  return it->second;
}

const matrix<float>& weight(std::size_t rows, std::size_t cols) {
  static std::map<std::pair<std::size_t, std::size_t>, matrix<float>> cache;
  auto key = std::make_pair(rows, cols);
  auto it = cache.find(key);
  if (it == cache.end()) {
    matrix<float> w(rows, cols);
    std::mt19937 gen(static_cast<std::uint32_t>(rows * 7 + cols));
    std::normal_distribution<float> d(0.0f, 0.02f);
    for (auto& v : w.storage()) v = d(gen);
    it = cache.emplace(key, std::move(w)).first;
  }
  return it->second;
}

/// Best-of-2 GFLOP/s of the baseline SGEMM [m, k] x [k, n].
double sgemm_gflops(std::size_t m, std::size_t n, std::size_t k) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t>, double> cache;
  const auto key = std::make_tuple(m, n, k);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  matrix<float> a(m, k, 0.5f), b(k, n, 0.25f), c(m, n);
  double best = 1e30;
  for (int rep = 0; rep < 2; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#if defined(LLMC_HAS_CBLAS)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f,
                a.data(), static_cast<int>(k), b.data(), static_cast<int>(n), 0.0f, c.data(), static_cast<int>(n));
#else
    cpu::gemm(1.0f, cview(a), cview(b), 0.0f, c.view());
#endif
    benchmark::DoNotOptimize(c.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return cache[key] = 2.0 * static_cast<double>(m) * n * k / best * 1e-9;
}

double factor_flops(std::size_t n) { return 2.0 * static_cast<double>(n) * n * n / 3.0; }
double sweep_flops(std::size_t rows, std::size_t cols, std::size_t block) {
  double f = 0.0;
  for (std::size_t i1 = 0; i1 < cols; i1 += block) {
    const std::size_t i2 = std::min(cols, i1 + block), nb = i2 - i1;
    f += static_cast<double>(rows) * static_cast<double>(nb) * static_cast<double>(nb - 1);
    f += 2.0 * static_cast<double>(rows) * static_cast<double>(nb) * static_cast<double>(cols - i2);
  }
  return f;
}

void set_counters(benchmark::State& state, double flops, std::size_t rows, std::size_t cols) {
  const double base = sgemm_gflops(rows, cols, cols);
  const double per_s = flops * 1e-9 * static_cast<double>(state.iterations());
  state.counters["GFLOPs"] = benchmark::Counter(per_s, benchmark::Counter::kIsRate);
  state.counters["sgemm_GFLOPs"] = base;
  state.counters["vs_sgemm"] = benchmark::Counter(per_s / base, benchmark::Counter::kIsRate);
  state.SetLabel((dense_implementation() == dense_impl::blas ? std::string("cblas + llmc sweep")
                                                             : "llmc " + std::string(cpu::to_string(cpu::active_isa()))) +
                 (blas::available ? "" : " (baseline: llmc gemm, no CBLAS)"));
}

/// The whole solve: factor + sweep.
void BM_gptq_solve(benchmark::State& state, dense_impl impl) {
  const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
  const auto& h = hessian(cols);
  const auto& w = weight(rows, cols);
  (void)sgemm_gflops(rows, cols, cols);
  set_dense_implementation(impl);
  gptq<presets::W4A16> m;
  for (auto _ : state) {
    const gptq_factor f = m.factor(h, true);
    auto res = m.quantize_weight(w, f);
    benchmark::DoNotOptimize(res.weight.data());
  }
  set_counters(state, factor_flops(cols) + sweep_flops(rows, cols, m.block_size), rows, cols);
  set_dense_implementation(dense_impl::own);
}

/// The factor alone (Cholesky + triangular inverse of the damped, reordered H).
void BM_gptq_factor(benchmark::State& state) {
  const auto cols = static_cast<std::size_t>(state.range(1)), rows = static_cast<std::size_t>(state.range(0));
  const auto& h = hessian(cols);
  gptq<presets::W4A16> m;
  for (auto _ : state) {
    const gptq_factor f = m.factor(h, true);
    benchmark::DoNotOptimize(f.hinv.data());
  }
  set_counters(state, factor_flops(cols), rows, cols);
}

/// The sweep alone, given the factor.
void BM_gptq_sweep(benchmark::State& state) {
  const auto rows = static_cast<std::size_t>(state.range(0)), cols = static_cast<std::size_t>(state.range(1));
  gptq<presets::W4A16> m;
  const gptq_factor f = m.factor(hessian(cols), true);
  const auto& w = weight(rows, cols);
  for (auto _ : state) {
    auto res = m.quantize_weight(w, f);
    benchmark::DoNotOptimize(res.weight.data());
  }
  set_counters(state, sweep_flops(rows, cols, m.block_size), rows, cols);
}
}  // namespace

#define LLMC_GPTQ_SHAPES ->Args({2048, 2048})->Args({5632, 2048})->Args({2048, 5632})->Unit(benchmark::kMillisecond)->UseRealTime()
BENCHMARK_CAPTURE(BM_gptq_solve, llmc, dense_impl::own) LLMC_GPTQ_SHAPES;
BENCHMARK_CAPTURE(BM_gptq_solve, cblas, dense_impl::blas) LLMC_GPTQ_SHAPES;
BENCHMARK(BM_gptq_factor) LLMC_GPTQ_SHAPES;
BENCHMARK(BM_gptq_sweep) LLMC_GPTQ_SHAPES;
#undef LLMC_GPTQ_SHAPES

BENCHMARK_MAIN();
