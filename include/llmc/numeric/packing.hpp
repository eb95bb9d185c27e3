// llmc/numeric/packing.hpp — sub-byte packing exactly as compressed-tensors stores it.
//
// Integers (spec §8.4, [CT] src/compressed_tensors/compressors/pack_quantized/helpers.py
// pack_to_int32 / unpack_from_int32): b-bit codes q in [-2^(b-1), 2^(b-1)-1] (held as int8) are
// offset to u = q + 2^(b-1) and packed densely: value i occupies bits [i*b, i*b+b) of the
// concatenated little-end-first int32 words, spilling into the next word when it crosses one; a row
// of n values takes packed_words(n, b) = ceil(n*b/32) words and the unused high bits of the last
// word are 0 (CT pads with u = 0). This is the layout of CT >= 0.18.0 (PR #732; 0.17 still packs per word); for b in {1,2,4,8}
// it equals the older per-word layout. The older layout for b in {3,5,6,7} (CT <= 0.16:
// floor(32/b) values per word, value i in word i / (32/b) at bit b*(i % (32/b)),
// [CT-old] .../quantized_compressors/pack_quantized.py) is pack_int_bits_legacy.
// FP4 (spec §8.5, [CT] .../nvfp4/helpers.py pack_fp4_to_uint8): element 2k -> low nibble,
// element 2k+1 -> high nibble.
// Invariants: packers write every output word/byte; unpackers write exactly q.size() / v.size()
// values. Out-of-range codes are masked to b bits (they cannot corrupt neighbours). The 4- and
// 8-bit paths are straight-line SWAR/byte loops that the compiler vectorizes; other widths use a
// fully unrolled 32-value block. Sizes are checked and reported as llmc::shape_error.
// Error ids: llmc.numeric.001 odd FP4 count, .002 bit width outside [1, 8], .003 buffer size.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include "llmc/core/config.hpp"
#include "llmc/core/error.hpp"
#include "llmc/numeric/float4.hpp"

namespace llmc {

/// Number of int32 words holding n densely packed b-bit values: ceil(n*b/32). @pre 1 <= bits <= 8.
LLMC_HOST_DEVICE constexpr std::size_t packed_words(std::size_t n, int bits) noexcept {
  return (n * static_cast<std::size_t>(bits) + 31u) / 32u;
}

/// Number of int32 words of the legacy layout: ceil(n / floor(32/b)). @pre 1 <= bits <= 8.
LLMC_HOST_DEVICE constexpr std::size_t packed_words_legacy(std::size_t n, int bits) noexcept {
  const std::size_t per_word = 32u / static_cast<std::size_t>(bits);
  return (n + per_word - 1u) / per_word;
}

/// Number of bytes holding n FP4 values (n must be even).
LLMC_HOST_DEVICE constexpr std::size_t packed_fp4_bytes(std::size_t n) noexcept { return n / 2u; }

namespace detail {

inline void check_pack_bits(int bits, const char* function) {
  if (bits < 1 || bits > 8) {
    LLMC_THROW(llmc::config_error, "llmc.numeric.002",
               std::string(function) + ": cannot pack " + std::to_string(bits) +
                   "-bit integers; compressed-tensors packs 1..8 bits into int32 "
                   "(use num_bits in [1, 8])");
  }
}

inline void check_buffer_size(std::size_t got, std::size_t want, const char* function,
                              const char* what) {
  if (got != want) {
    LLMC_THROW(llmc::shape_error, "llmc.numeric.003",
               std::string(function) + ": " + what + " has " + std::to_string(got) +
                   " elements but must have exactly " + std::to_string(want) +
                   "; size it with packed_words / packed_words_legacy / packed_fp4_bytes");
  }
}

/// Calls f(std::integral_constant<int, B>{}) for the runtime width bits (validated by the caller).
template <class F>
void with_pack_bits(int bits, F&& f) {
  switch (bits) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 7: f(std::integral_constant<int, 7>{}); break;
    default: f(std::integral_constant<int, 8>{}); break;
  }
}

template <int Bits>
inline constexpr std::uint32_t pack_mask = (1u << Bits) - 1u;
template <int Bits>
inline constexpr std::uint32_t pack_offset = 1u << (Bits - 1);

/// Offset code u = (q + 2^(b-1)) mod 2^b.
template <int Bits>
LLMC_ALWAYS_INLINE constexpr std::uint32_t offset_code(std::int8_t q) noexcept {
  return (static_cast<std::uint32_t>(static_cast<std::int32_t>(q)) + pack_offset<Bits>) &
         pack_mask<Bits>;
}

/// 32 values -> Bits words (dense layout). The index sequence makes every shift a constant and
/// resolves the word-crossing test at compile time.
template <int Bits>
LLMC_ALWAYS_INLINE void pack_block32(const std::int8_t* LLMC_RESTRICT q,
                                     std::uint32_t* LLMC_RESTRICT w) noexcept {
  std::uint32_t acc[Bits] = {};
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (
        [&] {
          constexpr int bit = I * Bits;
          constexpr int word = bit / 32;
          constexpr int off = bit % 32;
          const std::uint32_t u = offset_code<Bits>(q[I]);
          acc[word] |= u << off;
          if constexpr (off + Bits > 32) acc[word + 1] |= u >> (32 - off);
        }(),
        ...);
  }(std::make_integer_sequence<int, 32>{});
  for (int k = 0; k < Bits; ++k) w[k] = acc[k];
}

