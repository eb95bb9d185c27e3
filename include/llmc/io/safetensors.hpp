// llmc/io/safetensors.hpp — validating, memory-mapped reader of one .safetensors file, and typed
// zero-copy tensor views.
//
// Format (huggingface/safetensors README and safetensors/src/tensor.rs): 8-byte little-endian
// header length N, N bytes of UTF-8 JSON {name: {"dtype","shape","data_offsets":[b,e]}, optional
// "__metadata__": {str: str}}, then the data section; offsets are relative to its start (8+N).
// Validation follows the Rust reader (`read_metadata` + `Metadata::validate`): N <= 100,000,000;
// the header order of entries does not matter (ranges are sorted by offset, as the Rust library
// does), but the sorted ranges must cover the data section exactly: no overlap, no gap, no
// trailing bytes — the Rust library rejects gapped files, so we do too rather than accept files
// the reference cannot read. Stricter than Rust: duplicate JSON keys are an error (serde keeps the
// last one silently). Unknown fields inside a tensor entry are ignored, as serde does.
// Every failure is an io_error with an id from io/errors.hpp naming the file and the tensor.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/dtype.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/json.hpp"

namespace llmc {

static_assert(std::endian::native == std::endian::little,
              "llmc: safetensors data is little-endian and is viewed in place; big-endian hosts are not supported");

/// Largest header the reader accepts, and the writer produces (Rust MAX_HEADER_SIZE).
inline constexpr std::uint64_t safetensors_max_header_size = 100'000'000;

/// One tensor entry of a header. [begin, end) is relative to the data section.
struct tensor_info {
  std::string name;
  llmc::dtype dtype = dtype::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  [[nodiscard]] std::uint64_t nbytes() const noexcept { return end - begin; }
  /// Product of the shape (1 for a scalar, shape []).
  [[nodiscard]] std::uint64_t numel() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }
};

/// A parsed and validated header.
struct safetensors_header {
  std::uint64_t header_length = 0;  ///< N, the JSON length including padding
  std::uint64_t data_size = 0;      ///< bytes after the header
  std::map<std::string, std::string> metadata;  ///< "__metadata__" (empty when absent)
  std::vector<tensor_info> tensors;             ///< sorted by data offset
  std::unordered_map<std::string, std::size_t> index;  ///< name -> position in `tensors`

  /// Absolute file offset where the data section starts.
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return 8 + header_length; }
  [[nodiscard]] const tensor_info* find(std::string_view name) const {
    auto it = index.find(std::string(name));
    return it == index.end() ? nullptr : &tensors[it->second];
  }
};

namespace detail {

inline std::uint64_t read_le_u64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint64_t>(p[i]);
  return v;
}

