// GPU tests of the CUDA backend (nvcc, sm_80 + sm_90): run only where a device is usable; exit 77
// (CTest: skipped) elsewhere. Parity with the host backend, with the tolerances documented here:
//  * dense_kernels<cuda_backend>: gemm (row- and column-major operands and outputs, beta 0 and
//    not), syrk (both triangles; the other one untouched), cholesky, invert_lower, gemm_bf16 —
//    relative to the host kernels within 1e-4 of the result's max-abs (fp32 sums in another
//    order; the Cholesky / inverse of a well-conditioned SPD matrix); cholesky of a matrix that
//    is not positive definite returns the same info as the host kernel.
//  * Error paths: a stride cuBLAS cannot take throws llmc.cuda.110 before any call; a failing
//    CUDA / cuBLAS call throws llmc::cuda_error naming the call.
//  * Hessian: fp32 (cublasSsyrk) within 1e-5 relative of hessian_accumulator; bf16 inputs
//    (cublasGemmEx) within 1e-4 relative of the host emulation (bf16-rounded inputs, fp32 sums).
//  * GPTQ: gptq_device_solve on the GPU vs gptq::quantize_weight on the host (channel and group
//    args, static and no actorder, float and bf16 weights): the factor and GEMMs sum in other
//    orders, so a code that sits on a rounding boundary may flip to its neighbour: at most 0.5 %
//    of codes differ, each by one quantization step; qparams and g_idx are identical (they come
//    from the un-updated weight); the loss agrees within 1 %.
//  * Padding masks: the masked Hessian within 1e-5 of max|H| of hessian_accumulator's, rescale()
//    exactly its double division; gptq_device_apply on a q/k/v group (int4 g32, NVFP4) within the
//    GPTQ bounds above, identical qparams and global scale; device_activation_cache with 2
//    resident and 3 pinned batches keeps order and write-back; a Thrust out-of-memory under
//    cuda_dense_policy::guard is llmc.cuda.105 and the context keeps working.
//  * gemm_tf32 and gemm_strided_batched (fp32 and TF32) on attention's interleaved per-head
//    operands vs host GEMMs: fp32 within 1e-4 of max |C|; TF32 within 1e-2 (operands rounded to
//    a 10-bit mantissa: ~5e-4 relative each, summed over k = 64..256 terms).
//  * Device decoder forward (decoder_layer_device.hpp) vs run_decoder_layer on random specs
//    (group 4 with Qwen3 q/k norm, biases, a sliding window, explicit positions, a padded batch;
//    group 1 with llama3 RoPE and chunked attention), two layers chained: fp32 outputs and every
//    Linear input the hook sees within 1e-4 of max |.| (cuBLAS sums in other orders, CUDA's expf);
//    tf32_linears within 2e-2 (measured errors are printed).
//  * AWQ device blocks (awq_device.hpp) on device_samples of a padded batch vs awq.hpp's host
//    blocks: every grid loss within 1e-3 relative (the fp and candidate outputs each sum in
//    cuBLAS's order; the loss is their small difference), the kept rows exact.
#include <cuda_runtime.h>

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <thrust/copy.h>
#include <thrust/transform.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/backend/cuda/context.hpp"
#include "llmc/backend/cuda/dense.hpp"
#include "llmc/backend/cuda/error.hpp"
#include "llmc/backend/cuda/thrust_policy.hpp"
#include "llmc/backend/kernels.hpp"
#include "llmc/method/awq.hpp"
#include "llmc/method/awq_device.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/gptq_device.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/method/hessian_device.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_layer_device.hpp"
#include "llmc/pipeline/device_activation_cache.hpp"
#include "llmc/scheme/presets.hpp"
#include "../support/forward_parity.hpp"
#include "../support/random_decoder_layer.hpp"

using namespace llmc;

namespace {

cuda_context& ctx() {
  static cuda_context c;
  return c;
}

template <class T>
struct dbuf {
  thrust::device_vector<T> v;
  explicit dbuf(const std::vector<T>& h) : v(h.begin(), h.end()) {}
  explicit dbuf(std::size_t n) : v(n) {}
  T* data() { return thrust::raw_pointer_cast(v.data()); }
  std::vector<T> host() const {
    std::vector<T> h(v.size());
    thrust::copy(v.begin(), v.end(), h.begin());
    return h;
  }
};

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

double max_abs(const std::vector<float>& v) {
  double m = 0.0;
  for (float x : v) m = std::max(m, std::fabs(static_cast<double>(x)));
  return m;
}

std::string error_id_of(auto&& f) {
  try {
    f();
  } catch (const llmc::error& e) {
    return e.id() + " " + e.what();
  }
  return "no error";
}

/// A rows x cols matrix in row-major (ld = cols + pad) or column-major (ld = rows + pad) storage.
struct host_laid {
  std::vector<float> buf;
  std::size_t rows, cols;
  std::ptrdiff_t rs, cs;
  float& at(std::size_t r, std::size_t c) { return buf[r * rs + c * cs]; }
};
host_laid lay(std::size_t rows, std::size_t cols, bool col_major, std::size_t pad, const std::vector<float>& vals) {
  host_laid m{{}, rows, cols, 0, 0};
  if (col_major) {
    m.rs = 1;
    m.cs = static_cast<std::ptrdiff_t>(rows + pad);
    m.buf.assign((rows + pad) * cols, -3.0f);
  } else {
    m.rs = static_cast<std::ptrdiff_t>(cols + pad);
    m.cs = 1;
    m.buf.assign(rows * (cols + pad), -3.0f);
  }
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m.at(r, c) = vals[r * cols + c];
  return m;
}

}  // namespace