/// Bits words -> 32 values (dense layout).
template <int Bits>
LLMC_ALWAYS_INLINE void unpack_block32(const std::uint32_t* LLMC_RESTRICT words,
                                       std::int8_t* LLMC_RESTRICT q) noexcept {
  // Copy the words into registers first: int8 stores may alias anything, and `restrict` does not
  // survive into the lambdas, so reading `words` directly would reload it after every store.
  std::uint32_t w[Bits];
  for (int k = 0; k < Bits; ++k) w[k] = words[k];
  // Gather the 32 bytes into four 64-bit registers and store those: 4 stores instead of 32.
  std::uint64_t out[4] = {};
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (
        [&] {
          constexpr int bit = I * Bits;
          constexpr int word = bit / 32;
          constexpr int off = bit % 32;
          std::uint32_t u = w[word] >> off;
          if constexpr (off + Bits > 32) u |= w[word + 1] << (32 - off);
          // (u & mask) - offset as a two's-complement byte
          const std::uint64_t byte = ((u & pack_mask<Bits>) - pack_offset<Bits>) & 0xFFu;
          out[I / 8] |= byte << (8 * (I % 8));
        }(),
        ...);
  }(std::make_integer_sequence<int, 32>{});
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(q, out, 32);
  } else {
    for (int i = 0; i < 32; ++i) {
      q[i] = static_cast<std::int8_t>(static_cast<std::uint8_t>(out[i / 8] >> (8 * (i % 8))));
    }
  }
}

/// Dense pack of q into w (w has packed_words(n, Bits) words), sizes already checked.
template <int Bits>
void pack_dense(const std::int8_t* LLMC_RESTRICT q, std::size_t n, std::uint32_t* LLMC_RESTRICT w) {
  std::size_t done = 0;  // values packed so far; always a whole number of words
  if constexpr (Bits == 8 && std::endian::native == std::endian::little) {
    // u = q ^ 0x80 per byte, and on a little-endian machine byte j of word k is column 4k+j.
    const std::size_t full = n / 4u * 4u;
    auto* out = reinterpret_cast<unsigned char*>(w);
    for (std::size_t i = 0; i < full; ++i) {
      out[i] = static_cast<unsigned char>(static_cast<unsigned char>(q[i]) ^ 0x80u);
    }
    done = full;
  } else if constexpr (Bits == 4 && std::endian::native == std::endian::little) {
    // 8 columns -> 1 word: flip bit 3 of each byte ((q + 8) mod 16 == (q ^ 8) & 15), keep the low
    // nibbles and squeeze them together, lowest column in the lowest nibble.
    const std::size_t words = n / 8u;
    for (std::size_t k = 0; k < words; ++k) {
      std::uint64_t v;
      std::memcpy(&v, q + 8u * k, 8);
      v = (v ^ 0x0808080808080808ull) & 0x0F0F0F0F0F0F0F0Full;
      v = (v | (v >> 4)) & 0x00FF00FF00FF00FFull;
      v = (v | (v >> 8)) & 0x0000FFFF0000FFFFull;
      v = (v | (v >> 16)) & 0x00000000FFFFFFFFull;
      w[k] = static_cast<std::uint32_t>(v);
    }
    done = words * 8u;
  } else {
    const std::size_t blocks = n / 32u;
    for (std::size_t b = 0; b < blocks; ++b) pack_block32<Bits>(q + 32u * b, w + Bits * b);
    done = blocks * 32u;
  }
  if (done < n) {
    // Tail: pad with the code of u = 0 (q = -2^(b-1)), as CT pads after adding the offset.
    std::int8_t tmp[32];
    constexpr auto pad = static_cast<std::int8_t>(-static_cast<int>(pack_offset<Bits>));
    for (int i = 0; i < 32; ++i) tmp[i] = pad;
    for (std::size_t i = done; i < n; ++i) tmp[i - done] = q[i];
    std::uint32_t acc[Bits];
    pack_block32<Bits>(tmp, acc);
    const std::size_t first_word = done * Bits / 32u;
    const std::size_t left = packed_words(n, Bits) - first_word;
    for (std::size_t k = 0; k < left; ++k) w[first_word + k] = acc[k];
  }
}

