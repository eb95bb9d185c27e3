// llmc/backend/thrust/pack.hpp — compressed-tensors packing of device quantized tensors.
//
// The device overloads of scheme/pack.hpp: pack_int_codes(_into) (int32 [rows, ceil(cols*b/32)],
// codes offset by 2^(b-1), dense since CT 0.18.0, or the older per-word layout), pack_zero_points
// (packed along the output dimension, [ceil(slot_rows*b/32), slot_cols]) and pack_fp4_codes (two
// E2M1 codes per byte, even column in the low nibble). Layouts: spec §8.4-8.5,
// [CT] compressors/pack_quantized/helpers.py, nvfp4/helpers.py; numeric/packing.hpp documents the
// bit positions. One device thread writes one output word, so no two threads touch the same
// word; padding bits are 0 as on the host. Results are device matrices; the words are identical to
// the host packers' (tests/thrust).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "llmc/backend/thrust/launch.hpp"
#include "llmc/backend/thrust/quantized_tensor.hpp"
#include "llmc/core/error.hpp"
#include "llmc/scheme/pack.hpp"
#include "llmc/tensor/adapt_thrust.hpp"

namespace llmc {

namespace detail::dev {

/// One int32 word of b-bit codes: word w of line l packs values src[l*line_stride + i*value_stride].
template <class Src>
struct pack_int_fn {
  const Src* src;
  std::ptrdiff_t line_stride;
  std::ptrdiff_t value_stride;
  std::size_t n;      // values per line
  std::size_t words;  // words per line
  int bits;
  bool legacy;
  std::int32_t* out;
  std::ptrdiff_t out_line_stride;
  std::ptrdiff_t out_word_stride;

  LLMC_HOST_DEVICE std::uint32_t offset_code(std::size_t line, std::size_t i) const noexcept {
    const auto q = static_cast<std::int8_t>(src[static_cast<std::ptrdiff_t>(line) * line_stride +
                                                static_cast<std::ptrdiff_t>(i) * value_stride]);
    const std::uint32_t mask = (1u << bits) - 1u;
    return (static_cast<std::uint32_t>(static_cast<std::int32_t>(q)) + (1u << (bits - 1))) & mask;
  }
  LLMC_HOST_DEVICE void operator()(std::size_t k) const noexcept {
    const std::size_t line = k / words, w = k % words;
    const std::size_t b = static_cast<std::size_t>(bits);
    std::uint32_t acc = 0;
    if (legacy) {
      // floor(32/b) values per word, value j of the word at bit b*j, the top bits unused.
      const std::size_t per_word = 32u / b;
      for (std::size_t j = 0; j < per_word; ++j) {
        const std::size_t i = w * per_word + j;
        if (i < n) acc |= offset_code(line, i) << (b * j);
      }
    } else {
      // Dense: value i occupies bits [i*b, i*b + b) of the line's bit stream; this word holds
      // bits [32w, 32w + 32), so values first..last touch it (the first may start in the word before).
      const std::size_t lo = 32u * w;
      const std::size_t first = lo / b;
      std::size_t last = (lo + 31u) / b;
      if (last > n - 1) last = n - 1;
      for (std::size_t i = first; i <= last; ++i) {
        const std::size_t bit = i * b;
        const std::uint32_t u = offset_code(line, i);
        acc |= bit >= lo ? u << (bit - lo) : u >> (lo - bit);
      }
    }
    out[static_cast<std::ptrdiff_t>(line) * out_line_stride + static_cast<std::ptrdiff_t>(w) * out_word_stride] =
        static_cast<std::int32_t>(acc);
  }
};

/// One byte of two FP4 codes: element 2k in the low nibble.
struct pack_fp4_fn {
  const std::uint8_t* codes;
  std::uint8_t* out;
  LLMC_HOST_DEVICE void operator()(std::size_t k) const noexcept {
    out[k] = static_cast<std::uint8_t>((codes[2u * k] & 0x0Fu) | ((codes[2u * k + 1u] & 0x0Fu) << 4));
  }
};

}  // namespace detail::dev

/// weight_packed of an integer device tensor into `out` (reused when it has the right shape).
/// @throws config_error llmc.scheme.020 when the tensor is not integer-quantized.
inline void pack_int_codes_into(thrust_matrix<std::int32_t>& out, const device_quantized_tensor& q,
                                int_packing layout = int_packing::dense) {
  if (!q.args.is_int()) LLMC_THROW(config_error, "llmc.scheme.020", "pack_int_codes: the tensor is not integer-quantized");
  const int bits = q.args.num_bits;
  const std::size_t words = detail::words_for(q.cols(), bits, layout);
  if (out.rows() != q.rows() || out.cols() != words) out = thrust_matrix<std::int32_t>(q.rows(), words);
  const auto cols = static_cast<std::ptrdiff_t>(q.cols());
  detail::dev::launch(q.rows() * words,
                      detail::dev::pack_int_fn<std::uint8_t>{q.codes.data(), cols, 1, q.cols(), words, bits,
                                                             layout == int_packing::legacy_per_word, out.data(),
                                                             static_cast<std::ptrdiff_t>(words), 1});
}

/// weight_packed of an integer device tensor: int32 [rows, words per row], on the device.
inline thrust_matrix<std::int32_t> pack_int_codes(const device_quantized_tensor& q, int_packing layout = int_packing::dense) {
  thrust_matrix<std::int32_t> out;
  pack_int_codes_into(out, q, layout);
  return out;
}

/// weight_zero_point of an asymmetric device tensor, packed along dim 0: int32 [ceil(slot_rows*b/32), slot_cols].
/// @throws config_error llmc.scheme.021 for symmetric tensors.
inline thrust_matrix<std::int32_t> pack_zero_points(const device_quantized_tensor& q, int_packing layout = int_packing::dense) {
  const auto& zp = q.params.zero_point;
  if (zp.empty()) LLMC_THROW(config_error, "llmc.scheme.021", "pack_zero_points: symmetric tensors have no zero points");
  const int bits = q.args.num_bits;
  const std::size_t slot_rows = q.params.layout.slot_rows, slot_cols = q.params.layout.slot_cols;
  const std::size_t words = detail::words_for(slot_rows, bits, layout);
  thrust_matrix<std::int32_t> out(words, slot_cols);
  const auto sc = static_cast<std::ptrdiff_t>(slot_cols);
  // Line = one column of the zero points (values slot_cols apart); word w goes to out(w, column).
  detail::dev::launch(slot_cols * words,
                      detail::dev::pack_int_fn<std::int8_t>{device_data(zp), 1, sc, slot_rows, words, bits,
                                                            layout == int_packing::legacy_per_word, out.data(), 1, sc});
  return out;
}

/// weight_packed of an FP4 device tensor (NVFP4, MXFP4): uint8 [rows, cols/2], on the device.
/// @throws config_error llmc.scheme.024 (not FP4), shape_error llmc.scheme.025 (odd column count).
inline thrust_matrix<std::uint8_t> pack_fp4_codes(const device_quantized_tensor& q) {
  if (!q.args.is_fp4()) LLMC_THROW(config_error, "llmc.scheme.024", "pack_fp4_codes: the tensor is not FP4-quantized");
  if (q.cols() % 2 != 0)
    LLMC_THROW(shape_error, "llmc.scheme.025",
               "pack_fp4_codes: FP4 packing needs an even number of columns, got " + std::to_string(q.cols()));
  thrust_matrix<std::uint8_t> out(q.rows(), q.cols() / 2);
  detail::dev::launch(out.size(), detail::dev::pack_fp4_fn{q.codes.data(), out.data()});
  return out;
}

}  // namespace llmc
