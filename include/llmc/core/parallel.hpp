// llmc/core/parallel.hpp — a minimal fork-join loop over index ranges on host threads.
//
// Quantizing a 4096x4096 weight is memory-bound work of a few milliseconds: splitting its rows
// over the machine's cores is what lets it approach memcpy speed. parallel_for runs f(begin, end)
// on disjoint, contiguous chunks and returns when all are done; small ranges run inline. The
// worker count is std::thread::hardware_concurrency() unless set_max_threads() lowered it
// (results never depend on it: every caller writes disjoint outputs or merges partials in order).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace llmc {

namespace detail {
inline std::atomic<unsigned>& max_threads_setting() {
  static std::atomic<unsigned> n{0};  // 0 = hardware_concurrency
  return n;
}
}  // namespace detail

/// Caps the number of threads llmc uses (0 restores the default: all hardware threads).
inline void set_max_threads(unsigned n) noexcept { detail::max_threads_setting() = n; }

inline unsigned max_threads() noexcept {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const unsigned cap = detail::max_threads_setting().load();
  return cap == 0 ? hw : std::min(cap, hw);
}

/// Number of chunks parallel_for will use for n items of which each chunk needs at least min_chunk.
inline std::size_t parallel_chunks(std::size_t n, std::size_t min_chunk) noexcept {
  if (n == 0) return 1;
  return std::max<std::size_t>(1, std::min<std::size_t>(max_threads(), n / std::max<std::size_t>(1, min_chunk)));
}

/// Calls f(chunk_index, begin, end) for `chunks` contiguous chunks of [0, n); chunk 0 runs on the
/// calling thread. Exceptions from any chunk are rethrown (the first one) after all have finished.
template <class F>
void parallel_for_chunks(std::size_t n, std::size_t chunks, F&& f) {
  if (chunks <= 1) {
    f(std::size_t{0}, std::size_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(chunks);
  std::vector<std::thread> workers;
  workers.reserve(chunks - 1);
  auto run = [&](std::size_t i) {
    const std::size_t b = n * i / chunks, e = n * (i + 1) / chunks;
    try {
      f(i, b, e);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  for (std::size_t i = 1; i < chunks; ++i) workers.emplace_back(run, i);
  run(0);
  for (auto& t : workers) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace llmc
