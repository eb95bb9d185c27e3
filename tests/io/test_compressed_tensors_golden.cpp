// Golden bytes: small hand-built weights per format, quantized and written by
// compressed_checkpoint_writer; the whole model.safetensors (8-byte length, header JSON, data) is
// compared with a file spelled out here from the spec and the compressed-tensors sources:
// packing order and signedness of the int32 words (spec §8.4), legacy vs dense 3-bit packing,
// zero points packed along the output dimension, FP4 nibble order and the -0 code (§8.5),
// E8M0 and FP8 scales, symmetric zero points omitted, tensors sorted by dtype then name.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize_weight.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

/// Little-endian byte builder for the expected data sections.
struct bytes_out {
  std::vector<std::byte> b;
  bytes_out& u8(std::uint32_t v) {
    b.push_back(static_cast<std::byte>(v & 0xFF));
    return *this;
  }
  bytes_out& u16(std::uint32_t v) { return u8(v).u8(v >> 8); }
  bytes_out& u32(std::uint32_t v) { return u16(v & 0xFFFF).u16(v >> 16); }
  bytes_out& i64(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    return u32(static_cast<std::uint32_t>(u)).u32(static_cast<std::uint32_t>(u >> 32));
  }
  bytes_out& f32(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    return u32(u);
  }
};

/// A safetensors file: u64 header length, the header padded with spaces to a multiple of 8, data.
std::vector<std::byte> file_of(std::string header, const std::vector<std::byte>& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  bytes_out o;
  o.i64(static_cast<std::int64_t>(header.size()));
  for (char c : header) o.u8(static_cast<unsigned char>(c));
  o.b.insert(o.b.end(), data.begin(), data.end());
  return o.b;
}

const nlohmann::json tiny_config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}};

/// Writes one quantized module "m" and returns the bytes of model.safetensors.
std::vector<std::byte> write_one(const runtime_scheme& s, const quantized_tensor& q, const activation_qparams& in = {},
                                 const char* version = "0.18",
                                 std::optional<compression_format> forced = std::nullopt) {
  iotest::temp_dir dir;
  ct_writer_options opt;
  opt.version = ct_version::parse(version);
  opt.format = forced;
  compressed_checkpoint_writer w(dir / "out", tiny_config, opt);
  const auto g = w.add_config_group(s);
  w.add_quantized("m", g, q, in);
  const auto r = w.finish();
  REQUIRE(r.files == std::vector<std::string>{"model.safetensors"});
  return iotest::read_bytes(dir.path / "out" / "model.safetensors");
}

template <class T>
matrix<T> mat(std::size_t rows, std::size_t cols, const std::vector<float>& v) {
  REQUIRE(v.size() == rows * cols);
  matrix<T> m(rows, cols);
  for (std::size_t i = 0; i < v.size(); ++i) m.data()[i] = compute_dtype<T>::from_float(v[i]);
  return m;
}

std::vector<int> int_codes(const quantized_tensor& q) {
  std::vector<int> out;
  for (std::size_t r = 0; r < q.rows(); ++r)
    for (std::size_t c = 0; c < q.cols(); ++c) out.push_back(q.int_code(r, c));
  return out;
}

std::string hex(const std::vector<std::byte>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto x : b) {
    s += d[std::to_integer<int>(x) >> 4];
    s += d[std::to_integer<int>(x) & 15];
  }
  return s;
}

}  // namespace

TEST_CASE("golden: int4 symmetric group 8, pack-quantized (fp32)") {
  const runtime_scheme s{.weights = {.num_bits = 4, .strategy = quant_strategy::group, .group_size = 8}};
  // Group absmax 7.5 -> scale 1 (absmax / 7.5); 15 -> scale 2; all zero -> eps 2^-23.
  const auto w = mat<float>(2, 16, {0, 1, 2, 3, 4, 5, 6, 7.5f, -1, -2, -3, -4, -5, -6, -7, -7.5f,
                                    15, -15, 0, 2, 4, 6, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0});
  const auto q = quantize_weight(s, w);
  CHECK(int_codes(q) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, -1, -2, -3, -4, -5, -6, -7, -8,
                                         7, -8, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0});
  // Words: u = q + 8, column 8k+j in bits [4j, 4j+4); top nibble >= 8 makes the int32 negative.
  bytes_out d;
  d.i64(2).i64(16);                                            // m.weight_shape  I64 [2]
  d.f32(1.0f).f32(1.0f).f32(2.0f).f32(0x1p-23f);               // m.weight_scale  F32 [2,2]
  d.u32(0xFEDCBA98u).u32(0x01234567u).u32(0xDCBA980Fu).u32(0x88888888u);  // m.weight_packed I32 [2,2]
  const auto expected = file_of(
      R"({"__metadata__":{"format":"pt"},"m.weight_shape":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("m.weight_scale":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},)"
      R"("m.weight_packed":{"dtype":"I32","shape":[2,2],"data_offsets":[32,48]}})",
      d.b);
  const auto ours = write_one(s, q);
  CHECK(hex(ours) == hex(expected));
  // Signedness: the first word read as int32 is negative.
  std::int32_t first;
  std::memcpy(&first, ours.data() + (ours.size() - 16), 4);
  CHECK(first == -19088744);
}

