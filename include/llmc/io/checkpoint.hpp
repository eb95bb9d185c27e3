// llmc/io/checkpoint.hpp — the weights of a Hugging Face checkpoint as one set of named tensors:
// a single model.safetensors, or model.safetensors.index.json plus the shards it names.
//
// Invariants after open(): every shard the index names exists, is a plain file name inside the
// folder (no "/", "..": a hostile index cannot point outside), and passed full header validation;
// every tensor name is unique across shards and lives in the shard the index says; every tensor
// the index lists exists. A tensor present in a shard but not listed in weight_map is still
// served (it is unambiguous). Shards are mapped, not read: see io/safetensors.hpp for paging.
// Index layout: transformers modeling_utils save_pretrained ({"metadata": {...}, "weight_map": {...}}).
#pragma once

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/safetensors.hpp"

namespace llmc {

/// File names transformers uses for safetensors weights.
inline constexpr const char* safetensors_weights_name = "model.safetensors";
inline constexpr const char* safetensors_index_name = "model.safetensors.index.json";

/// The parsed model.safetensors.index.json.
struct safetensors_index {
  nlohmann::json metadata = nlohmann::json::object();  ///< "metadata" (e.g. total_size)
  std::map<std::string, std::string> weight_map;        ///< tensor name -> shard file name
};

/// True when `name` is a plain file name: non-empty, no path separator, not "." or "..".
inline bool is_plain_file_name(std::string_view name) noexcept {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\\') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

/// Parses index text; `label` names the file in messages.
/// @throws io_error llmc.io.105/106/107 (JSON), llmc.io.120 (layout), llmc.io.124 (unsafe shard name)
inline safetensors_index parse_safetensors_index(std::string_view text, const std::string& label) {
  const nlohmann::json j = parse_json_strict(text, label);
  if (!j.is_object()) {
    LLMC_THROW(io_error, io_errc::bad_index, label + ": the index is not a JSON object with \"weight_map\"");
  }
  safetensors_index idx;
  if (auto m = j.find("metadata"); m != j.end()) {
    if (!m->is_object() && !m->is_null()) {
      LLMC_THROW(io_error, io_errc::bad_index, label + ": \"metadata\" must be an object");
    }
    if (m->is_object()) idx.metadata = *m;
  }
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) {
    LLMC_THROW(io_error, io_errc::bad_index,
               label + ": missing or non-object \"weight_map\" (expected {\"tensor name\": \"shard file\"})");
  }
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it->is_string()) {
      LLMC_THROW(io_error, io_errc::bad_index,
                 label + ": weight_map entry \"" + it.key() + "\" is not a shard file name string");
    }
    const auto& file = it->get_ref<const std::string&>();
    if (!is_plain_file_name(file)) {
      LLMC_THROW(io_error, io_errc::unsafe_shard_name,
                 label + ": weight_map names shard \"" + file + "\" for tensor \"" + it.key() +
                     "\", which is not a plain file name inside the folder; refusing to follow it");
    }
    idx.weight_map.emplace(it.key(), file);
  }
  return idx;
}

