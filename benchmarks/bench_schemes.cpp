// Quantize + pack throughput per preset on a 4096x4096 bf16 weight, beside a memcpy of the same
// bytes measured in the same process. Counter `vs_memcpy` = our GB/s / memcpy GB/s (of the bf16
// input bytes), both from wall-clock time (the quantizer runs on all cores; CPU time of the main
// thread alone would flatter it). Target (issue "Foundation"): >= 0.5 for the integer and FP8 schemes.
//   build/benchmarks/bench_schemes --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "llmc/scheme.hpp"

using namespace llmc;

namespace {
constexpr std::size_t kRows = 4096, kCols = 4096;

const matrix<bfloat16>& weight() {
  static const matrix<bfloat16> w = [] {
    matrix<bfloat16> m(kRows, kCols);
    std::mt19937 gen(1);
    std::normal_distribution<float> d(0.0f, 0.02f);
    for (auto& x : m.storage()) x = bfloat16(d(gen));
    return m;
  }();
  return w;
}

/// memcpy bandwidth of the weight's bytes, best of several runs (the baseline every ratio uses).
double memcpy_bytes_per_second() {
  static const double bps = [] {
    const std::size_t n = kRows * kCols * sizeof(bfloat16);
    std::vector<char> src(n, 1), dst(n, 0);
    double best = 1e30;
    for (int i = 0; i < 20; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      std::memcpy(dst.data(), src.data(), n);
      benchmark::DoNotOptimize(dst.data());
      benchmark::ClobberMemory();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return static_cast<double>(n) / best;
  }();
  return bps;
}

void set_counters(benchmark::State& state) {
  const double bytes = static_cast<double>(kRows * kCols * sizeof(bfloat16));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["vs_memcpy"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * bytes / memcpy_bytes_per_second(), benchmark::Counter::kIsRate);
}

void BM_memcpy(benchmark::State& state) {
  const std::size_t n = kRows * kCols * sizeof(bfloat16);
  std::vector<char> dst(n);
  for (auto _ : state) {
    std::memcpy(dst.data(), weight().data(), n);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  set_counters(state);
}
BENCHMARK(BM_memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

template <class Scheme>
void BM_quantize_pack(benchmark::State& state) {
  const auto& w = weight();
  constexpr quant_args a = Scheme::weights;
  // Output buffers are reused across iterations, as a pipeline quantizing layer after layer does
  // (quantize_weight_into / pack_int_codes_into); a fresh 16-32 MB allocation per call would
  // measure the kernel's page faults instead.
  quantized_tensor q;
  matrix<std::int32_t> words;
  for (auto _ : state) {
    // pack-quantized (integer weights without activation quantization) packs into int32 words,
    // each band of rows right after it is coded (quantize_pack_weight_into: the same bytes as
    // quantize_weight_into + pack_int_codes_into); int-quantized (W8A8, W4A8) and float-quantized
    // store the codes as they are.
    if constexpr (a.is_int() && !Scheme::input_activations.enabled()) {
      quantize_pack_weight_into(words, q, Scheme{}, w);
      benchmark::DoNotOptimize(words.data());
    } else if constexpr (a.is_fp4()) {
      quantize_weight_into(q, Scheme{}, w);
      auto packed = pack_fp4_codes(q);
      benchmark::DoNotOptimize(packed.data());
    } else {
      quantize_weight_into(q, Scheme{}, w);
      benchmark::DoNotOptimize(q.codes.data());
    }
  }
  set_counters(state);
}
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::W8A8)->Name("W8A8")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::W8A16)->Name("W8A16")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::W4A16)->Name("W4A16")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::W4A16_ASYM)->Name("W4A16_ASYM")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::W4A8)->Name("W4A8")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::FP8)->Name("FP8")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::FP8_DYNAMIC)->Name("FP8_DYNAMIC")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::FP8_BLOCK)->Name("FP8_BLOCK")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::NVFP4A16)->Name("NVFP4A16")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_quantize_pack, presets::MXFP4A16)->Name("MXFP4A16")->Unit(benchmark::kMillisecond)->UseRealTime();
}  // namespace

BENCHMARK_MAIN();