TEST_CASE("golden: int4 asymmetric group 8, zero points packed along the output dimension (fp32)") {
  const runtime_scheme s{.weights = {.num_bits = 4, .symmetric = false, .strategy = quant_strategy::group,
                                     .group_size = 8, .zp_dtype = qparam_dtype::int8}};
  // scale = (max - min) / 15, zp = -8 - min / scale: [0,15] -> (1, -8); [-15,0] -> (1, 7);
  // [-3,12] -> (1, -5); [-30,0] -> (2, 7).
  const auto w = mat<float>(2, 16, {0, 15, 1, 2, 3, 4, 5, 6, -15, 0, -1, -2, -3, -4, -5, -6,
                                    -3, 12, 0, 1, 2, 3, 4, 5, -30, 0, -2, -4, -6, -8, -10, -12});
  const auto q = quantize_weight(s, w);
  CHECK(int_codes(q) == std::vector<int>{-8, 7, -7, -6, -5, -4, -3, -2, -8, 7, 6, 5, 4, 3, 2, 1,
                                         -8, 7, -5, -4, -3, -2, -1, 0, -8, 7, 6, 5, 4, 3, 2, 1});
  REQUIRE(q.params.zero_point.rows() == 2);
  CHECK(q.params.zero_point(0, 0) == -8);
  CHECK(q.params.zero_point(0, 1) == 7);
  CHECK(q.params.zero_point(1, 0) == -5);
  CHECK(q.params.zero_point(1, 1) == 7);
  bytes_out d;
  d.i64(2).i64(16);
  d.f32(1).f32(1).f32(1).f32(2);
  d.u32(0x654321F0u).u32(0x9ABCDEF0u).u32(0x876543F0u).u32(0x9ABCDEF0u);  // m.weight_packed
  // Zero points [[-8, 7], [-5, 7]] -> u [[0, 15], [3, 15]]; column c packs rows 0,1 into one word.
  d.u32(0x30u).u32(0xFFu);                                                  // m.weight_zero_point I32 [1,2]
  const auto expected = file_of(
      R"({"__metadata__":{"format":"pt"},"m.weight_shape":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("m.weight_scale":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},)"
      R"("m.weight_packed":{"dtype":"I32","shape":[2,2],"data_offsets":[32,48]},)"
      R"("m.weight_zero_point":{"dtype":"I32","shape":[1,2],"data_offsets":[48,56]}})",
      d.b);
  CHECK(hex(write_one(s, q)) == hex(expected));
}

TEST_CASE("golden: W8A8 int-quantized (bf16), no zero points, dynamic inputs store nothing") {
  const auto s = runtime_scheme::from(presets::W8A8{});
  // Channel absmax 127.5 -> scale 1; 255 -> scale 2. x/s rounds half to even: 127.5 -> 128 -> 127.
  const auto w = mat<bfloat16>(2, 4, {127.5f, -1, 2.5f, -3.5f, -255, 0, 64, 1});
  const auto q = quantize_weight(s, w);
  CHECK(int_codes(q) == std::vector<int>{127, -1, 2, -4, -128, 0, 32, 0});
  bytes_out d;
  d.u16(0x3F80).u16(0x4000);                                   // m.weight_scale BF16 [2,1]: 1, 2
  for (int v : {0x7F, 0xFF, 0x02, 0xFC, 0x80, 0x00, 0x20, 0x00}) d.u8(static_cast<std::uint32_t>(v));  // m.weight I8
  const auto expected = file_of(
      R"({"__metadata__":{"format":"pt"},"m.weight_scale":{"dtype":"BF16","shape":[2,1],"data_offsets":[0,4]},)"
      R"("m.weight":{"dtype":"I8","shape":[2,4],"data_offsets":[4,12]}})",
      d.b);
  CHECK(hex(write_one(s, q)) == hex(expected));
}

