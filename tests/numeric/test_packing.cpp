// Tests for compressed-tensors packing: golden words derived by hand from spec §8.4/§8.5, a
// bit-by-bit reference packer for every width 1..8 (dense and legacy), round trips, error ids.
#include <doctest/doctest.h>

#include "support/error_id.hpp"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/numeric/packing.hpp"

namespace {

/// Reference dense packer straight from the spec text: bit j of u_i goes to global bit i*b + j of
/// the little-end-first word sequence; words beyond the data stay 0.
std::vector<std::int32_t> ref_pack_dense(const std::vector<std::int8_t>& q, int b) {
  std::vector<std::uint32_t> w((q.size() * b + 31) / 32, 0u);
  for (std::size_t i = 0; i < q.size(); ++i) {
    const unsigned u = static_cast<unsigned>(q[i] + (1 << (b - 1)));
    for (int j = 0; j < b; ++j) {
      if ((u >> j) & 1u) {
        const std::size_t g = i * b + static_cast<std::size_t>(j);
        w[g / 32] |= 1u << (g % 32);
      }
    }
  }
  return {w.begin(), w.end()};
}

/// Reference legacy packer: value i -> word i / floor(32/b), bits [b*(i mod p), b*(i mod p)+b).
std::vector<std::int32_t> ref_pack_legacy(const std::vector<std::int8_t>& q, int b) {
  const std::size_t p = 32u / static_cast<std::size_t>(b);
  std::vector<std::uint32_t> w((q.size() + p - 1) / p, 0u);
  for (std::size_t i = 0; i < q.size(); ++i) {
    const unsigned u = static_cast<unsigned>(q[i] + (1 << (b - 1)));
    w[i / p] |= u << (static_cast<unsigned>(b) * (i % p));
  }
  return {w.begin(), w.end()};
}

std::vector<std::int8_t> random_codes(std::size_t n, int b, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-(1 << (b - 1)), (1 << (b - 1)) - 1);
  std::vector<std::int8_t> q(n);
  for (auto& v : q) v = static_cast<std::int8_t>(d(rng));
  return q;
}

using test_support::error_id;

}  // namespace

TEST_CASE("pack 4-bit: golden words") {
  // Columns 0..7 hold q = -8..-1, i.e. u = q + 8 = 0..7, column j in nibble j:
  // word = 0x76543210. Columns 8..15 hold q = 0..7 -> u = 8..15 -> 0xFEDCBA98, whose top nibble is
  // >= 8, so as int32 it is 0xFEDCBA98 - 2^32 = -19088744.
  const std::vector<std::int8_t> q = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<std::int32_t> w(llmc::packed_words(q.size(), 4));
  REQUIRE(w.size() == 2u);
  llmc::pack_int_bits(q, 4, w);
  CHECK(w[0] == 0x76543210);
  CHECK(w[1] == -19088744);
  std::vector<std::int32_t> w2(2);
  llmc::pack_int_bits<4>(q, w2);
  CHECK(w2 == w);
  // 3 columns: q = {7, 0, -8} -> u = {15, 8, 0} -> 0x08F, the rest of the word padded with u = 0.
  const std::vector<std::int8_t> q3 = {7, 0, -8};
  std::vector<std::int32_t> w3(1);
  llmc::pack_int_bits(q3, 4, w3);
  CHECK(w3[0] == 0x08F);
  std::vector<std::int8_t> back(3);
  llmc::unpack_int_bits(w3, 4, back);
  CHECK(back == q3);
}

TEST_CASE("pack 8-bit: golden word") {
  // q = {-128, -1, 0, 127} -> u = {0, 127, 128, 255} -> bytes 00 7F 80 FF (column 0 lowest):
  // 0xFF807F00 = 4286611200 -> int32 4286611200 - 4294967296 = -8356096.
  const std::vector<std::int8_t> q = {-128, -1, 0, 127, 5};
  std::vector<std::int32_t> w(llmc::packed_words(q.size(), 8));
  REQUIRE(w.size() == 2u);
  llmc::pack_int_bits(q, 8, w);
  CHECK(w[0] == -8356096);
  CHECK(w[1] == 133);  // q = 5 -> u = 133 in byte 0, padding bytes are 0
}

