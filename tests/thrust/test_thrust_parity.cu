// The Thrust parity tests compiled by nvcc for Thrust's CUDA device system (sm_80, sm_90): the
// same source as the host builds, so the GPU kernels are checked against the CPU backend with
// the same assertions. Runs only where `nvidia-smi -L` succeeds (tests/thrust/CMakeLists.txt).
#include "test_thrust_parity.cpp"
