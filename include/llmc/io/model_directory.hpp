// llmc/io/model_directory.hpp — a Hugging Face model folder opened for compression: config.json,
// the optional generation_config.json, the safetensors weights (single file or index + shards), and
// the tokenizer files that the output must carry over unchanged.
//
// Invariants after open(): the folder exists; config.json parsed into a supported model_config;
// the weights validated (io/checkpoint.hpp); weight data is mapped, not read. Missing pieces are
// reported with the folder and the file that is missing (llmc.io.140 config, llmc.io.150 weights).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/checkpoint.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/model_config.hpp"
#include "llmc/io/safetensors.hpp"

namespace llmc {

/// Files of a model folder that a compressed output copies byte for byte when present.
inline const std::vector<std::string>& passthrough_file_names() {
  static const std::vector<std::string> names = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                 "tokenizer.model", "generation_config.json"};
  return names;
}

/// An opened Hugging Face model folder.
class model_directory {
 public:
  /// @throws io_error llmc.io.150 (not a folder / no weights), 140 (no config.json), and the
  ///         config and safetensors errors of the files inside.
  static model_directory open(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      LLMC_THROW(io_error, io_errc::model_folder,
                 dir.string() + ": " + (fs::exists(dir, ec) ? "is not a folder" : "does not exist") +
                     "; pass a Hugging Face model folder (config.json + model.safetensors)");
    }
    model_directory m;
    m.path_ = dir;
    if (!fs::exists(dir / "config.json", ec)) {
      LLMC_THROW(io_error, io_errc::config_missing,
                 dir.string() + ": has no config.json; this is not a Hugging Face model folder");
    }
    m.config_ = load_model_config(dir / "config.json");
    if (fs::exists(dir / "generation_config.json", ec)) {
      m.generation_ = load_generation_config(dir / "generation_config.json");
    }
    if (!fs::exists(dir / safetensors_weights_name, ec) && !fs::exists(dir / safetensors_index_name, ec)) {
      LLMC_THROW(io_error, io_errc::model_folder,
                 dir.string() + ": has neither " + safetensors_weights_name + " nor " + safetensors_index_name +
                     " (only safetensors weights are supported; convert .bin checkpoints first)");
    }
    m.weights_ = safetensors_checkpoint::open(dir);
    return m;
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] const model_config& config() const noexcept { return config_; }
  [[nodiscard]] const std::optional<generation_config>& generation() const noexcept { return generation_; }
  [[nodiscard]] const safetensors_checkpoint& weights() const noexcept { return weights_; }

  /// Every tensor name across shards (file order, then data order).
  [[nodiscard]] std::vector<std::string> tensor_names() const { return weights_.names(); }
  [[nodiscard]] bool contains(std::string_view name) const { return weights_.contains(name); }
  /// @throws io_error llmc.io.115 naming the folder when absent.
  [[nodiscard]] tensor_view tensor(std::string_view name) const {
    if (!weights_.contains(name)) {
      LLMC_THROW(io_error, io_errc::tensor_not_found,
                 path_.string() + ": the model has no tensor \"" + std::string(name) + "\" (" +
                     std::to_string(weights_.size()) + " tensors; see tensor_names())");
    }
    return weights_.tensor(name);
  }
  /// Paths of the weight files (the single file, or the shards).
  [[nodiscard]] std::vector<std::filesystem::path> weight_files() const {
    std::vector<std::filesystem::path> out;
    for (const auto& f : weights_.files()) out.push_back(f.path());
    return out;
  }
  /// The passthrough files (passthrough_file_names()) that exist in this folder.
  [[nodiscard]] std::vector<std::string> present_passthrough_files() const {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& n : passthrough_file_names()) {
      if (std::filesystem::is_regular_file(path_ / n, ec)) out.push_back(n);
    }
    return out;
  }

 private:
  std::filesystem::path path_;
  model_config config_;
  std::optional<generation_config> generation_;
  safetensors_checkpoint weights_;
};

}  // namespace llmc
