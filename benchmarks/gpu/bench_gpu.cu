// GPU benchmark (issue 7): GPTQ solve and Hessian accumulation on the CUDA backend against the CPU
// backend on the same machine, printed as a Markdown table (benchmarks/gpu/run.sh writes it to
// $OUT/gpu_results.md).
//   GPTQ solve: W4A16 (int4 group 128, static actorder), [out, in] = 4096x4096 and 14336x4096, H of
//     4096 correlated calibration tokens; factor (Cholesky + triangular inverse of the damped,
//     reordered H: 2n^3/3 FLOPs) + blocked sweep (within-block rows*nb*(nb-1), lazy GEMMs
//     2*rows*nb*(in - i2) per block) — the FLOP count of benchmarks/bench_gptq.cpp. GPU time is
//     the device solve without the host copies (best of 3 after a warm-up); CPU time is one host
//     solve with every hardware thread. Codes are compared (the fraction that differ is printed).
//   Hessian: 4096 tokens into H [in, in], fp32 SYRK (n(n+1)k FLOPs) and bf16-input GEMM (same
//     useful FLOPs, tensor cores), vs the host SYRK.
//   Decoder layer forward (model/decoder_layer_device.hpp): one TinyLlama-1.1B-shaped layer
//     (hidden 2048, 32 heads, 4 KV heads, head_dim 64, intermediate 5632, random weights) on
//     4 x 2048 tokens, fp32 and TF32 (tf32_linears), vs run_decoder_layer on the host. FLOPs: the
//     Linears' 2 x tokens x parameters plus causal attention's 4 x head_dim x heads x S(S+1)/2
//     per sequence (the useful products; the chunked kernels compute a little more). GPU time is
//     run() on device-resident states (best of 3 after a warm-up); the output's max relative
//     difference from the CPU's is printed, with the seven Linear GEMMs timed alone (what is left
//     is attention and the element-wise steps) and the statistics pass (run(..., inputs_only)).
//   Quantize + pack (backend/thrust): a 4096x4096 bf16 weight, W8A8 / W4A16 (+ pack to int32) /
//     FP8_DYNAMIC / NVFP4A16 (+ pack to FP4 bytes), GPU (codes and qparams stay on the device)
//     vs the host's fused single pass (quantize_pack_weight_into for W4A16); GB/s of bf16 input
//     and its fraction of the card's memory bandwidth (bus width x memory clock x 2).
// Peak: fp32 non-tensor FLOP/s of the card = SMs x 128 FP32 lanes x 2 x the SM clock reported by
// the driver (H100 SXM: 132 x 128 x 2 x 1.98 GHz = 66.9 TFLOP/s), printed with the table.
// Exit 77 when no device is usable.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "llmc/backend/cuda/context.hpp"
#include "llmc/backend/thrust/pack.hpp"
#include "llmc/backend/thrust/quantize.hpp"
#include "llmc/backend/cuda/thrust_policy.hpp"
#include "llmc/method/gptq_device.hpp"
#include "llmc/method/hessian_device.hpp"
#include "llmc/model/decoder_layer_device.hpp"
#include "llmc/scheme/presets.hpp"

namespace bench_gpu {
double cpu_gptq_solve(std::size_t rows, std::size_t cols, const float* w, const float* h, std::vector<std::uint8_t>& codes);
double cpu_hessian(std::size_t tokens, std::size_t cols, const float* x);
double cpu_decoder_layer(const llmc::decoder_spec& s, const llmc::decoder_layer_weights& w, llmc::hidden_batch& h);
double cpu_quantize_pack(int preset, std::size_t rows, std::size_t cols, const llmc::bfloat16* w);
}  // namespace bench_gpu

using namespace llmc;

