// Hessian accumulation (H = (2/N) sum x x^T, one SYRK per batch) at TinyLlama-1.1B input widths
// (2048: q/k/v/o/gate/up; 5632: down_proj) over 4096 calibration tokens, beside this machine's
// SGEMM (OpenBLAS cblas_sgemm when built with llmc::blas, else llmc's gemm) for the same product
// X^T X measured in the same process. FLOPs: the accumulator computes n(n+1)/2 dot products of
// length k, n(n+1)k FLOPs; the SGEMM baseline computes all n^2 of them, 2 n^2 k FLOPs. Counters:
// GFLOPs (ours), sgemm_GFLOPs (baseline), vs_sgemm = GFLOPs / sgemm_GFLOPs (target >= 0.7).
// Variants: llmc's kernels (default) and CBLAS's ssyrk (dense_impl::blas), to choose the default.
//   build/benchmarks/bench_hessian --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "llmc/backend/kernels.hpp"
#include "llmc/method/hessian.hpp"

using namespace llmc;

namespace {
constexpr std::size_t kTokens = 4096;

const matrix<float>& activations(std::size_t cols) {
  static std::map<std::size_t, matrix<float>> cache;
  auto it = cache.find(cols);
  if (it == cache.end()) {
    matrix<float> x(kTokens, cols);
    std::mt19937 gen(static_cast<std::uint32_t>(cols));
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (auto& v : x.storage()) v = d(gen);
    it = cache.emplace(cols, std::move(x)).first;
  }
  return it->second;
}

/// Best-of-3 GFLOP/s of the baseline SGEMM C[n, n] = X^T X (X [k, n]).
double sgemm_gflops(std::size_t n) {
  static std::map<std::size_t, double> cache;
  if (auto it = cache.find(n); it != cache.end()) return it->second;
  const auto& x = activations(n);
  matrix<float> c(n, n);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#if defined(LLMC_HAS_CBLAS)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n), static_cast<int>(kTokens),
                1.0f, x.data(), static_cast<int>(n), x.data(), static_cast<int>(n), 0.0f, c.data(), static_cast<int>(n));
#else
    cpu::gemm(1.0f, cview(x).transposed(), cview(x), 0.0f, c.view());
#endif
    benchmark::DoNotOptimize(c.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return cache[n] = 2.0 * static_cast<double>(n) * n * kTokens / best * 1e-9;
}

void BM_hessian(benchmark::State& state, dense_impl impl) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& x = activations(n);
  const double base = sgemm_gflops(n);
  set_dense_implementation(impl);
  const bool used_blas = dense_implementation() == dense_impl::blas;
  hessian_accumulator acc(n);
  for (auto _ : state) {
    acc.add(x);
    benchmark::DoNotOptimize(acc.upper().data());
  }
  set_dense_implementation(dense_impl::own);
  const double flops = static_cast<double>(n) * static_cast<double>(n + 1) * kTokens;
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["sgemm_GFLOPs"] = base;
  state.counters["vs_sgemm"] =
      benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()) / base, benchmark::Counter::kIsRate);
  state.SetLabel((used_blas ? std::string("cblas") : "llmc " + std::string(cpu::to_string(cpu::active_isa()))) +
                 (blas::available ? "" : " (baseline: llmc gemm, no CBLAS)"));
}

void BM_sgemm_baseline(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto& x = activations(n);
  matrix<float> c(n, n);
  for (auto _ : state) {
#if defined(LLMC_HAS_CBLAS)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(n), static_cast<int>(kTokens),
                1.0f, x.data(), static_cast<int>(n), x.data(), static_cast<int>(n), 0.0f, c.data(), static_cast<int>(n));
#else
    cpu::gemm(1.0f, cview(x).transposed(), cview(x), 0.0f, c.view());
#endif
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * static_cast<double>(n) * n * kTokens * 1e-9 *
                                                    static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
}
}  // namespace

BENCHMARK(BM_sgemm_baseline)->Arg(2048)->Arg(5632)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_hessian, llmc, dense_impl::own)->Arg(2048)->Arg(5632)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_hessian, cblas, dense_impl::blas)->Arg(2048)->Arg(5632)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
