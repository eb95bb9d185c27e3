// SmoothQuant at TinyLlama-1.1B shapes (Linear out x in: 2048x2048, 5632x2048, 2048x5632; 4096
// calibration tokens), beside this machine's SGEMM for the same X W^T (OpenBLAS cblas_sgemm when
// built with llmc::blas, else llmc's gemm), measured in the same process.
// BM_channel_minmax: the statistic, per-channel min/max of [4096, in] activations (GB/s read).
// BM_smoothquant_fold: scales from the statistic and the balance weight's column maxima, then the
//   fold (weight columns *= s, norm /= s). FLOPs counted: one compare (column max) and one multiply
//   per weight element, 2 out in. Both are memory-bound passes: the useful comparison is time, so
//   vs_sgemm_time = our time / the time of one SGEMM of the same shape (how much a fold costs
//   next to a single forward of the Linear over the calibration set).
// Counters: GFLOPs, GBps, sgemm_GFLOPs, vs_sgemm (GFLOPs ratio), vs_sgemm_time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>

#include "llmc/backend/kernels.hpp"
#include "llmc/method/smoothquant.hpp"

using namespace llmc;

namespace {
constexpr std::size_t kTokens = 4096;

const matrix<float>& activations(std::size_t in) {
  static std::map<std::size_t, matrix<float>> cache;
  auto it = cache.find(in);
  if (it == cache.end()) {
    matrix<float> x(kTokens, in);
    std::mt19937 gen(static_cast<std::uint32_t>(in));
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (std::size_t t = 0; t < kTokens; ++t)
      for (std::size_t c = 0; c < in; ++c) x(t, c) = d(gen) * (c % 64 == 5 ? 20.0f : 1.0f);
    it = cache.emplace(in, std::move(x)).first;
  }
  return it->second;
}

matrix<float> weight(std::size_t out, std::size_t in) {
  matrix<float> w(out, in);
  std::mt19937 gen(static_cast<std::uint32_t>(out * 7 + in));
  std::normal_distribution<float> d(0.0f, 0.02f);
  for (auto& v : w.storage()) v = d(gen);
  return w;
}

/// Best-of-3 seconds of the baseline SGEMM Y[T, out] = X[T, in] W[out, in]^T.
double sgemm_seconds(std::size_t out, std::size_t in) {
  static std::map<std::pair<std::size_t, std::size_t>, double> cache;
  if (auto it = cache.find({out, in}); it != cache.end()) return it->second;
  const auto& x = activations(in);
  const auto w = weight(out, in);
  matrix<float> y(kTokens, out);
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#if defined(LLMC_HAS_CBLAS)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(kTokens), static_cast<int>(out),
                static_cast<int>(in), 1.0f, x.data(), static_cast<int>(in), w.data(), static_cast<int>(in), 0.0f, y.data(),
                static_cast<int>(out));
#else
    cpu::gemm(1.0f, cview(x), cview(w).transposed(), 0.0f, y.view());
#endif
    benchmark::DoNotOptimize(y.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return cache[{out, in}] = best;
}

void BM_channel_minmax(benchmark::State& state) {
  const auto in = static_cast<std::size_t>(state.range(0));
  const auto& x = activations(in);
  for (auto _ : state) {
    channel_minmax s;
    s.add(x);
    benchmark::DoNotOptimize(s.min().data());
  }
  state.counters["GBps"] = benchmark::Counter(static_cast<double>(x.size() * sizeof(float)) * 1e-9 *
                                                  static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
}

void BM_smoothquant_fold(benchmark::State& state) {
  const auto out = static_cast<std::size_t>(state.range(0)), in = static_cast<std::size_t>(state.range(1));
  const double sgemm_s = sgemm_seconds(out, in);
  channel_minmax act;
  act.add(activations(in));
  const matrix<float> w0 = weight(out, in);
  const std::vector<float> norm0(in, 1.0f);
  const smoothquant sq{.smoothing_strength = 0.8f};
  double seconds = 0.0;
  for (auto _ : state) {
    state.PauseTiming();
    matrix<float> w = w0;
    std::vector<float> norm = norm0;
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<float> s = sq.scales(act, w);
    fold_smoothing(s, norm, {}, w);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(w.data());
  }
  const double it = static_cast<double>(state.iterations());
  const double flops = 2.0 * static_cast<double>(out) * static_cast<double>(in);
  const double sgemm_gflops = 2.0 * kTokens * static_cast<double>(out) * static_cast<double>(in) / sgemm_s * 1e-9;
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9 * it, benchmark::Counter::kIsRate);
  // The weight is read twice (column max, scale) and written once.
  state.counters["GBps"] = benchmark::Counter(3.0 * static_cast<double>(out * in * sizeof(float)) * 1e-9 * it,
                                              benchmark::Counter::kIsRate);
  state.counters["sgemm_GFLOPs"] = sgemm_gflops;
  state.counters["vs_sgemm"] = benchmark::Counter(flops * 1e-9 * it / sgemm_gflops, benchmark::Counter::kIsRate);
  state.counters["vs_sgemm_time"] = seconds / it / sgemm_s;
}

}  // namespace

BENCHMARK(BM_channel_minmax)->Arg(2048)->Arg(5632)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_smoothquant_fold)->Args({2048, 2048})->Args({5632, 2048})->Args({2048, 5632})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
