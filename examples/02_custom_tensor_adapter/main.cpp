// Bringing your own tensor type to llmc: specialize llmc::tensor_traits and every algorithm
// accepts it, without copying (include/llmc/tensor/traits.hpp lists the members).
//
// The type here is what an inference engine might hold: a row-major bfloat16 weight whose rows are
// padded to a pitch (for alignment). Its padding is filled with a huge value: if llmc ever read
// past a row's `cols` elements, the per-channel scale of that row would explode. The program then
// quantizes it with the W8A8 preset (weights: int8, symmetric, one scale per output channel,
// spec §3.2), prints codes and scales, and checks that they equal the result for the same values
// in llmc's own dense llmc::matrix<bfloat16>; it returns 1 if they differ.
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "llmc/numeric/bfloat16.hpp"
#include "llmc/scheme.hpp"
#include "llmc/tensor.hpp"

namespace user {
/// The user's own type: nothing llmc-specific in it.
struct pitched_bf16_matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t pitch = 0;                // elements from one row to the next (>= cols)
  std::vector<llmc::bfloat16> storage;  // rows * pitch

  pitched_bf16_matrix(std::size_t r, std::size_t c, std::size_t p, llmc::bfloat16 fill)
      : rows(r), cols(c), pitch(p), storage(r * p, fill) {}
  llmc::bfloat16& at(std::size_t r, std::size_t c) { return storage[r * pitch + c]; }
};
}  // namespace user

/// The opt-in: seven members, all the library ever asks of a matrix.
template <>
struct llmc::tensor_traits<user::pitched_bf16_matrix> {
  static constexpr bool specialized = true;
  using value_type = const llmc::bfloat16;  // read-only: llmc never writes through this adapter
  using backend = llmc::host_backend;       // the data is in host memory
  static const llmc::bfloat16* data(const user::pitched_bf16_matrix& m) noexcept { return m.storage.data(); }
  static std::size_t rows(const user::pitched_bf16_matrix& m) noexcept { return m.rows; }
  static std::size_t cols(const user::pitched_bf16_matrix& m) noexcept { return m.cols; }
  static std::ptrdiff_t row_stride(const user::pitched_bf16_matrix& m) noexcept {
    return static_cast<std::ptrdiff_t>(m.pitch);
  }
  static std::ptrdiff_t col_stride(const user::pitched_bf16_matrix&) noexcept { return 1; }
};

static_assert(llmc::host_matrix<user::pitched_bf16_matrix>, "the adapter must make the type a host matrix");

int main() {
  constexpr std::size_t rows = 3, cols = 8, pitch = 11;
  const float values[rows][cols] = {
      {127.5f, -3.2f, 10.5f, 11.5f, -0.5f, 2.5f, -2.5f, 100.49f},  // absmax 127.5 -> scale 1
      {-255.0f, 1.0f, 2.0f, 3.0f, 128.0f, 127.0f, -1.0f, 0.9f},    // absmax 255 -> scale 2
      {0.1f, -0.2f, 0.3f, -0.4f, 0.5f, -0.6f, 0.7f, -0.8f},        // a scale that is not a power of two
  };
  // Row 2 shows the bf16 compute dtype of a bf16 model (spec §4.3): -0.8 is bf16 -0.80078125, the
  // scale is bf16(0.80078125 / 127.5) = 0.00628662109, and x / s = -127.38 is rounded to bf16
  // (-127.5) before rounding to an integer, so the code is -128, not -127.
  user::pitched_bf16_matrix w(rows, cols, pitch, llmc::bfloat16(1e30f));
  llmc::matrix<llmc::bfloat16> dense(rows, cols);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < cols; ++c) w.at(r, c) = dense(r, c) = llmc::bfloat16(values[r][c]);

  const auto q = llmc::quantize_weight(llmc::presets::W8A8{}, w);
  std::printf("W8A8 weights of a %zux%zu bfloat16 matrix with row pitch %zu: codes %s, scales %s [%zux%zu]\n",
              q.rows(), q.cols(), pitch, std::string(llmc::to_string(q.code_type())).c_str(),
              std::string(llmc::to_string(q.scale_type())).c_str(), q.params.scale.rows(), q.params.scale.cols());
  for (std::size_t r = 0; r < rows; ++r) {
    std::printf("row %zu: scale %-14.9g codes", r, static_cast<double>(q.params.scale(r, 0)));
    for (std::size_t c = 0; c < cols; ++c) std::printf(" %4d", q.int_code(r, c));
    std::printf("\n");
  }

  const auto reference = llmc::quantize_weight(llmc::presets::W8A8{}, dense);
  const bool same = q.codes == reference.codes && q.params.scale == reference.params.scale;
  std::printf("same codes and scales as llmc::matrix<bfloat16>: %s\n", same ? "yes" : "NO");
  return same ? 0 : 1;
}
