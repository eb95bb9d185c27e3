// llmc/io/safetensors_writer.hpp — writes .safetensors files byte-identical to the Python/Rust
// safetensors library, and sharded checkpoints laid out as transformers' save_pretrained does.
//
// Layout rules, from huggingface/safetensors safetensors/src/tensor.rs (`prepare`, `impl Serialize
// for Metadata`, `Dtype`): tensors are sorted by dtype DESCENDING in the Dtype enum order (see
// io/dtype.hpp), then by name ascending (byte order); the data section follows that order with no
// padding; the header is serde_json's compact form — "__metadata__" first when present, then one
// {"dtype","shape","data_offsets"} object per tensor in data order — padded with spaces to a
// multiple of 8. Python passes metadata as a HashMap, so with two or more metadata keys the
// library's own key order is not deterministic; we sort them (byte-identical for 0 or 1 key).
// Sharding (huggingface_hub serialization/_base.py split_state_dict_into_shards_factory): tensors in
// the caller's order fill a shard until the next would exceed max_shard_size; a tensor larger than
// the limit gets a shard of its own; files are model-0000i-of-0000N.safetensors, or model.safetensors
// when one shard suffices (then no index). The index is json.dumps(index, indent=2, sort_keys=True)+"\n"
// of {"metadata": {"total_size": bytes}, "weight_map": {tensor: file}} (transformers modeling_utils).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/dtype.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/safetensors.hpp"

namespace llmc {

/// One tensor to write: its name, dtype, shape and contiguous little-endian bytes (borrowed; they
/// must stay alive until the write returns).
struct tensor_ref {
  std::string name;
  llmc::dtype dtype = dtype::f32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;

  /// A tensor of C++ elements, e.g. tensor_ref::of<float>("w", values, {rows, cols}).
  template <storable_element T>
  static tensor_ref of(std::string name, std::span<const T> data, std::vector<std::int64_t> shape) {
    return tensor_ref{std::move(name), dtype_of_v<T>, std::move(shape), std::as_bytes(data)};
  }
  /// The same tensor as a stored view (to copy tensors from one file to another unchanged).
  static tensor_ref of(const tensor_view& v) { return tensor_ref{v.name, v.dtype, v.shape, v.bytes}; }
};

namespace detail {

/// serde_json's string escaping: '"', '\\', \b \t \n \f \r, other controls as \u00xx; everything
/// else (including non-ASCII UTF-8) verbatim.
inline void append_serde_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

inline void check_write_name(std::string_view name, std::string_view what) {
  if (name.empty() || name == "__metadata__" || find_invalid_utf8(name) != std::string_view::npos) {
    LLMC_THROW(io_error, io_errc::bad_tensor_name,
               std::string(what) + " name \"" + std::string(name) +
                   "\" cannot be written: names must be non-empty UTF-8 and not \"__metadata__\"");
  }
}

inline std::uint64_t checked_nbytes(const tensor_ref& t) {
  std::uint64_t n = 1;
  bool overflow = false;
  for (auto d : t.shape) {
    if (d < 0) overflow = true;
    overflow |= __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n);
  }
  std::uint64_t bytes = 0;
  overflow |= __builtin_mul_overflow(n, static_cast<std::uint64_t>(dtype_size(t.dtype)), &bytes);
  if (overflow || bytes != t.bytes.size()) {
    LLMC_THROW(io_error, io_errc::write_size_mismatch,
               "tensor \"" + t.name + "\": " + std::to_string(t.bytes.size()) + " bytes given but its shape and dtype " +
                   std::string(dtype_name(t.dtype)) + " need " + (overflow ? std::string("an invalid size") : std::to_string(bytes)) +
                   "; pass the full contiguous data");
  }
  return bytes;
}

}  // namespace detail

/// What a safetensors file will contain: the data order and the padded header.
struct safetensors_layout {
  std::vector<std::size_t> order;  ///< indices into the input, in data-section order
  std::string header;              ///< JSON header padded with spaces to a multiple of 8
  std::uint64_t data_size = 0;     ///< bytes of the data section
};

