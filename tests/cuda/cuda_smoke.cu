// CUDA smoke test: llmc's public host headers (numeric, tensor, scheme) compiled by nvcc, and a
// __global__ kernel that runs the LLMC_HOST_DEVICE numeric functions on the device.
//
// Built for sm_80 and sm_90 whenever LLMC_CUDA_ENABLED, so CI without a GPU still proves that the
// numeric layer compiles for the device and that the executable links against llmc::cuda. With a
// GPU, the kernel's bfloat16 / float8_e4m3fn / float4_e2m1 / round_half_even results, a
// matrix_view read on the device and the scheme layer's per-element quantizers must equal the
// host results bit for bit: the point of LLMC_HOST_DEVICE is that the
// same function gives the same answer on both sides. Exit 77 (skipped) when no device is usable.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "llmc/numeric.hpp"
#include "llmc/scheme.hpp"
#include "llmc/tensor.hpp"

namespace {

struct converted {
  std::uint16_t bf16;
  std::uint8_t e4m3;
  std::uint8_t e2m1;
  float bf16_rounded;  // round_to_bfloat16
  float rhe;           // round_half_even
  float e4m3_back;     // float(float8_e4m3fn(x))
  float transposed;    // element (c, r) of the transposed view, read through matrix_view
  std::uint8_t q_int8; // scheme layer: int8 symmetric code of x / 0.05 in the bf16 compute dtype
  std::uint8_t q_fp8;  // scheme layer: FP8 code of x / 0.5 (fp32 divide)
};

LLMC_HOST_DEVICE converted convert(float x, llmc::matrix_view<const float> t, std::size_t i) {
  converted out{};
  out.bf16 = llmc::bfloat16(x).bits;
  out.e4m3 = llmc::float8_e4m3fn(x).bits;
  out.e2m1 = llmc::float4_e2m1(x).bits;
  out.bf16_rounded = llmc::round_to_bfloat16(x);
  out.rhe = llmc::round_half_even(x);
  out.e4m3_back = static_cast<float>(llmc::float8_e4m3fn(x));
  out.transposed = t(i % t.rows(), i / t.rows());
  using llmc::detail::kernel_family;
  out.q_int8 = llmc::detail::quantize_element<kernel_family::int_sym, llmc::bfloat16>(x, 0.05f, 0.0f, -128.0f, 127.0f, false);
  out.q_fp8 = llmc::detail::quantize_element<kernel_family::fp8, float>(x, 0.5f, 0.0f, 0.0f, 0.0f, true);
  return out;
}

__global__ void convert_kernel(const float* in, std::size_t n, llmc::matrix_view<const float> t, converted* out) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = convert(in[i], t, i);
}

bool check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  return false;
}

}  // namespace

int main() {
  // Ties, subnormals, saturation, signed zero and values past every format's range.
  std::vector<float> in = {0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -2.5f, 3.14159f, -7.5f, 1.0f / 3.0f, 448.0f, 464.0f,
                           -1000.0f, 0x1p-9f, 0x1p-10f, 0x1.8p-10f, 1e-30f, 65504.0f, 1e38f, 0.7f, -6.25f};
  const std::size_t n = in.size();
  // A 4 x 5 row-major view of the same values; its transpose is read element by element.
  const llmc::matrix_view<const float> host_view(in.data(), 4, 5);

  std::vector<converted> expected(n);
  for (std::size_t i = 0; i < n; ++i) expected[i] = convert(in[i], host_view.transposed(), i);

  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: compiled and linked only (skipped)\n");
    return 77;
  }

  float* d_in = nullptr;
  converted* d_out = nullptr;
  if (!check(cudaMalloc(&d_in, n * sizeof(float)), "cudaMalloc") ||
      !check(cudaMalloc(&d_out, n * sizeof(converted)), "cudaMalloc") ||
      !check(cudaMemcpy(d_in, in.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy"))
    return 1;
  const llmc::matrix_view<const float, llmc::cuda_backend> device_view(d_in, 4, 5);
  const auto t = device_view.transposed();
  convert_kernel<<<1, 64>>>(d_in, n, llmc::matrix_view<const float>(t.data_handle(), t.rows(), t.cols(), t.stride(0), t.stride(1)), d_out);
  std::vector<converted> got(n);
  if (!check(cudaGetLastError(), "kernel launch") || !check(cudaDeviceSynchronize(), "kernel") ||
      !check(cudaMemcpy(got.data(), d_out, n * sizeof(converted), cudaMemcpyDeviceToHost), "cudaMemcpy"))
    return 1;
  cudaFree(d_in);
  cudaFree(d_out);

  int bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::memcmp(&got[i], &expected[i], sizeof(converted)) != 0) {
      const converted* v[2] = {&got[i], &expected[i]};
      std::printf("x = %a differs:\n", static_cast<double>(in[i]));
      for (const converted* c : v)
        std::printf("  %s: bf16 %04X e4m3 %02X e2m1 %X round_to_bfloat16 %a round_half_even %a e4m3->float %a "
                    "view %a int8 %02X fp8 %02X\n",
                    c == v[0] ? "device" : "host  ", c->bf16, c->e4m3, c->e2m1, static_cast<double>(c->bf16_rounded),
                    static_cast<double>(c->rhe), static_cast<double>(c->e4m3_back), static_cast<double>(c->transposed),
                    c->q_int8, c->q_fp8);
      ++bad;
    }
  }
  std::printf("%zu values: %d differ between device and host\n", n, bad);
  return bad == 0 ? 0 : 1;
}
