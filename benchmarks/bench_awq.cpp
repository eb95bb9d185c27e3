// AWQ grid search at TinyLlama-1.1B shapes (Linear out x in: 2048x2048 q/o_proj, 5632x2048 gate/up,
// 2048x5632 down_proj; 4096 calibration tokens; W4A16, group 128), beside this machine's SGEMM
// (OpenBLAS cblas_sgemm when built with llmc::blas, else llmc's gemm) for the same product
// X W^T [4096 x out] measured in the same process.
// BM_awq_linear: one mapping whose parent is the Linear itself (v->o, up->down): 20 grid points.
//   FLOPs counted are those performed: the Gram matrix X^T X once (in^2 T, a SYRK) and per grid
//   point D G (2 out in^2) when in < T, else X D^T (2 T in out). ref_GFLOPs divides the reference's
//   FLOPs (21 forwards of the parent, 2 T in out each) by our time: the speed of the same result.
// BM_awq_mlp: the post_attention_layernorm -> gate/up mapping, parent = the whole MLP
//   (down(silu(x gate^T) * x up^T)): 21 forwards of 3 GEMMs, 6 T h I FLOPs each.
// Counters: GFLOPs (ours), sgemm_GFLOPs (baseline, same M N K), vs_sgemm = GFLOPs / sgemm_GFLOPs.
// Variants: llmc's kernels (the default) and CBLAS (dense_impl::blas).
//   build/benchmarks/bench_awq --benchmark_filter=linear
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <tuple>

#include "llmc/backend/kernels.hpp"
#include "llmc/method/awq.hpp"
#include "llmc/scheme/presets.hpp"

using namespace llmc;

namespace {
constexpr std::size_t kTokens = 4096;

/// Calibration activations [4096, in]: N(0, 1) with every 64th channel an x8 outlier.
const matrix<float>& activations(std::size_t in) {
  static std::map<std::size_t, matrix<float>> cache;
  auto it = cache.find(in);
  if (it == cache.end()) {
    matrix<float> x(kTokens, in);
    std::mt19937 gen(static_cast<std::uint32_t>(in));
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (std::size_t t = 0; t < kTokens; ++t)
      for (std::size_t c = 0; c < in; ++c) x(t, c) = d(gen) * (c % 64 == 5 ? 8.0f : 1.0f);
    it = cache.emplace(in, std::move(x)).first;
  }
  return it->second;
}

const matrix<float>& weight(std::size_t out, std::size_t in, std::uint32_t seed) {
  static std::map<std::tuple<std::size_t, std::size_t, std::uint32_t>, matrix<float>> cache;
  const auto key = std::make_tuple(out, in, seed);
  auto it = cache.find(key);
  if (it == cache.end()) {
    matrix<float> w(out, in);
    std::mt19937 gen(seed + static_cast<std::uint32_t>(out * 7 + in));
    std::normal_distribution<float> d(0.0f, 0.02f);
    for (auto& v : w.storage()) v = d(gen);
    it = cache.emplace(key, std::move(w)).first;
  }
  return it->second;
}

/// Best-of-3 GFLOP/s of the baseline SGEMM Y[T, out] = X[T, in] W[out, in]^T.
double sgemm_gflops(std::size_t out, std::size_t in) {
  static std::map<std::pair<std::size_t, std::size_t>, double> cache;
  if (auto it = cache.find({out, in}); it != cache.end()) return it->second;
  const auto& x = activations(in);
  const auto& w = weight(out, in, 1);
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
  return cache[{out, in}] = 2.0 * static_cast<double>(kTokens) * static_cast<double>(out) * static_cast<double>(in) / best * 1e-9;
}

void set_counters(benchmark::State& state, double flops, double ref_flops, double base) {
  const double it = static_cast<double>(state.iterations());
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9 * it, benchmark::Counter::kIsRate);
  state.counters["ref_GFLOPs"] = benchmark::Counter(ref_flops * 1e-9 * it, benchmark::Counter::kIsRate);
  state.counters["sgemm_GFLOPs"] = base;
  state.counters["vs_sgemm"] = benchmark::Counter(flops * 1e-9 * it / base, benchmark::Counter::kIsRate);
}

std::string label(bool used_blas) {
  return std::string(used_blas ? "cblas " : "llmc ") + std::string(cpu::to_string(cpu::active_isa())) +
         (blas::available ? "" : " (baseline: llmc gemm, no CBLAS)");
}