/// Plans a file exactly as the Rust library's `prepare` does (see the file comment).
/// @throws io_error llmc.io.130 (duplicate name), 131 (size mismatch), 133 (bad name / header too large)
inline safetensors_layout plan_safetensors(std::span<const tensor_ref> tensors,
                                           const std::map<std::string, std::string>& metadata = {}) {
  safetensors_layout L;
  std::unordered_set<std::string_view> seen;
  for (const auto& t : tensors) {
    detail::check_write_name(t.name, "tensor");
    if (!seen.insert(t.name).second) {
      LLMC_THROW(io_error, io_errc::duplicate_tensor,
                 "tensor \"" + t.name + "\" is given twice; every tensor of a file needs a distinct name");
    }
    detail::checked_nbytes(t);
  }
  for (const auto& [k, v] : metadata) {
    if (find_invalid_utf8(k) != std::string_view::npos || find_invalid_utf8(v) != std::string_view::npos) {
      LLMC_THROW(io_error, io_errc::bad_tensor_name, "metadata entry \"" + k + "\" is not valid UTF-8");
    }
  }
  L.order.resize(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) L.order[i] = i;
  std::sort(L.order.begin(), L.order.end(), [&](std::size_t a, std::size_t b) {
    const auto& x = tensors[a];
    const auto& y = tensors[b];
    if (x.dtype != y.dtype) return static_cast<int>(x.dtype) > static_cast<int>(y.dtype);
    return x.name < y.name;  // std::string compares bytes as unsigned char, like Rust's str Ord
  });
  std::string& h = L.header;
  h += '{';
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      detail::append_serde_json_string(h, k);
      h += ':';
      detail::append_serde_json_string(h, v);
    }
    h += '}';
    first = false;
  }
  std::uint64_t offset = 0;
  for (std::size_t i : L.order) {
    const auto& t = tensors[i];
    if (!first) h += ',';
    first = false;
    detail::append_serde_json_string(h, t.name);
    h += ":{\"dtype\":\"";
    h += dtype_name(t.dtype);
    h += "\",\"shape\":[";
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      if (d) h += ',';
      h += std::to_string(t.shape[d]);
    }
    h += "],\"data_offsets\":[";
    h += std::to_string(offset);
    h += ',';
    offset += t.bytes.size();
    h += std::to_string(offset);
    h += "]}";
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  if (h.size() > safetensors_max_header_size) {
    LLMC_THROW(io_error, io_errc::bad_tensor_name,
               "the header would be " + std::to_string(h.size()) + " bytes, above the format's limit of " +
                   std::to_string(safetensors_max_header_size) + "; split the tensors over several shards");
  }
  L.data_size = offset;
  return L;
}

namespace detail {
inline std::string le_u64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}
}  // namespace detail

/// The complete file in memory (for small files and tests).
inline std::vector<std::byte> serialize_safetensors(std::span<const tensor_ref> tensors,
                                                    const std::map<std::string, std::string>& metadata = {}) {
  const safetensors_layout L = plan_safetensors(tensors, metadata);
  std::vector<std::byte> out;
  out.reserve(8 + L.header.size() + static_cast<std::size_t>(L.data_size));
  auto put = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
  };
  const std::string len = detail::le_u64(L.header.size());
  put(len.data(), 8);
  put(L.header.data(), L.header.size());
  for (std::size_t i : L.order) put(tensors[i].bytes.data(), tensors[i].bytes.size());
  return out;
}

/// Writes one safetensors file (streamed: no copy of the tensor data is made).
/// @param sync fsync the file before returning.
/// @throws io_error llmc.io.130/131/133 (invalid input, nothing written), llmc.io.132 (OS failure)
inline void write_safetensors(const std::filesystem::path& path, std::span<const tensor_ref> tensors,
                              const std::map<std::string, std::string>& metadata = {}, bool sync = false) {
  const safetensors_layout L = plan_safetensors(tensors, metadata);
  output_file f(path);
  f.write(detail::le_u64(L.header.size()));
  f.write(L.header);
  for (std::size_t i : L.order) f.write(tensors[i].bytes);
  f.finish(sync);
}