TEST_CASE("cuda gemm matches the host gemm for row- and column-major operands") {
  const std::size_t m = 67, n = 45, k = 129;
  const auto av = random_values(m * k, 1), bv = random_values(k * n, 2), cv = random_values(m * n, 3);
  for (int mask = 0; mask < 8; ++mask)
    for (float beta : {0.0f, 0.75f}) {
      CAPTURE(mask);
      host_laid a = lay(m, k, mask & 1, 3, av), b = lay(k, n, mask & 2, 0, bv), c = lay(m, n, mask & 4, 5, cv);
      matrix<float> expect(m, n, cv);
      dense_kernels<host_backend>::gemm(1.25f, {a.buf.data(), m, k, a.rs, a.cs}, {b.buf.data(), k, n, b.rs, b.cs}, beta,
                                        expect.view());
      dbuf<float> da(a.buf), db(b.buf), dc(c.buf);
      if (beta == 0.0f) thrust::fill(dc.v.begin(), dc.v.end(), std::nanf(""));
      dense_kernels<cuda_backend>::gemm(ctx(), 1.25f, cuda_view<const float>(da.data(), m, k, a.rs, a.cs),
                                        cuda_view<const float>(db.data(), k, n, b.rs, b.cs), beta,
                                        cuda_view<float>(dc.data(), m, n, c.rs, c.cs));
      ctx().synchronize();
      c.buf = dc.host();
      const double scale = max_abs(expect.storage());
      for (std::size_t r = 0; r < m; ++r)
        for (std::size_t j = 0; j < n; ++j) REQUIRE(std::fabs(c.at(r, j) - expect(r, j)) <= 1e-4 * scale);
    }
}

TEST_CASE("cuda syrk, cholesky, invert_lower and gemm_bf16 match the host kernels") {
  const std::size_t n = 150, k = 400;
  const auto av = random_values(n * k, 4);
  const matrix<float> a(n, k, av);
  for (triangle t : {triangle::upper, triangle::lower})
    for (bool col_major : {false, true}) {
      matrix<float> expect(n, n, 5.0f);
      dense_kernels<host_backend>::syrk(t, 0.5f, cview(a), 0.0f, expect.view());
      dbuf<float> da(av), dc(std::vector<float>(n * n, 5.0f));
      const cuda_view<float> cview_d = col_major ? cuda_view<float>(dc.data(), n, n, 1, n) : cuda_view<float>(dc.data(), n, n);
      dense_kernels<cuda_backend>::syrk(ctx(), t, 0.5f, cuda_view<const float>(da.data(), n, k), 0.0f, cview_d);
      ctx().synchronize();
      const auto got = dc.host();
      const double scale = max_abs(expect.storage());
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j) {
          const bool in = t == triangle::upper ? j >= i : j <= i;
          const float g = col_major ? got[j * n + i] : got[i * n + j];
          REQUIRE(std::fabs(g - (in ? expect(i, j) : 5.0f)) <= 1e-5 * scale);
        }
    }
  // SPD matrix: A A^T / k + I.
  matrix<float> spd(n, n);
  dense_kernels<host_backend>::syrk(triangle::lower, 1.0f / k, cview(a), 0.0f, spd.view());
  mirror_triangle(triangle::lower, spd);
  for (std::size_t i = 0; i < n; ++i) spd(i, i) += 1.0f;
  matrix<float> l = spd;
  REQUIRE(dense_kernels<host_backend>::cholesky(l.view()) == 0);
  matrix<float> li = l;
  dense_kernels<host_backend>::invert_lower(li.view());
  for (bool col_major : {false, true}) {
    std::vector<float> buf(spd.storage().begin(), spd.storage().end());  // symmetric: same both ways
    dbuf<float> d(buf);
    const cuda_view<float> v = col_major ? cuda_view<float>(d.data(), n, n, 1, n) : cuda_view<float>(d.data(), n, n);
    REQUIRE(dense_kernels<cuda_backend>::cholesky(ctx(), v) == 0);
    auto got = d.host();
    auto at = [&](std::size_t i, std::size_t j) { return col_major ? got[j * n + i] : got[i * n + j]; };
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j <= i; ++j) REQUIRE(std::fabs(at(i, j) - l(i, j)) <= 1e-4 * std::fabs(l(0, 0)));
    dense_kernels<cuda_backend>::invert_lower(ctx(), v);
    ctx().synchronize();
    got = d.host();
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j <= i; ++j) REQUIRE(std::fabs(at(i, j) - li(i, j)) <= 1e-4 * std::fabs(li(0, 0)));
  }
  // Not positive definite at the 7th leading minor: the host's info.
  matrix<float> bad = spd;
  bad(6, 6) = -1.0f;
  matrix<float> bad_host = bad;
  const std::size_t info = dense_kernels<host_backend>::cholesky(bad_host.view());
  CHECK(info == 7);
  dbuf<float> dbad(std::vector<float>(bad.storage().begin(), bad.storage().end()));
  CHECK(dense_kernels<cuda_backend>::cholesky(ctx(), cuda_view<float>(dbad.data(), n, n)) == info);
  // bf16 GEMM: exact bf16 products accumulated in fp32, against the host emulation.
  const auto xb = matrix<bfloat16>::from(a, [](float f) { return bfloat16(f); });
  std::vector<bfloat16> xbv(xb.storage().begin(), xb.storage().end());
  dbuf<bfloat16> dx(xbv);
  dbuf<float> dh(n * n);
  const cuda_view<const bfloat16> xv(dx.data(), n, k);
  dense_kernels<cuda_backend>::gemm_bf16(ctx(), 1.0f, xv, xv.transposed(), 0.0f, cuda_view<float>(dh.data(), n, n));
  ctx().synchronize();
  matrix<float> expect(n, n);
  host_dense_policy::gemm_bf16(1.0f, cview(xb), cview(xb).transposed(), 0.0f, expect.view());
  const auto got = dh.host();
  const double scale = max_abs(expect.storage());
  for (std::size_t i = 0; i < n * n; ++i) REQUIRE(std::fabs(got[i] - expect.data()[i]) <= 1e-4 * scale);
}

