// llmc/text/chat_template.hpp — known chat-template families, recognised and rendered without Jinja.
//
// A model's tokenizer_config.json carries its chat template as Jinja source. Implementing Jinja
// is out of scope, and a few families cover the Llama-family chat models people calibrate: the
// template is recognised by its distinctive markers — the expressions that produce a turn, matched
// on a canonical spelling of the source (detail::canonical_template: whitespace and quoting do not
// matter) — and must not contain the markers of look-alike variants whose output differs
// (detail::chat_family_rules). The family's output is then produced by C++ that follows the
// template's semantics. A template that matches no family is rejected (llmc.data.124) rather than
// approximated; use a plain-text column for such a model instead. Recognition is a heuristic: a
// template that keeps a family's turn expressions but adds unrelated output elsewhere would be
// rendered without it, which is why the tests render every supported family's real template with
// Jinja (tests/data/datasets/chat/make_chat_vectors.py) and compare.
// Families (rendering cited from the template sources; transformers renders with trim_blocks and
// lstrip_blocks, so only `{{ ... }}` output and literal text outside block tags is emitted):
//   llama2  — meta-llama/Llama-2-*-chat-hf: `<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST] A </s>`,
//             user/assistant alternation enforced, contents `.strip()`ped as the template does;
//   zephyr  — HuggingFaceH4/zephyr-7b-beta, TinyLlama-1.1B-Chat: `<|role|>\n` content eos `\n`;
//   chatml  — `<|im_start|>role\ncontent<|im_end|>\n` (OpenHermes, Qwen2, Qwen2.5); a literal default
//             system prompt in the template (Qwen2/2.5) is inserted when the conversation has none;
//   qwen3   — ChatML plus Qwen3's `<think>` handling of the assistant turns after the last user query;
//   llama3  — Meta-Llama-3-*-Instruct: `<|start_header_id|>role<|end_header_id|>\n\n` trim(content)
//             `<|eot_id|>`, bos first (3.1+ templates with a knowledge-date header are rejected);
//   llmcompressor_default — the template LLM Compressor installs for ultrachat when a tokenizer has
//             none ([LC] src/llmcompressor/transformers/data/ultrachat_200k.py, DEFAULT_CHAT_TEMPLATE;
//             spec §1.3): textually the Zephyr template, so it renders like zephyr.
// Only the roles system, user and assistant are accepted (llmc.data.121): templates differ in how
// they treat other roles (some drop them silently), and calibration text should not depend on that.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/text/unicode.hpp"