TEST_CASE("pack 3-bit dense: value 10 crosses the word boundary; legacy does not") {
  // 11 values, all q = -4 (u = 0) except q[10]. Dense: value 10 occupies global bits 30, 31, 32.
  std::vector<std::int8_t> q(11, -4);
  // u = 6 = 0b110: bit 30 = 0, bit 31 = 1 -> word0 = 0x80000000; bit 32 = 1 -> word1 = 1
  q[10] = 2;
  std::vector<std::int32_t> w(llmc::packed_words(11, 3));
  REQUIRE(w.size() == 2u);
  llmc::pack_int_bits(q, 3, w);
  CHECK(w[0] == INT32_MIN);
  CHECK(w[1] == 1);
  q[10] = 3;  // u = 7: bits 30, 31 -> 0xC0000000 = -1073741824; bit 32 -> 1
  llmc::pack_int_bits(q, 3, w);
  CHECK(w[0] == -1073741824);
  CHECK(w[1] == 1);
  std::vector<std::int8_t> back(11);
  llmc::unpack_int_bits(w, 3, back);
  CHECK(back == q);
  // Legacy (CT <= 0.16): 10 values per word, so value 10 starts word 1 at bit 0 -> word1 = 7;
  // value 9 = u 0 sits at bits 27..29 of word 0 and bits 30, 31 are unused.
  std::vector<std::int32_t> wl(llmc::packed_words_legacy(11, 3));
  REQUIRE(wl.size() == 2u);
  llmc::pack_int_bits_legacy(q, 3, wl);
  CHECK(wl[0] == 0);
  CHECK(wl[1] == 7);
  q[9] = 3;  // u = 7 at bits 27..29 of word 0 -> 0x38000000
  llmc::pack_int_bits_legacy(q, 3, wl);
  CHECK(wl[0] == 0x38000000);
  llmc::unpack_int_bits_legacy(wl, 3, back);
  CHECK(back == q);
}

TEST_CASE("pack: every width 1..8 matches the bit-level reference and round-trips") {
  std::mt19937 rng(42u);
  const std::size_t lengths[] = {0, 1, 2, 5, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 257, 1000, 4099};
  for (int b = 1; b <= 8; ++b) {
    for (const std::size_t n : lengths) {
      CAPTURE(b);
      CAPTURE(n);
      const auto q = random_codes(n, b, rng);
      // dense
      // pre-filled with garbage: every word must be overwritten
      std::vector<std::int32_t> w(llmc::packed_words(n, b), 0x5A5A5A5A);
      llmc::pack_int_bits(q, b, w);
      CHECK(w == ref_pack_dense(q, b));
      std::vector<std::int8_t> back(n, 99);
      llmc::unpack_int_bits(w, b, back);
      CHECK(back == q);
      // legacy
      std::vector<std::int32_t> wl(llmc::packed_words_legacy(n, b), 0x5A5A5A5A);
      llmc::pack_int_bits_legacy(q, b, wl);
      CHECK(wl == ref_pack_legacy(q, b));
      std::vector<std::int8_t> backl(n, 99);
      llmc::unpack_int_bits_legacy(wl, b, backl);
      CHECK(backl == q);
      if (32 % b == 0) CHECK(wl == w);  // the layouts coincide for 1, 2, 4, 8 bits
    }
  }
}

TEST_CASE("pack: compile-time widths equal the runtime dispatch") {
  std::mt19937 rng(5u);
  const auto check = [&](auto bits_c) {
    constexpr int B = decltype(bits_c)::value;
    for (const std::size_t n : {std::size_t{3}, std::size_t{64}, std::size_t{77}}) {
      const auto q = random_codes(n, B, rng);
      std::vector<std::int32_t> a(llmc::packed_words(n, B)), b(a.size());
      llmc::pack_int_bits<B>(q, a);
      llmc::pack_int_bits(q, B, b);
      CHECK(a == b);
      std::vector<std::int8_t> back(n);
      llmc::unpack_int_bits<B>(a, back);
      CHECK(back == q);
    }
  };
  check(std::integral_constant<int, 2>{});
  check(std::integral_constant<int, 4>{});
  check(std::integral_constant<int, 5>{});
  check(std::integral_constant<int, 8>{});
}

