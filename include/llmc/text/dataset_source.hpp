// llmc/text/dataset_source.hpp — reading calibration records from local files.
//
// The file-reading half of LLM Compressor's dataset handling (spec §1.3; [LC]
// src/llmcompressor/transformers/data/base.py, open_platypus.py, ultrachat_200k.py): a file becomes
// a list of raw samples — a text, a conversation, or token ids — in file order; tokenization,
// sampling and batching are in dataset.hpp. Formats:
//   text_lines    — one sample per line ("\n"; a trailing "\r" is dropped; empty lines are skipped,
//                   where Hugging Face's text loader would keep them as empty samples);
//   text_document — the whole file is one sample (dataset.hpp cuts it into max_seq_length chunks);
//   json          — an array of objects, or {"data": [objects]};
//   jsonl         — one object per line (blank lines skipped).
// Record schemas (JSON/JSONL; `automatic` decides on the first record, in this order):
//   pretokenized  — an `input_ids` list, used verbatim (LLM Compressor returns a dataset that already
//                   has input_ids untouched); an optional 0/1 `attention_mask` of the same length
//                   drops leading/trailing padding, so pre-padded data cannot smuggle pads in;
//   text          — the string column `text_column` ("text" by default);
//   chat          — a `messages` list of {role, content}, rendered later with the model's template;
//   alpaca        — Open-Platypus `instruction`/`input`/`output`, formatted exactly as LLM Compressor's
//                   ALPACA_TEMPLATE (open_platypus.py): the "with input" prompt when `input` is a
//                   non-empty string, else the "no input" prompt; the text is prompt + output.
// Errors (ids are stable): llmc.data.101 missing/unreadable file (io_error), .102 malformed JSON with
// its line (io_error), .103 malformed JSONL line file:line (io_error), .104 a record value of the
// wrong type (io_error), .105 column not found — lists the columns present (config_error), .106 no
// samples (config_error), .107 bad input_ids / attention_mask (io_error), .108 format not given and
// not implied by the extension (config_error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/core/error.hpp"
#include "llmc/text/chat_template.hpp"
#include "llmc/text/tokenizer_bpe.hpp"

namespace llmc {

/// How a file is split into records.
enum class dataset_format { automatic, text_lines, text_document, json, jsonl };
/// What a JSON record holds.
enum class record_schema { automatic, text, alpaca, chat, pretokenized };

[[nodiscard]] constexpr std::string_view to_string(dataset_format f) noexcept {
  switch (f) {
    case dataset_format::automatic: return "automatic";
    case dataset_format::text_lines: return "text_lines";
    case dataset_format::text_document: return "text_document";
    case dataset_format::json: return "json";
    case dataset_format::jsonl: return "jsonl";
  }
  return "?";
}
[[nodiscard]] constexpr std::string_view to_string(record_schema s) noexcept {
  switch (s) {
    case record_schema::automatic: return "automatic";
    case record_schema::text: return "text";
    case record_schema::alpaca: return "alpaca";
    case record_schema::chat: return "chat";
    case record_schema::pretokenized: return "pretokenized";
  }
  return "?";
}

/// A local calibration file and how to read it.
struct dataset_source {
  std::filesystem::path path;
  /// automatic: .txt/.text → text_lines, .json → json, .jsonl/.ndjson → jsonl.
  dataset_format format = dataset_format::automatic;
  record_schema schema = record_schema::automatic;
  std::string text_column = "text";          ///< LLM Compressor's `text_column` (default "text")
  std::string messages_column = "messages";
  std::string input_ids_column = "input_ids";
};

/// One record before tokenization.
struct raw_sample {
  record_schema kind = record_schema::text;  ///< text (also for alpaca), chat or pretokenized
  std::string text;                          ///< text and alpaca: the text to tokenize
  std::vector<chat_message> messages;        ///< chat
  std::vector<token_id> input_ids;           ///< pretokenized
  std::size_t line = 0;                      ///< 1-based line (text_lines, jsonl) or record number (json)
};

/// A file's records, in file order.
struct raw_dataset {
  std::filesystem::path path;
  dataset_format format = dataset_format::automatic;  ///< as resolved
  record_schema schema = record_schema::automatic;    ///< as resolved (text for text files)
  std::vector<raw_sample> samples;