namespace llmc {

/// One turn of a conversation.
struct chat_message {
  std::string role;     ///< "system", "user" or "assistant"
  std::string content;
  /// Qwen3 only: the assistant's reasoning, when given apart from `content` (the template's
  /// message.reasoning_content); otherwise it is split out of a `<think>...</think>` content.
  std::optional<std::string> reasoning_content{};
};

/// The chat-template families llmc can render.
enum class chat_template_family { llama2, zephyr, chatml, qwen3, llama3, llmcompressor_default };

[[nodiscard]] constexpr std::string_view to_string(chat_template_family f) noexcept {
  switch (f) {
    case chat_template_family::llama2: return "llama2";
    case chat_template_family::zephyr: return "zephyr";
    case chat_template_family::chatml: return "chatml";
    case chat_template_family::qwen3: return "qwen3";
    case chat_template_family::llama3: return "llama3";
    case chat_template_family::llmcompressor_default: return "llmcompressor_default";
  }
  return "?";
}

namespace detail {

/// Python's str.isspace() for one code point (what Jinja's `.strip()` and `| trim` remove):
/// bidirectional classes WS/B/S and category Zs.
[[nodiscard]] constexpr bool python_isspace(char32_t c) noexcept {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/// Python's str.strip() with no argument, on UTF-8 text (ill-formed input is repaired first, as
/// reading it into a Python str with errors="replace" would).
[[nodiscard]] inline std::string python_strip(std::string_view s) {
  if (!utf8_is_valid(s)) return python_strip(utf8_sanitize(s));
  std::size_t b = 0, e = s.size();
  while (b < e) {
    std::size_t len = 1;
    const char32_t c = utf8_decode_at(s, b, len);
    if (!python_isspace(c)) break;
    b += len;
  }
  while (e > b) {
    const std::size_t p = utf8_prev(s, e);
    std::size_t len = 1;
    const char32_t c = utf8_decode_at(s, p, len);
    if (!python_isspace(c)) break;
    e = p;
  }
  return std::string(s.substr(b, e - b));
}

/// Python's str.lstrip(chars) / rstrip(chars) / strip(chars) for an ASCII character set.
[[nodiscard]] inline std::string_view python_lstrip(std::string_view s, std::string_view chars) {
  const auto b = s.find_first_not_of(chars);
  return b == std::string_view::npos ? std::string_view{} : s.substr(b);
}
[[nodiscard]] inline std::string_view python_rstrip(std::string_view s, std::string_view chars) {
  const auto e = s.find_last_not_of(chars);
  return e == std::string_view::npos ? std::string_view{} : s.substr(0, e + 1);
}

[[nodiscard]] constexpr bool is_identifier_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// A canonical spelling of Jinja source, so that one marker matches every formatting of the same
/// code. Inside `{{ }}` / `{% %}`: whitespace is dropped except between two identifier characters;
/// string literals are re-quoted with ' (a newline inside a literal becomes the escape \n, so the
/// JSON "\n" and the Jinja "\\n" spellings agree); `message['role']` / `message['content']` (and
/// messages[0]'s) become `message.role` / `message.content`. `{# #}` comments are dropped. Text
/// outside tags is output and is kept verbatim.
[[nodiscard]] inline std::string canonical_template(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  std::size_t i = 0;
  const std::size_t n = src.size();
  while (i < n) {
    const bool open = src[i] == '{' && i + 1 < n && (src[i + 1] == '{' || src[i + 1] == '%' || src[i + 1] == '#');
    if (!open) {
      out += src[i++];
      continue;
    }
    const char kind = src[i + 1];
    const std::string_view close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    i += 2;
    std::string code;
    bool pending_space = false;
    while (i < n && src.substr(i, 2) != close) {
      const char c = src[i];
      if (c == '\'' || c == '"') {
        const char q = c;
        std::string lit;
        ++i;
        while (i < n && src[i] != q) {
          if (src[i] == '\\' && i + 1 < n) {
            if (q == '"' && src[i + 1] == '"') {
              lit += '"';
            } else {
              lit += src.substr(i, 2);
            }
            i += 2;
            continue;
          }
          if (src[i] == '\n') {
            lit += "\\n";
          } else if (q == '"' && src[i] == '\'') {
            lit += "\\'";
          } else {
            lit += src[i];
          }
          ++i;
        }
        ++i;  // closing quote
        pending_space = false;
        code += '\'';
        code += lit;
        code += '\'';
      } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        pending_space = true;
        ++i;
      } else {
        if (pending_space && !code.empty() && is_identifier_char(code.back()) && is_identifier_char(c)) code += ' ';
        pending_space = false;
        code += c;
        ++i;
      }
    }
    i += 2;
    if (kind == '#') continue;
    out += '{';
    out += kind;
    out += code;
    out += close;
  }
  const auto replace_all = [&](std::string_view from, std::string_view to) {
    for (std::size_t p = out.find(from); p != std::string::npos; p = out.find(from, p + to.size()))
      out.replace(p, from.size(), to);
  };
  replace_all("message['role']", "message.role");
  replace_all("message['content']", "message.content");
  replace_all("messages[0]['role']", "messages[0].role");
  replace_all("messages[0]['content']", "messages[0].content");
  return out;
}

/// Markers (in canonical spelling) a family's template must contain — `required` all, and one of
/// each `any_of` group — and markers of look-alike variants whose output differs from what llmc
/// renders for the family (those are rejected as unknown).
struct family_rules {
  chat_template_family family;
  std::vector<std::string_view> required;
  std::vector<std::vector<std::string_view>> any_of;
  std::vector<std::string_view> forbidden;
};

/// Checked in order; the first family whose rules hold wins.
inline const std::vector<family_rules>& chat_family_rules() {
  static const std::vector<family_rules> rules = {
      // Qwen3 (Qwen/Qwen3-*/tokenizer_config.json): ChatML plus reasoning blocks.
      {chat_template_family::qwen3,
       {R"('<|im_start|>'+message.role+'\n'+message.content+'<|im_end|>'+'\n')",
        R"('<|im_start|>'+message.role+'\n<think>\n'+reasoning_content.strip('\n')+'\n</think>\n\n'+content.lstrip('\n'))",
        R"('<|im_start|>'+message.role+'\n'+content})", R"('<|im_end|>\n')", "ns.last_query_index=index",
        R"('<|im_start|>system\n'+messages[0].content+'<|im_end|>\n')"},
       {},
       {"bos_token", "eos_token"}},
      // ChatML (OpenHermes, Qwen2, Qwen2.5). Qwen1.5-style templates that leave the last turn open
      // lack the whole-turn expression; zephyr-gemma wraps the chat in bos/eos.
      {chat_template_family::chatml,
       {},
       {{R"('<|im_start|>'+message.role+'\n'+message.content+'<|im_end|>'+'\n')",
         R"('<|im_start|>'+message.role+'\n'+message.content+'<|im_end|>\n')"}},
       {"bos_token", "eos_token", "<think>", "reasoning_content"}},
      // Llama 3.0 Instruct. Excluded: 3.1+ (knowledge-date header, hoisted system message).
      {chat_template_family::llama3,
       {R"('<|start_header_id|>'+message.role+'<|end_header_id|>\n\n'+message.content|trim+'<|eot_id|>')",
        "bos_token+content", R"({{'<|start_header_id|>assistant<|end_header_id|>\n\n'}})"},
       {},
       {"Cutting Knowledge", "system_message", "date_string"}},
      // Llama 2 chat. Excluded: variants with a built-in default system prompt.
      {chat_template_family::llama2,
       {"{%if messages[0].role=='system'%}{%set loop_messages=messages[1:]%}{%set system_message=messages[0].content%}",
        "(message.role=='user')!=(loop.index0%2==0)", R"('<<SYS>>\n'+system_message+'\n<</SYS>>\n\n'+message.content)",
        "{{bos_token+'[INST] '+content.strip()+' [/INST]'}}", "{{' '+content.strip()+' '+eos_token}}"},
       {},
       {"USE_DEFAULT_PROMPT", "use_default_system_prompt", "DEFAULT_SYSTEM_MESSAGE", "system_message='"}},
      // Zephyr / TinyLlama chat / LLM Compressor's default: the newline after each `}}` is output
      // (trim_blocks only trims after block tags), so it is part of the markers.
      {chat_template_family::zephyr,
       {"{{'<|user|>\\n'+message.content+eos_token}}\n", "{{'<|system|>\\n'+message.content+eos_token}}\n",
        "{{'<|assistant|>\\n'+message.content+eos_token}}\n", "{{'<|assistant|>'}}\n"},
       {},
       {"<|end|>"}},
  };
  return rules;
}

/// Undoes the escapes of a canonical literal body.
[[nodiscard]] inline std::string unescape_literal(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      const char c = s[++i];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// The literal default system prompt of a ChatML template (a single literal
/// '<|im_start|>system\nTEXT<|im_end|>\n'), or empty when it has none.
/// @throws llmc::config_error llmc.data.124 when two different literals make it ambiguous.
[[nodiscard]] inline std::string chatml_default_system(const std::string& canon, const std::string& origin) {
  static constexpr std::string_view head = R"('<|im_start|>system\n)";
  static constexpr std::string_view tail = R"(<|im_end|>\n)";
  std::string found;
  for (std::size_t p = canon.find(head); p != std::string::npos; p = canon.find(head, p + 1)) {
    const std::size_t b = p + head.size();
    std::size_t e = b;
    while (e < canon.size() && canon[e] != '\'') e += canon[e] == '\\' ? 2 : 1;
    const std::string_view body(canon.data() + b, std::min(e, canon.size()) - b);
    if (body.size() <= tail.size() || !body.ends_with(tail)) continue;
    const std::string text = unescape_literal(body.substr(0, body.size() - tail.size()));
    if (!found.empty() && found != text) {
      LLMC_THROW(config_error, "llmc.data.124",
                 origin + ": the ChatML chat_template carries two different default system prompts (\"" + found +
                     "\" and \"" + text +
                     "\"); llmc cannot tell which one applies without Jinja. Use a text column instead of messages");
    }
    found = text;
  }
  return found;
}

}  // namespace detail

/// A recognised chat template: the family and the token strings it splices in.
class chat_template {
 public:
  /// Recognises the family of `jinja_source` (a tokenizer_config.json `chat_template` string).
  /// @param bos_token, eos_token the tokenizer's BOS/EOS strings (tokenizer_config.json), spliced
  ///        in where the template writes `bos_token` / `eos_token`.
  /// @param origin names the file in error messages.
  /// @throws llmc::config_error llmc.data.124 when no known family matches.
  [[nodiscard]] static chat_template recognize(std::string_view jinja_source, std::string bos_token,
                                               std::string eos_token, const std::string& origin) {
    const std::string canon = detail::canonical_template(jinja_source);
    const auto has = [&](std::string_view m) { return canon.find(m) != std::string::npos; };
    for (const auto& r : detail::chat_family_rules()) {
      bool ok = true;
      for (const auto m : r.required) ok = ok && has(m);
      for (const auto& group : r.any_of) ok = ok && std::any_of(group.begin(), group.end(), has);
      for (const auto m : r.forbidden) ok = ok && !has(m);
      if (!ok) continue;
      chat_template t(r.family, std::move(bos_token), std::move(eos_token), origin);
      if (r.family == chat_template_family::chatml) t.default_system_ = detail::chatml_default_system(canon, origin);
      return t;
    }
    LLMC_THROW(config_error, "llmc.data.124",
               origin + ": unknown chat_template (llmc renders the llama2, zephyr, chatml, qwen3 and llama3 "
                        "families, recognised by their markers, and does not run Jinja). Calibrate on a text "
                        "column instead of `messages` (format the conversations yourself), or remove the template "
                        "to use LLM Compressor's default");
  }

