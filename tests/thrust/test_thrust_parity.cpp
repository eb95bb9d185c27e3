// Parity of the Thrust device backend (include/llmc/backend/thrust) with the CPU backend.
//
// Typed over every preset of scheme/presets.hpp and custom schemes that cover the remaining
// strategies and bit widths (tensor, channel, group with partial last groups, block with partial
// blocks, tensor_group, MX, 2..8 bits, asymmetric), in float, bfloat16 and float16: the device
// results (codes, scales, zero points, global scale, g_idx, packed words, dequantized values, input
// activation quantization, fake quantization) must be bit-identical to the host's, on random
// weights with outlier columns, adversarial matrices (exact .5 ties, zero rows, tiny and huge
// NaN-free values) and non-contiguous device views (padded blocks, transposes). The SmoothQuant /
// AWQ statistics are compared with method/channel_stats.hpp the same way.
// This file is compiled three times: g++ with THRUST_DEVICE_SYSTEM=CPP, g++ with =OMP, and nvcc for
// CUDA (test_thrust_parity.cu), where it runs only on a machine with a GPU.
#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "llmc/backend/thrust.hpp"
#include "llmc/method/channel_stats.hpp"
#include "llmc/scheme.hpp"
#include "llmc/tensor.hpp"
#include "support/error_id.hpp"

using namespace llmc;