  /// "file:line" (jsonl, text lines) or "file: record N" (json) of sample `i`, for messages.
  [[nodiscard]] std::string where(std::size_t i) const {
    const std::size_t n = i < samples.size() ? samples[i].line : 0;
    return format == dataset_format::json ? path.string() + ": record " + std::to_string(n)
                                          : path.string() + ":" + std::to_string(n);
  }
};

/// The Alpaca prompt exactly as LLM Compressor's open_platypus.py formats it (spec §1.3).
[[nodiscard]] inline std::string alpaca_prompt(std::string_view instruction, std::string_view input) {
  std::string p;
  if (!input.empty()) {
    p = "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n### Instruction:\n";
    p += instruction;
    p += "\n\n### Input:\n";
    p += input;
    p += "\n\n### Response:\n";
  } else {
    p = "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\n";
    p += instruction;
    p += "\n\n### Response:\n";
  }
  return p;
}

/// prompt + output, the `text` LLM Compressor tokenizes for an Open-Platypus record.
[[nodiscard]] inline std::string alpaca_text(std::string_view instruction, std::string_view input,
                                             std::string_view output) {
  std::string t = alpaca_prompt(instruction, input);
  t += output;
  return t;
}

namespace detail {

inline std::string read_dataset_file(const std::filesystem::path& p) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) {
    LLMC_THROW(io_error, "llmc.data.101",
               p.string() + ": calibration dataset file not found; check dataset_source::path");
  }
  if (std::filesystem::is_directory(p, ec)) {
    LLMC_THROW(io_error, "llmc.data.101", p.string() + ": is a directory; name the calibration file itself");
  }
  std::ifstream in(p, std::ios::binary);
  if (!in) LLMC_THROW(io_error, "llmc.data.101", p.string() + ": cannot be opened for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) LLMC_THROW(io_error, "llmc.data.101", p.string() + ": read error");
  return ss.str();
}

[[nodiscard]] inline std::string json_type_name(const nlohmann::json& j) { return j.type_name(); }

[[nodiscard]] inline std::string list_columns(const nlohmann::json& record) {
  std::string cols;
  for (auto it = record.begin(); it != record.end(); ++it) {
    if (!cols.empty()) cols += ", ";
    cols += it.key();
  }
  return cols.empty() ? std::string("(none)") : cols;
}

/// Reads records of one schema; `where` locates the record for messages.
class record_reader {
 public:
  record_reader(const dataset_source& src, record_schema schema) : src_(src), schema_(schema) {}

  /// The schema `automatic` resolves to for the first record.
  static record_schema resolve(const dataset_source& src, const nlohmann::json& first, const std::string& where) {
    if (first.contains(src.input_ids_column)) return record_schema::pretokenized;
    if (first.contains(src.text_column)) return record_schema::text;
    if (first.contains(src.messages_column)) return record_schema::chat;
    if (first.contains("instruction")) return record_schema::alpaca;
    LLMC_THROW(config_error, "llmc.data.105",
               where + ": text column \"" + src.text_column + "\" not found (nor \"" + src.input_ids_column +
                   "\", \"" + src.messages_column + "\" or \"instruction\"); the record has columns: " +
                   list_columns(first) + ". Set dataset_source::text_column to one of them");
  }

  raw_sample read(const nlohmann::json& r, std::size_t line, const std::string& where) const {
    raw_sample s;
    s.line = line;
    switch (schema_) {
      case record_schema::text:
        s.kind = record_schema::text;
        s.text = string_field(r, src_.text_column, where, true).value_or("");
        break;
      case record_schema::alpaca: {
        s.kind = record_schema::text;
        const std::string instruction = string_field(r, "instruction", where, true).value_or("");
        const std::string input = string_field(r, "input", where, false).value_or("");
        const std::string output = string_field(r, "output", where, false).value_or("");
        s.text = alpaca_text(instruction, input, output);
        break;
      }
      case record_schema::chat: s.kind = record_schema::chat; s.messages = messages(r, where); break;
      case record_schema::pretokenized: s.kind = record_schema::pretokenized; s.input_ids = ids(r, where); break;
      case record_schema::automatic: break;
    }
    return s;
  }

 private:
  const nlohmann::json& column(const nlohmann::json& r, const std::string& name, const std::string& where) const {
    const auto it = r.find(name);
    if (it == r.end()) {
      LLMC_THROW(config_error, "llmc.data.105",
                 where + ": column \"" + name + "\" not found; the record has columns: " + list_columns(r) +
                     (schema_ == record_schema::text ? ". Set dataset_source::text_column to one of them" : ""));
    }
    return *it;
  }

