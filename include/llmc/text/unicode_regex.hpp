// llmc/text/unicode_regex.hpp — the regular expressions of tokenizer.json, run with PCRE2.
//
// Hugging Face `tokenizers` compiles the Split / Replace patterns of tokenizer.json with
// Oniguruma in its Ruby syntax (tokenizers/src/utils/onig.rs). PCRE2 (Debian libpcre2-dev) in
// UTF + UCP mode understands the same constructs those files use (\p{L}, \p{N}, (?i:...),
// possessive quantifiers, look-ahead), but a few escapes mean something else, so
// `translate_oniguruma` rewrites them first:
//   \s \S   Oniguruma: Unicode White_Space. PCRE2 adds U+180E; we spell the set out.
//   \h \H   Oniguruma (Ruby): hexadecimal digit. PCRE2: horizontal space.
//   \v      Oniguruma: the VT character. PCRE2: any vertical space.
//   \w \W   Oniguruma: letters, marks, Nd, Nl, Pc (+ a few). PCRE2 UCP: letters, numbers, underscore.
//   ^ $     Ruby anchors are always line anchors (PCRE2_MULTILINE).
// Matching follows the onig crate's FindMatches iterator: an empty match adjacent to the
// previous match is skipped and the search resumes one character further.
// Invariant: subjects are well-formed UTF-8 (checked by the caller), so matching uses
// PCRE2_NO_UTF_CHECK; compiled code is immutable and may be shared between threads.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "llmc/core/error.hpp"
#include "llmc/text/unicode.hpp"