namespace {

// ---- schemes beyond the presets: every strategy and the odd bit widths of dense packing ----------
using INT8_TENSOR_ASYM = scheme<quant_args{.num_bits = 8, .symmetric = false, .strategy = quant_strategy::tensor}>;
using INT2_TENSOR = scheme<quant_args{.num_bits = 2, .strategy = quant_strategy::tensor}>;
using INT4_CHANNEL_ASYM = scheme<quant_args{.num_bits = 4, .symmetric = false, .strategy = quant_strategy::channel}>;
using INT7_CHANNEL = scheme<quant_args{.num_bits = 7, .strategy = quant_strategy::channel}>;
using INT3_GROUP32_ASYM =
    scheme<quant_args{.num_bits = 3, .symmetric = false, .strategy = quant_strategy::group, .group_size = 32}>;
using INT5_GROUP24 = scheme<quant_args{.num_bits = 5, .strategy = quant_strategy::group, .group_size = 24}>;
using INT6_BLOCK_ASYM = scheme<quant_args{.num_bits = 6, .symmetric = false, .strategy = quant_strategy::block,
                                          .block_rows = 8, .block_cols = 16}>;
using FP8_GROUP32 = scheme<quant_args{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::group, .group_size = 32}>;
using FP8_BLOCK_SMALL = scheme<quant_args{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::block,
                                          .block_rows = 16, .block_cols = 32}>;

// ---- comparison helpers ----------------------------------------------------------------------------
template <class T>
std::vector<unsigned char> bytes_of(const T* p, std::size_t n) {
  std::vector<unsigned char> b(n * sizeof(T));
  if (n != 0) std::memcpy(b.data(), p, b.size());
  return b;
}
template <class T>
std::vector<unsigned char> bytes_of(const matrix<T>& m) {
  return bytes_of(m.data(), m.size());
}
/// Index of the first differing byte, or -1.
long first_difference(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
  if (a.size() != b.size()) return -2;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return static_cast<long>(i);
  return -1;
}
#define CHECK_SAME_BYTES(a, b) CHECK(first_difference(bytes_of(a), bytes_of(b)) == -1)

void check_same(const quantized_tensor& host, const quantized_tensor& dev) {
  CHECK(dev.args == host.args);
  CHECK(dev.model_dtype == host.model_dtype);
  CHECK(dev.params.layout.strategy == host.params.layout.strategy);
  CHECK(dev.params.layout.slot_rows == host.params.layout.slot_rows);
  CHECK(dev.params.layout.slot_cols == host.params.layout.slot_cols);
  CHECK(dev.params.layout.group == host.params.layout.group);
  CHECK(dev.params.layout.block_height == host.params.layout.block_height);
  CHECK(std::bit_cast<std::uint32_t>(dev.params.global_scale) == std::bit_cast<std::uint32_t>(host.params.global_scale));
  CHECK(dev.params.scale.rows() == host.params.scale.rows());
  CHECK(dev.params.scale.cols() == host.params.scale.cols());
  CHECK_SAME_BYTES(dev.params.scale, host.params.scale);
  CHECK(dev.params.zero_point == host.params.zero_point);
  CHECK(dev.codes.rows() == host.codes.rows());
  CHECK(dev.codes.cols() == host.codes.cols());
  CHECK(first_difference(bytes_of(dev.codes), bytes_of(host.codes)) == -1);
  CHECK(dev.g_idx == host.g_idx);
}

/// Packed words and dequantized values of a host and a device result of the same tensor.
template <class T>
void check_outputs(const quantized_tensor& host, const device_quantized_tensor& dev) {
  if (host.args.is_int()) {
    CHECK_SAME_BYTES(pack_int_codes(dev).to_host(), pack_int_codes(host));
    CHECK_SAME_BYTES(pack_int_codes(dev, int_packing::legacy_per_word).to_host(),
                     pack_int_codes(host, int_packing::legacy_per_word));
    if (!host.params.zero_point.empty()) {
      CHECK_SAME_BYTES(pack_zero_points(dev).to_host(), pack_zero_points(host));
      CHECK_SAME_BYTES(pack_zero_points(dev, int_packing::legacy_per_word).to_host(),
                       pack_zero_points(host, int_packing::legacy_per_word));
    }
  }
  if (host.args.is_fp4() && host.cols() % 2 == 0) CHECK_SAME_BYTES(pack_fp4_codes(dev).to_host(), pack_fp4_codes(host));
  CHECK_SAME_BYTES(dequantize<T>(dev).to_host(), dequantize<T>(host));
}

// ---- test matrices ---------------------------------------------------------------------------------
template <class T>
float max_magnitude() {
  // A quarter of the largest finite value: max - min and every scale stay finite (no NaN anywhere).
  if constexpr (std::is_same_v<T, bfloat16>) return bfloat16::max_finite / 4.0f;
  else if constexpr (std::is_same_v<T, float16>) return float16::max_finite / 4.0f;
  else return 0x1p126f;
}
template <class T>
float tiny() {
  if constexpr (std::is_same_v<T, float16>) return 0x1p-24f;  // the smallest float16 subnormal
  else if constexpr (std::is_same_v<T, bfloat16>) return 0x1p-133f;
  else return 0x1p-149f;
}

template <class T>
matrix<T> to_dtype(const matrix<float>& m) {
  return matrix<T>::from(m, [](float x) { return T(x); });
}

matrix<float> random_matrix(std::size_t rows, std::size_t cols, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  matrix<float> m(rows, cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) m(r, c) = d(gen) * ((c % 17 == 3) ? 40.0f : 1.0f);
  return m;
}

/// Rows that hit the rounding ties of every format, zero rows, constant rows and extremes.
template <class T>
matrix<float> adversarial_matrix(std::size_t rows, std::size_t cols) {
  std::mt19937 gen(7);
  matrix<float> m(rows, cols);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      const auto k = static_cast<int>(gen() % 16u) - 8;  // -8..7
      float v = 0.0f;
      switch (r % 8) {
        case 0: v = static_cast<float>(k) + 0.5f; if (c % 16 == 0) v = 7.5f; break;        // int4: scale 1, every x is a tie
        case 1: v = static_cast<float>(16 * k) + 0.5f; if (c % 16 == 0) v = 127.5f; break;  // int8 ties
        case 2: v = 0.0f; break;                                                              // zero row
        case 3: v = (c % 2 ? 1.0f : -1.0f) * (1.0f + 0.0625f * static_cast<float>(c % 8)); if (c % 16 == 0) v = 448.0f; break;  // e4m3 ties
        case 4: v = max_magnitude<T>() * (c % 3 == 0 ? -1.0f : 0.75f); break;                 // huge, finite
        case 5: v = tiny<T>() * static_cast<float>(k); break;                                 // subnormal
        case 6: v = 0.25f * static_cast<float>(k) + 0.125f; if (c % 16 == 0) v = 6.0f; break;  // e2m1 ties
        default: v = -3.0f; break;                                                            // constant negative
      }
      m(r, c) = v;
    }
  }
  return m;
}

