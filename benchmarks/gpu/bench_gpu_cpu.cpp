// The CPU side of bench_gpu: the host backend's GPTQ solve, Hessian accumulation and decoder-layer
// forward (run_decoder_layer) on the same
// data, compiled by g++ with -march=native (llmc::native) like benchmarks/bench_gptq, so the GPU
// is compared with the CPU backend at its best on the same machine (all hardware threads).
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "llmc/backend/kernels.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize_weight.hpp"

namespace bench_gpu {

/// Seconds of one host GPTQ solve (factor + sweep, W4A16: int4 group 128, static actorder) of w
/// [rows, cols] with H [cols, cols]; the codes are returned for the parity figure.
double cpu_gptq_solve(std::size_t rows, std::size_t cols, const float* w, const float* h, std::vector<std::uint8_t>& codes) {
  using namespace llmc;
  const matrix_view<const float> wv(w, rows, cols), hv(h, cols, cols);
  gptq<presets::W4A16> m;
  const auto t0 = std::chrono::steady_clock::now();
  const gptq_factor f = m.factor(hv, true);
  auto res = m.quantize_weight(wv, f);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  codes.assign(res.quantized.codes.data(), res.quantized.codes.data() + rows * cols);
  return s;
}

/// Seconds of one host Hessian accumulation (fp32 SYRK) of x [tokens, cols].
double cpu_hessian(std::size_t tokens, std::size_t cols, const float* x) {
  using namespace llmc;
  hessian_accumulator acc(cols);
  const auto t0 = std::chrono::steady_clock::now();
  acc.add(matrix_view<const float>(x, tokens, cols));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Seconds of one host forward of decoder layer `w` on `h` (in place: h becomes the output).
double cpu_decoder_layer(const llmc::decoder_spec& s, const llmc::decoder_layer_weights& w, llmc::hidden_batch& h) {
  const auto t0 = std::chrono::steady_clock::now();
  llmc::run_decoder_layer(s, w, h);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Seconds of the host's best quantize (+ pack) of a bf16 weight: preset 0 W8A8,
/// 1 W4A16 (fused quantize_pack_weight_into), 2 FP8_DYNAMIC, 3 NVFP4A16. Best of 3 after a warm-up.
double cpu_quantize_pack(int preset, std::size_t rows, std::size_t cols, const llmc::bfloat16* w) {
  using namespace llmc;
  const matrix_view<const bfloat16> wv(w, rows, cols);
  quantized_tensor q;
  matrix<std::int32_t> words;
  auto once = [&] {
    switch (preset) {
      case 0: quantize_weight_into(q, presets::W8A8{}, wv); break;
      case 1: quantize_pack_weight_into(words, q, presets::W4A16{}, wv); break;
      case 2: quantize_weight_into(q, presets::FP8_DYNAMIC{}, wv); break;
      default: quantize_weight_into(q, presets::NVFP4A16{}, wv); break;
    }
  };
  once();
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    once();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace bench_gpu
