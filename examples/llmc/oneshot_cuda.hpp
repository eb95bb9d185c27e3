// examples/llmc/oneshot_cuda.hpp — the bridge between the llmc CLI (host compiler) and its CUDA
// unit (oneshot_cuda.cu, nvcc): the CLI asks for the CUDA executor of the pipeline
// (llmc/pipeline/executor.hpp) without seeing any CUDA or Thrust header. Defined only when the
// CLI was configured with CUDA (LLMC_CLI_CUDA=1).
#pragma once

#include <memory>

#include "llmc/pipeline/executor.hpp"

namespace llmc_cli {

/// The CUDA executor for a model: the calibration forward, Hessians and GPTQ on device o.device.
/// @throws llmc::config_error llmc.pipeline.150 when no CUDA device is usable (the message says
///         why and how to run without one); cuda_error for failures after that.
std::unique_ptr<llmc::detail::any_layer_executor> make_cuda_executor(const llmc::decoder_spec& spec,
                                                                     const llmc::device_oneshot_options& o);

}  // namespace llmc_cli