  /// LLM Compressor's fallback template for tokenizers without one (spec §1.3, ultrachat).
  [[nodiscard]] static chat_template llmcompressor_default(std::string eos_token, const std::string& origin = {}) {
    return chat_template(chat_template_family::llmcompressor_default, {}, std::move(eos_token), origin);
  }

  [[nodiscard]] chat_template_family family() const noexcept { return family_; }
  [[nodiscard]] const std::string& bos_token() const noexcept { return bos_; }
  [[nodiscard]] const std::string& eos_token() const noexcept { return eos_; }
  /// ChatML: the system prompt the template inserts when the conversation has none (Qwen2/2.5).
  [[nodiscard]] const std::string& default_system() const noexcept { return default_system_; }

  /// The text the template produces for `messages` (transformers' apply_chat_template with
  /// tokenize=False). add_generation_prompt appends the opening of an assistant turn.
  /// @throws llmc::config_error llmc.data.121 (role other than system/user/assistant),
  ///         llmc.data.122 (llama2: roles do not alternate user/assistant after the system turn),
  ///         llmc.data.120 (empty conversation).
  [[nodiscard]] std::string render(std::span<const chat_message> messages, bool add_generation_prompt = false) const {
    if (messages.empty()) {
      LLMC_THROW(config_error, "llmc.data.120", where() + "an empty conversation cannot be rendered");
    }
    for (const auto& m : messages) {
      if (m.role != "system" && m.role != "user" && m.role != "assistant") {
        LLMC_THROW(config_error, "llmc.data.121",
                   where() + "role \"" + m.role +
                       "\" is not supported (llmc renders system, user and assistant turns only); drop or rename "
                       "those messages");
      }
    }
    switch (family_) {
      case chat_template_family::llama2: return render_llama2(messages);
      case chat_template_family::zephyr:
      case chat_template_family::llmcompressor_default: return render_zephyr(messages, add_generation_prompt);
      case chat_template_family::chatml: return render_chatml(messages, add_generation_prompt);
      case chat_template_family::qwen3: return render_qwen3(messages, add_generation_prompt);
      case chat_template_family::llama3: return render_llama3(messages, add_generation_prompt);
    }
    return {};
  }
  /// Convenience overload for a braced list or a vector.
  [[nodiscard]] std::string render(const std::vector<chat_message>& messages, bool add_generation_prompt = false) const {
    return render(std::span<const chat_message>(messages), add_generation_prompt);
  }

