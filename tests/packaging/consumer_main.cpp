// A downstream program, built by tests/packaging against an installed llmc (find_package) or
// llmc's source tree (add_subdirectory). It quantizes a 2x8 matrix with the W4A16 preset and
// returns 0 only when the int4 codes and the packed int32 words are the hand-computed ones below.
// LLMC_CONSUMER_EIGEN / LLMC_CONSUMER_IO additionally use the llmc::eigen / llmc::io components,
// proving their targets carry the third-party include paths into the consumer.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "llmc/scheme.hpp"
#ifdef LLMC_CONSUMER_EIGEN
#include <Eigen/Core>

#include "llmc/tensor/adapt_eigen.hpp"
#endif
#ifdef LLMC_CONSUMER_IO
#include "llmc/io/json.hpp"
#endif

namespace {
constexpr float values[2][8] = {
    {7.5f, -7.5f, 3.5f, 4.5f, -7.4f, 0.49f, 1.0f, -1.0f},  // absmax 7.5 -> scale 7.5 / 7.5 = 1
    {15.0f, -1.0f, 3.0f, -15.0f, 5.0f, 1.0f, 0.0f, -30.0f},  // absmax 30 -> scale 4
};
// Round half to even after dividing by the scale, clamp to [-8, 7]:
// row 0: 7.5 -> 7 (clamp), -7.5 -> -8, 3.5 -> 4, 4.5 -> 4, -7.4 -> -7, 0.49 -> 0, 1, -1;
// row 1: 3.75 -> 4, -0.25 -> 0, 0.75 -> 1, -3.75 -> -4, 1.25 -> 1, 0.25 -> 0, 0, -7.5 -> -8.
constexpr int codes[2][8] = {{7, -8, 4, 4, -7, 0, 1, -1}, {4, 0, 1, -4, 1, 0, 0, -8}};
// compressed-tensors pack-quantized: code + 8 in nibbles, column 0 in the lowest nibble.
// row 0: F,0,C,C,1,8,9,7 -> 0x7981CC0F; row 1: C,8,9,4,9,8,8,0 -> 0x0889498C.
constexpr std::uint32_t words[2] = {0x7981CC0Fu, 0x0889498Cu};

int check(const llmc::quantized_tensor& q, const char* what) {
  int bad = 0;
  if (q.params.scale(0, 0) != 1.0f || q.params.scale(1, 0) != 4.0f) {
    std::printf("%s: scales %g %g, expected 1 4\n", what, q.params.scale(0, 0), q.params.scale(1, 0));
    ++bad;
  }
  for (std::size_t r = 0; r < 2; ++r)
    for (std::size_t c = 0; c < 8; ++c)
      if (q.int_code(r, c) != codes[r][c]) {
        std::printf("%s: code(%zu, %zu) = %d, expected %d\n", what, r, c, q.int_code(r, c), codes[r][c]);
        ++bad;
      }
  const auto packed = llmc::pack_int_codes(q);
  if (packed.rows() != 2 || packed.cols() != 1) {
    std::printf("%s: packed shape %zux%zu, expected 2x1\n", what, packed.rows(), packed.cols());
    return bad + 1;
  }
  for (std::size_t r = 0; r < 2; ++r)
    if (static_cast<std::uint32_t>(packed(r, 0)) != words[r]) {
      std::printf("%s: packed word %zu = 0x%08X, expected 0x%08X\n", what, r,
                  static_cast<unsigned>(packed(r, 0)), static_cast<unsigned>(words[r]));
      ++bad;
    }
  return bad;
}
}  // namespace

int main() {
  std::vector<float> data(&values[0][0], &values[0][0] + 16);
  const llmc::matrix_view<const float> w(data.data(), 2, 8);
  int bad = check(llmc::quantize_weight(llmc::presets::W4A16{}, w), "matrix_view");
#ifdef LLMC_CONSUMER_EIGEN
  Eigen::Matrix<float, 2, 8, Eigen::ColMajor> e;  // a column-major layout, through the adapter
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 8; ++c) e(r, c) = values[r][c];
  bad += check(llmc::quantize_weight(llmc::presets::W4A16{}, e), "Eigen");
#endif
#ifdef LLMC_CONSUMER_IO
  if (llmc::find_invalid_utf8("W4A16 \xC3\xA9") != std::string_view::npos || llmc::find_invalid_utf8("\xC0\xAF") != 0) {
    std::printf("llmc::io: find_invalid_utf8 gave a wrong answer\n");
    ++bad;
  }
#endif
  std::printf("%s\n", bad == 0 ? "llmc consumer: OK" : "llmc consumer: FAILED");
  return bad == 0 ? 0 : 1;
}