inline std::string quote_name(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

inline tensor_info parse_tensor_entry(const std::string& name, const nlohmann::json& e, const std::string& label) {
  const std::string where = label + ": tensor " + quote_name(name);
  if (!e.is_object()) {
    LLMC_THROW(io_error, io_errc::bad_structure,
               where + ": the header entry is not a JSON object with dtype, shape and data_offsets");
  }
  tensor_info t;
  t.name = name;
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) {
    LLMC_THROW(io_error, io_errc::bad_structure, where + ": missing or non-string \"dtype\"");
  }
  const auto& dts = dt->get_ref<const std::string&>();
  auto parsed = dtype_from_name(dts);
  if (!parsed) {
    LLMC_THROW(io_error, io_errc::unknown_dtype,
               where + ": unknown or unsupported dtype " + quote_name(dts) + " (supported: " + supported_dtype_names +
                   "); convert the tensor to a supported dtype");
  }
  t.dtype = *parsed;
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) {
    LLMC_THROW(io_error, io_errc::bad_structure, where + ": missing or non-array \"shape\"");
  }
  t.shape.reserve(sh->size());
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) {
      LLMC_THROW(io_error, io_errc::bad_structure,
                 where + ": shape " + d.dump() + " is not a non-negative integer dimension");
    }
    const auto v = d.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) {
      LLMC_THROW(io_error, io_errc::size_mismatch, where + ": shape dimension " + std::to_string(v) + " overflows");
    }
    t.shape.push_back(static_cast<std::int64_t>(v));
  }
  auto off = e.find("data_offsets");
  if (off == e.end()) {
    LLMC_THROW(io_error, io_errc::bad_structure, where + ": missing \"data_offsets\"");
  }
  if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
    LLMC_THROW(io_error, io_errc::bad_offsets,
               where + ": data_offsets " + off->dump() +
                   " must be two non-negative integers [begin, end]; the file is corrupt");
  }
  t.begin = (*off)[0].get<std::uint64_t>();
  t.end = (*off)[1].get<std::uint64_t>();
  if (t.begin > t.end) {
    LLMC_THROW(io_error, io_errc::bad_offsets,
               where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                   "] end before they begin; the file is corrupt");
  }
  // shape x dtype size must equal the byte range, with overflow checked like Rust's checked_mul.
  std::uint64_t n = 1;
  bool overflow = false;
  for (auto d : t.shape) overflow |= __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n);
  std::uint64_t bytes = 0;
  overflow |= __builtin_mul_overflow(n, static_cast<std::uint64_t>(dtype_size(t.dtype)), &bytes);
  if (overflow || bytes != t.end - t.begin) {
    std::string shape_s = "[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) shape_s += (i ? "," : "") + std::to_string(t.shape[i]);
    shape_s += "]";
    LLMC_THROW(io_error, io_errc::size_mismatch,
               where + ": shape " + shape_s + " of " + std::string(dtype_name(t.dtype)) + " needs " +
                   (overflow ? std::string("more than 2^64") : std::to_string(bytes)) + " bytes but data_offsets span " +
                   std::to_string(t.end - t.begin) + "; the file is corrupt");
  }
  return t;
}

}  // namespace detail

/// Parses and validates the header of a complete safetensors file held in `file` (only the first
/// 8+N bytes are read; the rest is only measured). `label` names the file in messages.
/// @throws io_error llmc.io.102–114 (see io/errors.hpp)
inline safetensors_header parse_safetensors_header(std::span<const std::byte> file, const std::string& label) {
  if (file.size() < 8) {
    LLMC_THROW(io_error, io_errc::truncated_length,
               label + ": " + std::to_string(file.size()) +
                   " bytes is shorter than the 8-byte header length of a safetensors file; the file is truncated");
  }
  safetensors_header h;
  h.header_length = detail::read_le_u64(file.data());
  if (h.header_length > safetensors_max_header_size) {
    LLMC_THROW(io_error, io_errc::header_too_large,
               label + ": header length " + std::to_string(h.header_length) + " exceeds the " +
                   std::to_string(safetensors_max_header_size) +
                   "-byte limit of the safetensors format; the file is corrupt or not a safetensors file");
  }
  if (h.header_length > file.size() - 8) {
    LLMC_THROW(io_error, io_errc::header_past_eof,
               label + ": header length " + std::to_string(h.header_length) + " runs past the end of the " +
                   std::to_string(file.size()) + "-byte file; the file is truncated");
  }
  h.data_size = file.size() - 8 - h.header_length;
  const std::string_view text(reinterpret_cast<const char*>(file.data() + 8), static_cast<std::size_t>(h.header_length));
  if (const std::size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    LLMC_THROW(io_error, io_errc::not_utf8,
               label + ": the header is not valid UTF-8 (first bad byte at file offset " + std::to_string(8 + bad) +
                   "); the file is corrupt");
  }
  const nlohmann::json j = parse_json_strict(text, label + " (safetensors header)");
  if (!j.is_object()) {
    LLMC_THROW(io_error, io_errc::bad_structure, label + ": the header is not a JSON object");
  }
  h.tensors.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) {
        LLMC_THROW(io_error, io_errc::bad_structure, label + ": \"__metadata__\" must be an object of strings");
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          LLMC_THROW(io_error, io_errc::bad_structure,
                     label + ": \"__metadata__\" value of " + detail::quote_name(m.key()) +
                         " is not a string (the format allows only string -> string)");
        }
        h.metadata.emplace(m.key(), m->get<std::string>());
      }
      continue;
    }
    h.tensors.push_back(detail::parse_tensor_entry(it.key(), *it, label));
  }
  for (const auto& t : h.tensors) {
    if (t.end > h.data_size) {
      LLMC_THROW(io_error, io_errc::out_of_bounds,
                 label + ": tensor " + detail::quote_name(t.name) + " data_offsets [" + std::to_string(t.begin) + ", " +
                     std::to_string(t.end) + "] run past the " + std::to_string(h.data_size) +
                     "-byte data section; the file is truncated or corrupt");
    }
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const tensor_info& a, const tensor_info& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  std::uint64_t pos = 0;
  const tensor_info* prev = nullptr;
  for (const auto& t : h.tensors) {
    if (t.begin < pos) {
      LLMC_THROW(io_error, io_errc::overlap,
                 label + ": tensors " + detail::quote_name(prev->name) + " [" + std::to_string(prev->begin) + ", " +
                     std::to_string(prev->end) + ") and " + detail::quote_name(t.name) + " [" + std::to_string(t.begin) +
                     ", " + std::to_string(t.end) + ") overlap; the file is corrupt");
    }
    if (t.begin > pos) {
      LLMC_THROW(io_error, io_errc::gap,
                 label + ": bytes [" + std::to_string(pos) + ", " + std::to_string(t.begin) +
                     ") of the data section belong to no tensor (before " + detail::quote_name(t.name) +
                     "); the safetensors format requires contiguous tensors: re-create the file with a standard writer");
    }
    pos = t.end;
    prev = &t;
  }
  if (pos != h.data_size) {
    LLMC_THROW(io_error, io_errc::gap,
               label + ": the data section has " + std::to_string(h.data_size - pos) +
                   " trailing bytes that belong to no tensor; the safetensors format requires the tensors to cover "
                   "the data exactly: re-create the file");
  }
  h.index.reserve(h.tensors.size());
  for (std::size_t i = 0; i < h.tensors.size(); ++i) h.index.emplace(h.tensors[i].name, i);
  return h;
}

