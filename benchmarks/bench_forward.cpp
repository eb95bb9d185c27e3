// Calibration forward throughput on a TinyLlama-1.1B-shaped model with random weights, beside this
// machine's SGEMM. The model is written by llmc::write_random_checkpoint (bf16, a real HF folder in
// a temp dir, deleted at exit) unless LLMC_BENCH_CHECKPOINT names an existing folder; its layers
// are loaded once (fp32). Workload: 4 sequences x 512 tokens through every decoder layer with
// run_decoder_layer, as a sequential pipeline runs them, with an observing hook on every Linear
// input (as a calibration pass has). Rows, for llmc's blocked SGEMM ("own") and OpenBLAS ("blas"):
//   sgemm_square  C[2048,2048] = A B: the machine's SGEMM GFLOP/s
//   forward       all layers: tokens/s; GFLOP/s (Linear + attention FLOPs over the wall time);
//                 linear_GFLOPs (Linear FLOPs over the time spent in the Linears); vs_sgemm = the
//                 same 7 GEMMs run standalone right after each layer (SGEMM on exactly the Linear
//                 shapes, measured under the same load) divided by their time inside the forward:
//                 the fraction of SGEMM throughput the Linears reach (target >= 0.6)
// A summary table with the load average is printed at the end (the ratios are measured side by side
// so that other processes on a shared machine affect both). LLMC_BENCH_FORWARD_LAYERS=N runs only
// the first N layers.
//   build/benchmarks/bench_forward
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/random_checkpoint.hpp"
#include "llmc/model/weights.hpp"

using namespace llmc;

namespace {

constexpr std::size_t kBatch = 4, kSeq = 512, kTokens = kBatch * kSeq;

struct bench_model {
  std::filesystem::path dir;
  bool owned = false;
  decoder_spec spec;
  std::vector<decoder_layer_weights> layers;
  matrix<float> input;  ///< embedded random tokens [kTokens, hidden]
  double write_seconds = 0.0, load_seconds = 0.0;

