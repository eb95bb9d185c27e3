// llmc/io/json.hpp — strict JSON reading and Python-compatible JSON writing for the io layer.
//
// Reading: UTF-8 is validated first (llmc.io.105), then nlohmann's SAX parser builds the value
// while rejecting DUPLICATE keys (llmc.io.107; nlohmann's own DOM parser silently keeps the last,
// which would let two readers of one file disagree) and nesting deeper than 128 (llmc.io.106).
// Writing: python_json_dumps() reproduces Python's json.dumps(obj, indent=2, sort_keys=True)
// byte for byte (ensure_ascii escapes, float repr, ", "/": " separators), which is how
// transformers writes config.json and model.safetensors.index.json (see safetensors_writer.hpp).
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/core/error.hpp"
#include "llmc/io/errors.hpp"

namespace llmc {

/// Position of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates, at most
/// U+10FFFF), or npos when the whole text is valid.
inline std::size_t find_invalid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (n - i < len) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

namespace detail {

/// SAX handler that builds a DOM like nlohmann's own, but stops at the first duplicate key or at
/// excessive depth. Pointers into the DOM stay valid: a child is inserted into its parent before
/// it is filled, and the parent receives no other insertion until the child is closed.
template <class Json>
class strict_json_builder {
 public:
  using number_integer_t = typename Json::number_integer_t;
  using number_unsigned_t = typename Json::number_unsigned_t;
  using number_float_t = typename Json::number_float_t;
  using string_t = typename Json::string_t;
  using binary_t = typename Json::binary_t;

  static constexpr std::size_t max_depth = 128;

  Json root;
  std::string duplicate;       // the first duplicated key, if any
  bool too_deep = false;       // nesting beyond max_depth
  std::string syntax_message;  // nlohmann's parse error text, if any

  bool null() { return put(Json(nullptr)); }
  bool boolean(bool v) { return put(Json(v)); }
  bool number_integer(number_integer_t v) { return put(Json(v)); }
  bool number_unsigned(number_unsigned_t v) { return put(Json(v)); }
  bool number_float(number_float_t v, const string_t&) { return put(Json(v)); }
  bool string(string_t& v) { return put(Json(std::move(v))); }
  bool binary(binary_t& v) { return put(Json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(Json::object()); }
  bool start_array(std::size_t) { return open(Json::array()); }
  bool end_object() {
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }
  bool key(string_t& k) {
    if (!keys_.back().insert(k).second) {
      duplicate = k;
      return false;
    }
    key_ = std::move(k);
    return true;
  }
  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception& ex) {
    syntax_message = ex.what();
    return false;
  }

 private:
  Json* slot() {
    if (stack_.empty()) return &root;
    Json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(nullptr);
      return &top.back();
    }
    return &top[key_];
  }
  bool put(Json&& v) {
    *slot() = std::move(v);
    return true;
  }
  bool open(Json&& v) {
    if (stack_.size() >= max_depth) {
      too_deep = true;
      return false;
    }
    Json* s = slot();
    *s = std::move(v);
    stack_.push_back(s);
    keys_.emplace_back();
    return true;
  }
  std::vector<Json*> stack_;
  std::vector<std::unordered_set<std::string>> keys_;
  std::string key_;
};

}  // namespace detail

/// Parses `text` as strict JSON. `what` names the source (usually the file path) in messages.
/// @throws io_error llmc.io.105 (not UTF-8), llmc.io.106 (syntax, depth), llmc.io.107 (duplicate key)
template <class Json = nlohmann::json>
Json parse_json_strict(std::string_view text, const std::string& what) {
  if (const std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    LLMC_THROW(io_error, io_errc::not_utf8,
               what + ": the JSON text is not valid UTF-8 (first bad byte at offset " +
                   std::to_string(bad) + "); the file is corrupt, re-create it");
  }
  // nlohmann's lexer takes a NUL byte for the end of input, so "{}\0garbage" would parse; JSON
  // never allows a raw NUL (inside strings it must be escaped), so reject it up front.
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    LLMC_THROW(io_error, io_errc::malformed_json,
               what + ": malformed JSON (a NUL byte at offset " + std::to_string(nul) +
                   "; JSON text cannot contain one); fix or re-create the file");
  }
  detail::strict_json_builder<Json> builder;
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, nlohmann::json::input_format_t::json,
                                  /*strict=*/true);
  if (!builder.duplicate.empty()) {
    LLMC_THROW(io_error, io_errc::duplicate_key,
               what + ": the key \"" + builder.duplicate +
                   "\" appears twice in one JSON object; readers would disagree on its value, so the "
                   "file is rejected: remove the duplicate");
  }
  if (builder.too_deep) {
    LLMC_THROW(io_error, io_errc::malformed_json,
               what + ": JSON nesting deeper than " +
                   std::to_string(detail::strict_json_builder<Json>::max_depth) + " levels; the file is not a valid input");
  }
  if (!ok || !builder.syntax_message.empty()) {
    LLMC_THROW(io_error, io_errc::malformed_json,
               what + ": malformed JSON (" + builder.syntax_message + "); fix or re-create the file");
  }
  return std::move(builder.root);
}

