// llmc/backend/thrust.hpp — the Thrust device backend: quantize, dequantize, pack and activation
// statistics for device matrices (tensor/adapt_thrust.hpp), selected by the cuda_backend tag.
//
// Opt-in: it includes Thrust, so it is not part of llmc/backend.hpp. Compile it with nvcc (CUDA)
// or with a host compiler and THRUST_DEVICE_SYSTEM=CPP/OMP (llmc::thrust_host / llmc::thrust_omp),
// which runs the same kernels on the CPU (issue 7).
#pragma once

#include "llmc/backend/thrust/channel_stats.hpp"
#include "llmc/backend/thrust/launch.hpp"
#include "llmc/backend/thrust/pack.hpp"
#include "llmc/backend/thrust/quantize.hpp"
#include "llmc/backend/thrust/quantized_tensor.hpp"
#include "llmc/tensor/adapt_thrust.hpp"