/// Dense unpack of n values from w (packed_words(n, Bits) words), sizes already checked.
template <int Bits>
void unpack_dense(const std::uint32_t* LLMC_RESTRICT w, std::size_t n,
                  std::int8_t* LLMC_RESTRICT q) {
  std::size_t done = 0;
  if constexpr (Bits == 8 && std::endian::native == std::endian::little) {
    const std::size_t full = n / 4u * 4u;
    const auto* in = reinterpret_cast<const unsigned char*>(w);
    for (std::size_t i = 0; i < full; ++i) {
      q[i] = static_cast<std::int8_t>(static_cast<unsigned char>(in[i] ^ 0x80u));
    }
    done = full;
  } else if constexpr (Bits == 4 && std::endian::native == std::endian::little) {
    const std::size_t words = n / 8u;
    for (std::size_t k = 0; k < words; ++k) {
      std::uint64_t v = w[k];
      v = (v | (v << 16)) & 0x0000FFFF0000FFFFull;
      v = (v | (v << 8)) & 0x00FF00FF00FF00FFull;
      v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0Full;
      // Per byte: t = u ^ 8 is q's two's-complement nibble; widen its sign over the high nibble.
      const std::uint64_t t = v ^ 0x0808080808080808ull;
      const std::uint64_t s = ((t & 0x0808080808080808ull) >> 3) * 0xF0u;
      const std::uint64_t out = t | s;
      std::memcpy(q + 8u * k, &out, 8);
    }
    done = words * 8u;
  } else {
    const std::size_t blocks = n / 32u;
    for (std::size_t b = 0; b < blocks; ++b) unpack_block32<Bits>(w + Bits * b, q + 32u * b);
    done = blocks * 32u;
  }
  if (done < n) {
    const std::size_t first_word = done * Bits / 32u;
    const std::size_t left = packed_words(n, Bits) - first_word;
    std::uint32_t acc[Bits] = {};
    for (std::size_t k = 0; k < left; ++k) acc[k] = w[first_word + k];
    std::int8_t tmp[32];
    unpack_block32<Bits>(acc, tmp);
    for (std::size_t i = done; i < n; ++i) q[i] = tmp[i - done];
  }
}

/// Legacy per-word layout: floor(32/Bits) values per word, the top 32 mod Bits bits unused.
template <int Bits>
void pack_legacy(const std::int8_t* LLMC_RESTRICT q, std::size_t n,
                 std::uint32_t* LLMC_RESTRICT w) {
  constexpr std::size_t per_word = 32u / Bits;
  const std::size_t words = (n + per_word - 1u) / per_word;
  for (std::size_t k = 0; k < words; ++k) {
    std::uint32_t acc = 0;
    const std::size_t base = k * per_word;
    for (std::size_t j = 0; j < per_word; ++j) {
      // Padding beyond n packs u = 0, as CT-old's np.pad(constant_values=0) after the offset.
      const std::uint32_t u = base + j < n ? offset_code<Bits>(q[base + j]) : 0u;
      acc |= u << (Bits * j);
    }
    w[k] = acc;
  }
}