TEST_CASE("cuda error paths name the call") {
  dbuf<float> d(16);
  // A view cuBLAS cannot take: rejected before any call.
  const std::string e = error_id_of([&] {
    dense_kernels<cuda_backend>::gemm(ctx(), 1.0f, cuda_view<const float>(d.data(), 2, 2, 4, 2),
                                      cuda_view<const float>(d.data(), 2, 2), 0.0f, cuda_view<float>(d.data(), 2, 2));
  });
  CHECK(e.rfind("llmc.cuda.110 ", 0) == 0);
  // A failing runtime call.
  const std::string m = error_id_of([] {
    void* p = nullptr;
    LLMC_CUDA_CHECK(cudaMalloc(&p, std::size_t{1} << 62));
  });
  CHECK(m.rfind("llmc.cuda.101 ", 0) == 0);
  CHECK(m.find("cudaMalloc(&p, std::size_t{1} << 62)") != std::string::npos);
  CHECK(m.find("cudaErrorMemoryAllocation") != std::string::npos);
  // A failing cuBLAS call (negative m).
  const std::string b = error_id_of([&] {
    const float one = 1.0f;
    LLMC_CUDA_CHECK(cublasSgemm(ctx().cublas(), CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 2, &one, d.data(), 2, d.data(), 2, &one, d.data(), 2));
  });
  CHECK(b.rfind("llmc.cuda.102 ", 0) == 0);
  CHECK(b.find("cublasSgemm(") != std::string::npos);
  CHECK(b.find("CUBLAS_STATUS_INVALID_VALUE") != std::string::npos);
  // The context still works afterwards.
  thrust::fill(d.v.begin(), d.v.begin() + 1, 4.0f);
  CHECK(dense_kernels<cuda_backend>::cholesky(ctx(), cuda_view<float>(d.data(), 1, 1)) == 0);
  CHECK(d.host()[0] == 2.0f);
}

TEST_CASE("device Hessian accumulator matches the host accumulator") {
  const std::size_t cols = 96, tokens = 700;
  const auto v = random_values(tokens * cols, 9);
  const matrix<float> x(tokens, cols, v);
  hessian_accumulator ref(cols);
  hessian_accumulator ref16(cols);
  const auto xr = matrix<float>::from(x, [](float f) { return round_to_bfloat16(f); });
  const cuda_dense_policy k(ctx());
  device_hessian_accumulator<cuda_dense_policy> h32(k, cols), h16(k, cols, hessian_precision::bf16);
  dbuf<float> dx(v);
  for (std::size_t r0 = 0; r0 < tokens; r0 += 350) {
    ref.add(cview(x).block(r0, 0, 350, cols));
    ref16.add(cview(xr).block(r0, 0, 350, cols));
    h32.add(cuda_view<const float>(dx.data() + r0 * cols, 350, cols));
    h16.add(cuda_view<const float>(dx.data() + r0 * cols, 350, cols));
  }
  const matrix<float> a = ref.hessian(), b = h32.hessian_host(), c = ref16.hessian(), d = h16.hessian_host();
  const double scale = max_abs(a.storage());
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(std::fabs(a.data()[i] - b.data()[i]) <= 1e-5 * scale);
    REQUIRE(std::fabs(c.data()[i] - d.data()[i]) <= 1e-4 * scale);
  }
}

