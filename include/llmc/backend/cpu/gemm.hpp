// llmc/backend/cpu/gemm.hpp — blocked, packed, multi-threaded SGEMM and SSYRK for the host.
//
// The Goto/BLIS structure (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication",
// TOMS 2008; Van Zee & van de Geijn, "BLIS", TOMS 2015): C is computed in NC-column slabs, K in
// KC-deep slices; the KC x NC slice of B is packed once into NR-wide column panels (shared, L3),
// each thread packs MC x KC blocks of A into MR-high row panels (L2) and runs an MR x NR register-
// blocked micro-kernel over them. The micro-kernel is written once with GCC/Clang vector types and
// cloned per instruction set (isa.hpp): 4-, 8- and 16-lane vectors, FMA where the target has it.
// SYRK runs the same loops with B = A^T and skips the micro-tiles outside the requested triangle
// (half the FLOPs of the GEMM). Invariants: every element of C is accumulated in the same order
// (KC slices in order, k in order inside the micro-kernel) whatever the thread count, so results are
// bit-identical for 1 or N threads; alpha is applied while packing A, beta before the first slice.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "llmc/backend/cpu/isa.hpp"
#include "llmc/backend/kernel_decl.hpp"
#include "llmc/core/error.hpp"
#include "llmc/core/parallel.hpp"
#include "llmc/tensor/matrix_view.hpp"

namespace llmc::cpu {

namespace detail {

/// A 64-byte aligned float buffer that only grows (packing buffers are reused across calls).
class aligned_floats {
 public:
  float* get(std::size_t n) {
    if (n > cap_) {
      ptr_.reset(static_cast<float*>(::operator new(n * sizeof(float), std::align_val_t{64})));
      cap_ = n;
    }
    return ptr_.get();
  }

 private:
  struct deleter {
    void operator()(float* p) const noexcept { ::operator delete(p, std::align_val_t{64}); }
  };
  std::unique_ptr<float, deleter> ptr_;
  std::size_t cap_ = 0;
};

/// Which part of C a product writes: all of it (gemm) or one triangle (syrk).
enum class region : std::uint8_t { full, upper, lower };

/// Register and cache blocking of one ISA clone. NR = lanes * vectors.
struct blocking {
  std::size_t mr, nr, mc, kc, nc;
};

template <int Lanes>
struct vec_of {
  typedef float type __attribute__((vector_size(Lanes * sizeof(float))));
};

/// MR x (NV * Lanes) micro-kernel: acc = sum_p a[p][0..MR) (x) b[p][0..NR); then C += acc, either
/// directly (Direct: a full tile of a unit-column-stride C, row stride ldc) or into the MR x NR
/// row-major scratch tile `c` (edges, triangles, strided C).
template <int Lanes, int MR, int NV, bool Direct>
__attribute__((always_inline)) inline void micro_kernel(std::size_t kc, const float* LLMC_RESTRICT a,
                                                        const float* LLMC_RESTRICT b, float* LLMC_RESTRICT c,
                                                        std::ptrdiff_t ldc) {
  using v = typename vec_of<Lanes>::type;
  constexpr int NR = NV * Lanes;
  v acc[MR][NV];
  _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
    _Pragma("GCC unroll 8") for (int j = 0; j < NV; ++j) acc[i][j] = v{} ;
  }
  for (std::size_t p = 0; p < kc; ++p) {
    v bv[NV];
    _Pragma("GCC unroll 8") for (int j = 0; j < NV; ++j) std::memcpy(&bv[j], b + j * Lanes, sizeof(v));
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
      const float s = a[i];
      _Pragma("GCC unroll 8") for (int j = 0; j < NV; ++j) acc[i][j] += s * bv[j];
    }
    a += MR;
    b += NR;
  }
  if constexpr (Direct) {
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
      _Pragma("GCC unroll 8") for (int j = 0; j < NV; ++j) {
        v t;
        float* dst = c + i * ldc + j * Lanes;
        std::memcpy(&t, dst, sizeof(v));
        t += acc[i][j];
        std::memcpy(dst, &t, sizeof(v));
      }
    }
  } else {
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; ++i) {
      _Pragma("GCC unroll 8") for (int j = 0; j < NV; ++j) std::memcpy(c + i * NR + j * Lanes, &acc[i][j], sizeof(v));
    }
  }
}