 private:
  chat_template(chat_template_family f, std::string bos, std::string eos, std::string origin)
      : family_(f), bos_(std::move(bos)), eos_(std::move(eos)), origin_(std::move(origin)) {}

  [[nodiscard]] std::string where() const {
    return (origin_.empty() ? std::string("chat template") : origin_) + " (" + std::string(to_string(family_)) + "): ";
  }

  // Llama-2-chat: the first system message is folded into the first user turn; the remaining turns
  // must alternate user/assistant starting with user (the template raises otherwise).
  [[nodiscard]] std::string render_llama2(std::span<const chat_message> messages) const {
    const bool has_system = messages.front().role == "system";
    const std::string system = has_system ? messages.front().content : std::string();
    const auto loop = has_system ? messages.subspan(1) : messages;
    std::string out;
    for (std::size_t i = 0; i < loop.size(); ++i) {
      const auto& m = loop[i];
      if ((m.role == "user") != (i % 2 == 0)) {
        LLMC_THROW(config_error, "llmc.data.122",
                   where() + "conversation roles must alternate user/assistant/user/assistant/... after an "
                             "optional first system message (message " +
                       std::to_string(i + (has_system ? 1 : 0)) + " is \"" + m.role + "\")");
      }
      std::string content;
      if (i == 0 && has_system) {
        content.append("<<SYS>>\n").append(system).append("\n<</SYS>>\n\n");
      }
      content += m.content;
      if (m.role == "user") {
        out.append(bos_).append("[INST] ").append(detail::python_strip(content)).append(" [/INST]");
      } else {
        out.append(" ").append(detail::python_strip(content)).append(" ").append(eos_);
      }
    }
    return out;
  }