namespace {
template <class T>
void gptq_parity(const quant_args& a, act_order act, std::size_t rows, std::size_t cols, unsigned seed) {
  const auto wv = random_values(rows * cols, seed);
  matrix<T> w(rows, cols);
  for (std::size_t i = 0; i < w.size(); ++i) w.data()[i] = compute_dtype<T>::from_float(0.02f * wv[i] * (i % 7 ? 1.0f : 4.0f));
  const auto xv = random_values(4 * cols * cols, seed + 1);
  matrix<float> x(4 * cols, cols, xv);
  for (std::size_t t = 0; t < x.rows(); ++t)
    for (std::size_t c = 0; c < cols; c += 5) x(t, c) *= 3.0f;
  hessian_accumulator acc(cols);
  acc.add(x);
  const matrix<float> h = acc.hessian();
  gptq<runtime_scheme> m{{a}};
  m.actorder = act;
  const auto host = m.quantize_weight(w, h);
  const cuda_dense_policy k(ctx());
  std::vector<T> wh(w.storage().begin(), w.storage().end());
  dbuf<T> dw(wh);
  dbuf<float> dh(std::vector<float>(h.storage().begin(), h.storage().end()));
  const auto dev = gptq_device_solve(k, m, cuda_view<const T>(dw.data(), rows, cols), cuda_view<const float>(dh.data(), cols, cols));
  const quantized_tensor& qa = host.quantized;
  const quantized_tensor& qb = dev.host.quantized;
  std::size_t differ = 0, far = 0;
  for (std::size_t i = 0; i < qa.codes.size(); ++i) {
    if (qa.codes.data()[i] == qb.codes.data()[i]) continue;
    ++differ;
    if (std::abs(static_cast<int>(static_cast<std::int8_t>(qa.codes.data()[i])) - static_cast<std::int8_t>(qb.codes.data()[i])) > 1) ++far;
  }
  MESSAGE(rows << "x" << cols << " actorder " << to_string(act) << ": " << differ << " of " << qa.codes.size()
                << " codes differ; loss host " << host.loss << " device " << dev.host.loss);
  CHECK(static_cast<double>(differ) <= 0.005 * static_cast<double>(qa.codes.size()));
  CHECK(far == 0);
  CHECK(dev.host.loss == doctest::Approx(host.loss).epsilon(0.01));
  CHECK(qa.g_idx == qb.g_idx);
  REQUIRE(qa.params.scale.size() == qb.params.scale.size());
  for (std::size_t i = 0; i < qa.params.scale.size(); ++i) REQUIRE(qa.params.scale.data()[i] == qb.params.scale.data()[i]);
  CHECK(dev.host.attempts.size() == host.attempts.size());
}
}  // namespace

