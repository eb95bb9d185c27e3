// llmc/text/dataset_sampling.hpp — which calibration samples are used, in which order.
//
// LLM Compressor (spec §1.3, [LC] src/llmcompressor/datasets/utils.py _make_sampler) either draws
// N samples at random without replacement (RandomSampler on torch's global RNG) or, unshuffled,
// takes the N longest in descending length (LengthAwareSampler: torch.argsort(descending=True),
// whose tie order is unspecified). llmc makes both reproducible everywhere:
//   shuffled       — the first N of a permutation of 0..n-1 from a seeded Fisher–Yates shuffle:
//                    engine std::mt19937_64(seed) (its output sequence is fixed by the C++ standard),
//                    for i = n-1 down to 1: j = uniform_below(i+1); swap(p[i], p[j]), where
//                    uniform_below(m) draws x from the engine until x < 2^64 - (2^64 mod m) and
//                    returns x mod m (rejection sampling: exactly uniform). std::shuffle and
//                    std::uniform_int_distribution are not used because their algorithms are
//                    implementation-defined, so results would differ between standard libraries;
//   longest_first  — the reference's unshuffled order, ties kept in file order (stable sort);
//   file_order     — the first N in file order (not in the reference; handy for tests and for
//                    reproducing the fixture's activation windows).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <random>
#include <span>
#include <string_view>
#include <vector>

namespace llmc {

/// Order in which calibration samples are drawn.
enum class sample_order { shuffled, longest_first, file_order };

[[nodiscard]] constexpr std::string_view to_string(sample_order o) noexcept {
  switch (o) {
    case sample_order::shuffled: return "shuffled";
    case sample_order::longest_first: return "longest_first";
    case sample_order::file_order: return "file_order";
  }
  return "?";
}

/// A uniform integer in [0, m) from `engine` by rejection (see the header comment). m >= 1.
[[nodiscard]] inline std::uint64_t uniform_below(std::mt19937_64& engine, std::uint64_t m) {
  // 2^64 mod m, computed in 64-bit arithmetic as (2^64 - m) mod m.
  const std::uint64_t reject_from = std::uint64_t(0) - ((std::uint64_t(0) - m) % m);  // 2^64 - (2^64 mod m)
  for (;;) {
    const std::uint64_t x = engine();
    if (reject_from == 0 || x < reject_from) return x % m;  // reject_from == 0: m divides 2^64
  }
}

/// A permutation of 0..n-1 from `seed`; the same on every platform (see the header comment).
[[nodiscard]] inline std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> p(n);
  std::iota(p.begin(), p.end(), std::size_t{0});
  std::mt19937_64 engine(seed);
  for (std::size_t i = n; i-- > 1;) {
    const auto j = static_cast<std::size_t>(uniform_below(engine, static_cast<std::uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

/// The indices of the samples to use, in use order: min(count, lengths.size()) of them
/// (count == 0 means all). `lengths` are the samples' token counts (for longest_first).
[[nodiscard]] inline std::vector<std::size_t> select_samples(std::span<const std::size_t> lengths, std::size_t count,
                                                             sample_order order, std::uint64_t seed) {
  const std::size_t n = lengths.size();
  const std::size_t take = count == 0 ? n : std::min(count, n);
  std::vector<std::size_t> idx;
  switch (order) {
    case sample_order::shuffled: idx = shuffled_indices(n, seed); break;
    case sample_order::longest_first:
      idx.resize(n);
      std::iota(idx.begin(), idx.end(), std::size_t{0});
      std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return lengths[a] > lengths[b]; });
      break;
    case sample_order::file_order:
      idx.resize(n);
      std::iota(idx.begin(), idx.end(), std::size_t{0});
      break;
  }
  idx.resize(take);
  return idx;
}

}  // namespace llmc