/// Arguments of one macro-kernel call: an mc x kc packed A block times a kc x nc packed B slice,
/// added into C starting at global position (row0, col0).
struct macro_args {
  std::size_t mc, nc, kc;
  const float* ap;
  const float* bp;
  float* c;  ///< &C(row0, col0)
  std::ptrdiff_t rs, cs;
  std::size_t row0, col0;
  region reg;
};

template <int Lanes, int MR, int NV>
__attribute__((always_inline)) inline void macro_kernel(const macro_args& m) {
  constexpr std::size_t NR = NV * Lanes;
  alignas(64) float tile[MR * NR];
  for (std::size_t jr = 0; jr < m.nc; jr += NR) {
    const std::size_t nr = std::min(NR, m.nc - jr);
    const std::size_t gc0 = m.col0 + jr, gc1 = gc0 + nr;  // global column range
    for (std::size_t ir = 0; ir < m.mc; ir += MR) {
      const std::size_t mr = std::min<std::size_t>(MR, m.mc - ir);
      const std::size_t gr0 = m.row0 + ir, gr1 = gr0 + mr;
      bool inside = true;  // every element of the tile is in the region
      if (m.reg == region::upper) {
        if (gc1 - 1 < gr0) continue;  // wholly below the diagonal
        inside = gc0 >= gr1 - 1;
      } else if (m.reg == region::lower) {
        if (gc0 > gr1 - 1) continue;  // wholly above
        inside = gc1 - 1 <= gr0;
      }
      const float* a = m.ap + ir * m.kc;
      const float* b = m.bp + jr * m.kc;
      float* c = m.c + static_cast<std::ptrdiff_t>(ir) * m.rs + static_cast<std::ptrdiff_t>(jr) * m.cs;
      if (inside && mr == MR && nr == NR && m.cs == 1) {
        micro_kernel<Lanes, MR, NV, true>(m.kc, a, b, c, m.rs);
        continue;
      }
      micro_kernel<Lanes, MR, NV, false>(m.kc, a, b, tile, 0);
      for (std::size_t i = 0; i < mr; ++i)
        for (std::size_t j = 0; j < nr; ++j) {
          if (m.reg == region::upper && gc0 + j < gr0 + i) continue;
          if (m.reg == region::lower && gc0 + j > gr0 + i) continue;
          c[static_cast<std::ptrdiff_t>(i) * m.rs + static_cast<std::ptrdiff_t>(j) * m.cs] += tile[i * NR + j];
        }
    }
  }
}

// The clones. Baseline: 4 lanes (SSE2 on x86-64, NEON on ARM), no FMA unless the TU enables it.
inline void macro_baseline(const macro_args& m) { macro_kernel<4, 6, 2>(m); }
inline constexpr blocking blocking_baseline{6, 8, 144, 256, 4096};
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2,fma"))) inline void macro_avx2(const macro_args& m) { macro_kernel<8, 6, 2>(m); }
__attribute__((target("avx512f,avx512vl,avx2,fma"))) inline void macro_avx512(const macro_args& m) {
  macro_kernel<16, 12, 2>(m);
}
#endif
inline constexpr blocking blocking_avx2{6, 16, 144, 256, 4096};
inline constexpr blocking blocking_avx512{12, 32, 144, 256, 4096};

struct plan {
  blocking blk;
  void (*macro)(const macro_args&);
};

inline plan plan_for(isa i) noexcept {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  if (i == isa::avx512) return {blocking_avx512, &macro_avx512};
  if (i == isa::avx2) return {blocking_avx2, &macro_avx2};
#endif
  (void)i;
  return {blocking_baseline, &macro_baseline};
}