TEST_CASE("GPTQ on the GPU matches the host GPTQ") {
  constexpr quant_args g32{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
  constexpr quant_args ch8{.num_bits = 8, .strategy = quant_strategy::channel};
  for (auto act : {act_order::weight, act_order::none}) {
    gptq_parity<float>(g32, act, 256, 384, 1);
    gptq_parity<bfloat16>(g32, act, 300, 256, 2);
    gptq_parity<bfloat16>(ch8, act, 128, 320, 3);
  }
  gptq_parity<bfloat16>(g32, act_order::group, 256, 256, 4);
}

TEST_CASE("cuda gemm_tf32 and strided-batched gemms match the host gemm") {
  const cuda_dense_policy k(ctx());
  // Attention's layout: heads interleaved in one row-major matrix, column-major score blocks.
  const std::size_t rows = 70, keys = 90, hd = 64, nkv = 3, group = 2, qd = nkv * group * hd, kvd = nkv * hd;
  const auto qv = random_values(rows * qd, 21), kv = random_values(keys * kvd, 22);
  dbuf<float> dq(qv), dk(kv), ds(nkv * rows * keys), dout(std::vector<float>(rows * qd, -3.0f));
  const auto sgh = static_cast<std::ptrdiff_t>(group * hd), shd = static_cast<std::ptrdiff_t>(hd),
             blk = static_cast<std::ptrdiff_t>(rows * keys);
  for (bool tf32 : {false, true}) {
    CAPTURE(tf32);
    const cuda_view<const float> q(dq.data(), rows, hd, static_cast<std::ptrdiff_t>(qd), 1);
    const cuda_view<const float> kt = cuda_view<const float>(dk.data(), keys, hd, static_cast<std::ptrdiff_t>(kvd), 1).transposed();
    const cuda_view<float> sc(ds.data(), rows, keys, 1, static_cast<std::ptrdiff_t>(rows));
    if (tf32) k.gemm_strided_batched_tf32(0.125f, q, sgh, kt, shd, 0.0f, sc, blk, nkv);
    else k.gemm_strided_batched(0.125f, q, sgh, kt, shd, 0.0f, sc, blk, nkv);
    const cuda_view<const float> p(ds.data(), rows, keys, 1, static_cast<std::ptrdiff_t>(rows));
    const cuda_view<const float> v(dk.data(), keys, hd, static_cast<std::ptrdiff_t>(kvd), 1);
    const cuda_view<float> o(dout.data(), rows, hd, static_cast<std::ptrdiff_t>(qd), 1);
    if (tf32) k.gemm_strided_batched_tf32(1.0f, p, blk, v, shd, 0.0f, o, sgh, nkv);
    else k.gemm_strided_batched(1.0f, p, blk, v, shd, 0.0f, o, sgh, nkv);
    const std::vector<float> got_s = ds.host(), got_o = dout.host();
    std::vector<float> want_s(got_s.size()), want_o(rows * qd, -3.0f);
    host_dense_policy::gemm_strided_batched(
        0.125f, matrix_view<const float>(qv.data(), rows, hd, static_cast<std::ptrdiff_t>(qd), 1), sgh,
        matrix_view<const float>(kv.data(), keys, hd, static_cast<std::ptrdiff_t>(kvd), 1).transposed(), shd, 0.0f,
        matrix_view<float>(want_s.data(), rows, keys, 1, static_cast<std::ptrdiff_t>(rows)), blk, nkv);
    // P V from the GPU's own scores, so the second product is compared on the same inputs.
    host_dense_policy::gemm_strided_batched(
        1.0f, matrix_view<const float>(got_s.data(), rows, keys, 1, static_cast<std::ptrdiff_t>(rows)), blk,
        matrix_view<const float>(kv.data(), keys, hd, static_cast<std::ptrdiff_t>(kvd), 1), shd, 0.0f,
        matrix_view<float>(want_o.data(), rows, hd, static_cast<std::ptrdiff_t>(qd), 1), sgh, nkv);
    const double tol = tf32 ? 1e-2 : 1e-4;
    const double es = test_support::max_rel_error(got_s.data(), want_s.data(), want_s.size());
    const double eo = test_support::max_rel_error(got_o.data(), want_o.data(), want_o.size());
    CHECK(es <= tol);
    CHECK(eo <= tol);
    std::size_t untouched = 0;
    for (float x : got_o) untouched += x == -3.0f;
    CHECK(untouched == rows * hd * nkv * (group - 1));  // the other head of each group is not written
    std::printf("strided-batched gemm %s: scores %.2e, P V %.2e of max |C|\n", tf32 ? "tf32" : "fp32", es, eo);
  }
  // gemm_tf32: a Linear's y = x W^T.
  const std::size_t t = 96, in = 256, out = 80;
  const auto xv = random_values(t * in, 23), wv = random_values(out * in, 24);
  dbuf<float> dx(xv), dw(wv), dy(t * out);
  k.gemm_tf32(1.0f, cuda_view<const float>(dx.data(), t, in), cuda_view<const float>(dw.data(), out, in).transposed(), 0.0f,
              cuda_view<float>(dy.data(), t, out));
  std::vector<float> want(t * out);
  dense_kernels<host_backend>::gemm(1.0f, matrix_view<const float>(xv.data(), t, in),
                                    matrix_view<const float>(wv.data(), out, in).transposed(), 0.0f,
                                    matrix_view<float>(want.data(), t, out));
  const std::vector<float> got = dy.host();
  const double e = test_support::max_rel_error(got.data(), want.data(), want.size());
  CHECK(e <= 1e-2);
  CHECK(e > 1e-6);  // TF32 is really in use (fp32 would agree to ~1e-6)
}

namespace {

using test_support::forward_parity;

/// The harness of support/forward_parity.hpp on the GPU.
forward_parity gpu_compare_forward(const decoder_spec& s, const std::vector<decoder_layer_weights>& layers, const hidden_batch& h,
                                   device_forward_options opt) {
  return test_support::compare_forward(cuda_dense_policy(ctx()), s, layers, h, opt);
}

}  // namespace

TEST_CASE("device decoder forward on the GPU matches run_decoder_layer") {
  struct variant {
    const char* name;
    test_support::random_spec_args args;
    bool positions;
    std::size_t chunk_rows;
  };
  // (Built field by field: nvcc's front end mistranslates nested designated initializers here.)
  std::vector<variant> variants(2);
  variants[0].name = "group 4, qk_norm, biases, window 24 on layer 1, positions";
  variants[0].args.hidden = 256;
  variants[0].args.intermediate = 512;
  variants[0].args.heads = 8;
  variants[0].args.kv_heads = 2;
  variants[0].args.head_dim = 32;
  variants[0].args.windows = {0, 24};
  variants[0].positions = true;
  variants[0].chunk_rows = 0;
  variants[1].name = "group 1, llama3 RoPE, no biases, chunks of 16 rows";
  variants[1].args.hidden = 256;
  variants[1].args.intermediate = 384;
  variants[1].args.heads = 4;
  variants[1].args.kv_heads = 4;
  variants[1].args.head_dim = 64;
  variants[1].args.qk_norm = false;
  variants[1].args.biases = false;
  variants[1].args.windows = {0, 0};
  variants[1].args.rope_type = "llama3";
  variants[1].positions = false;
  variants[1].chunk_rows = 16;
  for (const variant& v : variants) {
    const std::string name = v.name;
    CAPTURE(name);
    const decoder_spec s = test_support::random_spec(v.args);
    std::vector<decoder_layer_weights> layers;
    for (std::size_t l = 0; l < s.num_layers; ++l) layers.push_back(test_support::random_layer(s, l, 300 + static_cast<unsigned>(l)));
    const std::size_t S = 100;
    device_forward_options opt;
    if (v.chunk_rows > 0) opt.attention_score_floats = s.num_heads * S * v.chunk_rows;
    const hidden_batch h = test_support::random_batch(s, 3, S, 7, true, v.positions);
    const forward_parity f32 = gpu_compare_forward(s, layers, h, opt);
    opt.tf32_linears = true;
    const forward_parity tf = gpu_compare_forward(s, layers, h, opt);
    std::printf("device forward on the GPU vs run_decoder_layer (%s): fp32 output %.2e, hooks %.2e; tf32 output %.2e, hooks %.2e\n",
                v.name, f32.out, f32.hook, tf.out, tf.hook);
    CHECK(f32.out <= 1e-4);
    CHECK(f32.hook <= 1e-4);
    CHECK(tf.out <= 2e-2);
    CHECK(tf.hook <= 2e-2);
    CHECK(tf.out > f32.out);  // the option is in effect
  }
}

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: compiled and linked only (skipped)\n");
    return 77;
  }
  doctest::Context c(argc, argv);
  return c.run();
}