TEST_CASE("golden: FP8 float-quantized with a static input_scale (fp32)") {
  const auto s = runtime_scheme::from(presets::FP8{});
  // Tensor absmax 448 -> scale 1. E4M3: 448 = 0x7E, -1.5 = 0xBC, 0.1 -> 0.1015625 = 0x1D, 300 -> 288 = 0x79.
  const auto w = mat<float>(1, 4, {448, -1.5f, 0.1f, 300});
  const auto q = quantize_weight(s, w);
  activation_qparams in;
  in.scale = 0.5f;
  bytes_out d;
  d.f32(0.5f);                           // m.input_scale  F32 [1]
  d.f32(1.0f);                           // m.weight_scale F32 [1]
  d.u8(0x7E).u8(0xBC).u8(0x1D).u8(0x79);  // m.weight       F8_E4M3 [1,4]
  const auto expected = file_of(
      R"({"__metadata__":{"format":"pt"},"m.input_scale":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("m.weight_scale":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
      R"("m.weight":{"dtype":"F8_E4M3","shape":[1,4],"data_offsets":[8,12]}})",
      d.b);
  CHECK(hex(write_one(s, q, in)) == hex(expected));
}

namespace {
// Values whose FP4 codes are spelled out below; group 1 also holds -0.1, which rounds to -0 (code 0x8).
const std::vector<float> fp4_group0 = {6, -6, 0.5f, -0.5f, 1, 1.5f, 2, 3, 4, -4, 0, 0.25f, 0.75f, 5, -2.5f, 2.5f};
const std::vector<float> fp4_group1_half = {3, -3, 0.25f, -0.25f, 0.5f, 0.75f, 1, 1.5f, 2, -1, 0, 0, 0, 0, -0.1f, 0.125f};
// Codes (sign << 3 | index in [0, .5, 1, 1.5, 2, 3, 4, 6]), element 2k in the low nibble.
const std::vector<std::uint32_t> fp4_bytes_g0 = {0xF7, 0x91, 0x32, 0x54, 0xE6, 0x00, 0x62, 0x4C};
const std::vector<std::uint32_t> fp4_bytes_g1 = {0xF7, 0x91, 0x32, 0x54, 0xC6, 0x00, 0x00, 0x08};
}  // namespace

TEST_CASE("golden: NVFP4 nvfp4-pack-quantized, global scale stored as 448*6/absmax") {
  // absmax 6 -> weight_global_scale 448; group scales fp8(448 * 6/6) = 448 (0x7E) and
  // fp8(448 * 3/6) = 224 (0x76); dequantization divides them by the global scale: 1 and 0.5.
  std::vector<float> v = fp4_group0;
  v.insert(v.end(), fp4_group1_half.begin(), fp4_group1_half.end());
  const auto w = mat<float>(1, 32, v);
  for (const bool with_input : {false, true}) {
    INFO("NVFP4 with input: " << with_input);
    const auto s = with_input ? runtime_scheme::from(presets::NVFP4{}) : runtime_scheme::from(presets::NVFP4A16{});
    const auto q = quantize_weight(s, w);
    CHECK(q.params.global_scale == 448.0f);
    activation_qparams in;
    if (with_input) in.global_scale = 268.8f;
    bytes_out d;
    std::string header = R"({"__metadata__":{"format":"pt"},)";
    if (with_input) {
      d.f32(268.8f);
      header += R"("m.input_global_scale":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)";
    }
    const int o = with_input ? 4 : 0;
    d.f32(448.0f);                                         // m.weight_global_scale F32 [1]
    d.u8(0x7E).u8(0x76);                                   // m.weight_scale F8_E4M3 [1,2]
    for (auto b : fp4_bytes_g0) d.u8(b);                   // m.weight_packed U8 [1,16]
    for (auto b : fp4_bytes_g1) d.u8(b);
    header += R"("m.weight_global_scale":{"dtype":"F32","shape":[1],"data_offsets":[)" + std::to_string(o) + "," +
              std::to_string(o + 4) + "]}," + R"("m.weight_scale":{"dtype":"F8_E4M3","shape":[1,2],"data_offsets":[)" +
              std::to_string(o + 4) + "," + std::to_string(o + 6) + "]}," +
              R"("m.weight_packed":{"dtype":"U8","shape":[1,16],"data_offsets":[)" + std::to_string(o + 6) + "," +
              std::to_string(o + 22) + "]}}";
    CHECK(hex(write_one(s, q, in)) == hex(file_of(header, d.b)));
  }
}