/// Typed data of a tensor: borrowed from the mapping when the bytes are aligned for T, else an
/// owned copy. Move-only; the span is only reachable from an lvalue so it cannot dangle.
template <storable_element T>
class tensor_data {
 public:
  explicit tensor_data(std::span<const T> borrowed) noexcept : view_(borrowed) {}
  /// Takes ownership of `n` elements at `owned`.
  tensor_data(std::unique_ptr<T[]> owned, std::size_t n) noexcept : copy_(std::move(owned)), view_(copy_.get(), n) {}
  // The heap block does not move with the unique_ptr, so view_ stays valid after a move.
  tensor_data(tensor_data&&) noexcept = default;
  tensor_data& operator=(tensor_data&&) noexcept = default;
  tensor_data(const tensor_data&) = delete;
  tensor_data& operator=(const tensor_data&) = delete;

  [[nodiscard]] std::span<const T> span() const& noexcept { return view_; }
  std::span<const T> span() const&& = delete;
  operator std::span<const T>() const& noexcept { return view_; }
  operator std::span<const T>() const&& = delete;
  [[nodiscard]] std::size_t size() const noexcept { return view_.size(); }
  [[nodiscard]] const T* data() const& noexcept { return view_.data(); }
  const T& operator[](std::size_t i) const& noexcept { return view_[i]; }
  [[nodiscard]] auto begin() const& noexcept { return view_.begin(); }
  [[nodiscard]] auto end() const& noexcept { return view_.end(); }
  /// True when no copy was made (the data lives in the file mapping).
  [[nodiscard]] bool borrowed() const noexcept { return copy_ == nullptr; }

 private:
  std::unique_ptr<T[]> copy_;
  std::span<const T> view_;
};

/// A non-owning view of one stored tensor. Valid while the file (or checkpoint) that produced it
/// is alive; releasing pages (release()) does not invalidate it.
struct tensor_view {
  std::string name;
  llmc::dtype dtype = dtype::f32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;