namespace {

std::vector<std::uint8_t> quarter_padding(std::size_t rows, unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<std::uint8_t> m(rows);
  for (auto& v : m) v = gen() % 4 != 0;
  return m;
}

}  // namespace

TEST_CASE("device Hessian on the GPU: padding mask and rescale") {
  const std::size_t cols = 96, rows = 1500;
  const auto v = random_values(rows * cols, 19);
  const matrix<float> x(rows, cols, v);
  const auto mask = quarter_padding(rows, 5);
  const cuda_dense_policy k(ctx());
  hessian_accumulator ref(cols);
  device_hessian_accumulator<cuda_dense_policy> dev(k, cols);
  dbuf<float> dx(v);
  dbuf<std::uint8_t> dm(mask);
  ref.add(cview(x), mask, 4);
  dev.add(cuda_view<const float>(dx.data(), rows, cols), dm.data(), 4);
  const std::vector<std::uint8_t> pad(200, 0);
  dbuf<std::uint8_t> dpad(pad);
  ref.add(cview(x).block(0, 0, 200, cols), pad, 1);
  dev.add(cuda_view<const float>(dx.data(), 200, cols), dpad.data(), 1);
  CHECK(dev.samples() == ref.samples());
  CHECK(dev.tokens() == ref.tokens());
  const matrix<float> a = ref.hessian(), b = dev.hessian_host();
  const double scale = max_abs(a.storage());
  for (std::size_t i = 0; i < a.size(); ++i) REQUIRE(std::fabs(a.data()[i] - b.data()[i]) <= 1e-5 * scale);
  // bf16 inputs with the mask: the host accumulator fed with bf16-rounded kept rows, 1e-4 of max|H|.
  const auto xr = matrix<float>::from(x, [](float f) { return round_to_bfloat16(f); });
  hessian_accumulator ref16(cols);
  ref16.add(cview(xr), mask, 4);
  device_hessian_accumulator<cuda_dense_policy> dev16(k, cols, hessian_precision::bf16);
  dev16.add(cuda_view<const float>(dx.data(), rows, cols), dm.data(), 4);
  CHECK(dev16.tokens() == ref16.tokens());
  const matrix<float> c16 = ref16.hessian(), d16 = dev16.hessian_host();
  for (std::size_t i = 0; i < c16.size(); ++i) REQUIRE(std::fabs(c16.data()[i] - d16.data()[i]) <= 1e-4 * scale);
  // rescale: the double division of hessian_accumulator::rescale, exact on the GPU too.
  std::vector<float> s(cols);
  for (std::size_t c = 0; c < cols; ++c) s[c] = 0.5f + 0.031f * static_cast<float>((c * 7) % 41);
  dev.rescale(s);
  const matrix<float> r = dev.hessian_host();
  for (std::size_t i = 0; i < cols; ++i)
    for (std::size_t j = i; j < cols; ++j)
      REQUIRE(r(i, j) == static_cast<float>(static_cast<double>(b(i, j)) / (static_cast<double>(s[i]) * s[j])));
}