  [[nodiscard]] std::string render_zephyr(std::span<const chat_message> messages, bool gen) const {
    std::string out;
    for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + eos_ + "\n";
    if (gen) out += "<|assistant|>\n";
    return out;
  }

  [[nodiscard]] std::string render_chatml(std::span<const chat_message> messages, bool gen) const {
    std::string out;
    if (!default_system_.empty() && messages.front().role != "system")
      out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
    for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (gen) out += "<|im_start|>assistant\n";
    return out;
  }

  // Qwen3: assistant turns after the last real user query carry a <think> block (empty when the
  // content has none, always on the final turn); earlier turns lose their reasoning.
  [[nodiscard]] std::string render_qwen3(std::span<const chat_message> messages, bool gen) const {
    std::size_t last_query = messages.size() - 1;
    for (std::size_t k = messages.size(); k-- > 0;) {
      const auto& c = messages[k].content;
      const bool tool_response = c.starts_with("<tool_response>") && c.ends_with("</tool_response>");
      if (messages[k].role == "user" && !tool_response) {
        last_query = k;
        break;
      }
    }
    std::string out;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      if (m.role != "assistant") {
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
        continue;
      }
      std::string_view content = m.content;
      std::string_view reasoning;
      if (m.reasoning_content) {
        reasoning = *m.reasoning_content;
      } else if (const auto close = m.content.rfind("</think>"); close != std::string::npos) {
        content = detail::python_lstrip(std::string_view(m.content).substr(close + 8), "\n");
        std::string_view before = detail::python_rstrip(std::string_view(m.content).substr(0, m.content.find("</think>")), "\n");
        if (const auto open = before.rfind("<think>"); open != std::string_view::npos) before = before.substr(open + 7);
        reasoning = detail::python_lstrip(before, "\n");
      }
      const bool last = i + 1 == messages.size();
      if (i > last_query && (last || !reasoning.empty())) {
        out += "<|im_start|>assistant\n<think>\n";
        out += detail::python_rstrip(detail::python_lstrip(reasoning, "\n"), "\n");
        out += "\n</think>\n\n";
        out += detail::python_lstrip(content, "\n");
      } else {
        out += "<|im_start|>assistant\n";
        out += content;
      }
      out += "<|im_end|>\n";
    }
    if (gen) out += "<|im_start|>assistant\n";
    return out;
  }

  [[nodiscard]] std::string render_llama3(std::span<const chat_message> messages, bool gen) const {
    std::string out = bos_;
    for (const auto& m : messages)
      out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + detail::python_strip(m.content) + "<|eot_id|>";
    if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
  }

  chat_template_family family_;
  std::string bos_;
  std::string eos_;
  std::string origin_;
  std::string default_system_;
};

}  // namespace llmc