namespace {

constexpr std::size_t kTokens = 4096;

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

std::vector<float> activations(std::size_t cols) {
  std::mt19937 gen(static_cast<std::uint32_t>(cols));
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> x(kTokens * cols);
  for (std::size_t t = 0; t < kTokens; ++t) {
    const float shared = d(gen);
    for (std::size_t c = 0; c < cols; ++c) x[t * cols + c] = 0.3f * shared + d(gen) * (c % 13 == 0 ? 5.0f : 1.0f);
  }
  return x;
}

std::vector<float> weight(std::size_t rows, std::size_t cols) {
  std::mt19937 gen(static_cast<std::uint32_t>(rows * 7 + cols));
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> w(rows * cols);
  for (auto& v : w) v = d(gen);
  return w;
}

template <class F>
double best_seconds(cuda_context& ctx, int reps, F&& f) {
  f();  // warm-up (allocations, cuBLAS / cuSOLVER kernel selection)
  ctx.synchronize();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ctx.synchronize();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: bench_gpu needs a GPU (skipped)\n");
    return 77;
  }
  cuda_context ctx;
  cudaDeviceProp prop{};
  LLMC_CUDA_CHECK(cudaGetDeviceProperties(&prop, ctx.device()));
  int clock_khz = 0;
  LLMC_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, ctx.device()));
  const double peak = static_cast<double>(prop.multiProcessorCount) * 128.0 * 2.0 * clock_khz * 1e3;
  std::printf("# llmc GPU benchmark\n\nDevice: %s, %d SMs, SM clock %.2f GHz; fp32 non-tensor peak %.1f TFLOP/s "
              "(SMs x 128 x 2 x clock). CPU: the host backend, %u hardware threads, same machine.\n\n",
              prop.name, prop.multiProcessorCount, clock_khz * 1e-6, peak * 1e-12, std::thread::hardware_concurrency());
  std::printf("| benchmark | shape | GPU ms | CPU ms | GPU / CPU speedup | GPU TFLOP/s | of fp32 peak | notes |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---|\n");
  std::fflush(stdout);

  const cuda_dense_policy k(ctx);
  for (const std::size_t cols : {std::size_t{4096}}) {
    const std::vector<float> x = activations(cols);
    thrust::device_vector<float> dx(x.begin(), x.end());
    const cuda_view<const float> xv(thrust::raw_pointer_cast(dx.data()), kTokens, cols);
    // Hessians: fp32 SYRK and bf16 GEMM, GPU vs the host SYRK.
    const double useful = static_cast<double>(cols) * (cols + 1) * kTokens;
    const double cpu_h = bench_gpu::cpu_hessian(kTokens, cols, x.data());
    for (auto p : {hessian_precision::fp32, hessian_precision::bf16}) {
      device_hessian_accumulator<cuda_dense_policy> acc(k, cols, p);
      const double t = best_seconds(ctx, 3, [&] { acc.add(xv); });
      std::printf("| Hessian accumulation, %s inputs, fp32 accumulation | %zu tokens x %zu | %.3f | %.1f | %.1fx | %.1f | %.0f %% | %s |\n",
                  p == hessian_precision::fp32 ? "fp32" : "bf16", kTokens, cols, t * 1e3, cpu_h * 1e3, cpu_h / t,
                  useful / t * 1e-12, 100.0 * useful / t / peak,
                  p == hessian_precision::fp32 ? "cublasSsyrk" : "round to bf16 + cublasGemmEx (tensor cores; % vs the fp32 peak)");
      std::fflush(stdout);
    }
    device_hessian_accumulator<cuda_dense_policy> acc(k, cols);
    acc.add(xv);
    const matrix<float> h = acc.hessian_host();
    thrust::device_vector<float> dh(h.storage().begin(), h.storage().end());
    const cuda_view<const float> hv(thrust::raw_pointer_cast(dh.data()), cols, cols);

    for (const std::size_t rows : {std::size_t{4096}, std::size_t{14336}}) {
      const std::vector<float> w = weight(rows, cols);
      thrust::device_vector<float> dw(w.begin(), w.end());
      const cuda_view<const float> wv(thrust::raw_pointer_cast(dw.data()), rows, cols);
      gptq<presets::W4A16> m;
      const double flops = factor_flops(cols) + sweep_flops(rows, cols, m.block_size);
      const device_gptq_options lean{.host_codes = false, .host_weight = false};
      const double t_gpu = best_seconds(ctx, 3, [&] { (void)gptq_device_solve(k, m, wv, hv, false, 0.0f, lean); });
      // Factor alone, to show the split.
      const double t_factor = best_seconds(ctx, 3, [&] { (void)gptq_device_factor(k, m, hv, true); });
      const auto full = gptq_device_solve(k, m, wv, hv);
      std::vector<std::uint8_t> cpu_codes;
      const double t_cpu = bench_gpu::cpu_gptq_solve(rows, cols, w.data(), h.data(), cpu_codes);
      std::size_t differ = 0;
      for (std::size_t i = 0; i < cpu_codes.size(); ++i) differ += cpu_codes[i] != full.host.quantized.codes.data()[i];
      char note[200];
      std::snprintf(note, sizeof note, "factor %.2f ms; %.4f %% of codes differ from the CPU's; loss %.4g",
                    t_factor * 1e3, 100.0 * static_cast<double>(differ) / static_cast<double>(cpu_codes.size()), full.host.loss);
      std::printf("| GPTQ solve W4A16 g128 actorder static | %zu x %zu (out x in) | %.2f | %.1f | **%.1fx** | %.2f | %.0f %% | %s |\n",
                  rows, cols, t_gpu * 1e3, t_cpu * 1e3, t_cpu / t_gpu, flops / t_gpu * 1e-12, 100.0 * flops / t_gpu / peak, note);
      std::fflush(stdout);
    }
  }
  {
    // One TinyLlama-1.1B-shaped decoder layer on 4 x 2048 tokens.
    decoder_spec s;
    s.hidden_size = 2048;
    s.intermediate_size = 5632;
    s.num_layers = 1;
    s.num_heads = 32;
    s.num_kv_heads = 4;
    s.head_dim = 64;
    s.rms_norm_eps = 1e-5f;
    s.layer_window = {0};
    const std::size_t B = 4, S = 2048, T = B * S;
    std::mt19937 gen(11);
    std::normal_distribution<float> d(0.0f, 1.0f);
    auto lin = [&](const char* name, std::size_t out, std::size_t in) {
      linear_weights l;
      l.name = name;
      l.out_features = out;
      l.in_features = in;
      l.weight = matrix<float>(out, in);
      for (float& v : l.weight.storage()) v = 0.02f * d(gen);
      return l;
    };
    decoder_layer_weights w;
    w.input_layernorm.assign(s.hidden_size, 1.0f);
    w.post_attention_layernorm.assign(s.hidden_size, 1.0f);
    w.q_proj = lin("q_proj", s.q_dim(), s.hidden_size);
    w.k_proj = lin("k_proj", s.kv_dim(), s.hidden_size);
    w.v_proj = lin("v_proj", s.kv_dim(), s.hidden_size);
    w.o_proj = lin("o_proj", s.hidden_size, s.q_dim());
    w.gate_proj = lin("gate_proj", s.intermediate_size, s.hidden_size);
    w.up_proj = lin("up_proj", s.intermediate_size, s.hidden_size);
    w.down_proj = lin("down_proj", s.hidden_size, s.intermediate_size);
    hidden_batch h;
    h.batch = B;
    h.seq = S;
    h.states = matrix<float>(T, s.hidden_size);
    for (float& v : h.states.storage()) v = d(gen);
    const auto dw = device_decoder_layer<cuda_dense_policy>::upload(k, w);
    const auto input = device_hidden_batch<cuda_dense_policy>::upload(k, h);
    hidden_batch cpu_out = h;
    const double t_cpu = bench_gpu::cpu_decoder_layer(s, w, cpu_out);
    const double flops = s.linear_flops_per_token_per_layer() * static_cast<double>(T) +
                         4.0 * static_cast<double>(s.head_dim * s.num_heads) * static_cast<double>(B) * (S * (S + 1) / 2.0);
    // The same seven GEMMs alone (where the forward's time goes: the rest is attention and the
    // element-wise steps), on scratch inputs of the widest Linear.
    thrust::device_vector<float> lin_x(T * s.intermediate_size, 0.5f), lin_y(T * s.intermediate_size);
    for (bool tf32 : {false, true}) {
      device_decoder_forward<cuda_dense_policy> fwd(k, s, device_forward_options{.tf32_linears = tf32});
      auto io = input;
      fwd.run(dw, io);
      hidden_batch gpu_out = h;
      io.download_states(k, gpu_out);
      double num = 0.0, den = 0.0;
      for (std::size_t i = 0; i < gpu_out.states.size(); ++i) {
        num = std::max(num, std::fabs(static_cast<double>(gpu_out.states.data()[i]) - cpu_out.states.data()[i]));
        den = std::max(den, std::fabs(static_cast<double>(cpu_out.states.data()[i])));
      }
      const double t = best_seconds(ctx, 3, [&] { fwd.run(dw, io); });  // in place on the previous output
      const double t_lin = best_seconds(ctx, 3, [&] {
        for (const auto& l : dw.linears) {
          const cuda_view<const float> xin(thrust::raw_pointer_cast(lin_x.data()), T, l.in_features);
          const cuda_view<float> y(thrust::raw_pointer_cast(lin_y.data()), T, l.out_features);
          if (tf32) k.gemm_tf32(1.0f, xin, l.weight_view().transposed(), 0.0f, y);
          else k.gemm(1.0f, xin, l.weight_view().transposed(), 0.0f, y);
        }
      });
      auto stats_io = input;  // the statistics pass: stops at down_proj's input
      const double t_stats = best_seconds(ctx, 3, [&] { fwd.run(dw, stats_io, {}, /*inputs_only=*/true); });
      char note[360];
      std::snprintf(note, sizeof note,
                    "%s; the 7 Linears alone %.2f ms (%.0f %% of the layer; the rest is attention and element-wise); "
                    "statistics pass (inputs_only) %.2f ms; max |GPU - CPU| / max |CPU| = %.2e; weights %.0f MiB, scratch %.0f MiB",
                    tf32 ? "TF32 tensor cores (cublasGemmEx FAST_TF32; % vs the fp32 peak)" : "cublasSgemm + strided-batched attention",
                    t_lin * 1e3, 100.0 * t_lin / t, t_stats * 1e3, num / den, dw.bytes() / 1048576.0,
                    fwd.scratch_bytes() / 1048576.0);
      std::printf("| Decoder layer forward, %s | TinyLlama-1.1B layer, %zu x %zu tokens | %.2f | %.1f | %.1fx | %.2f | %.0f %% | %s |\n",
                  tf32 ? "tf32" : "fp32", B, S, t * 1e3, t_cpu * 1e3, t_cpu / t, flops / t * 1e-12, 100.0 * flops / t / peak,
                  note);
      std::fflush(stdout);
    }
  }
  {
    // Quantize + pack of one 4096x4096 bf16 weight.
    int bus_bits = 0, mem_khz = 0;
    LLMC_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, ctx.device()));
    LLMC_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, ctx.device()));
    const double bandwidth = 2.0 * mem_khz * 1e3 * bus_bits / 8.0;
    constexpr std::size_t n = 4096;
    std::mt19937 gen(7);
    std::normal_distribution<float> d(0.0f, 0.02f);
    matrix<bfloat16> hw(n, n);
    for (auto& v : hw.storage()) v = bfloat16(d(gen));
    const auto dw = thrust_matrix<bfloat16>::from_host(hw);
    const double bytes = static_cast<double>(n) * n * sizeof(bfloat16);
    auto row = [&](int preset, const char* name, auto scheme, auto pack) {
      device_quantized_tensor q;
      const double t = best_seconds(ctx, 5, [&] {
        quantize_weight_into(q, scheme, dw);
        pack(q);
      });
      const double t_cpu = bench_gpu::cpu_quantize_pack(preset, n, n, hw.data());
      std::printf("| Quantize + pack %s | %zu x %zu bf16 | %.3f | %.2f | %.1fx | %.0f GB/s | %.0f %% of %.0f GB/s | codes and qparams on the device |\n",
                  name, n, n, t * 1e3, t_cpu * 1e3, t_cpu / t, bytes / t * 1e-9, 100.0 * bytes / t / bandwidth, bandwidth * 1e-9);
      std::fflush(stdout);
    };
    thrust_matrix<std::int32_t> words;
    row(0, "W8A8 (int8 channel)", presets::W8A8{}, [](const device_quantized_tensor&) {});
    row(1, "W4A16 (int4 g128, packed)", presets::W4A16{}, [&](const device_quantized_tensor& q) { pack_int_codes_into(words, q); });
    row(2, "FP8_DYNAMIC (fp8 channel)", presets::FP8_DYNAMIC{}, [](const device_quantized_tensor&) {});
    row(3, "NVFP4A16 (fp4 g16, packed)", presets::NVFP4A16{}, [](const device_quantized_tensor& q) { (void)pack_fp4_codes(q); });
  }
  std::printf("\nTarget (issue 7): GPTQ solve >= 10x the CPU backend at 4096x4096 and 14336x4096.\n");
  return 0;
}
