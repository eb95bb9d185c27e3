// examples/llmc/oneshot_cuda.cu — the CUDA executor of `llmc oneshot --device cuda`, compiled by
// nvcc: a cuda_context (stream, cuBLAS, cuSOLVER) owned next to the device executor of
// llmc/pipeline/device_executor.hpp on cuda_dense_policy, handed to the host-compiled pipeline
// type-erased (oneshot_cuda.hpp).
#include "oneshot_cuda.hpp"

#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <utility>

#include "llmc/backend/cuda/context.hpp"
#include "llmc/backend/cuda/thrust_policy.hpp"
#include "llmc/pipeline/device_executor.hpp"

namespace llmc_cli {
namespace {

/// The context first (the policy the executor copies points at it), then the executor.
class cuda_executor {
 public:
  cuda_executor(std::unique_ptr<llmc::cuda_context> ctx, const llmc::decoder_spec& spec, const llmc::device_oneshot_options& o,
                std::string name)
      : ctx_(std::move(ctx)), e_(llmc::cuda_dense_policy(*ctx_), spec, o, std::move(name)) {}
  void push(llmc::hidden_batch hb) { e_.push(std::move(hb)); }
  void collect(const llmc::decoder_spec& s, const llmc::decoder_layer_weights& w, llmc::statistic_set need, llmc::layer_context& c) {
    e_.collect(s, w, need, c);
  }
  llmc::detail::runtime_gptq_fn gptq_runner() { return e_.gptq_runner(); }
  void propagate(const llmc::decoder_spec& s, const llmc::decoder_layer_weights& w) { e_.propagate(s, w); }
  void end_layer() { e_.end_layer(); }
  void clear() { e_.clear(); }
  [[nodiscard]] llmc::executor_summary summary() const { return e_.summary(); }

 private:
  std::unique_ptr<llmc::cuda_context> ctx_;
  llmc::detail::device_layer_executor<llmc::cuda_dense_policy> e_;
};

}  // namespace

std::unique_ptr<llmc::detail::any_layer_executor> make_cuda_executor(const llmc::decoder_spec& spec,
                                                                     const llmc::device_oneshot_options& o) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    LLMC_THROW(llmc::config_error, "llmc.pipeline.150",
               std::string("--device cuda: no usable CUDA device (cudaGetDeviceCount: ") +
                   (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices") +
                   "); run on a machine with an NVIDIA GPU and its driver, or leave out --device cuda to run on the CPU");
  }
  if (o.device < 0 || o.device >= count)
    LLMC_THROW(llmc::config_error, "llmc.pipeline.150",
               "--cuda-device " + std::to_string(o.device) + ": this machine has " + std::to_string(count) +
                   " CUDA device(s), numbered 0.." + std::to_string(count - 1));
  cudaDeviceProp prop{};
  LLMC_CUDA_CHECK(cudaGetDeviceProperties(&prop, o.device));
  auto ctx = std::make_unique<llmc::cuda_context>(o.device);
  std::string name = "cuda:" + std::to_string(o.device) + " " + prop.name;
  return std::make_unique<llmc::detail::erased_executor<cuda_executor>>(std::move(ctx), spec, o, std::move(name));
}

}  // namespace llmc_cli
