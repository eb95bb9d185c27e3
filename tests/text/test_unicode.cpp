// UTF-8 repair, normalization, the byte-level map and the Oniguruma->PCRE2 regex layer,
// checked against hand-derived expectations (Unicode ch. 3.9 for U+FFFD substitution).
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "llmc/text/unicode.hpp"
#include "llmc/text/unicode_regex.hpp"

using namespace std::string_literals;

namespace {
const std::string fffd = "\xEF\xBF\xBD";
std::vector<std::pair<std::size_t, std::size_t>> matches(const llmc::unicode_regex& re, std::string_view s) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  re.for_each_match(s, [&](std::size_t a, std::size_t b) { out.emplace_back(a, b); });
  return out;
}
}  // namespace

TEST_CASE("utf8_sanitize replaces each maximal ill-formed subpart with one U+FFFD") {
  CHECK(llmc::utf8_sanitize("abc\xff") == "abc" + fffd);
  CHECK(llmc::utf8_sanitize("\xe2\x82") == fffd);                          // truncated 3-byte sequence: one subpart
  CHECK(llmc::utf8_sanitize("\xe2\x82z") == fffd + "z");
  CHECK(llmc::utf8_sanitize("\xed\xa0\x80") == fffd + fffd + fffd);        // surrogate: ED A0 is not a valid prefix
  CHECK(llmc::utf8_sanitize("\xf0\x9f\x98 x") == fffd + " x");             // cut emoji
  CHECK(llmc::utf8_sanitize("\xc0\xaf") == fffd + fffd);                   // overlong
  CHECK(llmc::utf8_sanitize("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // above U+10FFFF
  CHECK(llmc::utf8_sanitize("\x80\x80") == fffd + fffd);
  CHECK(llmc::utf8_sanitize("\xe0\x80\x80") == fffd + fffd + fffd);
  CHECK(llmc::utf8_sanitize("a\0b"s) == "a\0b"s);  // NUL is a valid character
  const std::string good = "caf\xc3\xa9 \xe4\xb8\x96 \xf0\x9f\x98\x80";
  CHECK(llmc::utf8_sanitize(good) == good);
  CHECK(llmc::utf8_is_valid(good));
  CHECK_FALSE(llmc::utf8_is_valid("\xed\xa0\x80"));
  CHECK_FALSE(llmc::utf8_is_valid("\xc3"));
  CHECK(llmc::utf8_length(good) == 8);
}

TEST_CASE("utf8 encode/decode round trip at the encoding boundaries") {
  for (const char32_t cp : {U'\0', U'\x7f', U'\x80', U'\x7ff', U'\x800', U'\xffff', U'\x10000', U'\x10ffff'}) {
    const std::string s = llmc::utf8_encode(cp);
    std::size_t len = 0;
    CHECK(llmc::utf8_decode_at(s, 0, len) == cp);
    CHECK(len == s.size());
    CHECK(llmc::utf8_prev(s, s.size()) == 0);
  }
}

TEST_CASE("unicode_normalize: NFC, NFD, NFKC, NFKD via utf8proc") {
  using llmc::normalization_form;
  CHECK(llmc::unicode_normalize("e\xcc\x81", normalization_form::nfc) == "\xc3\xa9");           // e + U+0301 -> é
  CHECK(llmc::unicode_normalize("\xc3\xa9", normalization_form::nfd) == "e\xcc\x81");
  CHECK(llmc::unicode_normalize("\xe2\x84\xab", normalization_form::nfc) == "\xc3\x85");        // Angstrom sign -> Å
  CHECK(llmc::unicode_normalize("\xef\xac\x81", normalization_form::nfc) == "\xef\xac\x81");    // ﬁ is kept by NFC
  CHECK(llmc::unicode_normalize("\xef\xac\x81", normalization_form::nfkc) == "fi");
  CHECK(llmc::unicode_normalize("\xe2\x91\xa0", normalization_form::nfkd) == "1");              // circled one
  CHECK(llmc::unicode_normalize("plain ascii", normalization_form::nfc) == "plain ascii");
}

TEST_CASE("Unicode properties: White_Space and numeric") {
  CHECK(llmc::unicode_is_whitespace(U'\x85'));
  CHECK(llmc::unicode_is_whitespace(U'\x3000'));
  CHECK_FALSE(llmc::unicode_is_whitespace(U'\x180e'));  // Cf since Unicode 6.3
  CHECK_FALSE(llmc::unicode_is_whitespace(U'\x200b'));
  CHECK(llmc::unicode_is_numeric(U'7'));
  CHECK(llmc::unicode_is_numeric(U'\x663'));   // Arabic-Indic three (Nd)
  CHECK(llmc::unicode_is_numeric(U'\xbd'));    // ½ (No)
  CHECK(llmc::unicode_is_numeric(U'\x216b'));  // Ⅻ (Nl)
  CHECK_FALSE(llmc::unicode_is_numeric(U'x'));
}

TEST_CASE("GPT-2 byte-level map") {
  CHECK(llmc::byte_level_char(' ') == "\xc4\xa0");   // Ġ U+0120
  CHECK(llmc::byte_level_char('\n') == "\xc4\x8a");  // Ċ U+010A
  CHECK(llmc::byte_level_char('A') == "A");
  CHECK(llmc::byte_level_char(0xAD) == "\xc5\x83");  // soft hyphen -> U+0143, the 68th remapped byte
  CHECK(llmc::byte_level_char(0xFF) == "\xc3\xbf");  // ÿ maps to itself
  for (int b = 0; b < 256; ++b) {
    const std::string& s = llmc::byte_level_char(static_cast<unsigned char>(b));
    std::size_t len = 0;
    CHECK(llmc::byte_level_byte(llmc::utf8_decode_at(s, 0, len)) == b);
  }
  CHECK(llmc::byte_level_byte(U'\x144') == -1);
  CHECK(llmc::byte_level_byte(U' ') == -1);
}

TEST_CASE("Oniguruma escapes are translated for PCRE2") {
  const llmc::unicode_regex ws(R"(\s+)");
  // U+0085 is White_Space (Oniguruma matches it); U+180E is not (PCRE2's own \s would match it).
  CHECK(matches(ws, "a\xc2\x85" "b") == std::vector<std::pair<std::size_t, std::size_t>>{{1, 3}});
  CHECK(matches(ws, "a\xe1\xa0\x8e" "b").empty());
  const llmc::unicode_regex not_ws(R"([^\s\p{L}]+)");
  CHECK(matches(not_ws, "ab\xe1\xa0\x8e" "1 c") == std::vector<std::pair<std::size_t, std::size_t>>{{2, 6}});
  const llmc::unicode_regex nonspace_in_class(R"([\S]+)");
  CHECK(matches(nonspace_in_class, "ab cd") == std::vector<std::pair<std::size_t, std::size_t>>{{0, 2}, {3, 5}});
  const llmc::unicode_regex hex(R"(\h+)");  // Ruby syntax: hexadecimal digit
  CHECK(matches(hex, "zz0fAg") == std::vector<std::pair<std::size_t, std::size_t>>{{2, 5}});
  const llmc::unicode_regex vt(R"(\v)");  // the VT character only
  CHECK(matches(vt, "\n\x0b\r") == std::vector<std::pair<std::size_t, std::size_t>>{{1, 2}});
  const llmc::unicode_regex ci(R"((?i:'s|'t))");
  CHECK(matches(ci, "IT'S it's") == std::vector<std::pair<std::size_t, std::size_t>>{{2, 4}, {7, 9}});
  const llmc::unicode_regex letters(R"(\p{L}+)");
  CHECK(matches(letters, "\xe4\xbd\xa0\xe5\xa5\xbd, w\xc3\xb6rld") ==
        std::vector<std::pair<std::size_t, std::size_t>>{{0, 6}, {8, 14}});
  CHECK_THROWS_AS(llmc::unicode_regex(R"([\W])"), llmc::config_error);
  try {
    llmc::unicode_regex bad("(unclosed");
    FAIL("expected config_error");
  } catch (const llmc::config_error& e) {
    CHECK(e.id() == "llmc.text.206");
  }
}

TEST_CASE("empty matches follow the onig crate's iterator") {
  const llmc::unicode_regex re("a*");
  // (0,0) is reported; the empty match at 0 again is skipped; then "aaa"; the empty match at the
  // end touches the previous match and is skipped.
  CHECK(matches(re, "baaa") == std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {1, 4}});
  const llmc::unicode_regex lookahead("(?=b)");
  CHECK(matches(lookahead, "abab") == std::vector<std::pair<std::size_t, std::size_t>>{{1, 1}, {3, 3}});
}