template <int Bits>
void unpack_legacy(const std::uint32_t* LLMC_RESTRICT w, std::size_t n,
                   std::int8_t* LLMC_RESTRICT q) {
  constexpr std::size_t per_word = 32u / Bits;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t u = (w[i / per_word] >> (Bits * (i % per_word))) & pack_mask<Bits>;
    q[i] = static_cast<std::int8_t>(static_cast<int>(u) - static_cast<int>(pack_offset<Bits>));
  }
}

inline std::uint32_t* as_words(std::span<std::int32_t> s) noexcept {
  return reinterpret_cast<std::uint32_t*>(s.data());  // int32/uint32 may alias each other
}
inline const std::uint32_t* as_words(std::span<const std::int32_t> s) noexcept {
  return reinterpret_cast<const std::uint32_t*>(s.data());
}

}  // namespace detail

/// Pack Bits-bit codes q (as int8) densely into out (exactly packed_words(q.size(), Bits) words).
/// @throws llmc::shape_error "llmc.numeric.003" when out has the wrong size.
template <int Bits>
void pack_int_bits(std::span<const std::int8_t> q, std::span<std::int32_t> out) {
  static_assert(Bits >= 1 && Bits <= 8, "llmc: pack_int_bits<Bits> needs 1 <= Bits <= 8");
  detail::check_buffer_size(out.size(), packed_words(q.size(), Bits), "pack_int_bits", "output");
  detail::pack_dense<Bits>(q.data(), q.size(), detail::as_words(out));
}

/// Inverse of pack_int_bits<Bits>: writes q.size() codes from words
/// (exactly packed_words(q.size(), Bits) words).
/// @throws llmc::shape_error "llmc.numeric.003" when words has the wrong size.
template <int Bits>
void unpack_int_bits(std::span<const std::int32_t> words, std::span<std::int8_t> q) {
  static_assert(Bits >= 1 && Bits <= 8, "llmc: unpack_int_bits<Bits> needs 1 <= Bits <= 8");
  detail::check_buffer_size(words.size(), packed_words(q.size(), Bits), "unpack_int_bits", "input");
  detail::unpack_dense<Bits>(detail::as_words(words), q.size(), q.data());
}

/// Pack n signed codes q in [-2^(b-1), 2^(b-1)-1] into int32 words, dense layout of CT >= 0.18:
/// u = q + 2^(b-1), value i at bits [i*b, i*b+b) of the little-end-first words.
/// `out` must have packed_words(n, bits) words; it is fully written.
/// @throws llmc::config_error "llmc.numeric.002" (bits outside [1, 8]),
///         llmc::shape_error "llmc.numeric.003" (out has the wrong size).
inline void pack_int_bits(std::span<const std::int8_t> q, int bits, std::span<std::int32_t> out) {
  detail::check_pack_bits(bits, "pack_int_bits");
  detail::check_buffer_size(out.size(), packed_words(q.size(), bits), "pack_int_bits", "output");
  detail::with_pack_bits(bits, [&](auto b) {
    detail::pack_dense<decltype(b)::value>(q.data(), q.size(), detail::as_words(out));
  });
}

/// Inverse of pack_int_bits: writes q.size() values; words must have packed_words(q.size(), bits).
/// @throws llmc::config_error "llmc.numeric.002", llmc::shape_error "llmc.numeric.003".
inline void unpack_int_bits(std::span<const std::int32_t> words, int bits,
                            std::span<std::int8_t> q) {
  detail::check_pack_bits(bits, "unpack_int_bits");
  detail::check_buffer_size(words.size(), packed_words(q.size(), bits), "unpack_int_bits", "input");
  detail::with_pack_bits(bits, [&](auto b) {
    detail::unpack_dense<decltype(b)::value>(detail::as_words(words), q.size(), q.data());
  });
}

