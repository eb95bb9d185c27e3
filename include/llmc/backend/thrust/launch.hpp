// llmc/backend/thrust/launch.hpp — the few Thrust primitives every device kernel of llmc is built from.
//
// Every kernel in backend/thrust is a __host__ __device__ functor (LLMC_HOST_DEVICE) applied by
// thrust::for_each_n to a counting iterator. Parallel reductions are min/max only (their result
// does not depend on the order, which keeps them bit-identical to the CPU backend); sums are never
// split. Only for_each is used (no CUB reduce/scan instantiations), which keeps nvcc builds short.
// Nothing here names CUDA, so the same code runs on Thrust's CUDA, CPP and OMP device systems.
#pragma once

#include <cstddef>
#include <limits>

#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/device_vector.h>

#include "llmc/core/config.hpp"

namespace llmc::detail::dev {

inline constexpr float pos_inf = std::numeric_limits<float>::infinity();
inline constexpr float neg_inf = -std::numeric_limits<float>::infinity();

/// Runs f(i) for i in [0, n) on the device system.
template <class F>
void launch(std::size_t n, const F& f) {
  if (n == 0) return;
  thrust::for_each_n(thrust::device, thrust::counting_iterator<std::size_t>(0), n, f);
}

/// A minimum and a maximum.
struct minmax_pair {
  float mn;
  float mx;
};

/// Thread k: min of a[i] and max of b[i] over its chunk [k*chunk, min(n, (k+1)*chunk)).
struct chunk_minmax_fn {
  const float* a;
  const float* b;
  std::size_t n;
  std::size_t chunk;
  float* out_a;
  float* out_b;
  LLMC_HOST_DEVICE void operator()(std::size_t k) const noexcept {
    const std::size_t i0 = k * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
    float lo = pos_inf, hi = neg_inf;
    for (std::size_t i = i0; i < i1; ++i) {
      lo = a[i] < lo ? a[i] : lo;
      hi = b[i] > hi ? b[i] : hi;
    }
    out_a[k] = lo;  // the single-thread pass below reads out_a[0] before it writes it
    out_b[k] = hi;
  }
};

/// min(a[0..n)) and max(b[0..n)) of device arrays (+inf / -inf when n == 0), in two for_each
/// passes: chunks of 1024, then one thread over the chunk results. Min and max do not depend on
/// the order, so this is exactly the host's value; it needs no CUB reduction (fewer kernels to build).
inline minmax_pair minmax_of(const float* a, const float* b, std::size_t n) {
  if (n == 0) return {pos_inf, neg_inf};
  constexpr std::size_t chunk = 1024;
  const std::size_t k = (n + chunk - 1) / chunk;
  thrust::device_vector<float> pa(k), pb(k);
  float* da = thrust::raw_pointer_cast(pa.data());
  float* db = thrust::raw_pointer_cast(pb.data());
  launch(k, chunk_minmax_fn{a, b, n, chunk, da, db});
  if (k > 1) launch(1, chunk_minmax_fn{da, db, k, k, da, db});
  return {pa[0], pb[0]};
}

}  // namespace llmc::detail::dev
