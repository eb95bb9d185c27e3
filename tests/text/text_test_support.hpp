// Shared helpers of the text tests: the fixture tokenizers (loaded once per process, since the
// Qwen3 file is 11 MB) and the JSONL golden vectors written by make_tokenizer_vectors.py.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/text/tokenizer.hpp"

namespace llmc_test {

inline std::filesystem::path fixtures() { return LLMC_FIXTURES_DIR; }
inline std::filesystem::path test_data() { return LLMC_TEST_DATA_DIR; }

/// Directory of a named fixture tokenizer.
inline std::filesystem::path tokenizer_dir(const std::string& name) {
  if (name == "stories260k") return fixtures() / "models" / "stories260k";
  return fixtures() / "tokenizers" / name;
}

/// The fixture tokenizer `name`, loaded from its directory (with tokenizer_config.json).
inline const llmc::tokenizer& fixture_tokenizer(const std::string& name) {
  static std::mutex m;
  static std::map<std::string, std::unique_ptr<llmc::tokenizer>> cache;
  std::lock_guard lock(m);
  auto& slot = cache[name];
  if (!slot) slot = std::make_unique<llmc::tokenizer>(llmc::tokenizer::from_directory(tokenizer_dir(name)));
  return *slot;
}

/// Every JSON object of a .jsonl file.
inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::string unhex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

inline std::vector<llmc::token_id> ids_of(const nlohmann::json& j) { return j.get<std::vector<llmc::token_id>>(); }

}  // namespace llmc_test
