// libFuzzer target for the io layer's parsers of untrusted bytes: the safetensors header
// (parse_safetensors_header + every resulting view), the sharded index and config.json.
// Invariant checked: any input either parses or throws llmc::io_error; anything else (another
// exception type, a crash, an out-of-bounds read, UB) is a finding. Built only with LLMC_FUZZ=ON
// and clang; see tests/fuzz/CMakeLists.txt for how CI runs it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "llmc/io/checkpoint.hpp"
#include "llmc/io/model_config.hpp"
#include "llmc/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const llmc::safetensors_header h = llmc::parse_safetensors_header(bytes, "fuzz");
    std::uint64_t sum = 0;
    for (const auto& t : h.tensors) {
      const llmc::tensor_view v = llmc::view_of(bytes, h, t);
      // Touch every byte the header claims, so ASan sees any range outside the input.
      for (std::byte b : v.bytes) sum += std::to_integer<std::uint64_t>(b);
      if (llmc::is_floating(v.dtype)) {
        const auto f = llmc::to_float32(v);
        sum += f.size();
      }
      if (v.dtype == llmc::dtype::boolean) {
        try {
          sum += v.as<bool>().size();
        } catch (const llmc::io_error&) {
        }
      }
    }
    if (sum == 0xFFFFFFFFFFFFFFFFULL) return 1;  // keep the loop observable
  } catch (const llmc::io_error&) {
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    (void)llmc::parse_safetensors_index(text, "fuzz-index");
  } catch (const llmc::io_error&) {
  }
  try {
    (void)llmc::parse_model_config(text, "fuzz-config");
  } catch (const llmc::io_error&) {
  }
  return 0;
}
