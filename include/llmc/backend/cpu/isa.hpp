// llmc/backend/cpu/isa.hpp — which x86 vector extension the host kernels run with.
//
// llmc is header-only and consumers compile it with their own flags (usually no -march), so the
// dense kernels carry one clone per instruction set (baseline, AVX2+FMA, AVX-512) marked with
// __attribute__((target)) and pick one at run time from cpuid, the way OpenBLAS's DYNAMIC_ARCH
// does. Invariants: active_isa() never names an ISA the CPU lacks; a forced ISA (tests, benchmarks)
// is clamped to what the CPU supports. On non-x86 or non-GNU compilers only `baseline` exists.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace llmc::cpu {

/// Instruction-set level of a kernel clone. baseline = whatever the translation unit was
/// compiled for (SSE2 on x86-64 by default).
enum class isa : std::uint8_t { baseline, avx2, avx512 };

constexpr std::string_view to_string(isa i) noexcept {
  switch (i) {
    case isa::baseline: return "baseline";
    case isa::avx2: return "avx2";
    case isa::avx512: return "avx512";
  }
  return "?";
}

/// Whether kernel clones for several levels exist in this build (x86 with GCC or Clang, whose
/// target attributes and cpuid builtins the clones need). The same test guards each clone.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
inline constexpr bool multi_isa = true;
#else
inline constexpr bool multi_isa = false;
#endif

/// Whether this CPU can run kernels of level i.
inline bool isa_supported(isa i) noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  switch (i) {
    case isa::baseline: return true;
    case isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return i == isa::baseline;
#endif
}

/// The best level this CPU supports.
inline isa detected_isa() noexcept {
  static const isa best = isa_supported(isa::avx512) ? isa::avx512 : isa_supported(isa::avx2) ? isa::avx2 : isa::baseline;
  return best;
}

namespace detail {
inline std::atomic<int>& forced_isa() noexcept {
  static std::atomic<int> v{-1};  // -1: not forced
  return v;
}
}  // namespace detail

/// Forces a lower level (to compare clones, or to reproduce results of an older machine).
/// A level the CPU lacks falls back to detected_isa(). Not meant to be changed while kernels run.
inline void force_isa(isa i) noexcept { detail::forced_isa() = static_cast<int>(i); }
/// Returns to automatic selection.
inline void reset_isa() noexcept { detail::forced_isa() = -1; }

/// The level the kernels use now.
inline isa active_isa() noexcept {
  const int f = detail::forced_isa().load(std::memory_order_relaxed);
  if (f >= 0 && isa_supported(static_cast<isa>(f))) return static_cast<isa>(f);
  return detected_isa();
}

}  // namespace llmc::cpu