/// A device matrix embedded in a larger one: the returned view has row stride cols + 5, offset (2, 4).
template <class T>
struct padded_device {
  thrust_matrix<T> big;
  matrix<T> host_big;
  padded_device(const matrix<T>& m) : host_big(m.rows() + 3, m.cols() + 5, T(-99.0f)) {
    for (std::size_t r = 0; r < m.rows(); ++r)
      for (std::size_t c = 0; c < m.cols(); ++c) host_big(r + 2, c + 4) = m(r, c);
    big = thrust_matrix<T>::from_host(host_big);
  }
  matrix_view<const T, cuda_backend> device(std::size_t rows, std::size_t cols) const {
    return std::as_const(big).view().block(2, 4, rows, cols);
  }
  matrix_view<const T> host(std::size_t rows, std::size_t cols) const { return host_big.view().block(2, 4, rows, cols); }
};

/// The transpose of a device matrix stored column-major: col_stride != 1.
template <class T>
struct transposed_device {
  thrust_matrix<T> t;
  matrix<T> host_t;
  explicit transposed_device(const matrix<T>& m) : host_t(m.cols(), m.rows()) {
    for (std::size_t r = 0; r < m.rows(); ++r)
      for (std::size_t c = 0; c < m.cols(); ++c) host_t(c, r) = m(r, c);
    t = thrust_matrix<T>::from_host(host_t);
  }
  matrix_view<const T, cuda_backend> device() const { return std::as_const(t).view().transposed(); }
  matrix_view<const T> host() const { return host_t.view().transposed(); }
};

// ---- one scheme, one dtype -------------------------------------------------------------------------
// The scheme is a runtime_scheme here (the same quantize_weight overloads accept it), so the heavy
// checking code is instantiated once per dtype, not once per preset: it keeps the nvcc build short.
template <class T, class HostM, class DevM>
void check_weight(const runtime_scheme& s, const HostM& host_w, const DevM& dev_w) {
  static_assert(device_matrix<DevM> && host_matrix<HostM>);
  const quantized_tensor host = quantize_weight(s, host_w);
  const device_quantized_tensor dev = quantize_weight(s, dev_w);
  check_same(host, dev.to_host());
  check_outputs<T>(host, dev);
  // weight_qparams alone, and the qparams path (quantize with given qparams).
  const qparams hp = weight_qparams(s.weights, host_w);
  const device_qparams dp = weight_qparams(s.weights, dev_w);
  CHECK_SAME_BYTES(dp.to_host().scale, hp.scale);
  CHECK(dp.to_host().zero_point == hp.zero_point);
  CHECK(std::bit_cast<std::uint32_t>(dp.global_scale) == std::bit_cast<std::uint32_t>(hp.global_scale));
}

