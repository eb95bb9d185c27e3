// llmc/text/tokenizer_pipeline.hpp — normalizers, pre-tokenizers, decoders and added tokens.
//
// The stages of a Hugging Face tokenizer.json other than the model, each a small value type
// with an `apply` that reproduces the Rust implementation it names (paths relative to
// huggingface/tokenizers:tokenizers/src): normalizers/{prepend,replace,unicode,strip}.rs,
// pre_tokenizers/{split,byte_level,metaspace,digits,whitespace}.rs, tokenizer/normalizer.rs
// `split` (the five SplitDelimiterBehavior rules), decoders/*.rs and
// tokenizer/added_vocabulary.rs (leftmost-longest added-token matching with lstrip, rstrip,
// single_word). Offsets are not tracked: llmc needs ids, not alignments. The one place where
// tokenizers' alignments change the ids is Metaspace's prepend_scheme "first", which asks whether a
// piece starts at original offset 0; for that a piece carries `zero_prefix`, the number of its
// leading bytes aligned to the first original character, updated by each step as normalizer.rs
// updates alignments (exact for prepend/replace/strip/pre-tokenizers, approximate for Unicode
// normalization that composes across the first character).
// Invariant: all text handled here is well-formed UTF-8; empty pieces are dropped after every split.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/text/tokenizer_bpe.hpp"
#include "llmc/text/unicode.hpp"
#include "llmc/text/unicode_regex.hpp"

namespace llmc {

/// A pattern of tokenizer.json: {"String": s} (literal) or {"Regex": r}.
struct text_pattern {
  std::string literal;                          ///< used when regex is null
  std::shared_ptr<const unicode_regex> regex;   ///< compiled Regex pattern, or null