/// The per-word layout of compressed-tensors <= 0.16 (what older vLLM/Transformers readers expect
/// for 3/5/6/7 bits): floor(32/b) values per word, value i in word i / floor(32/b) at bit
/// b * (i mod floor(32/b)). Identical to pack_int_bits for b in {1, 2, 4, 8}.
/// `out` must have packed_words_legacy(n, bits) words.
/// @throws llmc::config_error "llmc.numeric.002", llmc::shape_error "llmc.numeric.003".
inline void pack_int_bits_legacy(std::span<const std::int8_t> q, int bits,
                                 std::span<std::int32_t> out) {
  detail::check_pack_bits(bits, "pack_int_bits_legacy");
  detail::check_buffer_size(out.size(), packed_words_legacy(q.size(), bits), "pack_int_bits_legacy",
                            "output");
  detail::with_pack_bits(bits, [&](auto b) {
    constexpr int B = decltype(b)::value;
    if constexpr (32 % B == 0) {
      detail::pack_dense<B>(q.data(), q.size(), detail::as_words(out));  // same layout, faster
    } else {
      detail::pack_legacy<B>(q.data(), q.size(), detail::as_words(out));
    }
  });
}

/// Inverse of pack_int_bits_legacy: writes q.size() values.
/// @throws llmc::config_error "llmc.numeric.002", llmc::shape_error "llmc.numeric.003".
inline void unpack_int_bits_legacy(std::span<const std::int32_t> words, int bits,
                                   std::span<std::int8_t> q) {
  detail::check_pack_bits(bits, "unpack_int_bits_legacy");
  detail::check_buffer_size(words.size(), packed_words_legacy(q.size(), bits),
                            "unpack_int_bits_legacy", "input");
  detail::with_pack_bits(bits, [&](auto b) {
    constexpr int B = decltype(b)::value;
    if constexpr (32 % B == 0) {
      detail::unpack_dense<B>(detail::as_words(words), q.size(), q.data());
    } else {
      detail::unpack_legacy<B>(detail::as_words(words), q.size(), q.data());
    }
  });
}

/// Pack FP4 codes two per byte: element 2k -> low nibble, 2k+1 -> high nibble.
/// `out` must have v.size() / 2 bytes.
/// @throws llmc::shape_error "llmc.numeric.001" (odd count), "llmc.numeric.003" (out size).
inline void pack_fp4(std::span<const float4_e2m1> v, std::span<std::uint8_t> out) {
  if (v.size() % 2u != 0u) {
    LLMC_THROW(llmc::shape_error, "llmc.numeric.001",
               "pack_fp4: " + std::to_string(v.size()) +
                   " FP4 values cannot be packed two per byte; nvfp4/mxfp4 need an even number "
                   "of columns (pad the input dimension or leave this layer unquantized)");
  }
  detail::check_buffer_size(out.size(), packed_fp4_bytes(v.size()), "pack_fp4", "output");
  const std::size_t n = out.size();
  const float4_e2m1* LLMC_RESTRICT src = v.data();
  std::uint8_t* LLMC_RESTRICT dst = out.data();
  for (std::size_t k = 0; k < n; ++k) {
    dst[k] = static_cast<std::uint8_t>((src[2u * k].bits & 0x0Fu) |
                                       ((src[2u * k + 1u].bits & 0x0Fu) << 4));
  }
}

/// Inverse of pack_fp4: writes v.size() codes; bytes must have v.size() / 2 bytes.
/// @throws llmc::shape_error "llmc.numeric.001" (odd count), "llmc.numeric.003" (bytes size).
inline void unpack_fp4(std::span<const std::uint8_t> bytes, std::span<float4_e2m1> v) {
  if (v.size() % 2u != 0u) {
    LLMC_THROW(llmc::shape_error, "llmc.numeric.001",
               "unpack_fp4: cannot unpack into " + std::to_string(v.size()) +
                   " FP4 values; packed FP4 rows always hold an even number of values");
  }
  detail::check_buffer_size(bytes.size(), packed_fp4_bytes(v.size()), "unpack_fp4", "input");
  const std::size_t n = bytes.size();
  const std::uint8_t* LLMC_RESTRICT src = bytes.data();
  float4_e2m1* LLMC_RESTRICT dst = v.data();
  for (std::size_t k = 0; k < n; ++k) {
    dst[2u * k].bits = static_cast<std::uint8_t>(src[k] & 0x0Fu);
    dst[2u * k + 1u].bits = static_cast<std::uint8_t>(src[k] >> 4);
  }
}

static_assert(packed_words(8, 4) == 1 && packed_words(11, 3) == 2 && packed_words(33, 1) == 2);
static_assert(packed_words_legacy(11, 3) == 2 && packed_words_legacy(10, 3) == 1);

}  // namespace llmc