/// Options of write_sharded_safetensors().
struct shard_options {
  /// Largest shard in tensor bytes (headers not counted, as huggingface_hub counts). 5 GB is the
  /// transformers save_pretrained default; LLM Compressor passes "20GB" (reference section 1.5).
  std::uint64_t max_shard_size = 5'000'000'000ULL;
  /// Every shard's "__metadata__"; transformers writes {"format": "pt"}.
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  /// Written as metadata.total_parameters in the index when set (recent transformers add it).
  std::optional<std::uint64_t> total_parameters;
  /// fsync every file written.
  bool sync = false;
};

/// What write_sharded_safetensors() wrote.
struct sharded_write_result {
  std::vector<std::string> files;               ///< file names, in shard order
  std::map<std::string, std::string> weight_map;  ///< tensor -> file (also filled when not sharded)
  std::uint64_t total_size = 0;                 ///< sum of tensor bytes
  bool sharded = false;                         ///< true when an index was written
  std::string index_json;                       ///< the index text ("" when not sharded)
};

/// Assigns tensors (in the given order) to shards exactly as huggingface_hub does; returns the
/// tensor indices of each shard.
inline std::vector<std::vector<std::size_t>> plan_shards(std::span<const tensor_ref> tensors,
                                                         std::uint64_t max_shard_size) {
  std::vector<std::vector<std::size_t>> shards;
  std::vector<std::size_t> current;
  std::uint64_t current_size = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t sz = tensors[i].bytes.size();
    if (sz > max_shard_size) {  // a tensor above the limit gets a shard of its own
      shards.push_back({i});
      continue;
    }
    if (current_size + sz > max_shard_size) {
      shards.push_back(std::move(current));
      current.clear();
      current_size = 0;
    }
    current.push_back(i);
    current_size += sz;
  }
  if (!current.empty()) shards.push_back(std::move(current));
  return shards;
}

/// The name transformers gives shard `i` (0-based) of `n`: model-00001-of-00003.safetensors.
inline std::string shard_file_name(std::size_t i, std::size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

/// Writes `tensors` into `dir` (which must exist) as model.safetensors, or as shards plus
/// model.safetensors.index.json when they exceed max_shard_size.
/// @throws io_error llmc.io.130–133
inline sharded_write_result write_sharded_safetensors(const std::filesystem::path& dir,
                                                      std::span<const tensor_ref> tensors,
                                                      const shard_options& opt = {}) {
  // Validate everything before the first byte is written.
  plan_safetensors(tensors, opt.metadata);
  sharded_write_result r;
  const auto shards = plan_shards(tensors, opt.max_shard_size);
  for (const auto& t : tensors) r.total_size += t.bytes.size();
  r.sharded = shards.size() > 1;
  if (!r.sharded) {
    r.files.push_back("model.safetensors");
    write_safetensors(dir / "model.safetensors", tensors, opt.metadata, opt.sync);
    for (const auto& t : tensors) r.weight_map[t.name] = "model.safetensors";
    return r;
  }
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shard_file_name(s, shards.size());
    std::vector<tensor_ref> part;
    part.reserve(shards[s].size());
    for (std::size_t i : shards[s]) {
      part.push_back(tensors[i]);
      r.weight_map[tensors[i].name] = name;
    }
    write_safetensors(dir / name, part, opt.metadata, opt.sync);
    r.files.push_back(name);
  }
  nlohmann::json index;
  index["metadata"]["total_size"] = r.total_size;
  if (opt.total_parameters) index["metadata"]["total_parameters"] = *opt.total_parameters;
  index["weight_map"] = nlohmann::json::object();
  for (const auto& [k, v] : r.weight_map) index["weight_map"][k] = v;
  r.index_json = python_json_dumps(index, 2, true) + "\n";
  write_file(dir / "model.safetensors.index.json", r.index_json, opt.sync);
  return r;
}

}  // namespace llmc