  // Required fields must be strings; optional ones may also be null or absent.
  std::optional<std::string> string_field(const nlohmann::json& r, const std::string& name, const std::string& where,
                                          bool required) const {
    if (!required && (!r.contains(name) || r.at(name).is_null())) return std::nullopt;
    const auto& v = column(r, name, where);
    if (!v.is_string()) {
      LLMC_THROW(io_error, "llmc.data.104",
                 where + ": column \"" + name + "\" must be a string, got " + json_type_name(v));
    }
    return v.get<std::string>();
  }

  std::vector<chat_message> messages(const nlohmann::json& r, const std::string& where) const {
    const auto& v = column(r, src_.messages_column, where);
    if (!v.is_array()) {
      LLMC_THROW(io_error, "llmc.data.104",
                 where + ": column \"" + src_.messages_column + "\" must be a list of {role, content}, got " +
                     json_type_name(v));
    }
    std::vector<chat_message> out;
    for (std::size_t k = 0; k < v.size(); ++k) {
      const auto& m = v[k];
      if (!m.is_object() || !m.contains("role") || !m.at("role").is_string() || !m.contains("content") ||
          !m.at("content").is_string()) {
        LLMC_THROW(io_error, "llmc.data.104",
                   where + ": message " + std::to_string(k) +
                       " must be an object with string \"role\" and \"content\" (multimodal content lists are not "
                       "supported), got " + m.dump());
      }
      chat_message msg{m.at("role").get<std::string>(), m.at("content").get<std::string>()};
      if (const auto rc = m.find("reasoning_content"); rc != m.end() && rc->is_string())
        msg.reasoning_content = rc->get<std::string>();
      out.push_back(std::move(msg));
    }
    return out;
  }

  std::vector<token_id> ids(const nlohmann::json& r, const std::string& where) const {
    const auto& v = column(r, src_.input_ids_column, where);
    const auto bad = [&](const std::string& why) {
      LLMC_THROW(io_error, "llmc.data.107", where + ": " + src_.input_ids_column + why);
    };
    if (!v.is_array()) bad(" must be a list of token ids, got " + json_type_name(v));
    std::vector<token_id> out;
    out.reserve(v.size());
    for (std::size_t k = 0; k < v.size(); ++k) {
      const auto& x = v[k];
      if (!x.is_number_integer() || x.get<std::int64_t>() < 0 || x.get<std::int64_t>() > INT32_MAX) {
        bad("[" + std::to_string(k) + "] = " + x.dump() + " is not a token id (an integer in [0, 2^31))");
      }
      out.push_back(static_cast<token_id>(x.get<std::int64_t>()));
    }
    // Pre-padded records: keep only the span the record's own attention mask marks as real.
    if (const auto it = r.find("attention_mask"); it != r.end() && !it->is_null()) {
      if (!it->is_array() || it->size() != v.size()) {
        LLMC_THROW(io_error, "llmc.data.107",
                   where + ": attention_mask must be a list as long as " + src_.input_ids_column);
      }
      std::size_t b = 0, e = out.size();
      std::vector<int> m(out.size());
      for (std::size_t k = 0; k < out.size(); ++k) {
        const auto& x = (*it)[k];
        if (!x.is_number_integer() || (x.get<int>() != 0 && x.get<int>() != 1)) {
          LLMC_THROW(io_error, "llmc.data.107", where + ": attention_mask values must be 0 or 1");
        }
        m[k] = x.get<int>();
      }
      while (b < e && m[b] == 0) ++b;
      while (e > b && m[e - 1] == 0) --e;
      for (std::size_t k = b; k < e; ++k) {
        if (m[k] == 0) {
          LLMC_THROW(io_error, "llmc.data.107",
                     where + ": attention_mask has a 0 at position " + std::to_string(k) +
                         " between real tokens; only leading or trailing padding can be dropped");
        }
      }
      out = std::vector<token_id>(out.begin() + static_cast<std::ptrdiff_t>(b), out.begin() + static_cast<std::ptrdiff_t>(e));
    }
    if (out.empty()) bad(" is empty (a calibration sample needs at least one token)");
    return out;
  }

