// The safetensors reader on the real fixtures, typed views, conversions, paging.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "io_test_util.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/io/safetensors_writer.hpp"

using namespace llmc;
using iotest::fixtures;

namespace {

std::vector<std::pair<std::string, std::vector<std::int64_t>>> stories_tensors() {
  // Names and shapes from shared/fixtures/README.md (stories260k: dim 64, hidden 172, 5 layers,
  // 8 heads, 4 kv heads, head_dim 8, vocab 512).
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> t;
  t.push_back({"model.embed_tokens.weight", {512, 64}});
  for (int i = 0; i < 5; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.push_back({p + "input_layernorm.weight", {64}});
    t.push_back({p + "self_attn.q_proj.weight", {64, 64}});
    t.push_back({p + "self_attn.k_proj.weight", {32, 64}});
    t.push_back({p + "self_attn.v_proj.weight", {32, 64}});
    t.push_back({p + "self_attn.o_proj.weight", {64, 64}});
    t.push_back({p + "post_attention_layernorm.weight", {64}});
    t.push_back({p + "mlp.gate_proj.weight", {172, 64}});
    t.push_back({p + "mlp.up_proj.weight", {172, 64}});
    t.push_back({p + "mlp.down_proj.weight", {64, 172}});
  }
  t.push_back({"model.norm.weight", {64}});
  t.push_back({"lm_head.weight", {512, 64}});
  return t;
}

double sequential_sum(std::span<const float> v) {
  double s = 0;
  for (float x : v) s += x;
  return s;
}

#if defined(__linux__)
/// Resident pages of this process (second field of /proc/self/statm) in bytes.
std::int64_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}
#endif

}  // namespace