namespace llmc {

namespace detail {
// White_Space as a PCRE2 class body, and its complement (surrogates excluded, as UTF mode requires).
inline constexpr std::string_view regex_space_class =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
inline constexpr std::string_view regex_nonspace_class =
    "\\x{0}-\\x{8}\\x{E}-\\x{1F}\\x{21}-\\x{84}\\x{86}-\\x{9F}\\x{A1}-\\x{167F}\\x{1681}-\\x{1FFF}"
    "\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{D7FF}"
    "\\x{E000}-\\x{10FFFF}";
// Oniguruma's Unicode \w, measured code point by code point through tokenizers 0.23: letters,
// marks, Nd, Nl, Pc, the Other_Alphabetic circled/squared letters, and six Latin-1 No characters.
inline constexpr std::string_view regex_word_class =
    "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}\\x{24B6}-\\x{24E9}"
    "\\x{1F130}-\\x{1F149}\\x{1F150}-\\x{1F169}\\x{1F170}-\\x{1F189}";
inline constexpr std::string_view regex_hex_class = "0-9A-Fa-f";
}  // namespace detail

/// Rewrites an Oniguruma (Ruby syntax) pattern into an equivalent PCRE2 pattern.
/// @throws llmc::config_error (llmc.text.206) for a complemented class escape (\S, \W, \H) inside
///         a bracket expression, which PCRE2 cannot express as a union.
[[nodiscard]] inline std::string translate_oniguruma(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  int class_depth = 0;  // > 0 inside [...]
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      const bool in_class = class_depth > 0;
      const auto positive = [&](std::string_view body) {
        if (in_class) {
          out += body;
        } else {
          out += '[';
          out += body;
          out += ']';
        }
      };
      const auto negative = [&](std::string_view body, char name) {
        if (in_class) {
          if (name == 'S') {  // the complement of White_Space is written out as ranges
            out += detail::regex_nonspace_class;
            return;
          }
          LLMC_THROW(llmc::config_error, "llmc.text.206",
                     std::string("regex escape \\") + name +
                         " inside a character class is not supported (pattern: " + std::string(pattern) + ")");
        }
        out += "[^";
        out += body;
        out += ']';
      };
      switch (e) {
        case 's': positive(detail::regex_space_class); break;
        case 'S': negative(detail::regex_space_class, 'S'); break;
        case 'w': positive(detail::regex_word_class); break;
        case 'W': negative(detail::regex_word_class, 'W'); break;
        case 'h': positive(detail::regex_hex_class); break;
        case 'H': negative(detail::regex_hex_class, 'H'); break;
        case 'v': out += "\\x{B}"; break;
        default:
          out += '\\';
          out += e;
          // \p{..}, \x{..}: copy the braces verbatim so a '[' inside cannot confuse the scan
          if ((e == 'p' || e == 'P' || e == 'x') && i + 1 < pattern.size() && pattern[i + 1] == '{') {
            while (++i < pattern.size()) {
              out += pattern[i];
              if (pattern[i] == '}') break;
            }
          }
          break;
      }
      continue;
    }
    if (c == '[') {
      if (class_depth > 0 && i + 1 < pattern.size() && pattern[i + 1] == ':') {
        // POSIX class [:alpha:] inside a bracket expression
        const std::size_t close = pattern.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(pattern.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      ++class_depth;
      out += c;
      // a ']' right after '[' or '[^' is a literal member, not the end of the class
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out += c;
  }
  return out;
}

/// A compiled tokenizer regex. Thread-safe for concurrent matching.
class unicode_regex {
 public:
  /// Compiles an Oniguruma-syntax pattern (translated with translate_oniguruma).
  /// @throws llmc::config_error (llmc.text.206) when the pattern does not compile.
  explicit unicode_regex(std::string_view oniguruma_pattern) : source_(oniguruma_pattern) {
    const std::string pcre = translate_oniguruma(oniguruma_pattern);
    std::unique_ptr<pcre2_compile_context, decltype(&pcre2_compile_context_free)> ctx(
        pcre2_compile_context_create(nullptr), &pcre2_compile_context_free);
    pcre2_set_newline(ctx.get(), PCRE2_NEWLINE_LF);
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre.data()), pcre.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_offset, ctx.get());
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      LLMC_THROW(llmc::config_error, "llmc.text.206",
                 "regex '" + std::string(oniguruma_pattern) + "' does not compile with PCRE2: " +
                     reinterpret_cast<const char*>(msg) + " at offset " + std::to_string(err_offset));
    }
    code_.reset(code);
    // JIT is an optimization only: when it is unavailable the interpreter gives the same matches.
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  }

  /// The pattern as written in tokenizer.json.
  [[nodiscard]] const std::string& source() const noexcept { return source_; }

  /// Calls on_match(start, end) for each match in `subject`, left to right, with the onig crate's
  /// empty-match rule.
  /// @pre subject is well-formed UTF-8.
  /// @throws llmc::config_error (llmc.text.207) when PCRE2 gives up (match or JIT stack limit).
  template <class OnMatch>
  void for_each_match(std::string_view subject, OnMatch&& on_match) const {
    match_state& st = state();
    const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
    std::size_t last_end = 0;
    bool have_last = false;
    std::size_t last_match_end = 0;
    while (last_end <= subject.size()) {
      const int rc = jit_ ? pcre2_jit_match(code_.get(), s, subject.size(), last_end, 0, st.data, st.context)
                          : pcre2_match(code_.get(), s, subject.size(), last_end, PCRE2_NO_UTF_CHECK, st.data,
                                        st.context);
      if (rc == PCRE2_ERROR_NOMATCH) return;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        LLMC_THROW(llmc::config_error, "llmc.text.207",
                   "regex '" + source_ + "' failed on a " + std::to_string(subject.size()) +
                       "-byte input: " + reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(st.data);
      const std::size_t start = ov[0], end = ov[1];
      if (start == end && have_last && last_match_end == end) {
        last_end += last_end < subject.size() ? utf8_lead_length(static_cast<unsigned char>(subject[last_end])) : 1;
        continue;
      }
      last_end = end;
      last_match_end = end;
      have_last = true;
      on_match(start, end);
    }
  }

 private:
  struct code_deleter {
    void operator()(pcre2_code* c) const noexcept { pcre2_code_free(c); }
  };
  // Per-thread scratch: one ovector pair is all we read, so one match-data block serves every pattern.
  struct match_state {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* stack = nullptr;
    match_state() {
      data = pcre2_match_data_create(1, nullptr);
      context = pcre2_match_context_create(nullptr);
      stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
      if (data == nullptr || context == nullptr || stack == nullptr) throw std::bad_alloc();
      pcre2_jit_stack_assign(context, nullptr, stack);
    }
    ~match_state() {
      pcre2_jit_stack_free(stack);
      pcre2_match_context_free(context);
      pcre2_match_data_free(data);
    }
    match_state(const match_state&) = delete;
    match_state& operator=(const match_state&) = delete;
  };
  static match_state& state() {
    thread_local match_state st;
    return st;
  }

  std::string source_;
  std::unique_ptr<pcre2_code, code_deleter> code_;
  bool jit_ = false;
};

}  // namespace llmc
