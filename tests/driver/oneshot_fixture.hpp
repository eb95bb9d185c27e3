// What the oneshot driver tests share: the fixture model, calibration arguments on the fixture's
// TinyStories text, the issue's W8A8 recipe (SmoothQuant 0.8 then GPTQ), the W4A16 recipes that fit
// the fixture (INT4 g32, channel-wise down_proj: its 172 inputs take no group of 32), a private
// work folder per test process and a whole-file reader.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "llmc/pipeline/oneshot.hpp"

namespace test_support {

inline const std::filesystem::path fixtures = LLMC_FIXTURES_DIR;
inline const std::filesystem::path model_dir = fixtures / "models" / "stories260k";

/// oneshot arguments on the fixture model and calibration text, keeping the written weights.
inline llmc::oneshot_args fixture_args(const std::filesystem::path& out, std::size_t max_seq_length,
                                       std::size_t samples, std::size_t batch_size) {
  llmc::oneshot_args a;
  a.model = model_dir;
  a.dataset = fixtures / "text" / "calibration.txt";
  a.data_format = llmc::dataset_format::text_document;
  a.max_seq_length = max_seq_length;
  a.num_calibration_samples = samples;
  a.batch_size = batch_size;
  a.output_dir = out;
  a.keep_weights = true;
  return a;
}

inline const char* const w8a8_recipe = R"(
quant_stage:
  quant_modifiers:
    SmoothQuantModifier:
      smoothing_strength: 0.8
    GPTQModifier:
      scheme: W8A8
      targets: [Linear]
      ignore: [lm_head]
)";

/// A quant_stage: `before` (modifiers at 4-space indent, e.g. "    AWQModifier:\n      duo_scaling: true\n"),
/// then `modifier` quantizing every Linear but lm_head to INT4 g32 (channel-wise down_proj), with
/// `extra` appended to its arguments (6-space indent, e.g. "      actorder: static\n").
inline std::string w4a16_recipe(const std::string& modifier, const std::string& before = "", const std::string& extra = "") {
  return "quant_stage:\n  quant_modifiers:\n" + before + "    " + modifier + R"(:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: ["re:.*(q|k|v|o|gate|up)_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 32}
        group_1:
          targets: ["re:.*down_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
)" + extra;
}

/// A private folder per test process (temp/<prefix>-<pid>), removed at exit.
struct work_folder {
  std::filesystem::path path;
  explicit work_folder(const std::string& prefix)
      : path(std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  work_folder(const work_folder&) = delete;
  work_folder& operator=(const work_folder&) = delete;
  ~work_folder() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// A whole file's bytes.
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace test_support
