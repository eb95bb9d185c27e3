// llmc/text/unicode.hpp — UTF-8 primitives and Unicode properties for the tokenizer.
//
// Invariants: every function that takes text assumes well-formed UTF-8 unless its name says
// otherwise (utf8_is_valid, utf8_sanitize are the gates). Ill-formed input is repaired by
// utf8_sanitize with one U+FFFD per "maximal subpart of an ill-formed subsequence" (Unicode 15,
// ch. 3.9, U+FFFD substitution), which is what Python's bytes.decode("utf-8", "replace") and
// Rust's String::from_utf8_lossy both do. Normalization forms (NFC/NFD/NFKC/NFKD) and general
// categories come from utf8proc (Debian libutf8proc-dev), so no Unicode tables live here.
// The GPT-2 byte<->char map follows tokenizers/src/pre_tokenizers/byte_level.rs `bytes_char`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <utf8proc.h>

#include "llmc/core/error.hpp"

namespace llmc {

/// The replacement character U+FFFD, UTF-8 encoded.
inline constexpr std::string_view utf8_replacement = "\xEF\xBF\xBD";

/// Appends the UTF-8 encoding of `cp` to `out`.
/// @pre cp is a Unicode scalar value (not a surrogate, at most U+10FFFF).
inline void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

/// The UTF-8 encoding of one code point.
[[nodiscard]] inline std::string utf8_encode(char32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

/// Byte length of the character whose lead byte is `lead` in well-formed UTF-8.
[[nodiscard]] constexpr std::size_t utf8_lead_length(unsigned char lead) noexcept {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/// Decodes the character starting at byte `i` of well-formed UTF-8 `s`; stores its length in `len`.
/// @pre i < s.size() and i is on a character boundary.
[[nodiscard]] inline char32_t utf8_decode_at(std::string_view s, std::size_t i, std::size_t& len) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  len = utf8_lead_length(c);
  switch (len) {
    case 1: return c;
    case 2: return (char32_t(c & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return (char32_t(c & 0x0F) << 12) | (char32_t(b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return (char32_t(c & 0x07) << 18) | (char32_t(b(1) & 0x3F) << 12) | (char32_t(b(2) & 0x3F) << 6) |
             (b(3) & 0x3F);
  }
}

/// Byte offset of the start of the character that ends at byte `end` (exclusive) of well-formed UTF-8.
/// @pre end > 0 and end is on a character boundary.
[[nodiscard]] inline std::size_t utf8_prev(std::string_view s, std::size_t end) noexcept {
  std::size_t i = end - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

namespace detail {
/// Length of the well-formed UTF-8 sequence at s[i], or 0 when the bytes there are ill-formed.
/// `maximal` receives the length of the maximal subpart to replace by one U+FFFD (>= 1).
/// Ranges follow Unicode Table 3-7 (well-formed UTF-8 byte sequences).
inline std::size_t utf8_sequence_at(std::string_view s, std::size_t i, std::size_t& maximal) noexcept {
  const auto at = [&](std::size_t k) -> int {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : -1;
  };
  const int c = at(0);
  maximal = 1;
  if (c < 0x80) return 1;
  std::size_t need = 0;
  int lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // excludes the UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // excludes code points above U+10FFFF
  } else {
    return 0;  // C0, C1, F5..FF and stray continuation bytes are never part of a character
  }
  for (std::size_t k = 1; k < need; ++k) {
    const int b = at(k);
    const int l = k == 1 ? lo : 0x80;
    const int h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) {
      maximal = k;
      return 0;
    }
  }
  return need;
}
}  // namespace detail

/// True when `s` is well-formed UTF-8 (no surrogates, no overlongs, nothing above U+10FFFF).
[[nodiscard]] inline bool utf8_is_valid(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    std::size_t maximal = 0;
    const std::size_t n = detail::utf8_sequence_at(s, i, maximal);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

/// Lossy UTF-8 decode: replaces each maximal ill-formed subpart with U+FFFD.
/// Identical to Python's bytes.decode("utf-8", errors="replace") and Rust's from_utf8_lossy.
[[nodiscard]] inline std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t maximal = 0;
    const std::size_t n = detail::utf8_sequence_at(s, i, maximal);
    if (n == 0) {
      out += utf8_replacement;
      i += maximal;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

/// Number of code points of well-formed UTF-8 `s`.
[[nodiscard]] inline std::size_t utf8_length(std::string_view s) noexcept {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

/// Unicode normalization forms (UAX #15).
enum class normalization_form { nfc, nfd, nfkc, nfkd };

/// Normalizes well-formed UTF-8 text with utf8proc.
/// @throws llmc::config_error (llmc.text.401) when utf8proc rejects the input (it is not valid UTF-8).
[[nodiscard]] inline std::string unicode_normalize(std::string_view s, normalization_form form) {
  bool ascii = true;
  for (const char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(s);  // every normalization form is the identity on ASCII
  int options = UTF8PROC_STABLE;
  switch (form) {
    case normalization_form::nfc: options |= UTF8PROC_COMPOSE; break;
    case normalization_form::nfd: options |= UTF8PROC_DECOMPOSE; break;
    case normalization_form::nfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case normalization_form::nfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          static_cast<utf8proc_ssize_t>(s.size()), &out,
                                          static_cast<utf8proc_option_t>(options));
  if (n < 0) {
    LLMC_THROW(llmc::config_error, "llmc.text.401",
               std::string("Unicode normalization failed: ") + utf8proc_errmsg(n) +
                   "; pass the text through llmc::utf8_sanitize first");
  }
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

/// Unicode White_Space property (PropList.txt); the set is stable since Unicode 6.3. It is what
/// Rust's char::is_whitespace, the Rust `regex` crate's \s and Oniguruma's \s match.
[[nodiscard]] constexpr bool unicode_is_whitespace(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

/// Rust's char::is_numeric: general category Nd, Nl or No.
[[nodiscard]] inline bool unicode_is_numeric(char32_t c) noexcept {
  if (c < 0x80) return c >= '0' && c <= '9';
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

/// A regex "word" character as the Rust regex crate's \w (UTS #18: Alphabetic, marks, Nd, Pc,
/// Join_Control), with Alphabetic taken as letters, Nl and the Other_Alphabetic symbols
/// (circled and squared letters); the Other_Alphabetic marks are covered by M.
[[nodiscard]] inline bool unicode_is_word(char32_t c) noexcept {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
      (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
    return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

namespace detail {
struct byte_level_tables {
  std::array<char32_t, 256> to_char{};
  std::array<std::string, 256> to_utf8{};
  std::array<unsigned char, 68> from_shifted{};  // byte of character U+0100 + k
  byte_level_tables() {
    // Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100.. in byte order,
    // so every byte becomes a visible, non-space character (GPT-2's bytes_to_unicode).
    std::array<bool, 256> direct{};
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = direct[b] ? char32_t(b) : next++;
      to_utf8[b] = utf8_encode(to_char[b]);
      if (!direct[b]) from_shifted[to_char[b] - 0x100] = static_cast<unsigned char>(b);
    }
  }
};
inline const byte_level_tables& byte_level() {
  static const byte_level_tables tables;
  return tables;
}
}  // namespace detail

/// The character that byte-level BPE uses for byte `b` (GPT-2 map), UTF-8 encoded.
[[nodiscard]] inline const std::string& byte_level_char(unsigned char b) { return detail::byte_level().to_utf8[b]; }

/// The byte that byte-level character `c` stands for, or -1 when `c` is not in the map.
[[nodiscard]] inline int byte_level_byte(char32_t c) noexcept {
  if (c < 0x100) {
    const bool direct = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
    return direct ? static_cast<int>(c) : -1;
  }
  if (c >= 0x100 + 68) return -1;
  return detail::byte_level().from_shifted[c - 0x100];
}

}  // namespace llmc