  const dataset_source& src_;
  record_schema schema_;
};

/// 1-based line of byte offset `byte` (0-based) in `text`.
[[nodiscard]] inline std::size_t line_of(std::string_view text, std::size_t byte) {
  std::size_t line = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

inline void require_text_schema(const dataset_source& src) {
  if (src.schema != record_schema::automatic && src.schema != record_schema::text) {
    LLMC_THROW(config_error, "llmc.data.108",
               src.path.string() + ": record schema " + std::string(to_string(src.schema)) +
                   " needs a JSON or JSONL file; a text file holds plain text");
  }
}

}  // namespace detail

/// The format `automatic` stands for, from the file extension.
/// @throws llmc::config_error llmc.data.108 when the extension says nothing.
[[nodiscard]] inline dataset_format resolve_format(const dataset_source& src) {
  if (src.format != dataset_format::automatic) return src.format;
  std::string ext = src.path.extension().string();
  for (auto& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (ext == ".txt" || ext == ".text") return dataset_format::text_lines;
  if (ext == ".json") return dataset_format::json;
  if (ext == ".jsonl" || ext == ".ndjson") return dataset_format::jsonl;
  LLMC_THROW(config_error, "llmc.data.108",
             src.path.string() + ": cannot tell the format from the extension \"" + ext +
                 "\"; set dataset_source::format (text_lines, text_document, json or jsonl)");
}

/// Reads every record of `src`, in file order.
/// @throws llmc::io_error / llmc::config_error with the ids listed in the header comment.
[[nodiscard]] inline raw_dataset load_raw_dataset(const dataset_source& src) {
  raw_dataset ds;
  ds.path = src.path;
  const std::string text = detail::read_dataset_file(src.path);
  ds.format = resolve_format(src);
  const std::string file = src.path.string();

  switch (ds.format) {
    case dataset_format::text_document:
      detail::require_text_schema(src);
      ds.schema = record_schema::text;
      if (!text.empty()) ds.samples.push_back({record_schema::text, text, {}, {}, 1});
      break;
    case dataset_format::text_lines: {
      detail::require_text_schema(src);
      ds.schema = record_schema::text;
      std::size_t line = 0, pos = 0;
      while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        ++line;
        std::string_view l(text.data() + pos, nl - pos);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (!l.empty()) ds.samples.push_back({record_schema::text, std::string(l), {}, {}, line});
        pos = nl + 1;
      }
      break;
    }
    case dataset_format::json: {
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        const std::size_t byte = e.byte > 0 ? e.byte - 1 : 0;
        LLMC_THROW(io_error, "llmc.data.102",
                   file + ":" + std::to_string(detail::line_of(text, byte)) + ": malformed JSON (" + e.what() + ")");
      }
      const nlohmann::json* records = &j;
      if (j.is_object() && j.contains("data")) records = &j.at("data");
      if (!records->is_array()) {
        LLMC_THROW(io_error, "llmc.data.102",
                   file + ": expected a JSON array of records or an object {\"data\": [records]}, got " +
                       detail::json_type_name(*records));
      }
      for (std::size_t k = 0; k < records->size(); ++k) {
        const auto& r = (*records)[k];
        const std::string where = file + ": record " + std::to_string(k + 1);
        if (!r.is_object()) {
          LLMC_THROW(io_error, "llmc.data.104", where + ": expected a JSON object, got " + detail::json_type_name(r));
        }
        if (ds.schema == record_schema::automatic)
          ds.schema = src.schema == record_schema::automatic ? detail::record_reader::resolve(src, r, where) : src.schema;
        ds.samples.push_back(detail::record_reader(src, ds.schema).read(r, k + 1, where));
      }
      break;
    }
    case dataset_format::jsonl: {
      std::size_t line = 0, pos = 0;
      while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        ++line;
        const std::string_view l(text.data() + pos, nl - pos);
        pos = nl + 1;
        if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        const std::string where = file + ":" + std::to_string(line);
        nlohmann::json r;
        try {
          r = nlohmann::json::parse(l);
        } catch (const nlohmann::json::parse_error& e) {
          LLMC_THROW(io_error, "llmc.data.103", where + ": malformed JSON line (" + e.what() + ")");
        }
        if (!r.is_object()) {
          LLMC_THROW(io_error, "llmc.data.103", where + ": expected a JSON object, got " + detail::json_type_name(r));
        }
        if (ds.schema == record_schema::automatic)
          ds.schema = src.schema == record_schema::automatic ? detail::record_reader::resolve(src, r, where) : src.schema;
        ds.samples.push_back(detail::record_reader(src, ds.schema).read(r, line, where));
      }
      break;
    }
    case dataset_format::automatic: break;
  }
  if (ds.samples.empty()) {
    LLMC_THROW(config_error, "llmc.data.106",
               file + ": the dataset is empty (no " +
                   std::string(ds.format == dataset_format::text_lines ? "non-empty lines" : "records") +
                   "); calibration needs at least one sample");
  }
  return ds;
}

}  // namespace llmc
