// The smallest llmc program: quantize a weight held in a plain std::span<const float> with the
// W4A16 preset (int4, symmetric, groups of 128 along the input dimension) and print the int32
// words compressed-tensors stores as `weight_packed` (pack-quantized format: code + 8 in each
// nibble, column 0 in the lowest nibble of word 0; spec §8.4).
//
// llmc::matrix_view is the library's own non-owning strided view; its (span, rows, cols)
// constructor checks that the extents fit the span (else shape_error llmc.tensor.001).
#include <cstdint>
#include <cstdio>
#include <span>
#include <vector>

#include "llmc/scheme.hpp"
#include "llmc/tensor.hpp"

int main() {
  constexpr std::size_t rows = 2, cols = 16;
  std::vector<float> weights(rows * cols);
  for (std::size_t c = 0; c < cols; ++c) {
    // Row 0: -1.875 .. 1.875 in steps of 0.25, so w / scale lands exactly on the .5 ties
    // -7.5 .. 7.5 and shows round-half-to-even (-6.5 -> -6, -5.5 -> -6, ...).
    weights[c] = (static_cast<float>(c) - 7.5f) * 0.25f;
    // Row 1: -3.75, -1.25, 1.25, 3.75 repeated: scale 0.5, codes -8, -2, 2, 7 (7.5 clamps to 7).
    weights[cols + c] = (static_cast<float>(c % 4) - 1.5f) * 2.5f;
  }
  const std::span<const float> flat(weights);
  const llmc::matrix_view<const float> w(flat, rows, cols);

  const auto q = llmc::quantize_weight(llmc::presets::W4A16{}, w);
  const auto packed = llmc::pack_int_codes(q);  // int32 [rows, cols * 4 / 32]

  std::printf("W4A16 of a %zux%zu float matrix: %zu group(s) per row, %zu int32 word(s) per row\n", rows, cols,
              q.params.scale.cols(), packed.cols());
  for (std::size_t r = 0; r < rows; ++r) {
    std::printf("row %zu: scale %g codes", r, static_cast<double>(q.params.scale(r, 0)));
    for (std::size_t c = 0; c < cols; ++c) std::printf(" %d", q.int_code(r, c));
    std::printf("\n  weight_packed");
    for (std::size_t k = 0; k < packed.cols(); ++k)
      std::printf(" 0x%08X (%d)", static_cast<unsigned>(static_cast<std::uint32_t>(packed(r, k))), packed(r, k));
    std::printf("\n");
  }
  return 0;
}
