// llmc/core/error.hpp — the library's recoverable errors.
//
// Every recoverable failure (bad shape, corrupt file, unsupported configuration) is an
// llmc::error carrying a stable id such as "llmc.io.302" that tests and users can match on,
// and a message that says what went wrong, where (file, tensor, layer) and what to do next.
// Programming errors inside kernels use LLMC_ASSERT, which is compiled out with NDEBUG.
#pragma once

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "llmc/core/config.hpp"

namespace llmc {

/// Base of every exception the library throws on purpose.
class error : public std::runtime_error {
 public:
  error(std::string id, const std::string& message)
      : std::runtime_error("[" + id + "] " + message), id_(std::move(id)) {}
  /// Stable identifier, e.g. "llmc.io.302"; the numbering is documented next to each throw site.
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

 private:
  std::string id_;
};

/// A tensor or matrix does not have the shape an operation needs.
class shape_error : public error {
 public:
  using error::error;
};
/// A configuration (scheme, recipe, model config) is invalid or unsupported.
class config_error : public error {
 public:
  using error::error;
};
/// Reading or writing a file failed, or a file is malformed.
class io_error : public error {
 public:
  using error::error;
};
/// A numerical procedure could not complete (e.g. a Cholesky factorization failed).
class numeric_error : public error {
 public:
  using error::error;
};

}  // namespace llmc

/// Throws ErrorType(id, message); aborts with the message when exceptions are disabled.
#if LLMC_HAS_EXCEPTIONS
#define LLMC_THROW(ErrorType, id, message) throw ErrorType((id), (message))
#else
#define LLMC_THROW(ErrorType, id, message) \
  (std::fputs(std::string(message).c_str(), stderr), std::abort())
#endif

/// Precondition check for internal invariants; compiled out when NDEBUG is defined.
#define LLMC_ASSERT(cond) assert(cond)