template <class T>
void check_scheme_dtype(const runtime_scheme& s) {
  const quant_args w = s.weights;
  const bool fp4 = w.is_fp4();
  // Partial last groups for g = 16, 32, 128 (264 = 2*128 + 8) and partial 128x128 blocks (136 rows).
  const std::size_t rows = w.strategy == quant_strategy::block ? 136 : 21, cols = 264;
  INFO("scheme weights: ", to_string(w.type), w.num_bits, " ", to_string(w.strategy), " g", w.group_size,
       " dtype bytes ", sizeof(T));
  {
    const matrix<T> m = to_dtype<T>(random_matrix(rows, cols, 11));
    const auto d = thrust_matrix<T>::from_host(m);
    INFO("random weights, contiguous");
    check_weight<T>(s, m, d);
    // A shared NVFP4 global scale is honoured as on the host.
    if (w.strategy == quant_strategy::tensor_group) {
      const quantized_tensor host = quantize_weight(s, m, 1234.5f);
      const device_quantized_tensor dev = quantize_weight(s, d, 1234.5f);
      CHECK(dev.params.global_scale == 1234.5f);
      check_same(host, dev.to_host());
    }
    // quantize_weight_into reuses the code buffer of the same shape and gives the fresh result.
    device_quantized_tensor out = quantize_weight(s, thrust_matrix<T>::from_host(to_dtype<T>(random_matrix(rows, cols, 12))));
    const std::uint8_t* codes_before = out.codes.data();
    quantize_weight_into(out, s, d);
    CHECK(out.codes.data() == codes_before);
    check_same(quantize_weight(s, m), out.to_host());
  }
  {
    const matrix<T> m = to_dtype<T>(adversarial_matrix<T>(16, fp4 ? 48 : 47));
    INFO("adversarial weights");
    check_weight<T>(s, m, thrust_matrix<T>::from_host(m));
  }
  {
    const matrix<T> m = to_dtype<T>(random_matrix(rows, 72, 13));
    const padded_device<T> p(m);
    INFO("padded (row stride cols + 5) device view");
    check_weight<T>(s, p.host(rows, 72), p.device(rows, 72));
    const transposed_device<T> t(m);
    INFO("transposed device view (col stride = rows)");
    check_weight<T>(s, t.host(), t.device());
  }
  // Input activations with the scheme's own args (dynamic per token / group, static tensor, NVFP4 local).
  const quant_args a = s.input_activations;
  if (a.enabled()) {
    const matrix<T> x = to_dtype<T>(random_matrix(19, 256, 21));
    auto dx = thrust_matrix<T>::from_host(x);
    const qparams hp = minmax_qparams(a, x);
    const device_qparams dp = minmax_qparams(a, dx);
    INFO("input activations");
    const quantized_tensor host = quantize(a, x, hp);
    const device_quantized_tensor dev = quantize(a, dx, dp);
    check_same(host, dev.to_host());
    CHECK_SAME_BYTES(dequantize<T>(dev).to_host(), dequantize<T>(host));
    matrix<T> hx = x;
    fake_quantize(a, hx, hp);
    fake_quantize(a, dx, dp);
    CHECK_SAME_BYTES(dx.to_host(), hx);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("thrust backend: quantize_weight, qparams, pack, dequantize and activations match the CPU backend bit for bit",
                   S, presets::W8A8, presets::W8A16, presets::W8A16_CHANNEL, presets::W4A16, presets::W4A16_ASYM,
                   presets::W4A8, presets::FP8, presets::FP8_DYNAMIC, presets::FP8_BLOCK, presets::NVFP4A16, presets::NVFP4,
                   presets::MXFP4A16, presets::MXFP4, INT8_TENSOR_ASYM, INT2_TENSOR, INT4_CHANNEL_ASYM, INT7_CHANNEL,
                   INT3_GROUP32_ASYM, INT5_GROUP24, INT6_BLOCK_ASYM, FP8_GROUP32, FP8_BLOCK_SMALL) {
  // The call site with the compile-time scheme: a device matrix selects the device overload, unchanged.
  const matrix<bfloat16> m = to_dtype<bfloat16>(random_matrix(9, 64, 1));
  const auto d = thrust_matrix<bfloat16>::from_host(m);
  static_assert(std::is_same_v<decltype(quantize_weight(S{}, d)), device_quantized_tensor>);
  check_same(quantize_weight(S{}, m), quantize_weight(S{}, d).to_host());
  const runtime_scheme s = runtime_scheme::from(S{});
  check_scheme_dtype<float>(s);
  check_scheme_dtype<bfloat16>(s);
  check_scheme_dtype<float16>(s);
}

TEST_CASE("thrust backend: known codes, not only agreement (W4A16-style channel, int4 ties round to even)") {
  // Row absmax 7.5 -> scale 7.5 / 7.5 = 1; x = k + 0.5 rounds half to even; -8.5 clamps to -8.
  const matrix<float> m(1, 8, std::vector<float>{7.5f, -0.5f, 0.5f, 1.5f, 2.5f, -2.5f, -7.5f, 3.0f});
  using S = scheme<quant_args{.num_bits = 4, .strategy = quant_strategy::channel}>;
  const quantized_tensor q = quantize_weight(S{}, thrust_matrix<float>::from_host(m)).to_host();
  CHECK(q.params.scale(0, 0) == 1.0f);
  const std::vector<int> expect = {7, 0, 0, 2, 2, -2, -8, 3};
  for (std::size_t c = 0; c < 8; ++c) CHECK(q.int_code(0, c) == expect[c]);
  // Dense int4 packing: u = q + 8 per nibble, value 0 in the low nibble.
  const matrix<std::int32_t> words = pack_int_codes(to_device(q)).to_host();
  REQUIRE(words.cols() == 1);
  CHECK(static_cast<std::uint32_t>(words(0, 0)) == 0xB06AA88Fu);
}

TEST_CASE("thrust backend: actorder=group (g_idx) quantize, qparams, dequantize and pack match the host") {
  const quant_args a{.num_bits = 4, .symmetric = false, .strategy = quant_strategy::group, .group_size = 32,
                     .actorder = act_order::group, .zp_dtype = qparam_dtype::int8};
  const std::size_t rows = 24, cols = 200;  // 7 groups, the last one partial
  const matrix<bfloat16> w = to_dtype<bfloat16>(random_matrix(rows, cols, 5));
  std::vector<std::int32_t> g_idx(cols);
  std::mt19937 gen(3);
  for (std::size_t c = 0; c < cols; ++c) g_idx[c] = static_cast<std::int32_t>(gen() % 7u);
  const auto d = thrust_matrix<bfloat16>::from_host(w);
  const qparams hp = minmax_qparams(a, w, 0.0f, g_idx);
  const device_qparams dp = minmax_qparams(a, d, 0.0f, g_idx);
  CHECK_SAME_BYTES(dp.to_host().scale, hp.scale);
  CHECK(dp.to_host().zero_point == hp.zero_point);
  const quantized_tensor host = quantize(a, w, hp, g_idx);
  const device_quantized_tensor dev = quantize(a, d, dp, g_idx);
  check_same(host, dev.to_host());
  check_outputs<bfloat16>(host, dev);
  // to_device(host) gives the same downstream results as the device-made tensor.
  check_outputs<bfloat16>(host, to_device(host));
}

namespace {
// A user's own device tensor that opts in through the traits seam (column-major, say).
struct my_device_tensor {
  const float* device_ptr;
  std::size_t n_rows, n_cols;
};
// An mdspan-like view of device memory: it says so with `backend`.
struct my_device_mdspan {
  using backend = cuda_backend;
  const float* p;
  std::size_t r, c;
  static constexpr std::size_t rank() { return 2; }
  std::size_t extent(std::size_t i) const { return i == 0 ? r : c; }
  std::size_t stride(std::size_t i) const { return i == 0 ? c : 1; }
  const float* data_handle() const { return p; }
};
}  // namespace

template <>
struct llmc::tensor_traits<my_device_tensor> {
  using value_type = const float;
  using backend = cuda_backend;
  static const float* data(const my_device_tensor& t) { return t.device_ptr; }
  static std::size_t rows(const my_device_tensor& t) { return t.n_rows; }
  static std::size_t cols(const my_device_tensor& t) { return t.n_cols; }
  static std::ptrdiff_t row_stride(const my_device_tensor&) { return 1; }
  static std::ptrdiff_t col_stride(const my_device_tensor& t) { return static_cast<std::ptrdiff_t>(t.n_rows); }
};

TEST_CASE("thrust backend: every device adapter (raw pointer view, device_vector, mdspan-like, user type) selects the device path") {
  static_assert(device_matrix<thrust_matrix<float>> && device_matrix<matrix_view<float, cuda_backend>> &&
                device_matrix<my_device_tensor> && device_matrix<my_device_mdspan>);
  static_assert(!host_matrix<my_device_mdspan> && !device_matrix<matrix<float>>);
  const std::size_t rows = 12, cols = 64;
  const matrix<float> w = random_matrix(rows, cols, 9);
  const quantized_tensor expect = quantize_weight(presets::W4A16_ASYM{}, w);
  const auto dm = thrust_matrix<float>::from_host(w);
  // A raw device pointer with extents.
  const matrix_view<const float, cuda_backend> raw(dm.data(), rows, cols);
  check_same(expect, quantize_weight(presets::W4A16_ASYM{}, raw).to_host());
  // A thrust::device_vector viewed as a matrix.
  const thrust::device_vector<float> vec(w.data(), w.data() + w.size());
  check_same(expect, quantize_weight(presets::W4A16_ASYM{}, device_view(vec, rows, cols)).to_host());
  CHECK(test_support::error_id([&] { (void)device_view(vec, rows + 1, cols); }) == "llmc.tensor.020");
  // mdspan-like device view.
  check_same(expect, quantize_weight(presets::W4A16_ASYM{}, my_device_mdspan{dm.data(), rows, cols}).to_host());
  // The user's column-major device tensor.
  matrix<float> col_major(cols, rows);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) col_major(c, r) = w(r, c);
  const auto dcm = thrust_matrix<float>::from_host(col_major);
  check_same(expect, quantize_weight(presets::W4A16_ASYM{}, my_device_tensor{dcm.data(), rows, cols}).to_host());
  // Round trip of the owning matrix.
  CHECK(dm.to_host() == w);
}

TEST_CASE("thrust backend: errors carry the host's ids") {
  const matrix<float> w = random_matrix(4, 64, 1);
  auto d = thrust_matrix<float>::from_host(w);
  const quant_args g{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32};
  const device_qparams p = minmax_qparams(g, d);
  const thrust_matrix<float> other(5, 64);
  CHECK(test_support::error_id([&] { (void)quantize(g, other, device_qparams::from_host(p.to_host())); }) == "llmc.scheme.004");
  const std::vector<std::int32_t> short_idx(10, 0), bad_idx(64, 2);
  CHECK(test_support::error_id([&] { (void)quantize(g, d, device_qparams::from_host(p.to_host()), short_idx); }) == "llmc.scheme.005");
  CHECK(test_support::error_id([&] { (void)quantize(g, d, device_qparams::from_host(p.to_host()), bad_idx); }) == "llmc.scheme.006");
  const quant_args invalid{.num_bits = 4, .strategy = quant_strategy::group};  // group_size 0
  CHECK(test_support::error_id([&] { (void)minmax_qparams(invalid, d); }) == "llmc.scheme.001");
  using MSE = scheme<quant_args{.num_bits = 4, .strategy = quant_strategy::channel, .observer = observer_kind::mse}>;
  CHECK(test_support::error_id([&] { (void)quantize_weight(MSE{}, d); }) == "llmc.backend.101");
  const device_quantized_tensor fp8 = quantize_weight(presets::FP8_DYNAMIC{}, d);
  CHECK(test_support::error_id([&] { (void)pack_int_codes(fp8); }) == "llmc.scheme.020");
  CHECK(test_support::error_id([&] { (void)pack_fp4_codes(fp8); }) == "llmc.scheme.024");
  CHECK(test_support::error_id([&] { (void)pack_zero_points(quantize_weight(presets::W4A16{}, d)); }) == "llmc.scheme.021");
  const auto odd = thrust_matrix<float>::from_host(random_matrix(4, 33, 2));
  CHECK(test_support::error_id([&] { (void)pack_fp4_codes(quantize_weight(presets::NVFP4A16{}, odd)); }) == "llmc.scheme.025");
  thrust_matrix<float> wrong(4, 63);
  CHECK(test_support::error_id([&] { dequantize_into(quantize_weight(presets::W4A16{}, d), wrong); }) == "llmc.scheme.007");
  device_qparams truncated = device_qparams::from_host(p.to_host());
  truncated.scale.resize(1);
  CHECK(test_support::error_id([&] { (void)quantize(g, d, std::move(truncated)); }) == "llmc.backend.102");
}

namespace {
template <class T>
void check_channel_stats() {
  const std::size_t channels = 96;
  channel_minmax hmm, hmm2;
  channel_absmean habs, habs2;
  device_channel_minmax dmm, dmm2;
  device_channel_absmean dabs, dabs2;
  for (std::uint32_t b = 0; b < 3; ++b) {
    const matrix<T> x = to_dtype<T>(random_matrix(17 + b, channels, 40 + b));
    const auto dx = thrust_matrix<T>::from_host(x);
    std::vector<std::uint8_t> mask(x.rows(), 1);
    for (std::size_t r = 0; r < mask.size(); r += 3) mask[r] = 0;
    const std::span<const std::uint8_t> m = b == 1 ? std::span<const std::uint8_t>{} : std::span<const std::uint8_t>(mask);
    hmm.add(x, m);
    dmm.add(dx, m);
    habs.add(x, m);
    dabs.add(dx, m);
  }
  // A strided (transposed) device batch into a second collector, then merged.
  const matrix<T> y = to_dtype<T>(random_matrix(23, channels, 50));
  const transposed_device<T> ty(y);
  hmm2.add(ty.host());
  dmm2.add(ty.device());
  habs2.add(ty.host());
  dabs2.add(ty.device());
  hmm.merge(hmm2);
  dmm.merge(dmm2);
  habs.merge(habs2);
  dabs.merge(dabs2);
  CHECK(dmm.tokens() == hmm.tokens());
  CHECK(dabs.tokens() == habs.tokens());
  const std::vector<float> hmin(hmm.min().begin(), hmm.min().end()), hmax(hmm.max().begin(), hmm.max().end());
  CHECK(first_difference(bytes_of(dmm.min().data(), channels), bytes_of(hmin.data(), channels)) == -1);
  CHECK(first_difference(bytes_of(dmm.max().data(), channels), bytes_of(hmax.data(), channels)) == -1);
  CHECK(dmm.range() == hmm.range());
  CHECK(dmm.absmax() == hmm.absmax());
  const std::vector<double> hsum(habs.sum().begin(), habs.sum().end());
  CHECK(first_difference(bytes_of(dabs.sum().data(), channels), bytes_of(hsum.data(), channels)) == -1);
  CHECK(dabs.mean() == habs.mean());
  // A smoothing transform divides channel j by s_j.
  std::vector<float> s(channels);
  for (std::size_t c = 0; c < channels; ++c) s[c] = 0.37f + 0.01f * static_cast<float>(c);
  hmm.rescale(s);
  dmm.rescale(s);
  habs.rescale(s);
  dabs.rescale(s);
  const std::vector<float> hmin2(hmm.min().begin(), hmm.min().end());
  CHECK(first_difference(bytes_of(dmm.min().data(), channels), bytes_of(hmin2.data(), channels)) == -1);
  CHECK(dabs.mean() == habs.mean());
  CHECK(hmm.min()[5] < hmm.max()[5]);  // the data is not degenerate
}
}  // namespace

TEST_CASE("thrust backend: SmoothQuant / AWQ channel statistics match method/channel_stats.hpp bit for bit") {
  check_channel_stats<float>();
  check_channel_stats<bfloat16>();
  check_channel_stats<float16>();
  device_channel_minmax d;
  d.add(thrust_matrix<float>(3, 8));
  CHECK(test_support::error_id([&] { d.add(thrust_matrix<float>(3, 9)); }) == "llmc.method.001");
  const std::vector<std::uint8_t> mask(2, 1);
  CHECK(test_support::error_id([&] { d.add(thrust_matrix<float>(3, 8), mask); }) == "llmc.method.002");
  CHECK(test_support::error_id([] { (void)device_channel_absmean(4).mean(); }) == "llmc.method.003");
}