/// The tensors of a checkpoint, single-file or sharded.
class safetensors_checkpoint {
 public:
  /// Opens `p`: a .safetensors file, an index .json file, or a folder holding model.safetensors
  /// (preferred, as transformers does) or model.safetensors.index.json.
  /// @throws io_error llmc.io.1xx naming the file; llmc.io.150 when a folder has neither file.
  static safetensors_checkpoint open(const std::filesystem::path& p) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      if (fs::exists(p / safetensors_weights_name, ec)) return open_file(p / safetensors_weights_name);
      if (fs::exists(p / safetensors_index_name, ec)) return open_index(p / safetensors_index_name);
      LLMC_THROW(io_error, io_errc::model_folder,
                 p.string() + ": contains neither " + safetensors_weights_name + " nor " + safetensors_index_name +
                     "; pass a folder saved with safetensors weights");
    }
    if (p.extension() == ".json") return open_index(p);
    return open_file(p);
  }

  /// Opens one .safetensors file.
  static safetensors_checkpoint open_file(const std::filesystem::path& file) {
    safetensors_checkpoint c;
    c.files_.push_back(safetensors_file::open(file));
    c.index_tensors();
    return c;
  }

  /// Opens an index and every shard it names.
  static safetensors_checkpoint open_index(const std::filesystem::path& index_file) {
    namespace fs = std::filesystem;
    safetensors_checkpoint c;
    c.sharded_ = true;
    c.index_ = parse_safetensors_index(read_text_file(index_file), index_file.string());
    const fs::path dir = index_file.parent_path();
    std::set<std::string> shard_names;
    for (const auto& [tensor, file] : c.index_.weight_map) shard_names.insert(file);
    for (const auto& name : shard_names) {
      std::error_code ec;
      if (!fs::exists(dir / name, ec)) {
        std::string example;
        for (const auto& [t, f] : c.index_.weight_map) {
          if (f == name) {
            example = t;
            break;
          }
        }
        LLMC_THROW(io_error, io_errc::missing_shard,
                   index_file.string() + ": shard \"" + name + "\" (holding e.g. tensor \"" + example +
                       "\") is missing from " + dir.string() + "; copy the missing shard into the folder");
      }
      c.files_.push_back(safetensors_file::open(dir / name));
    }
    c.index_tensors();
    for (const auto& [tensor, file] : c.index_.weight_map) {
      auto it = c.where_.find(tensor);
      if (it == c.where_.end()) {
        LLMC_THROW(io_error, io_errc::index_tensor_absent,
                   index_file.string() + ": lists tensor \"" + tensor + "\" in shard \"" + file +
                       "\", which does not contain it; the index and the shards do not match");
      }
      const std::string actual = c.files_[it->second].path().filename().string();
      if (actual != file) {
        LLMC_THROW(io_error, io_errc::tensor_in_two_shards,
                   index_file.string() + ": lists tensor \"" + tensor + "\" in shard \"" + file +
                       "\" but it is stored in \"" + actual + "\"; the checkpoint mixes two saves");
      }
    }
    return c;
  }

  [[nodiscard]] bool sharded() const noexcept { return sharded_; }
  /// The index (empty weight_map for a single file).
  [[nodiscard]] const safetensors_index& index() const noexcept { return index_; }
  /// The mapped files, single file or shards sorted by name.
  [[nodiscard]] const std::vector<safetensors_file>& files() const noexcept { return files_; }
  [[nodiscard]] std::size_t size() const noexcept { return where_.size(); }
  /// All tensor names: files in order, each in data-offset order.
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(where_.size());
    for (const auto& f : files_) {
      for (const auto& t : f.header().tensors) out.push_back(t.name);
    }
    return out;
  }
  [[nodiscard]] bool contains(std::string_view name) const { return where_.count(std::string(name)) != 0; }
  /// @throws io_error llmc.io.115 when absent.
  [[nodiscard]] const safetensors_file& file_of(std::string_view name) const {
    auto it = where_.find(std::string(name));
    if (it == where_.end()) {
      LLMC_THROW(io_error, io_errc::tensor_not_found,
                 describe() + ": no tensor named \"" + std::string(name) + "\" (" + std::to_string(size()) +
                     " tensors; see names())");
    }
    return files_[it->second];
  }
  [[nodiscard]] const tensor_info& info(std::string_view name) const { return file_of(name).info(name); }
  [[nodiscard]] tensor_view tensor(std::string_view name) const { return file_of(name).tensor(name); }
  /// Drops the resident pages of one tensor; views stay valid.
  void release(std::string_view name) const { file_of(name).release(name); }
  /// Drops every resident page of every shard.
  void release_all() const {
    for (const auto& f : files_) f.release_all();
  }
  /// Sum of the tensors' bytes.
  [[nodiscard]] std::uint64_t total_size() const noexcept {
    std::uint64_t n = 0;
    for (const auto& f : files_) n += f.header().data_size;
    return n;
  }

 private:
  std::string describe() const {
    if (files_.empty()) return "checkpoint";
    return sharded_ ? files_.front().path().parent_path().string() : files_.front().path().string();
  }
  void index_tensors() {
    for (std::size_t i = 0; i < files_.size(); ++i) {
      for (const auto& t : files_[i].header().tensors) {
        auto [it, fresh] = where_.emplace(t.name, i);
        if (!fresh) {
          LLMC_THROW(io_error, io_errc::tensor_in_two_shards,
                     "tensor \"" + t.name + "\" is stored in both " + files_[it->second].path().string() + " and " +
                         files_[i].path().string() + "; the checkpoint mixes two saves: re-download it");
        }
      }
    }
  }

  bool sharded_ = false;
  safetensors_index index_;
  std::vector<safetensors_file> files_;
  std::unordered_map<std::string, std::size_t> where_;
};

}  // namespace llmc