TEST_CASE("gptq_device_apply on the GPU matches gptq::apply") {
  const cuda_dense_policy k(ctx());
  layer_context ctx_host;
  ctx_host.prefix = "model.layers.0.";
  const std::pair<const char*, std::size_t> shapes[] = {{"self_attn.q_proj", 128}, {"self_attn.k_proj", 64}, {"self_attn.v_proj", 64}};
  unsigned seed = 30;
  for (const auto& [name, out] : shapes) {
    linear_weight l;
    l.name = name;
    l.input = "attn_in";
    l.dtype = scalar_type::bfloat16;
    const auto wv = random_values(out * 256, ++seed);
    l.weight = matrix<float>(out, 256);
    for (std::size_t i = 0; i < l.weight.size(); ++i) l.weight.data()[i] = 0.02f * wv[i] * (i % 7 ? 1.0f : 4.0f);
    ctx_host.linears.push_back(std::move(l));
  }
  const auto xv = random_values(1024 * 256, 40);
  matrix<float> x(1024, 256, xv);
  for (std::size_t t = 0; t < x.rows(); ++t)
    for (std::size_t c = 0; c < 256; c += 5) x(t, c) *= 3.0f;
  const auto mask = quarter_padding(1024, 41);
  ctx_host.inputs["attn_in"].hessian = hessian_accumulator(256);
  ctx_host.inputs["attn_in"].hessian.add(x, mask, 4);
  device_hessian_accumulator<cuda_dense_policy> dh(k, 256);
  dbuf<float> dx(xv);
  dbuf<std::uint8_t> dm(mask);
  // (x was scaled on the host after xv was drawn: upload the scaled values.)
  thrust::copy(x.storage().begin(), x.storage().end(), dx.v.begin());
  dh.add(cuda_view<const float>(dx.data(), 1024, 256), dm.data(), 4);
  constexpr quant_args g32{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
  const std::vector<quant_args> schemes{g32, static_cast<quant_args>(presets::NVFP4A16{}.weights)};
  for (const quant_args& a : schemes) {
    gptq<runtime_scheme> m{{a}};
    layer_context host = ctx_host, dev = ctx_host;
    m.apply(host);
    gptq_device_apply(k, m, dev, [&](std::string_view) { return &dh; });
    REQUIRE(dev.notes.size() == host.notes.size());
    for (std::size_t i = 0; i < host.linears.size(); ++i) {
      const quantized_tensor& qa = *host.linears[i].quantized;
      const quantized_tensor& qb = *dev.linears[i].quantized;
      std::size_t differ = 0;
      for (std::size_t j = 0; j < qa.codes.size(); ++j) differ += qa.codes.data()[j] != qb.codes.data()[j];
      MESSAGE(host.linears[i].name << " " << (a.is_fp4() ? "NVFP4" : "int4 g32") << ": " << differ << " of " << qa.codes.size()
                                   << " codes differ");
      CHECK(static_cast<double>(differ) <= 0.005 * static_cast<double>(qa.codes.size()));
      CHECK(qa.params.global_scale == qb.params.global_scale);
      REQUIRE(qa.params.scale.size() == qb.params.scale.size());
      for (std::size_t j = 0; j < qa.params.scale.size(); ++j) REQUIRE(qa.params.scale.data()[j] == qb.params.scale.data()[j]);
      CHECK(dev.notes[i].target == host.notes[i].target);
      CHECK(dev.notes[i].after == doctest::Approx(host.notes[i].after).epsilon(0.01));
    }
  }
}

namespace {
struct plus_const {
  float a;
  __host__ __device__ float operator()(float v) const { return v + a; }
};
}  // namespace

TEST_CASE("device_activation_cache on the GPU: resident and pinned batches") {
  const cuda_dense_policy k(ctx());
  CHECK(k.free_device_bytes() > 0);
  std::vector<hidden_batch> in(5);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i].batch = 2;
    in[i].seq = 16;
    in[i].states = matrix<float>(32, 64, random_values(32 * 64, 50 + static_cast<unsigned>(i)));
    if (i % 2 == 0) in[i].mask = quarter_padding(32, static_cast<unsigned>(i));
  }
  const std::uint64_t b0 = 32 * 64 * 4 + 32, b1 = 32 * 64 * 4;
  device_activation_cache<cuda_dense_policy> cache(k, b0 + b1);
  for (const auto& h : in) cache.push(h);
  CHECK(cache.device_batches() == 2);
  CHECK(cache.host_batches() == 3);
  cache.for_each(
      [&](device_hidden_batch<cuda_dense_policy>& b, std::size_t i) {
        CHECK((b.mask_data() != nullptr) == !in[i].mask.empty());
        const float add = static_cast<float>(i + 1);
        thrust::transform(k.exec(), b.states.begin(), b.states.end(), b.states.begin(), plus_const{add});
      },
      true);
  std::size_t n = 0;
  cache.for_each(
      [&](device_hidden_batch<cuda_dense_policy>& b) {
        std::vector<float> got(b.states.size());
        thrust::copy(b.states.begin(), b.states.end(), got.begin());
        for (std::size_t j = 0; j < got.size(); ++j) REQUIRE(got[j] == in[n].states.data()[j] + static_cast<float>(n + 1));
        ++n;
      },
      false);
  CHECK(n == 5);
}

