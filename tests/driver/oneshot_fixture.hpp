// What the oneshot driver tests share: the fixture model, calibration arguments on the fixture's
// TinyStories text, and the issue's W8A8 recipe (SmoothQuant 0.8 then GPTQ).
#pragma once

#include <cstddef>
#include <filesystem>

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

}  // namespace test_support