void BM_sgemm_baseline(benchmark::State& state) {
  const auto out = static_cast<std::size_t>(state.range(0)), in = static_cast<std::size_t>(state.range(1));
  const auto& x = activations(in);
  const auto& w = weight(out, in, 1);
  matrix<float> y(kTokens, out);
  for (auto _ : state) {
#if defined(LLMC_HAS_CBLAS)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(kTokens), static_cast<int>(out),
                static_cast<int>(in), 1.0f, x.data(), static_cast<int>(in), w.data(), static_cast<int>(in), 0.0f, y.data(),
                static_cast<int>(out));
#else
    cpu::gemm(1.0f, cview(x), cview(w).transposed(), 0.0f, y.view());
#endif
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * static_cast<double>(kTokens) * static_cast<double>(out) * static_cast<double>(in);
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

/// One AWQ mapping with a single balance Linear whose parent is that Linear (block built inside
/// the timing: the Gram matrix is part of the search's cost).
void BM_awq_linear(benchmark::State& state, dense_impl impl) {
  const auto out = static_cast<std::size_t>(state.range(0)), in = static_cast<std::size_t>(state.range(1));
  const auto& x = activations(in);
  const auto& w = weight(out, in, 1);
  const double base = sgemm_gflops(out, in);
  channel_absmean stat;
  stat.add(x);
  const std::vector<float> x_mean = stat.mean();
  const std::vector<matrix_view<const float>> bal{w.view()};
  const std::vector<quant_args> args{presets::W4A16::weights};
  const awq<presets::W4A16> method{};
  set_dense_implementation(impl);
  const bool used_blas = dense_implementation() == dense_impl::blas;
  bool gram = false;
  for (auto _ : state) {
    linear_group_block blk(x.view(), bal);
    gram = blk.uses_gram();
    const auto res = method.search(x_mean, bal, args, blk);
    benchmark::DoNotOptimize(res.scales.data());
  }
  set_dense_implementation(dense_impl::own);
  const double T = kTokens, O = static_cast<double>(out), I = static_cast<double>(in), n = method.n_grid;
  const double flops = gram ? I * I * T + n * 2.0 * O * I * I : n * 2.0 * T * I * O;
  set_counters(state, flops, (n + 1) * 2.0 * T * I * O, base);
  state.SetLabel(label(used_blas) + (gram ? ", Gram path" : ", direct path"));
}

/// The gate/up mapping of a TinyLlama MLP (hidden 2048, intermediate 5632), parent = the MLP.
void BM_awq_mlp(benchmark::State& state, dense_impl impl) {
  constexpr std::size_t h = 2048, inter = 5632;
  const auto& x = activations(h);
  const auto& gate = weight(inter, h, 1);
  const auto& up = weight(inter, h, 2);
  const auto& down = weight(h, inter, 3);
  const double base = sgemm_gflops(inter, h);
  channel_absmean stat;
  stat.add(x);
  const std::vector<float> x_mean = stat.mean();
  const std::vector<matrix_view<const float>> bal{gate.view(), up.view()};
  const std::vector<quant_args> args{presets::W4A16::weights, presets::W4A16::weights};
  const awq<presets::W4A16> method{};
  set_dense_implementation(impl);
  const bool used_blas = dense_implementation() == dense_impl::blas;
  for (auto _ : state) {
    gated_mlp_block blk(x.view(), gate.view(), up.view(), down.view());
    const auto res = method.search(x_mean, bal, args, blk);
    benchmark::DoNotOptimize(res.scales.data());
  }
  set_dense_implementation(dense_impl::own);
  const double flops = (method.n_grid + 1) * 6.0 * kTokens * static_cast<double>(h) * static_cast<double>(inter);
  set_counters(state, flops, flops, base);
  state.SetLabel(label(used_blas));
}

}  // namespace

BENCHMARK(BM_sgemm_baseline)->Args({2048, 2048})->Args({5632, 2048})->Args({2048, 5632})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_awq_linear, llmc, dense_impl::own)->Args({2048, 2048})->Args({5632, 2048})->Args({2048, 5632})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_awq_linear, cblas, dense_impl::blas)->Args({2048, 2048})->Args({5632, 2048})->Args({2048, 5632})
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_awq_mlp, llmc, dense_impl::own)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_CAPTURE(BM_awq_mlp, cblas, dense_impl::blas)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

BENCHMARK_MAIN();