namespace detail {

/// Appends `s` as a JSON string the way Python's json.dumps(ensure_ascii=True) does: \" \\ \n \r \t
/// \b \f, every other byte outside 0x20..0x7E as \u00xx, non-ASCII as \uXXXX (surrogate pairs).
inline void append_python_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  auto u16 = [&](unsigned v) {
    out += "\\u";
    out += hex[(v >> 12) & 0xF];
    out += hex[(v >> 8) & 0xF];
    out += hex[(v >> 4) & 0xF];
    out += hex[v & 0xF];
  };
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned c = p[i];
    if (c < 0x80) {
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
          if (c < 0x20 || c == 0x7F) {  // Python escapes everything outside ' '..'~'
            u16(c);
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence (nlohmann strings are valid UTF-8 once parsed; a malformed byte
    // is written as U+FFFD rather than producing invalid output).
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len == 1 || i + len > s.size() ||
        find_invalid_utf8(std::string_view(s.data() + i, len)) != std::string_view::npos) {
      u16(0xFFFD);
      ++i;
      continue;
    }
    unsigned cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[i + k] & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u16(0xD800 + (cp >> 10));
      u16(0xDC00 + (cp & 0x3FF));
    } else {
      u16(cp);
    }
    i += len;
  }
  out += '"';
}

/// Python's repr(float): shortest round-trip digits; exponent form when the decimal point
/// position decpt (value = 0.d1d2... x 10^decpt) is <= -4 or > 16 (CPython
/// Python/pystrtod.c format_float_short, mode 'r'); fixed form always carries a ".0".
inline void append_python_float(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-Infinity" : "Infinity";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));  // "-d.ddde+XX"
  std::string sign;
  if (!sci.empty() && sci.front() == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const std::size_t epos = sci.find('e');
  std::string digits;
  for (char ch : sci.substr(0, epos)) {
    if (ch != '.') digits += ch;
  }
  int exp10 = 0;
  std::string_view es = sci.substr(epos + 1);
  if (!es.empty() && es.front() == '+') es.remove_prefix(1);
  std::from_chars(es.data(), es.data() + es.size(), exp10);
  const int decpt = exp10 + 1;
  const int nd = static_cast<int>(digits.size());
  out += sign;
  if (decpt <= -4 || decpt > 16) {
    out += digits[0];
    if (nd > 1) {
      out += '.';
      out.append(digits, 1, std::string::npos);
    }
    out += 'e';
    out += exp10 < 0 ? '-' : '+';
    const int a = exp10 < 0 ? -exp10 : exp10;
    if (a < 10) out += '0';
    out += std::to_string(a);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out += digits;
  } else if (decpt >= nd) {
    out += digits;
    out.append(static_cast<std::size_t>(decpt - nd), '0');
    out += ".0";
  } else {
    out.append(digits, 0, static_cast<std::size_t>(decpt));
    out += '.';
    out.append(digits, static_cast<std::size_t>(decpt), std::string::npos);
  }
}

template <class Json>
void append_python_json(std::string& out, const Json& j, int indent, int level, bool sort_keys) {
  auto newline = [&](int lvl) {
    out += '\n';
    out.append(static_cast<std::size_t>(indent * lvl), ' ');
  };
  switch (j.type()) {
    case nlohmann::json::value_t::null: out += "null"; return;
    case nlohmann::json::value_t::boolean: out += j.template get<bool>() ? "true" : "false"; return;
    case nlohmann::json::value_t::number_integer:
      out += std::to_string(j.template get<std::int64_t>());
      return;
    case nlohmann::json::value_t::number_unsigned:
      out += std::to_string(j.template get<std::uint64_t>());
      return;
    case nlohmann::json::value_t::number_float: append_python_float(out, j.template get<double>()); return;
    case nlohmann::json::value_t::string:
      append_python_json_string(out, j.template get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::array: {
      if (j.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      bool first = true;
      for (const auto& e : j) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) newline(level + 1);
        append_python_json(out, e, indent, level + 1, sort_keys);
      }
      if (indent >= 0) newline(level);
      out += ']';
      return;
    }
    case nlohmann::json::value_t::object: {
      if (j.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string_view, const Json*>> items;
      for (auto it = j.begin(); it != j.end(); ++it) items.emplace_back(it.key(), &it.value());
      if (sort_keys) {
        // Python sorts str keys by code point; UTF-8 byte order is the same order.
        std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      bool first = true;
      for (const auto& [k, v] : items) {
        if (!first) out += indent >= 0 ? "," : ", ";
        first = false;
        if (indent >= 0) newline(level + 1);
        append_python_json_string(out, k);
        out += ": ";
        append_python_json(out, *v, indent, level + 1, sort_keys);
      }
      if (indent >= 0) newline(level);
      out += '}';
      return;
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      out += "null";
      return;
  }
}

}  // namespace detail

/// Python's `json.dumps(j, indent=indent, sort_keys=sort_keys)` (ensure_ascii=True, allow_nan=True);
/// indent < 0 means Python's indent=None (", " and ": " separators on one line). Works for
/// nlohmann::json and nlohmann::ordered_json (whose insertion order is kept when !sort_keys).
template <class Json>
std::string python_json_dumps(const Json& j, int indent = 2, bool sort_keys = true) {
  std::string out;
  detail::append_python_json(out, j, indent, 0, sort_keys);
  return out;
}

}  // namespace llmc
