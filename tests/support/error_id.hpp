// The stable id of the llmc::error a callable throws: "no error" when it throws nothing, and
// "other: <what>" for any other exception, so a test asserting an id fails on every other outcome.
#pragma once

#include <exception>
#include <string>

#include "llmc/core/error.hpp"

namespace test_support {
template <class F>
std::string error_id(F&& f) {
  try {
    f();
  } catch (const llmc::error& e) {
    return e.id();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
  return "no error";
}
}  // namespace test_support