TEST_CASE("golden: MXFP4 mxfp4-pack-quantized, E8M0 scale byte") {
  // One group of 32 with absmax 12: 12 = 1.5 * 2^3 rounds to 2^3, exponent 127 + 3 - 2 = 128 (scale 2).
  std::vector<float> v;
  for (float x : fp4_group0) v.push_back(2 * x);
  for (float x : fp4_group1_half) v.push_back(4 * x);
  const auto w = mat<float>(1, 32, v);
  const auto s = runtime_scheme::from(presets::MXFP4A16{});
  const auto q = quantize_weight(s, w);
  CHECK(q.params.scale(0, 0) == 2.0f);
  bytes_out d;
  for (auto b : fp4_bytes_g0) d.u8(b);  // m.weight_packed U8 [1,16]
  for (auto b : fp4_bytes_g1) d.u8(b);
  d.u8(0x80);                           // m.weight_scale U8 [1,1]
  const auto expected = file_of(
      R"({"__metadata__":{"format":"pt"},"m.weight_packed":{"dtype":"U8","shape":[1,16],"data_offsets":[0,16]},)"
      R"("m.weight_scale":{"dtype":"U8","shape":[1,1],"data_offsets":[16,17]}})",
      d.b);
  CHECK(hex(write_one(s, q)) == hex(expected));
}

TEST_CASE("golden: 3-bit weights by release: naive (0.12), per-word packing (0.12 forced, 0.17), dense (0.18)") {
  const runtime_scheme s{.weights = {.num_bits = 3, .strategy = quant_strategy::group, .group_size = 16}};
  // absmax 3.5 -> scale 1; q in [-4, 3]; u = q + 4 = 0 1 2 3 4 5 6 7 7 0 4 4 5 5 3 3.
  const auto w = mat<float>(1, 16, {-3.5f, -3, -2, -1, 0, 1, 2, 3, 3.5f, -3.5f, 0, 0, 1, 1, -1, -1});
  const auto q = quantize_weight(s, w);
  CHECK(int_codes(q) == std::vector<int>{-4, -3, -2, -1, 0, 1, 2, 3, 3, -4, 0, 0, 1, 1, -1, -1});

  SUBCASE("0.12 infers naive-quantized: int8 codes, unpacked") {
    bytes_out d;
    d.f32(1.0f);
    for (int c : int_codes(q)) d.u8(static_cast<std::uint32_t>(c) & 0xFF);
    const auto expected = file_of(
        R"({"__metadata__":{"format":"pt"},"m.weight_scale":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},)"
        R"("m.weight":{"dtype":"I8","shape":[1,16],"data_offsets":[4,20]}})",
        d.b);
    CHECK(hex(write_one(s, q, {}, "0.12")) == hex(expected));
  }
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"m.weight_shape":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("m.weight_scale":{"dtype":"F32","shape":[1,1],"data_offsets":[16,20]},)"
      R"("m.weight_packed":{"dtype":"I32","shape":[1,2],"data_offsets":[20,28]}})";
  SUBCASE("0.12 with pack-quantized forced: 10 values per word, the top 2 bits unused") {
    bytes_out d;
    d.i64(1).i64(16).f32(1.0f);
    d.u32(0x07FAC688u).u32(0x0001BB64u);  // values 0-9 at 3j; values 10-15 at 3j of word 1
    CHECK(hex(write_one(s, q, {}, "0.12", compression_format::pack_quantized)) == hex(file_of(header, d.b)));
  }
  SUBCASE("0.17 infers pack-quantized for 3 bits but still packs per word") {
    bytes_out d;
    d.i64(1).i64(16).f32(1.0f);
    d.u32(0x07FAC688u).u32(0x0001BB64u);
    CHECK(hex(write_one(s, q, {}, "0.17")) == hex(file_of(header, d.b)));
  }
  SUBCASE("0.18 packs densely: value i at bits [3i, 3i+3), value 10 spans both words") {
    bytes_out d;
    d.i64(1).i64(16).f32(1.0f);
    d.u32(0x07FAC688u).u32(0x00006ED9u);
    CHECK(hex(write_one(s, q, {}, "0.18")) == hex(file_of(header, d.b)));
  }
}