  [[nodiscard]] std::uint64_t numel() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }

  template <storable_element T>
  [[nodiscard]] bool is_aligned_for() const noexcept {
    return reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(T) == 0;
  }

  /// Typed access; zero-copy when aligned (always the case for files from the standard writers,
  /// whose data start is 8-aligned and whose tensors are sorted by decreasing alignment), else a copy.
  /// @throws io_error llmc.io.116 when dtype != dtype_of_v<T>; llmc.io.118 for a BOOL byte not 0/1.
  template <storable_element T>
  [[nodiscard]] tensor_data<T> as() const {
    check_dtype<T>();
    if (is_aligned_for<T>()) return tensor_data<T>(std::span<const T>(reinterpret_cast<const T*>(bytes.data()), count<T>()));
    const std::size_t n = count<T>();
    auto copy = std::make_unique_for_overwrite<T[]>(n);
    std::memcpy(copy.get(), bytes.data(), n * sizeof(T));
    return tensor_data<T>(std::move(copy), n);
  }

  /// Zero-copy typed span. @throws io_error llmc.io.117 when the bytes are misaligned for T.
  template <storable_element T>
  [[nodiscard]] std::span<const T> as_span() const {
    check_dtype<T>();
    if (!is_aligned_for<T>()) {
      LLMC_THROW(io_error, io_errc::misaligned,
                 "tensor \"" + name + "\": its data is not aligned for " + std::string(dtype_name(dtype)) +
                     " (the file was not written by a standard writer); use as<T>(), which copies when needed");
    }
    return std::span<const T>(reinterpret_cast<const T*>(bytes.data()), count<T>());
  }

  /// Always-copying typed read.
  template <storable_element T>
  [[nodiscard]] std::vector<T> to_vector() const {
    check_dtype<T>();
    std::vector<T> out(count<T>());
    if constexpr (std::is_same_v<std::remove_cv_t<T>, bool>) {
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = bytes[i] != std::byte{0};  // vector<bool> is packed
    } else if (!bytes.empty()) {
      std::memcpy(out.data(), bytes.data(), bytes.size());
    }
    return out;
  }

 private:
  template <class T>
  std::size_t count() const noexcept {
    return bytes.size() / sizeof(T);
  }
  template <class T>
  void check_dtype() const {
    if (dtype != dtype_of_v<T>) {
      LLMC_THROW(io_error, io_errc::dtype_mismatch,
                 "tensor \"" + name + "\" is " + std::string(dtype_name(dtype)) + ", not " +
                     std::string(dtype_name(dtype_of_v<T>)) + "; read it with the matching element type");
    }
    if constexpr (std::is_same_v<std::remove_cv_t<T>, bool>) {
      for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] != std::byte{0} && bytes[i] != std::byte{1}) {
          LLMC_THROW(io_error, io_errc::bad_bool,
                     "tensor \"" + name + "\": BOOL element " + std::to_string(i) + " holds byte " +
                         std::to_string(std::to_integer<int>(bytes[i])) + ", not 0 or 1; the file is corrupt");
        }
      }
    }
  }
};

namespace detail {
template <class T>
void convert_to_float(std::span<const std::byte> in, std::span<float> out) {
  constexpr std::size_t chunk = 1024;
  T tmp[chunk];
  const std::size_t n = out.size();
  for (std::size_t i = 0; i < n; i += chunk) {
    const std::size_t m = std::min(chunk, n - i);
    std::memcpy(tmp, in.data() + i * sizeof(T), m * sizeof(T));
    for (std::size_t k = 0; k < m; ++k) out[i + k] = static_cast<float>(tmp[k]);
  }
}
}  // namespace detail

/// Converts a floating-point tensor (F32, F16, BF16, F64, F8_E4M3, F8_E5M2, F8_E8M0) to float32
/// into `out` (out.size() must equal v.numel()). F64 rounds to nearest-even; all others are exact.
/// @throws io_error llmc.io.116 for integer/BOOL tensors; shape_error llmc.io.119 when out.size() != numel.
inline void to_float32(const tensor_view& v, std::span<float> out) {
  if (out.size() != v.numel()) {
    LLMC_THROW(shape_error, io_errc::output_size,
               "to_float32(\"" + v.name + "\"): output holds " + std::to_string(out.size()) + " floats, the tensor has " +
                   std::to_string(v.numel()));
  }
  switch (v.dtype) {
    case dtype::f32:
      if (!out.empty()) std::memcpy(out.data(), v.bytes.data(), v.bytes.size());
      return;
    case dtype::f64: detail::convert_to_float<double>(v.bytes, out); return;
    case dtype::f16: detail::convert_to_float<float16>(v.bytes, out); return;
    case dtype::bf16: detail::convert_to_float<bfloat16>(v.bytes, out); return;
    case dtype::f8_e4m3: detail::convert_to_float<float8_e4m3fn>(v.bytes, out); return;
    case dtype::f8_e5m2: detail::convert_to_float<float8_e5m2>(v.bytes, out); return;
    case dtype::f8_e8m0: detail::convert_to_float<float8_e8m0>(v.bytes, out); return;
    default:
      LLMC_THROW(io_error, io_errc::dtype_mismatch,
                 "tensor \"" + v.name + "\" is " + std::string(dtype_name(v.dtype)) +
                     ", not a floating-point dtype; to_float32 converts F64/F32/F16/BF16/F8 only");
  }
}