TEST_CASE("pack: out-of-range codes are masked, never spill into neighbours") {
  // q = 9 is not a 4-bit code: u = 17 & 15 = 1. Its neighbours stay intact.
  const std::vector<std::int8_t> q = {9, -8, -8, -8, -8, -8, -8, 7};
  std::vector<std::int32_t> w(1);
  llmc::pack_int_bits(q, 4, w);
  CHECK(static_cast<std::uint32_t>(w[0]) == 0xF0000001u);
}

TEST_CASE("pack FP4: nibble order and round trip") {
  using llmc::float4_e2m1;
  // element 0 = 1.0 (code 2) -> low nibble, element 1 = -6 (code 0xF) -> high nibble: 0xF2.
  const std::vector<float4_e2m1> v = {float4_e2m1(1.0f), float4_e2m1(-6.0f), float4_e2m1(0.5f),
                                      float4_e2m1(-0.1f)};
  std::vector<std::uint8_t> bytes(llmc::packed_fp4_bytes(v.size()));
  llmc::pack_fp4(v, bytes);
  CHECK(bytes[0] == 0xF2u);
  CHECK(bytes[1] == 0x81u);  // 0.5 (code 1) low, -0 (code 8) high
  std::vector<float4_e2m1> back(v.size());
  llmc::unpack_fp4(bytes, back);
  for (std::size_t i = 0; i < v.size(); ++i) CHECK(back[i].bits == v[i].bits);
  // Every byte value round-trips through unpack/pack.
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  std::vector<float4_e2m1> codes(512);
  llmc::unpack_fp4(all, codes);
  CHECK(codes[2 * 0xAB].bits == 0xBu);
  CHECK(codes[2 * 0xAB + 1].bits == 0xAu);
  std::vector<std::uint8_t> again(256);
  llmc::pack_fp4(codes, again);
  CHECK(again == all);
}

TEST_CASE("pack: error ids") {
  std::vector<std::int8_t> q(10);
  std::vector<std::int32_t> w(llmc::packed_words(10, 4));
  CHECK(error_id([&] { llmc::pack_int_bits(q, 0, w); }) == "llmc.numeric.002");
  CHECK(error_id([&] { llmc::pack_int_bits(q, 9, w); }) == "llmc.numeric.002");
  CHECK(error_id([&] { llmc::unpack_int_bits(w, 16, q); }) == "llmc.numeric.002");
  CHECK(error_id([&] { llmc::pack_int_bits_legacy(q, -1, w); }) == "llmc.numeric.002");
  std::vector<std::int32_t> short_w(1);
  CHECK(error_id([&] { llmc::pack_int_bits(q, 4, short_w); }) == "llmc.numeric.003");
  CHECK(error_id([&] { llmc::unpack_int_bits(short_w, 4, q); }) == "llmc.numeric.003");
  CHECK(error_id([&] { llmc::pack_int_bits<4>(q, short_w); }) == "llmc.numeric.003");
  std::vector<std::int32_t> w3(llmc::packed_words(10, 3));  // 1 word; legacy needs 1 too
  CHECK(error_id([&] { llmc::pack_int_bits_legacy(std::vector<std::int8_t>(11), 3, w3); }) ==
        "llmc.numeric.003");  // 11 values need 2 legacy words
  CHECK(error_id([&] { llmc::pack_int_bits(q, 4, w); }) == "no error");
  std::vector<llmc::float4_e2m1> odd(3);
  std::vector<std::uint8_t> bytes(1);
  CHECK(error_id([&] { llmc::pack_fp4(odd, bytes); }) == "llmc.numeric.001");
  CHECK(error_id([&] { llmc::unpack_fp4(bytes, odd); }) == "llmc.numeric.001");
  std::vector<llmc::float4_e2m1> four(4);
  CHECK(error_id([&] { llmc::pack_fp4(four, bytes); }) == "llmc.numeric.003");
  try {
    llmc::pack_int_bits(q, 4, short_w);
  } catch (const llmc::shape_error& e) {
    CHECK(std::string(e.what()).find("packed_words") != std::string::npos);
  }
}