TEST_CASE("Thrust's out-of-memory under cuda_dense_policy::guard is llmc.cuda.105") {
  const cuda_dense_policy k(ctx());
  const std::string e = error_id_of([&] { k.guard("huge buffer", [] { thrust::device_vector<float> v(std::size_t{1} << 60); }); });
  CHECK(e.rfind("llmc.cuda.105 ", 0) == 0);
  CHECK(e.find("huge buffer") != std::string::npos);
  // The context still works afterwards.
  dbuf<float> d(std::vector<float>{4.0f});
  CHECK(dense_kernels<cuda_backend>::cholesky(ctx(), cuda_view<float>(d.data(), 1, 1)) == 0);
  CHECK(d.host()[0] == 2.0f);
}

TEST_CASE("AWQ device blocks on the GPU match the host blocks") {
  const cuda_dense_policy k(ctx());
  constexpr quant_args g32{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
  const std::size_t T = 1000, h = 64, I = 96;
  const auto xv = random_values(T * h, 71);
  const matrix<float> x(T, h, xv);
  const matrix<float> gate(I, h, random_values(I * h, 72)), up(I, h, random_values(I * h, 73)), down(h, I, random_values(h * I, 74));
  // x with a padding row after every 4th real row.
  std::vector<float> padded;
  std::vector<std::uint8_t> mask;
  for (std::size_t r = 0; r < T; ++r) {
    padded.insert(padded.end(), xv.begin() + r * h, xv.begin() + (r + 1) * h);
    mask.push_back(1);
    if (r % 4 == 0) {
      padded.insert(padded.end(), h, 1e6f);
      mask.push_back(0);
    }
  }
  dbuf<float> dx(padded);
  dbuf<std::uint8_t> dm(mask);
  device_samples<cuda_dense_policy> smp(k, h);
  smp.add(matrix_view<const float, cuda_backend>(dx.data(), mask.size(), h), dm.data());
  REQUIRE(smp.rows() == T);
  CHECK(smp.download().storage() == x.storage());
  channel_absmean am;
  am.add(x);
  const auto xm = am.mean();
  const awq<scheme<g32>> a{};
  auto rel = [](const awq_search_result& p, const awq_search_result& q) {
    double m = 0.0;
    for (std::size_t i = 0; i < p.losses.size(); ++i) m = std::max(m, std::fabs(p.losses[i] - q.losses[i]) / p.losses[i]);
    return m;
  };
  const std::array<matrix_view<const float>, 2> mlp{gate.view(), up.view()};
  const std::array<quant_args, 2> args2{g32, g32};
  gated_mlp_block hm(x.view(), gate.view(), up.view(), down.view());
  device_gated_mlp_block<cuda_dense_policy> dmb(k, smp.view(), gate.view(), up.view(), down.view(), "mlp", 300);
  const double e_mlp = rel(a.search(xm, mlp, args2, hm), a.search(xm, mlp, args2, dmb));
  const std::array<matrix_view<const float>, 1> one{gate.view()};
  const std::array<quant_args, 1> args1{g32};
  linear_group_block hl(x.view(), one);
  device_linear_group_block<cuda_dense_policy> dl(k, smp.view(), one);
  const double e_lin = rel(a.search(xm, one, args1, hl), a.search(xm, one, args1, dl));
  std::printf("AWQ device blocks on the GPU: max relative grid-loss difference %.2e (gated MLP), %.2e (Linear, Gram)\n",
              e_mlp, e_lin);
  CHECK(e_mlp < 1e-3);
  CHECK(e_lin < 1e-3);
}