/// Packs alpha * A[0:mc, 0:kc] into MR-high panels: panel q holds, for each p, the MR values
/// A[q*MR + 0..MR, p] (rows past mc are zero).
inline void pack_a(matrix_view<const float> a, float alpha, std::size_t mr, float* LLMC_RESTRICT out) {
  const std::size_t mc = a.rows(), kc = a.cols();
  const std::ptrdiff_t rs = a.stride(0), cs = a.stride(1);
  for (std::size_t i0 = 0; i0 < mc; i0 += mr) {
    const std::size_t h = std::min(mr, mc - i0);
    const float* base = &a(i0, 0);
    if (cs == 1) {  // rows contiguous: walk each row, scatter with stride mr
      for (std::size_t i = 0; i < h; ++i) {
        const float* row = base + static_cast<std::ptrdiff_t>(i) * rs;
        for (std::size_t p = 0; p < kc; ++p) out[p * mr + i] = alpha * row[p];
      }
    } else {
      for (std::size_t p = 0; p < kc; ++p) {
        const float* col = base + static_cast<std::ptrdiff_t>(p) * cs;
        for (std::size_t i = 0; i < h; ++i) out[p * mr + i] = alpha * col[static_cast<std::ptrdiff_t>(i) * rs];
      }
    }
    for (std::size_t i = h; i < mr; ++i)
      for (std::size_t p = 0; p < kc; ++p) out[p * mr + i] = 0.0f;
    out += mr * kc;
  }
}

/// Packs B[0:kc, j0:j1) (panel-aligned j0) into NR-wide panels: panel q holds, for each p, the NR
/// values B[p, q*NR + 0..NR) (columns past nc are zero).
inline void pack_b_panels(matrix_view<const float> b, std::size_t nr, std::size_t j0, std::size_t j1,
                          float* LLMC_RESTRICT out) {
  const std::size_t kc = b.rows(), nc = b.cols();
  const std::ptrdiff_t rs = b.stride(0), cs = b.stride(1);
  for (std::size_t jq = j0; jq < j1; jq += nr) {
    const std::size_t w = std::min(nr, nc - jq);
    float* o = out + jq * kc;
    if (cs == 1) {
      for (std::size_t p = 0; p < kc; ++p) {
        const float* row = &b(p, jq);
        std::size_t j = 0;
        for (; j < w; ++j) o[p * nr + j] = row[j];
        for (; j < nr; ++j) o[p * nr + j] = 0.0f;
      }
    } else {
      for (std::size_t j = 0; j < w; ++j) {
        const float* col = &b(0, jq + j);
        for (std::size_t p = 0; p < kc; ++p) o[p * nr + j] = col[static_cast<std::ptrdiff_t>(p) * rs];
      }
      for (std::size_t j = w; j < nr; ++j)
        for (std::size_t p = 0; p < kc; ++p) o[p * nr + j] = 0.0f;
    }
  }
}

inline aligned_floats& thread_a_buffer() {
  thread_local aligned_floats buf;
  return buf;
}
inline aligned_floats& thread_b_buffer() {
  thread_local aligned_floats buf;
  return buf;
}

/// C *= beta on a region (beta == 0 writes zeros, so NaNs in C do not survive, as in BLAS).
inline void scale_region(float beta, matrix_view<float> c, region reg) {
  if (beta == 1.0f) return;
  for (std::size_t i = 0; i < c.rows(); ++i) {
    const std::size_t j0 = reg == region::upper ? i : 0;
    const std::size_t j1 = reg == region::lower ? std::min(c.cols(), i + 1) : c.cols();
    for (std::size_t j = j0; j < j1; ++j) c(i, j) = beta == 0.0f ? 0.0f : beta * c(i, j);
  }
}