/// Converts a floating-point tensor to a new std::vector<float> (see the overload above).
inline std::vector<float> to_float32(const tensor_view& v) {
  if (!is_floating(v.dtype)) {
    LLMC_THROW(io_error, io_errc::dtype_mismatch,
               "tensor \"" + v.name + "\" is " + std::string(dtype_name(v.dtype)) +
                   ", not a floating-point dtype; to_float32 converts F64/F32/F16/BF16/F8 only");
  }
  std::vector<float> out(static_cast<std::size_t>(v.numel()));
  to_float32(v, out);
  return out;
}

/// The view of tensor `t` inside a whole-file buffer whose header is `h` (both already validated).
inline tensor_view view_of(std::span<const std::byte> file, const safetensors_header& h, const tensor_info& t) {
  return tensor_view{t.name, t.dtype, t.shape,
                     file.subspan(static_cast<std::size_t>(h.data_offset() + t.begin), static_cast<std::size_t>(t.nbytes()))};
}

/// One safetensors file, memory-mapped and validated. Opening reads only the header pages;
/// tensor data is paged in when a view is read and can be dropped again with release().
class safetensors_file {
 public:
  /// @throws io_error llmc.io.101–114 naming the file.
  static safetensors_file open(const std::filesystem::path& p) {
    safetensors_file f;
    f.map_ = mapped_file::open(p);
    f.header_ = parse_safetensors_header(f.map_.bytes(), p.string());
    return f;
  }

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return map_.path(); }
  [[nodiscard]] const safetensors_header& header() const noexcept { return header_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return header_.metadata; }
  [[nodiscard]] std::size_t size() const noexcept { return header_.tensors.size(); }
  [[nodiscard]] std::uint64_t file_size() const noexcept { return map_.size(); }
  /// Tensor names in data-offset order.
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(header_.tensors.size());
    for (const auto& t : header_.tensors) out.push_back(t.name);
    return out;
  }
  [[nodiscard]] bool contains(std::string_view name) const { return header_.find(name) != nullptr; }
  /// @throws io_error llmc.io.115 when absent.
  [[nodiscard]] const tensor_info& info(std::string_view name) const {
    if (const tensor_info* t = header_.find(name)) return *t;
    LLMC_THROW(io_error, io_errc::tensor_not_found,
               path().string() + ": no tensor named \"" + std::string(name) + "\" (the file has " +
                   std::to_string(size()) + " tensors; see names())");
  }
  /// @throws io_error llmc.io.115 when absent.
  [[nodiscard]] tensor_view tensor(std::string_view name) const { return view_of(map_.bytes(), header_, info(name)); }
  /// Drops the resident pages of one tensor (views stay valid; the data is re-read on access).
  void release(std::string_view name) const {
    const tensor_info& t = info(name);
    map_.release(static_cast<std::size_t>(header_.data_offset() + t.begin), static_cast<std::size_t>(t.nbytes()));
  }
  /// Drops every resident page of the file.
  void release_all() const { map_.release(0, map_.size()); }
  /// Starts reading one tensor ahead of use.
  void prefetch(std::string_view name) const {
    const tensor_info& t = info(name);
    map_.prefetch(static_cast<std::size_t>(header_.data_offset() + t.begin), static_cast<std::size_t>(t.nbytes()));
  }

 private:
  mapped_file map_;
  safetensors_header header_;
};

}  // namespace llmc