TEST_CASE("stories260k fp32 fixture: 48 tensors with the README's names, dtypes and shapes") {
  auto f = safetensors_file::open(fixtures / "models/stories260k/model.safetensors");
  CHECK(f.file_size() == 1176144);
  CHECK(f.header().header_length == 4936);
  CHECK(f.size() == 48);
  CHECK(f.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
  const auto expected = stories_tensors();
  std::set<std::string> names;
  for (const auto& [name, shape] : expected) {
    INFO(name);
    REQUIRE(f.contains(name));
    const auto& info = f.info(name);
    CHECK(info.dtype == dtype::f32);
    CHECK(info.shape == shape);
    CHECK(info.nbytes() == info.numel() * 4);
    names.insert(name);
  }
  CHECK(names.size() == 48);
  // names() is in data order: embed first, lm_head last (README: "in the order embed, the layers, norm, lm_head").
  const auto order = f.names();
  CHECK(order.front() == "model.embed_tokens.weight");
  CHECK(order.back() == "lm_head.weight");
  // 260,032 distinct parameters + the 32,768 of the explicit lm_head copy.
  std::uint64_t params = 0;
  for (const auto& n : order) params += f.info(n).numel();
  CHECK(params == 260032 + 32768);
}

TEST_CASE("stories260k fp32 fixture: values") {
  auto f = safetensors_file::open(fixtures / "models/stories260k/model.safetensors");
  // Checksums computed once with Python (struct + json, standard library): FNV-1a 64 over the raw
  // tensor bytes, and the float64 sum of the float32 values in storage order.
  const auto emb = f.tensor("model.embed_tokens.weight");
  CHECK(iotest::fnv1a64(emb.bytes) == 0x92105060e9e7c6f6ULL);
  auto e = emb.as<float>();
  CHECK(e.borrowed());
  CHECK(e.size() == 32768);
  CHECK(sequential_sum(e.span()) == doctest::Approx(-752.3677446640068).epsilon(1e-12));
  CHECK(e[0] == -0.29474878311157227f);
  CHECK(e[1] == 0.5618956089019775f);
  CHECK(e[2] == 0.1754225343465805f);
  const auto down = f.tensor("model.layers.4.mlp.down_proj.weight");
  CHECK(iotest::fnv1a64(down.bytes) == 0xe2f9a3f14f9577bbULL);
  CHECK(sequential_sum(down.as_span<float>()) == doctest::Approx(19.543787761240765).epsilon(1e-12));
  const auto norm = f.tensor("model.norm.weight");
  CHECK(iotest::fnv1a64(norm.bytes) == 0x411bf9c8787bfab5ULL);
  CHECK(sequential_sum(norm.as_span<float>()) == doctest::Approx(115.95276230573654).epsilon(1e-12));
  // lm_head is stored as an explicit copy of the embedding (README).
  const auto head = f.tensor("lm_head.weight");
  REQUIRE(head.bytes.size() == emb.bytes.size());
  CHECK(iotest::bytes_equal(head.bytes, emb.bytes));
  CHECK(head.bytes.data() != emb.bytes.data());
}

TEST_CASE("stories260k-bf16 fixture equals RNE(fp32) for every element of every tensor") {
  auto f32 = safetensors_file::open(fixtures / "models/stories260k/model.safetensors");
  auto b16 = safetensors_file::open(fixtures / "models/stories260k-bf16/model.safetensors");
  CHECK(b16.size() == 48);
  CHECK(b16.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
  std::uint64_t elements = 0;
  double max_rel = 0;
  for (const auto& [name, shape] : stories_tensors()) {
    INFO(name);
    const auto a = f32.tensor(name);
    const auto b = b16.tensor(name);
    REQUIRE(b.dtype == dtype::bf16);
    CHECK(b.shape == shape);
    auto av = a.as<float>();
    auto bv = b.as<bfloat16>();
    REQUIRE(av.size() == bv.size());
    std::uint64_t mismatches = 0;
    for (std::size_t i = 0; i < av.size(); ++i) {
      mismatches += bfloat16(av[i]).bits != bv[i].bits;
      if (av[i] != 0.0f) {
        max_rel = std::max(max_rel, std::fabs((static_cast<double>(static_cast<float>(bv[i])) - av[i]) / av[i]));
      }
    }
    CHECK(mismatches == 0);
    elements += av.size();
  }
  CHECK(elements == 260032 + 32768);
  // README: "The largest relative error is 0.00389, which is within bf16's unit roundoff of 2^-8".
  CHECK(max_rel <= 0x1p-8);
  CHECK(max_rel == doctest::Approx(0.00389).epsilon(0.01));
  // Checksums computed once with Python over the raw BF16 bytes / the widened values.
  CHECK(iotest::fnv1a64(b16.tensor("model.embed_tokens.weight").bytes) == 0xfdc1cc7f70e2af15ULL);
  const auto conv = to_float32(b16.tensor("model.layers.4.mlp.down_proj.weight"));
  CHECK(sequential_sum(conv) == doctest::Approx(19.52750177681446).epsilon(1e-12));
  CHECK(conv[0] == -0.0478515625f);
}

TEST_CASE("activations_calib.safetensors: the 20 captured Linear inputs") {
  auto f = safetensors_file::open(fixtures / "models/stories260k/activations_calib.safetensors");
  CHECK(f.file_size() == 14911352);
  CHECK(f.size() == 20);
  CHECK(f.metadata().at("source") == "calibration.txt");
  CHECK(f.metadata().at("windows") == "4");
  CHECK(f.metadata().at("seq") == "512");
  for (int i = 0; i < 5; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    for (const char* n : {"attn_in", "o_in", "mlp_in"}) {
      const std::string name = p + n;
      INFO(name);
      CHECK(f.info(name).shape == std::vector<std::int64_t>{2048, 64});
      CHECK(f.info(name).dtype == dtype::f32);
    }
    CHECK(f.info(p + "down_in").shape == std::vector<std::int64_t>{2048, 172});
  }
  const auto a0 = f.tensor("layers.0.attn_in");
  CHECK(iotest::fnv1a64(a0.bytes) == 0x9e0d7c5d5bc53630ULL);
  CHECK(sequential_sum(a0.as_span<float>()) == doctest::Approx(-6037.532183603835).epsilon(1e-12));
  const auto d4 = f.tensor("layers.4.down_in");
  CHECK(iotest::fnv1a64(d4.bytes) == 0xdb4ed263e8b12e3dULL);
  CHECK(sequential_sum(to_float32(d4)) == doctest::Approx(-2422.213192928675).epsilon(1e-12));
}

TEST_CASE("typed access checks the dtype") {
  auto f = safetensors_file::open(fixtures / "models/stories260k/model.safetensors");
  const auto v = f.tensor("model.norm.weight");
  CHECK_IO_ERROR(v.as<double>(), "llmc.io.116");
  CHECK_IO_ERROR(v.as_span<std::int32_t>(), "llmc.io.116");
  CHECK_IO_ERROR(v.to_vector<bfloat16>(), "llmc.io.116");
  CHECK_IO_ERROR(f.tensor("model.nope"), "llmc.io.115");
  CHECK_IO_ERROR(f.info(""), "llmc.io.115");
  CHECK(v.to_vector<float>().size() == 64);
}

TEST_CASE("misaligned views are copied by as<T>() and refused by as_span<T>()") {
  // A hand-made file whose header length is odd, so the data section starts at an odd address.
  std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";  // 55 bytes
  REQUIRE(header.size() % 2 == 1);
  std::vector<std::byte> file(8 + header.size() + 12);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  std::memcpy(file.data() + 8, header.data(), header.size());
  const float vals[3] = {1.5f, -2.25f, 1e-3f};
  std::memcpy(file.data() + 8 + header.size(), vals, 12);
  const auto h = parse_safetensors_header(file, "odd.safetensors");
  const auto v = view_of(file, h, h.tensors[0]);
  REQUIRE_FALSE(v.is_aligned_for<float>());
  auto d = v.as<float>();
  CHECK_FALSE(d.borrowed());
  REQUIRE(d.size() == 3);
  CHECK(d[0] == 1.5f);
  CHECK(d[1] == -2.25f);
  CHECK(d[2] == 1e-3f);
  auto moved = std::move(d);  // the owned copy survives a move
  CHECK(moved.span()[2] == 1e-3f);
  CHECK_IO_ERROR(v.as_span<float>(), "llmc.io.117");
  CHECK(to_float32(v) == std::vector<float>{1.5f, -2.25f, 1e-3f});
}

TEST_CASE("to_float32 converts every floating dtype exactly") {
  const std::uint16_t f16[] = {0x3C00, 0xC000, 0x7BFF, 0x0001};  // 1, -2, 65504, 2^-24
  const std::uint16_t bf16[] = {0x3F80, 0xC040, 0x7F7F};         // 1, -3, max
  const std::uint8_t e4m3[] = {0x38, 0x7E, 0xB8, 0x01};            // 1, 448, -1, 2^-9
  const std::uint8_t e5m2[] = {0x3C, 0x7B, 0x01};                  // 1, 57344, 2^-16
  const std::uint8_t e8m0[] = {127, 128, 0};                        // 1, 2, 2^-127
  const double f64[] = {0.1, -1e300};
  const std::int32_t i32[] = {1, 2};
  std::vector<tensor_ref> refs = {
      {"f16", dtype::f16, {4}, std::as_bytes(std::span(f16))},
      {"bf16", dtype::bf16, {3}, std::as_bytes(std::span(bf16))},
      {"e4m3", dtype::f8_e4m3, {4}, std::as_bytes(std::span(e4m3))},
      {"e5m2", dtype::f8_e5m2, {3}, std::as_bytes(std::span(e5m2))},
      {"e8m0", dtype::f8_e8m0, {3}, std::as_bytes(std::span(e8m0))},
      {"f64", dtype::f64, {2}, std::as_bytes(std::span(f64))},
      {"i32", dtype::i32, {2}, std::as_bytes(std::span(i32))},
  };
  const auto file = serialize_safetensors(refs);
  const auto h = parse_safetensors_header(file, "mem");
  auto get = [&](const char* n) { return to_float32(view_of(file, h, *h.find(n))); };
  CHECK(get("f16") == std::vector<float>{1.0f, -2.0f, 65504.0f, 0x1p-24f});
  CHECK(get("bf16") == std::vector<float>{1.0f, -3.0f, 0x1.FEp127f});
  CHECK(get("e4m3") == std::vector<float>{1.0f, 448.0f, -1.0f, 0x1p-9f});
  CHECK(get("e5m2") == std::vector<float>{1.0f, 57344.0f, 0x1p-16f});
  CHECK(get("e8m0") == std::vector<float>{1.0f, 2.0f, 0x1p-127f});
  const auto d = get("f64");
  CHECK(d[0] == 0.1f);
  CHECK(std::isinf(d[1]));
  CHECK_IO_ERROR(get("i32"), "llmc.io.116");
  std::vector<float> small(2);
  try {
    to_float32(view_of(file, h, *h.find("f16")), small);
    FAIL("no throw");
  } catch (const shape_error& e) {
    CHECK(e.id() == "llmc.io.119");
  }
  const auto iv = view_of(file, h, *h.find("i32")).as<std::int32_t>();
  CHECK(iv[1] == 2);
}

TEST_CASE("BOOL tensors: as<bool> validates the bytes") {
  const std::uint8_t ok[] = {0, 1, 1, 0};
  const std::uint8_t bad[] = {0, 1, 2, 0};
  std::vector<tensor_ref> refs = {{"ok", dtype::boolean, {4}, std::as_bytes(std::span(ok))},
                                  {"bad", dtype::boolean, {4}, std::as_bytes(std::span(bad))}};
  const auto file = serialize_safetensors(refs);
  const auto h = parse_safetensors_header(file, "mem");
  const auto okv = view_of(file, h, *h.find("ok")).as<bool>();
  CHECK(okv[1]);
  CHECK_FALSE(okv[3]);
  CHECK_IO_ERROR(view_of(file, h, *h.find("bad")).as<bool>(), "llmc.io.118");
}

TEST_CASE("header key order does not matter: ranges are sorted by offset") {
  // b is listed before a, and a's data comes first.
  const std::string header = R"({"b":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  std::vector<std::byte> file(8 + padded.size() + 6);
  const std::uint64_t n = padded.size();
  for (int i = 0; i < 8; ++i) file[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
  std::memcpy(file.data() + 8, padded.data(), padded.size());
  const auto h = parse_safetensors_header(file, "mem");
  REQUIRE(h.tensors.size() == 2);
  CHECK(h.tensors[0].name == "a");
  CHECK(h.tensors[1].name == "b");
  CHECK(h.data_size == 6);
}

TEST_CASE("a zero-length tensor may share its offset with the next tensor") {
  const float one = 1.0f;
  std::vector<tensor_ref> refs = {{"e", dtype::f32, {0, 4}, {}}, {"x", dtype::f32, {1}, std::as_bytes(std::span(&one, 1))}};
  const auto file = serialize_safetensors(refs);
  const auto h = parse_safetensors_header(file, "mem");
  CHECK(h.find("e")->nbytes() == 0);
  CHECK(view_of(file, h, *h.find("e")).as<float>().size() == 0);
  CHECK(view_of(file, h, *h.find("x")).as<float>()[0] == 1.0f);
}

#if defined(__linux__)
TEST_CASE("opening maps without reading; release() gives the pages back and views stay valid") {
  const std::int64_t before_open = rss_bytes();
  auto f = safetensors_file::open(fixtures / "models/stories260k/activations_calib.safetensors");
  const std::int64_t after_open = rss_bytes();
  // The 14.9 MB file is mapped, not read: only the header pages and small allocations are resident.
  CHECK(after_open - before_open < 2 * 1024 * 1024);

  double total = 0;
  std::vector<double> sums;
  for (const auto& n : f.names()) {
    sums.push_back(sequential_sum(f.tensor(n).as_span<float>()));
    total += sums.back();
  }
  const std::int64_t after_touch = rss_bytes();
  CHECK(after_touch - after_open > 12 * 1024 * 1024);

  f.release_all();
  const std::int64_t after_release = rss_bytes();
  CHECK(after_touch - after_release > 12 * 1024 * 1024);

  // Touch one tensor again, release just that one.
  const auto v = f.tensor("layers.4.down_in");  // 1.4 MB
  const double again = sequential_sum(v.as_span<float>());
  const auto names = f.names();
  const auto pos = std::find(names.begin(), names.end(), "layers.4.down_in") - names.begin();
  CHECK(again == sums[static_cast<std::size_t>(pos)]);
  const std::int64_t one_touched = rss_bytes();
  CHECK(one_touched - after_release > 1024 * 1024);
  f.release("layers.4.down_in");
  CHECK(one_touched - rss_bytes() > 1024 * 1024);
  // The data is re-read from the file after a release.
  CHECK(sequential_sum(v.as_span<float>()) == again);
  CHECK(total != 0);
}

TEST_CASE("a 10 GiB sparse checkpoint opens without being read") {
  iotest::temp_dir tmp;
  const std::uint64_t big = 10ULL << 30;
  const std::string header = R"({"big":{"dtype":"U8","shape":[)" + std::to_string(big) + R"(],"data_offsets":[0,)" +
                             std::to_string(big) + R"(]},"tail":{"dtype":"F32","shape":[2],"data_offsets":[)" +
                             std::to_string(big) + "," + std::to_string(big + 8) + "]}}";
  std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  const auto path = tmp / "big.safetensors";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  std::string head(8, '\0');
  for (int i = 0; i < 8; ++i) head[static_cast<std::size_t>(i)] = static_cast<char>((padded.size() >> (8 * i)) & 0xFF);
  head += padded;
  REQUIRE(::write(fd, head.data(), head.size()) == static_cast<ssize_t>(head.size()));
  const std::uint64_t total = head.size() + big + 8;
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) {
    ::close(fd);
    MESSAGE("file system refuses a 10 GiB sparse file; skipped");
    return;
  }
  const float tail[2] = {3.5f, -7.25f};
  REQUIRE(::pwrite(fd, tail, 8, static_cast<off_t>(total - 8)) == 8);
  ::close(fd);

  const std::int64_t before = rss_bytes();
  auto f = safetensors_file::open(path);
  CHECK(f.file_size() == total);
  CHECK(f.info("big").nbytes() == big);
  CHECK(f.tensor("big").bytes.size() == big);
  const auto t = f.tensor("tail").as<float>();
  CHECK(t[0] == 3.5f);
  CHECK(t[1] == -7.25f);
  CHECK(rss_bytes() - before < 4 * 1024 * 1024);
}
#endif