/// C(region) += alpha * A * B with the blocked algorithm. threads == 0: automatic.
inline void blocked_product(float alpha, matrix_view<const float> a, matrix_view<const float> b, matrix_view<float> c,
                            region reg, unsigned threads) {
  const std::size_t m = c.rows(), n = c.cols(), k = a.cols();
  if (m == 0 || n == 0 || k == 0 || alpha == 0.0f) return;
  const plan pl = plan_for(active_isa());
  const blocking& bk = pl.blk;
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  unsigned nthreads = threads != 0 ? threads : max_threads();
  if (flops < 4.0e6) nthreads = 1;  // a thread start costs more than the work
  const std::size_t b_panel_floats = ((std::min(bk.nc, n) + bk.nr - 1) / bk.nr) * bk.nr * bk.kc;
  float* bp = thread_b_buffer().get(b_panel_floats);
  for (std::size_t jc = 0; jc < n; jc += bk.nc) {
    const std::size_t nc = std::min(bk.nc, n - jc);
    // Row blocks that intersect the region for this column slab.
    std::size_t ic_begin = 0, ic_end = m;
    if (reg == region::upper) ic_end = std::min(m, jc + nc);
    if (reg == region::lower) ic_begin = std::min(m, (jc / bk.mc) * bk.mc);
    if (ic_begin >= ic_end) continue;
    const std::size_t blocks = (ic_end - ic_begin + bk.mc - 1) / bk.mc;
    for (std::size_t pc = 0; pc < k; pc += bk.kc) {
      const std::size_t kc = std::min(bk.kc, k - pc);
      const auto bslice = b.block(pc, jc, kc, nc);
      const std::size_t panels = (nc + bk.nr - 1) / bk.nr;
      const std::size_t pack_chunks = nthreads > 1 && panels > 1 ? std::min<std::size_t>(nthreads, panels) : 1;
      parallel_for_chunks(panels, pack_chunks, [&](std::size_t, std::size_t q0, std::size_t q1) {
        pack_b_panels(bslice, bk.nr, q0 * bk.nr, std::min(nc, q1 * bk.nr), bp);
      });
      std::atomic<std::size_t> next{0};
      auto work = [&](std::size_t, std::size_t, std::size_t) {
        float* ap = thread_a_buffer().get(bk.mc * bk.kc);
        for (std::size_t blk = next++; blk < blocks; blk = next++) {
          const std::size_t ic = ic_begin + blk * bk.mc;
          const std::size_t mc = std::min(bk.mc, ic_end - ic);
          pack_a(a.block(ic, pc, mc, kc), alpha, bk.mr, ap);
          macro_args ma{mc, nc, kc, ap, bp, &c(ic, jc), c.stride(0), c.stride(1), ic, jc, reg};
          pl.macro(ma);
        }
      };
      const std::size_t chunks = std::min<std::size_t>(nthreads, blocks);
      parallel_for_chunks(chunks, chunks, work);
    }
  }
}

}  // namespace detail

/// C = alpha * A * B + beta * C (A: m x k, B: k x n, C: m x n; any strides).
/// @param threads 0 = llmc::max_threads(); results do not depend on it.
/// @throws shape_error llmc.backend.001 when the shapes do not chain.
inline void gemm(float alpha, matrix_view<const float> a, matrix_view<const float> b, float beta, matrix_view<float> c,
                 unsigned threads = 0) {
  if (a.rows() != c.rows() || b.cols() != c.cols() || a.cols() != b.rows())
    LLMC_THROW(shape_error, "llmc.backend.001", "gemm: operand shapes do not chain (A m x k, B k x n, C m x n)");
  detail::scale_region(beta, c, detail::region::full);
  detail::blocked_product(alpha, a, b, c, detail::region::full, threads);
}

/// One triangle of C = alpha * A * A^T + beta * C (A: n x k, C: n x n). The other triangle is not touched.
/// @throws shape_error llmc.backend.002 when C is not n x n with A n x k.
inline void syrk(triangle t, float alpha, matrix_view<const float> a, float beta, matrix_view<float> c,
                 unsigned threads = 0) {
  if (c.rows() != c.cols() || a.rows() != c.rows())
    LLMC_THROW(shape_error, "llmc.backend.002", "syrk: C must be n x n and A n x k");
  const auto reg = t == triangle::upper ? detail::region::upper : detail::region::lower;
  detail::scale_region(beta, c, reg);
  detail::blocked_product(alpha, a, a.transposed(), c, reg, threads);
}

}  // namespace llmc::cpu
