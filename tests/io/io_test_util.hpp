// Helpers shared by the io tests: temporary folders, byte files, checksums, error-id assertions.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/io/dtype.hpp"

namespace iotest {

namespace fs = std::filesystem;

inline const fs::path fixtures = LLMC_FIXTURES_DIR;
inline const fs::path data_dir = fs::path(LLMC_TEST_DATA_DIR) / "safetensors";

/// A fresh folder under the system temp dir, removed with everything in it on destruction.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "llmc-io-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    REQUIRE(p != nullptr);
    path = p;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path operator/(const std::string& s) const { return path / s; }
};

inline std::vector<std::byte> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << p);
  std::vector<char> c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = static_cast<std::byte>(c[i]);
  return out;
}

inline std::string read_string(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
  REQUIRE(out.good());
}

/// Byte equality that is also well-defined for empty ranges (memcmp must not get a null pointer).
inline bool bytes_equal(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

/// FNV-1a 64 of a byte range (the checksums in the tests were computed with the same function in
/// Python over the raw tensor bytes of the fixture files).
inline std::uint64_t fnv1a64(std::span<const std::byte> b) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::byte x : b) {
    h ^= std::to_integer<std::uint64_t>(x);
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// The byte pattern tests/io/make_golden.py gives a tensor (same formula as its tensor_bytes()).
inline std::vector<std::byte> pattern_bytes(llmc::dtype t, const std::vector<std::int64_t>& shape, int seed) {
  std::size_t n = llmc::dtype_size(t);
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  std::vector<std::byte> out(n);
  for (std::size_t k = 0; k < n; ++k) {
    out[k] = t == llmc::dtype::boolean ? static_cast<std::byte>((k * 7 + static_cast<std::size_t>(seed)) % 2)
                                       : static_cast<std::byte>((k * 131 + static_cast<std::size_t>(seed) * 17 + 3) % 256);
  }
  return out;
}

/// Runs `f` and returns the id of the llmc::io_error it throws ("" when it throws nothing;
/// "other: <what>" for any other exception type).
template <class F>
std::string io_error_id(F&& f) {
  try {
    f();
  } catch (const llmc::io_error& e) {
    return e.id();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "";
}

}  // namespace iotest

/// Asserts that `expr` throws llmc::io_error with exactly id `id`.
#define CHECK_IO_ERROR(expr, id) CHECK(::iotest::io_error_id([&] { (void)(expr); }) == std::string(id))
