// Shared helpers of the model tests: fixture paths, the fixture model and tokenizer (loaded once),
// token ids of the fixture texts, temporary folders, and error measures.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "llmc/model/causal_lm.hpp"
#include "llmc/text/tokenizer.hpp"

namespace model_test {

inline std::filesystem::path fixtures() { return LLMC_FIXTURES_DIR; }
inline std::filesystem::path stories_dir() { return fixtures() / "models" / "stories260k"; }

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline const nlohmann::json& reference_outputs() {
  static const nlohmann::json j = nlohmann::json::parse(read_text(stories_dir() / "reference_outputs.json"));
  return j;
}

inline const llmc::causal_lm& stories() {
  static const llmc::causal_lm m = llmc::causal_lm::load(stories_dir());
  return m;
}

inline const llmc::tokenizer& stories_tokenizer() {
  static const llmc::tokenizer t = llmc::tokenizer::from_directory(stories_dir());
  return t;
}

/// A whole fixture text file encoded with one leading BOS (the protocol of reference_outputs.json).
inline const std::vector<std::int32_t>& text_ids(const std::string& file) {
  static std::map<std::string, std::vector<std::int32_t>> cache;
  auto& v = cache[file];
  if (v.empty()) v = stories_tokenizer().encode(read_text(fixtures() / "text" / file));
  return v;
}

/// A fresh folder under the system temp dir, removed at scope exit.
class temp_dir {
 public:
  explicit temp_dir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("llmc-model-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

/// ||a - b||_F / ||b||_F in double.
template <class A, class B>
double rel_fro(const A& a, const B& b, std::size_t n) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  return std::sqrt(num / den);
}

/// max |a - b| / max |b|.
template <class A, class B>
double rel_max(const A& a, const B& b, std::size_t n) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    num = std::max(num, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    den = std::max(den, std::abs(static_cast<double>(b[i])));
  }
  return num / den;
}

}  // namespace model_test
