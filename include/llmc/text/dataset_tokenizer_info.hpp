// llmc/text/dataset_tokenizer_info.hpp — what calibration needs from tokenizer_config.json.
//
// The tokenizer (tokenizer.hpp) covers encoding; building calibration data also needs the
// settings transformers keeps beside it: the pad/BOS/EOS token strings (pad falls back to EOS, as
// LLM Compressor's TextGenerationDataset does, spec §1.3 step 1), model_max_length (the default
// and upper bound of max_seq_length, step 2) and the chat template (a string, or transformers'
// list of {name, template} from which "default" is used; newer transformers write it to
// chat_template.jinja beside the config instead). A missing tokenizer_config.json is not an error:
// every field is then absent. Values transformers uses for "no limit" (int(1e30)) read as absent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "llmc/core/error.hpp"

namespace llmc {

/// The calibration-relevant fields of a tokenizer directory's tokenizer_config.json.
struct tokenizer_info {
  std::filesystem::path config_path;           ///< tokenizer_config.json (may not exist)
  std::optional<std::string> bos_token;        ///< e.g. "<s>"; absent when null or missing
  std::optional<std::string> eos_token;        ///< e.g. "</s>"
  std::optional<std::string> pad_token;        ///< absent for most Llama tokenizers (then EOS pads)
  std::optional<std::int64_t> model_max_length; ///< absent when missing or >= 2^40 ("unlimited")
  std::string chat_template;                   ///< Jinja source; empty when the tokenizer has none
  std::string chat_template_origin;            ///< file the template came from, for error messages

  /// Reads `dir`/tokenizer_config.json (and `dir`/chat_template.jinja when the config has no
  /// template).
  /// @throws llmc::io_error llmc.data.130 when a file exists but cannot be read or parsed, or a
  ///         field has the wrong type.
  [[nodiscard]] static tokenizer_info from_directory(const std::filesystem::path& dir) {
    tokenizer_info info;
    info.config_path = dir / "tokenizer_config.json";
    if (std::filesystem::exists(info.config_path)) {
      info = from_config_json(read(info.config_path), info.config_path.string());
      info.config_path = dir / "tokenizer_config.json";
    }
    const auto jinja = dir / "chat_template.jinja";
    if (info.chat_template.empty() && std::filesystem::exists(jinja)) {
      info.chat_template = read(jinja);
      info.chat_template_origin = jinja.string();
    }
    return info;
  }

  /// Parses the text of a tokenizer_config.json; `origin` names it in error messages.
  /// @throws llmc::io_error llmc.data.130 as from_directory.
  [[nodiscard]] static tokenizer_info from_config_json(std::string_view text, const std::string& origin) {
    nlohmann::json c;
    try {
      c = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      LLMC_THROW(io_error, "llmc.data.130", origin + ": not valid JSON (" + e.what() + ")");
    }
    if (!c.is_object()) LLMC_THROW(io_error, "llmc.data.130", origin + ": expected a JSON object");
    tokenizer_info info;
    info.config_path = origin;
    info.bos_token = token_string(c, "bos_token", origin);
    info.eos_token = token_string(c, "eos_token", origin);
    info.pad_token = token_string(c, "pad_token", origin);
    if (const auto it = c.find("model_max_length"); it != c.end() && !it->is_null()) {
      if (!it->is_number()) {
        LLMC_THROW(io_error, "llmc.data.130", origin + ": model_max_length must be a number, got " + it->dump());
      }
      const double v = it->get<double>();
      if (v >= 1.0 && v < 1099511627776.0) info.model_max_length = static_cast<std::int64_t>(v);
    }
    if (const auto it = c.find("chat_template"); it != c.end() && !it->is_null()) {
      info.chat_template_origin = origin;
      if (it->is_string()) {
        info.chat_template = it->get<std::string>();
      } else if (it->is_array()) {
        for (const auto& t : *it) {
          if (t.is_object() && t.value("name", std::string()) == "default" && t.contains("template") &&
              t.at("template").is_string())
            info.chat_template = t.at("template").get<std::string>();
        }
        if (info.chat_template.empty()) {
          LLMC_THROW(io_error, "llmc.data.130",
                     origin + ": chat_template is a list without an entry named \"default\"");
        }
      } else {
        LLMC_THROW(io_error, "llmc.data.130", origin + ": chat_template must be a string or a list of {name, template}");
      }
    }
    return info;
  }

 private:
  static std::string read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) LLMC_THROW(io_error, "llmc.data.130", p.string() + ": cannot be opened");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // A special token is written as a string or as a serialized AddedToken {"content": ...}.
  static std::optional<std::string> token_string(const nlohmann::json& c, const char* key, const std::string& origin) {
    const auto it = c.find(key);
    if (it == c.end() || it->is_null()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && it->at("content").is_string())
      return it->at("content").get<std::string>();
    LLMC_THROW(io_error, "llmc.data.130",
               origin + ": " + key + " must be a string or an object with \"content\", got " + it->dump());
  }
};

}  // namespace llmc