  /// (start, end, is_match) spans covering `s` in order, as tokenizers' Pattern::find_matches.
  template <class Out>
  void find_matches(std::string_view s, Out& out) const;
};

/// A span of a string produced by a pattern: [start, end) and whether the pattern matched it.
struct match_span {
  std::size_t start;
  std::size_t end;
  bool is_match;
};

template <class Out>
void text_pattern::find_matches(std::string_view s, Out& out) const {
  out.clear();
  if (s.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  std::size_t prev = 0;
  const auto emit = [&](std::size_t a, std::size_t b) {
    if (prev != a) out.push_back({prev, a, false});
    out.push_back({a, b, true});
    prev = b;
  };
  if (regex) {
    regex->for_each_match(s, emit);
  } else if (!literal.empty()) {  // an empty literal matches nothing (pattern.rs)
    for (std::size_t pos = s.find(literal); pos != std::string_view::npos; pos = s.find(literal, pos)) {
      emit(pos, pos + literal.size());
      pos += literal.size();
    }
  }
  if (prev != s.size()) out.push_back({prev, s.size(), false});
}

/// How a split keeps the delimiters (tokenizers' SplitDelimiterBehavior). With the delimiter '-'
/// on "the-final--countdown": removed -> the|final|countdown; isolated -> the|-|final|-|-|countdown;
/// merged_with_previous -> the-|final-|-|countdown; merged_with_next -> the|-final|-|-countdown;
/// contiguous -> the|-|final|--|countdown (normalizer.rs `split`).
enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

/// A piece of text between the stages of encoding.
struct text_piece {
  std::string text;
  bool at_start = false;         ///< begins at offset 0 of the original input (offsets_original().0 == 0)
  std::size_t zero_prefix = 0;   ///< leading bytes whose alignment starts at original offset 0
};

namespace detail {
/// Applies a SplitDelimiterBehavior to the spans of `piece` and appends the non-empty results.
/// `spans` must cover the piece in order, as text_pattern::find_matches produces them.
inline void split_piece(const text_piece& piece, const std::vector<match_span>& spans, split_behavior behavior,
                        std::vector<text_piece>& out) {
  struct range {
    std::size_t start, end;
    bool remove;
  };
  std::vector<range> ranges;
  ranges.reserve(spans.size());
  switch (behavior) {
    case split_behavior::isolated:
      for (const auto& m : spans) ranges.push_back({m.start, m.end, false});
      break;
    case split_behavior::removed:
      for (const auto& m : spans) ranges.push_back({m.start, m.end, m.is_match});
      break;
    case split_behavior::contiguous: {
      bool previous = false;
      for (const auto& m : spans) {
        if (m.is_match == previous && !ranges.empty()) {
          ranges.back().end = m.end;
        } else {
          ranges.push_back({m.start, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    }
    case split_behavior::merged_with_previous: {
      bool previous = false;
      for (const auto& m : spans) {
        if (m.is_match && !previous && !ranges.empty()) {
          ranges.back().end = m.end;
        } else {
          ranges.push_back({m.start, m.end, false});
        }
        previous = m.is_match;
      }
      break;
    }
    case split_behavior::merged_with_next: {
      // Walk backwards so that a delimiter joins the piece that follows it.
      bool previous = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous && !ranges.empty()) {
          ranges.back().start = it->start;
        } else {
          ranges.push_back({it->start, it->end, false});
        }
        previous = it->is_match;
      }
      std::reverse(ranges.begin(), ranges.end());
      break;
    }
  }
  for (const auto& r : ranges) {
    if (r.remove || r.end <= r.start) continue;
    // A slice starts at original offset 0 when its first byte is aligned there (normalizer.rs `slice`).
    const bool at_start = piece.at_start && r.start < piece.zero_prefix;
    out.push_back({piece.text.substr(r.start, r.end - r.start), at_start,
                   at_start ? std::min(piece.zero_prefix - r.start, r.end - r.start) : 0});
  }
}

/// Spans of the characters that satisfy `pred`, each character its own match (pattern.rs, impl for Fn(char)).
template <class Pred>
void find_char_matches(std::string_view s, Pred pred, std::vector<match_span>& out) {
  out.clear();
  if (s.empty()) {
    out.push_back({0, 0, false});
    return;
  }
  std::size_t last = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t len = 0;
    const char32_t c = utf8_decode_at(s, i, len);
    if (pred(c)) {
      if (last < i) out.push_back({last, i, false});
      out.push_back({i, i + len, true});
      last = i + len;
    }
    i += len;
  }
  if (last < s.size()) out.push_back({last, s.size(), false});
}

/// Replaces every match of `pattern` by `content`. `zero_prefix`, when given, is updated as
/// normalizer.rs `replace` moves alignments: replacement text takes the alignment of the first
/// character it replaces.
inline void replace_all(std::string& s, const text_pattern& pattern, std::string_view content,
                        std::size_t* zero_prefix = nullptr) {
  if (!pattern.regex && (pattern.literal.empty() || s.find(pattern.literal) == std::string::npos)) return;
  std::vector<match_span> spans;
  pattern.find_matches(s, spans);
  std::string out;
  out.reserve(s.size() + content.size() * 4);
  const std::size_t zp = zero_prefix ? *zero_prefix : 0;
  std::size_t new_zp = 0;
  bool zero = zp > 0;  // still inside the zero-aligned prefix
  for (const auto& m : spans) {
    if (m.is_match) {
      if (zero && m.start < zp) {
        new_zp = out.size() + content.size();
      } else {
        zero = false;
      }
      out += content;
    } else {
      if (zero) {
        if (m.end <= zp) {
          new_zp = out.size() + (m.end - m.start);
        } else {
          if (m.start < zp) new_zp = out.size() + (zp - m.start);
          zero = false;
        }
      }
      out.append(s, m.start, m.end - m.start);
    }
  }
  s = std::move(out);
  if (zero_prefix) *zero_prefix = new_zp;
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Normalizers
// ---------------------------------------------------------------------------------------------

// Each normalizer's apply(s, zero_prefix) rewrites s and keeps zero_prefix (see text_piece) in step.

/// Prepend: adds `prepend` in front of a non-empty string.
struct normalizer_prepend {
  std::string prepend;
  void apply(std::string& s, std::size_t& zp) const {
    if (s.empty()) return;
    s.insert(0, prepend);
    if (zp > 0) zp += prepend.size();  // the new characters share the first character's alignment
  }
};
/// Replace: every match of `pattern` becomes `content`.
struct normalizer_replace {
  text_pattern pattern;
  std::string content;
  void apply(std::string& s, std::size_t& zp) const { detail::replace_all(s, pattern, content, &zp); }
};
/// NFC / NFD / NFKC / NFKD.
struct normalizer_unicode {
  normalization_form form;
  void apply(std::string& s, std::size_t& zp) const {
    std::string out = unicode_normalize(s, form);
    if (zp > 0) {
      // Characters produced from the zero-aligned prefix keep its alignment. When composition
      // reaches across the prefix's end, the composed first character still belongs to it.
      const std::string head = unicode_normalize(std::string_view(s).substr(0, std::min(zp, s.size())), form);
      if (out.compare(0, head.size(), head) == 0) {
        zp = head.size();
      } else {
        zp = out.empty() ? 0 : utf8_lead_length(static_cast<unsigned char>(out[0]));
      }
    }
    s = std::move(out);
  }
};
/// Strip: removes White_Space characters at the left and/or right end.
struct normalizer_strip {
  bool left = true;
  bool right = true;
  void apply(std::string& s, std::size_t& zp) const {
    std::size_t b = 0, e = s.size();
    while (left && b < e) {
      std::size_t len = 0;
      if (!unicode_is_whitespace(utf8_decode_at(s, b, len))) break;
      b += len;
    }
    while (right && e > b) {
      const std::size_t p = utf8_prev(s, e);
      std::size_t len = 0;
      if (!unicode_is_whitespace(utf8_decode_at(s, p, len))) break;
      e = p;
    }
    s = s.substr(b, e - b);
    zp = zp > b ? std::min(zp - b, s.size()) : 0;  // stripped characters take their alignment along
  }
};
/// One normalizer step; a tokenizer.json Sequence is flattened into a vector of these.
using normalizer_step = std::variant<normalizer_prepend, normalizer_replace, normalizer_unicode, normalizer_strip>;

/// Runs the normalizer steps in order; `zero_prefix` as in text_piece.
inline void apply_normalizers(const std::vector<normalizer_step>& steps, std::string& s, std::size_t& zero_prefix) {
  for (const auto& step : steps) std::visit([&](const auto& n) { n.apply(s, zero_prefix); }, step);
}
/// Runs the normalizer steps in order.
inline void apply_normalizers(const std::vector<normalizer_step>& steps, std::string& s) {
  std::size_t zp = 0;
  apply_normalizers(steps, s, zp);
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers: each maps a list of pieces to a list of pieces.
// ---------------------------------------------------------------------------------------------

/// Split: cuts each piece at the matches of `pattern` (or between them when `invert`).
struct pre_tokenizer_split {
  text_pattern pattern;
  split_behavior behavior = split_behavior::isolated;
  bool invert = false;
  void apply(std::vector<text_piece>& pieces) const {
    std::vector<text_piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<match_span> spans;
    for (const auto& p : pieces) {
      pattern.find_matches(p.text, spans);
      if (invert)
        for (auto& m : spans) m.is_match = !m.is_match;
      detail::split_piece(p, spans, behavior, out);
    }
    pieces = std::move(out);
  }
};

namespace detail {
/// GPT-2's split regex, used by ByteLevel when use_regex is set (pre_tokenizers/byte_level.rs).
inline const text_pattern& gpt2_pattern() {
  static const text_pattern pattern{
      {}, std::make_shared<const unicode_regex>(
              R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)")};
  return pattern;
}
}  // namespace detail

/// ByteLevel: optional leading space and GPT-2 split, then every byte becomes its visible character.
struct pre_tokenizer_byte_level {
  bool add_prefix_space = true;
  bool use_regex = true;
  void apply(std::vector<text_piece>& pieces) const {
    std::vector<text_piece> split;
    split.reserve(pieces.size() * 4);
    std::vector<match_span> spans;
    for (auto& p : pieces) {
      if (add_prefix_space && (p.text.empty() || p.text.front() != ' ')) {
        p.text.insert(0, " ");
        if (p.zero_prefix > 0) ++p.zero_prefix;
      }
      if (!use_regex) {
        split.push_back(std::move(p));
        continue;
      }
      detail::gpt2_pattern().find_matches(p.text, spans);
      detail::split_piece(p, spans, split_behavior::isolated, split);
    }
    for (auto& p : split) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (std::size_t i = 0; i < p.text.size(); ++i) {
        mapped += byte_level_char(static_cast<unsigned char>(p.text[i]));
        if (i + 1 == p.zero_prefix) p.zero_prefix = mapped.size();
      }
      p.text = std::move(mapped);
    }
    pieces = std::move(split);
  }
};

/// When Metaspace adds its replacement character in front of a piece.
enum class prepend_scheme { always, first, never };

/// Metaspace: spaces become `replacement` (U+2581 by default), which may also be prepended,
/// and the piece may be split in front of each replacement character.
struct pre_tokenizer_metaspace {
  char32_t replacement = 0x2581;
  prepend_scheme scheme = prepend_scheme::always;
  bool split = true;
  void apply(std::vector<text_piece>& pieces) const {
    const std::string rep = utf8_encode(replacement);
    std::vector<text_piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<match_span> spans;
    for (auto& p : pieces) {
      std::string t;
      t.reserve(p.text.size() * 2);
      std::size_t zp = 0;
      for (std::size_t i = 0; i < p.text.size(); ++i) {
        if (p.text[i] == ' ') {
          t += rep;
        } else {
          t += p.text[i];
        }
        if (i + 1 == p.zero_prefix) zp = t.size();
      }
      const bool starts = t.compare(0, rep.size(), rep) == 0;
      if (!starts && (scheme == prepend_scheme::always || (scheme == prepend_scheme::first && p.at_start))) {
        t.insert(0, rep);
        if (zp > 0) zp += rep.size();
      }
      p.text = std::move(t);
      p.zero_prefix = zp;
      if (!split) {
        out.push_back(std::move(p));
        continue;
      }
      detail::find_char_matches(p.text, [&](char32_t c) { return c == replacement; }, spans);
      detail::split_piece(p, spans, split_behavior::merged_with_next, out);
    }
    pieces = std::move(out);
  }
};

/// Digits: isolates each numeric character, or each run of them.
struct pre_tokenizer_digits {
  bool individual_digits = false;
  void apply(std::vector<text_piece>& pieces) const {
    std::vector<text_piece> out;
    std::vector<match_span> spans;
    for (const auto& p : pieces) {
      detail::find_char_matches(p.text, unicode_is_numeric, spans);
      detail::split_piece(p, spans, individual_digits ? split_behavior::isolated : split_behavior::contiguous, out);
    }
    pieces = std::move(out);
  }
};

/// WhitespaceSplit: splits on White_Space and drops it.
struct pre_tokenizer_whitespace_split {
  void apply(std::vector<text_piece>& pieces) const {
    std::vector<text_piece> out;
    std::vector<match_span> spans;
    for (const auto& p : pieces) {
      detail::find_char_matches(p.text, unicode_is_whitespace, spans);
      detail::split_piece(p, spans, split_behavior::removed, out);
    }
    pieces = std::move(out);
  }
};

/// One pre-tokenizer step; a tokenizer.json Sequence is flattened into a vector of these.
using pre_tokenizer_step = std::variant<pre_tokenizer_split, pre_tokenizer_byte_level, pre_tokenizer_metaspace,
                                        pre_tokenizer_digits, pre_tokenizer_whitespace_split>;

/// Runs the pre-tokenizer steps in order.
inline void apply_pre_tokenizers(const std::vector<pre_tokenizer_step>& steps, std::vector<text_piece>& pieces) {
  for (const auto& step : steps) std::visit([&](const auto& p) { p.apply(pieces); }, step);
}

// ---------------------------------------------------------------------------------------------
// Decoders: each maps a list of token strings to a list of strings; the results are concatenated.
// ---------------------------------------------------------------------------------------------

/// Replace: every match of `pattern` in each token becomes `content`.
struct decoder_replace {
  text_pattern pattern;
  std::string content;
  void apply(std::vector<std::string>& tokens) const {
    for (auto& t : tokens) detail::replace_all(t, pattern, content);
  }
};
/// ByteFallback: runs of <0xXX> tokens become their bytes, or one U+FFFD per byte when invalid UTF-8.
/// A run is judged as a whole (decoders/byte_fallback.rs): a valid sequence followed by a stray
/// byte gives one U+FFFD for every byte of the run, not a partial decode.
struct decoder_byte_fallback {
  static std::optional<unsigned char> byte_of(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return std::nullopt;
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    if (hi >= 0 && lo >= 0) return static_cast<unsigned char>(hi * 16 + lo);
    if (t[3] == '+' && lo >= 0) return static_cast<unsigned char>(lo);  // Rust's from_str_radix takes a '+'
    return std::nullopt;
  }
  void apply(std::vector<std::string>& tokens) const {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    const auto flush = [&] {
      if (bytes.empty()) return;
      if (utf8_is_valid(bytes)) {
        out.push_back(bytes);
      } else {
        for (std::size_t i = 0; i < bytes.size(); ++i) out.emplace_back(utf8_replacement);
      }
      bytes.clear();
    };
    for (auto& t : tokens) {
      if (const auto b = byte_of(t)) {
        bytes.push_back(static_cast<char>(*b));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};
/// Fuse: concatenates all tokens into one.
struct decoder_fuse {
  void apply(std::vector<std::string>& tokens) const {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};
/// Strip: removes up to `start` leading and `stop` trailing `content` characters of each token.
/// Llama's decoder uses Strip(" ", 1, 0) after Fuse to drop the space that Prepend("▁") added.
struct decoder_strip {
  char32_t content = ' ';
  std::size_t start = 0;
  std::size_t stop = 0;
  void apply(std::vector<std::string>& tokens) const {
    for (auto& t : tokens) {
      std::vector<std::pair<std::size_t, char32_t>> chars;  // (byte offset, code point)
      for (std::size_t i = 0; i < t.size();) {
        std::size_t len = 0;
        chars.emplace_back(i, utf8_decode_at(t, i, len));
        i += len;
      }
      std::size_t cut_start = 0;
      for (std::size_t i = 0; i < std::min(start, chars.size()) && chars[i].second == content; ++i) cut_start = i + 1;
      std::size_t cut_stop = chars.size();
      for (std::size_t i = 0; i < std::min(stop, chars.size()); ++i) {
        const std::size_t index = chars.size() - i - 1;
        if (chars[index].second != content) break;
        cut_stop = index;
      }
      if (cut_stop < cut_start) cut_stop = cut_start;
      const std::size_t b = cut_start < chars.size() ? chars[cut_start].first : t.size();
      const std::size_t e = cut_stop < chars.size() ? chars[cut_stop].first : t.size();
      t = t.substr(b, e - b);
    }
  }
};
/// ByteLevel: maps the GPT-2 characters back to bytes across all tokens, then decodes UTF-8 lossily.
/// A token holding any character outside the map contributes its own UTF-8 bytes (decoders byte_level.rs).
struct decoder_byte_level {
  void apply(std::vector<std::string>& tokens) const {
    std::string bytes;
    std::string mapped;
    for (const auto& t : tokens) {
      mapped.clear();
      bool all = true;
      for (std::size_t i = 0; i < t.size() && all;) {
        std::size_t len = 0;
        const int b = byte_level_byte(utf8_decode_at(t, i, len));
        if (b < 0) {
          all = false;
        } else {
          mapped.push_back(static_cast<char>(b));
        }
        i += len;
      }
      bytes += all ? mapped : t;
    }
    tokens.assign(1, utf8_sanitize(bytes));
  }
};
/// Metaspace: the replacement character becomes a space; in the first token it is dropped
/// unless the prepend scheme is "never".
struct decoder_metaspace {
  char32_t replacement = 0x2581;
  prepend_scheme scheme = prepend_scheme::always;
  void apply(std::vector<std::string>& tokens) const {
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      const std::string& t = tokens[k];
      std::string out;
      out.reserve(t.size());
      for (std::size_t i = 0; i < t.size();) {
        std::size_t len = 0;
        const char32_t c = utf8_decode_at(t, i, len);
        if (c == replacement) {
          if (!(k == 0 && scheme != prepend_scheme::never)) out += ' ';
        } else {
          out.append(t, i, len);
        }
        i += len;
      }
      tokens[k] = std::move(out);
    }
  }
};
/// BPEDecoder: the end-of-word suffix becomes a space (nothing in the last token).
struct decoder_bpe {
  std::string suffix = "</w>";
  void apply(std::vector<std::string>& tokens) const {
    if (suffix.empty()) return;
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      std::string& t = tokens[k];
      const std::string rep = k + 1 == tokens.size() ? "" : " ";
      std::string out;
      std::size_t pos = 0;
      for (std::size_t f = t.find(suffix); f != std::string::npos; f = t.find(suffix, pos)) {
        out.append(t, pos, f - pos);
        out += rep;
        pos = f + suffix.size();
      }
      out.append(t, pos, std::string::npos);
      t = std::move(out);
    }
  }
};
/// One decoder step; a tokenizer.json Sequence is flattened into a vector of these.
using decoder_step = std::variant<decoder_replace, decoder_byte_fallback, decoder_fuse, decoder_strip,
                                  decoder_byte_level, decoder_metaspace, decoder_bpe>;

/// Runs the decoder steps in order and concatenates the result.
inline std::string apply_decoders(const std::vector<decoder_step>& steps, std::vector<std::string> tokens) {
  for (const auto& step : steps) std::visit([&](const auto& d) { d.apply(tokens); }, step);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Added tokens
// ---------------------------------------------------------------------------------------------

/// An entry of tokenizer.json's "added_tokens".
struct added_token {
  std::string content;
  token_id id = -1;
  bool special = false;
  bool normalized = true;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

/// Finds added tokens in text: leftmost-longest, non-overlapping (daachorse MatchKind::LeftmostLongest).
/// Added tokens are few (tens to hundreds), so patterns are bucketed by first byte and tried
/// longest first at each position; no automaton is needed for the scan to cost ~1 byte test.
class added_token_matcher {
 public:
  /// One pattern per token; `patterns[k]` is matched for `tokens[k]` (normalized or raw content).
  added_token_matcher() = default;
  void add(std::string pattern, std::size_t token_index) {
    if (pattern.empty()) return;  // tokenizers ignores empty added tokens
    const auto first = static_cast<unsigned char>(pattern.front());
    entries_.push_back({std::move(pattern), token_index});
    buckets_[first].push_back(entries_.size() - 1);
    auto& bucket = buckets_[first];
    std::stable_sort(bucket.begin(), bucket.end(), [&](std::size_t a, std::size_t b) {
      return entries_[a].pattern.size() > entries_[b].pattern.size();
    });
  }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

  /// Calls on_match(start, end, token_index) for each leftmost-longest match.
  template <class OnMatch>
  void for_each_match(std::string_view s, OnMatch&& on_match) const {
    if (entries_.empty()) return;
    for (std::size_t i = 0; i < s.size();) {
      const auto& bucket = buckets_[static_cast<unsigned char>(s[i])];
      bool hit = false;
      for (const std::size_t e : bucket) {  // longest first
        const std::string& p = entries_[e].pattern;
        if (s.size() - i >= p.size() && s.compare(i, p.size(), p) == 0) {
          on_match(i, i + p.size(), entries_[e].token_index);
          i += p.size();
          hit = true;
          break;
        }
      }
      if (!hit) ++i;
    }
  }

 private:
  struct entry {
    std::string pattern;
    std::size_t token_index;
  };
  std::vector<entry> entries_;
  std::array<std::vector<std::size_t>, 256> buckets_{};
};

namespace detail {
/// A segment of text produced by splitting on added tokens: either a token or plain text.
struct added_segment {
  std::size_t start, end;
  std::optional<std::size_t> token_index;
};

/// Splits `s` on the tokens found by `matcher` (added_vocabulary.rs `find_matches`). A match that
/// is skipped (split_special for a special token, or single_word next to a word character) still
/// consumes its span, as the Rust iterator over non-overlapping matches does. lstrip / rstrip
/// extend the token over adjacent White_Space, which then is not tokenized.
inline void split_on_added(std::string_view s, const added_token_matcher& matcher,
                           const std::vector<added_token>& tokens, bool split_special,
                           std::vector<added_segment>& out) {
  out.clear();
  std::size_t start_offset = 0;
  matcher.for_each_match(s, [&](std::size_t start, std::size_t stop, std::size_t k) {
    const added_token& tok = tokens[k];
    if (split_special && tok.special) return;
    if (tok.single_word) {
      bool start_space = true, stop_space = true;
      if (start > 0) {
        std::size_t len = 0;
        start_space = !unicode_is_word(utf8_decode_at(s, utf8_prev(s, start), len));
      }
      if (stop < s.size()) {
        std::size_t len = 0;
        stop_space = !unicode_is_word(utf8_decode_at(s, stop, len));
      }
      if (!start_space || !stop_space) return;
    }
    if (tok.lstrip) {
      std::size_t b = start;
      while (b > 0) {
        const std::size_t p = utf8_prev(s, b);
        std::size_t len = 0;
        if (!unicode_is_whitespace(utf8_decode_at(s, p, len))) break;
        b = p;
      }
      start = std::max(b, start_offset);  // spaces already taken by the previous match stay there
    }
    if (tok.rstrip) {
      while (stop < s.size()) {
        std::size_t len = 0;
        if (!unicode_is_whitespace(utf8_decode_at(s, stop, len))) break;
        stop += len;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, std::nullopt});
    out.push_back({start, stop, k});
    start_offset = stop;
  });
  if (start_offset < s.size()) out.push_back({start_offset, s.size(), std::nullopt});
}
}  // namespace detail

}  // namespace llmc