  ~bench_model() {
    if (owned) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bench_model& model() {
  static std::unique_ptr<bench_model> m = [] {
    auto b = std::make_unique<bench_model>();
    if (const char* env = std::getenv("LLMC_BENCH_CHECKPOINT"); env != nullptr && *env != '\0') {
      b->dir = env;
    } else {
      b->dir = std::filesystem::temp_directory_path() / ("llmc-bench-tinyllama-" + std::to_string(::getpid()));
      b->owned = true;
      const auto t0 = std::chrono::steady_clock::now();
      write_random_checkpoint(b->dir, tinyllama_1b_config(), random_checkpoint_options{.seed = 1});
      b->write_seconds = since(t0);
    }
    const auto t0 = std::chrono::steady_clock::now();
    const model_directory md = model_directory::open(b->dir);
    b->spec = decoder_spec::from_config(md.config());
    std::size_t n = b->spec.num_layers;
    if (const char* env = std::getenv("LLMC_BENCH_FORWARD_LAYERS"); env != nullptr && std::atoi(env) > 0)
      n = std::min<std::size_t>(n, static_cast<std::size_t>(std::atoi(env)));
    for (std::size_t i = 0; i < n; ++i) b->layers.push_back(load_decoder_layer(md, b->spec, i));
    const matrix<float> embed = load_embedding(md, b->spec);
    b->load_seconds = since(t0);
    detail::xoshiro256 rng(42);
    b->input = matrix<float>(kTokens, b->spec.hidden_size);
    for (std::size_t r = 0; r < kTokens; ++r) {
      const std::size_t id = rng.next() % b->spec.vocab_size;
      std::copy_n(&embed(id, 0), b->spec.hidden_size, &b->input(r, 0));
    }
    return b;
  }();
  return *m;
}

struct row {
  double sgemm_square = 0.0, sgemm_layer = 0.0;
  double tokens_per_s = 0.0, gflops = 0.0, linear_gflops = 0.0, seconds = 0.0;
  double linear_s = 0.0, attention_s = 0.0, other_s = 0.0;
  double ratio_total = 0.0, ratio_median = 0.0;
};
std::map<std::string, row>& results() {
  static std::map<std::string, row> r;
  return r;
}
const char* impl_name(dense_impl i) { return i == dense_impl::blas ? "blas" : "own"; }

matrix<float> random_matrix(std::size_t r, std::size_t c, std::uint64_t seed) {
  matrix<float> m(r, c);
  detail::xoshiro256 rng(seed);
  for (auto& v : m.storage()) v = rng.symmetric();
  return m;
}

void BM_sgemm_square(benchmark::State& state, dense_impl impl) {
  set_dense_implementation(impl);
  constexpr std::size_t n = 2048;
  const matrix<float> a = random_matrix(n, n, 1), b = random_matrix(n, n, 2);
  matrix<float> c(n, n);
  double best = 1e30;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    dense_kernels<host_backend>::gemm(1.0f, cview(a), cview(b), 0.0f, c.view());
    benchmark::DoNotOptimize(c.data());
    best = std::min(best, since(t0));
  }
  const double flops = 2.0 * n * n * n;
  state.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  results()[impl_name(impl)].sgemm_square = flops * 1e-9 / best;
  set_dense_implementation(dense_impl::own);
}

/// The 7 Linear GEMMs of layer w run standalone on inputs of the same shapes (the SGEMM baseline of
/// exactly the Linear work); returns the seconds.
double standalone_linears(const decoder_layer_weights& w, const matrix<float>& x_h, const matrix<float>& x_i,
                          std::vector<matrix<float>>& outs, std::size_t intermediate) {
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t k = 0;
  for (const linear_weights* l : w.linears()) {
    const matrix<float>& x = l->in_features == intermediate ? x_i : x_h;
    dense_kernels<host_backend>::gemm(1.0f, cview(x), cview(l->weight).transposed(), 0.0f, outs[k++].view());
  }
  benchmark::DoNotOptimize(outs.back().data());
  return since(t0);
}

void BM_forward(benchmark::State& state, dense_impl impl) {
  set_dense_implementation(impl);
  const bench_model& m = model();
  forward_hooks hooks;
  double observed = 0.0;  // a calibration hook reads its input; this one reads one value per Linear
  hooks.on_linear_input = [&](const linear_input& in) { observed += in.x(in.x.rows() - 1, 0); };
  const matrix<float> x_h = random_matrix(kTokens, m.spec.hidden_size, 3);
  const matrix<float> x_i = random_matrix(kTokens, m.spec.intermediate_size, 4);
  std::vector<matrix<float>> outs;
  for (const linear_weights* l : m.layers.front().linears()) outs.emplace_back(kTokens, l->out_features);
  forward_stats st;
  double seconds = 0.0, standalone = 0.0;
  std::vector<double> ratios;  // per layer: standalone GEMM time / the same GEMMs inside the forward
  for (auto _ : state) {
    hidden_batch hb;
    hb.batch = kBatch;
    hb.seq = kSeq;
    hb.states = m.input;
    for (const auto& w : m.layers) {
      forward_stats layer;
      const auto t0 = std::chrono::steady_clock::now();
      run_decoder_layer(m.spec, w, hb, hooks, nullptr, &layer);
      seconds += since(t0);
      // The baseline right after the layer, so both see the same machine load.
      const double alone = standalone_linears(w, x_h, x_i, outs, m.spec.intermediate_size);
      standalone += alone;
      ratios.push_back(alone / layer.linear_seconds);
      st.linear_seconds += layer.linear_seconds;
      st.attention_seconds += layer.attention_seconds;
      st.other_seconds += layer.other_seconds;
      st.linear_flops += layer.linear_flops;
      st.attention_flops += layer.attention_flops;
    }
    benchmark::DoNotOptimize(hb.states.data());
  }
  benchmark::DoNotOptimize(observed);
  std::sort(ratios.begin(), ratios.end());
  const double iters = static_cast<double>(state.iterations());
  const double flops = st.linear_flops + st.attention_flops;
  state.counters["tok/s"] = kTokens * iters / seconds;
  state.counters["GFLOPs"] = flops * 1e-9 / seconds;
  state.counters["linear_GFLOPs"] = st.linear_flops * 1e-9 / st.linear_seconds;
  state.counters["vs_sgemm"] = standalone / st.linear_seconds;
  state.counters["layers"] = static_cast<double>(m.layers.size());
  row& r = results()[impl_name(impl)];
  r.seconds = seconds / iters;
  r.tokens_per_s = kTokens * iters / seconds;
  r.gflops = flops * 1e-9 / seconds;
  r.linear_gflops = st.linear_flops * 1e-9 / st.linear_seconds;
  r.sgemm_layer = st.linear_flops * 1e-9 / standalone;
  r.ratio_total = standalone / st.linear_seconds;
  r.ratio_median = ratios[ratios.size() / 2];
  r.linear_s = st.linear_seconds / iters;
  r.attention_s = st.attention_seconds / iters;
  r.other_s = st.other_seconds / iters;
  set_dense_implementation(dense_impl::own);
}

void register_all() {
  std::vector<dense_impl> impls{dense_impl::own};
  if (blas::available) impls.push_back(dense_impl::blas);
  for (dense_impl i : impls) {
    const std::string n = impl_name(i);
    benchmark::RegisterBenchmark(("sgemm_square/" + n).c_str(), BM_sgemm_square, i)->Unit(benchmark::kMillisecond)->Iterations(3);
    benchmark::RegisterBenchmark(("forward/" + n).c_str(), BM_forward, i)->Unit(benchmark::kSecond)->Iterations(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (results().empty()) return 0;
  const bench_model& m = model();
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) < 0) load[0] = -1;
  std::printf("\nTinyLlama-1.1B-shaped random model (%s), %zu of %zu layers, %zu x %zu tokens, %u threads",
              m.owned ? "bf16, written by write_random_checkpoint" : m.dir.c_str(), m.layers.size(), m.spec.num_layers,
              kBatch, kSeq, max_threads());
  if (m.owned) std::printf("; checkpoint written in %.1f s", m.write_seconds);
  std::printf("; layers + embedding loaded in %.1f s; load average %.2f\n", m.load_seconds, load[0]);
  std::printf("| GEMM | SGEMM 2048^3 GFLOP/s | same GEMMs standalone GFLOP/s | forward tokens/s | forward GFLOP/s | "
              "Linear GFLOP/s in forward | Linear / standalone SGEMM (total, median layer) | s per forward (Linear, attention, other) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
  for (const auto& [name, r] : results()) {
    if (r.seconds <= 0.0) continue;
    std::printf("| %s | %.1f | %.1f | %.0f | %.1f | %.1f | %.2f, %.2f | %.2f (%.2f, %.2f, %.2f) |\n", name.c_str(), r.sgemm_square,
                r.sgemm_layer, r.tokens_per_s, r.gflops, r.linear_gflops, r.ratio_total, r.ratio_median, r.seconds, r.linear_s,
                r.attention_s, r.other_s);
  }
  return 0;
}
