// llmc/scheme/pack.hpp — a quantized_tensor in compressed-tensors' stored layouts, and back.
//
// pack-quantized ([CT] compressors/pack_quantized/helpers.py; spec §8.4, dense since CT 0.18.0): codes offset by
// 2^(b-1) and packed densely into int32 words along the input dimension, [rows, ceil(cols*b/32)];
// asymmetric zero points packed the same way along the OUTPUT dimension, [ceil(slot_rows*b/32),
// slot_cols]. FP4 (NVFP4/MXFP4; spec §8.5): two E2M1 codes per uint8, even column in the low
// nibble, [rows, cols/2]. The legacy per-word layout (CT <= 0.16) differs only for b in {3,5,6,7}.
#pragma once

#include <cstdint>
#include <vector>

#include "llmc/numeric/float4.hpp"
#include "llmc/numeric/packing.hpp"
#include "llmc/scheme/quantized_tensor.hpp"

namespace llmc {

/// Which integer packing to produce: dense (CT >= 0.18.0) or the older per-word one (CT <= 0.17).
enum class int_packing : std::uint8_t { dense, legacy_per_word };

namespace detail {
inline void pack_row(std::span<const std::int8_t> q, int bits, std::span<std::int32_t> out, int_packing layout) {
  if (layout == int_packing::legacy_per_word) pack_int_bits_legacy(q, bits, out);
  else pack_int_bits(q, bits, out);
}
inline void unpack_row(std::span<const std::int32_t> w, int bits, std::span<std::int8_t> q, int_packing layout) {
  if (layout == int_packing::legacy_per_word) unpack_int_bits_legacy(w, bits, q);
  else unpack_int_bits(w, bits, q);
}
inline std::size_t words_for(std::size_t n, int bits, int_packing layout) {
  if (layout == int_packing::legacy_per_word) {
    const std::size_t per_word = 32 / static_cast<std::size_t>(bits);
    return (n + per_word - 1) / per_word;
  }
  return packed_words(n, bits);
}
}  // namespace detail

/// weight_packed of an integer quantized_tensor into `out` (reused when it has the right shape).
inline void pack_int_codes_into(matrix<std::int32_t>& out, const quantized_tensor& q, int_packing layout = int_packing::dense) {
  if (!q.args.is_int()) LLMC_THROW(config_error, "llmc.scheme.020", "pack_int_codes: the tensor is not integer-quantized");
  const int bits = q.args.num_bits;
  const std::size_t words = detail::words_for(q.cols(), bits, layout);
  if (out.rows() != q.rows() || out.cols() != words) out = matrix<std::int32_t>(q.rows(), words);
  for (std::size_t r = 0; r < q.rows(); ++r) {
    // codes hold int8 two's complement bytes; viewing unsigned char storage as int8 is allowed.
    const auto* row = reinterpret_cast<const std::int8_t*>(&q.codes(r, 0));
    detail::pack_row({row, q.cols()}, bits, {&out(r, 0), words}, layout);
  }
}

/// weight_packed of an integer quantized_tensor: int32 [rows, words per row].
inline matrix<std::int32_t> pack_int_codes(const quantized_tensor& q, int_packing layout = int_packing::dense) {
  matrix<std::int32_t> out;
  pack_int_codes_into(out, q, layout);
  return out;
}

/// weight_zero_point of an asymmetric tensor, packed along dim 0: int32 [ceil(slot_rows*b/32), slot_cols].
inline matrix<std::int32_t> pack_zero_points(const quantized_tensor& q, int_packing layout = int_packing::dense) {
  const auto& zp = q.params.zero_point;
  if (zp.empty()) LLMC_THROW(config_error, "llmc.scheme.021", "pack_zero_points: symmetric tensors have no zero points");
  const int bits = q.args.num_bits;
  const std::size_t words = detail::words_for(zp.rows(), bits, layout);
  matrix<std::int32_t> out(words, zp.cols());
  std::vector<std::int8_t> column(zp.rows());
  std::vector<std::int32_t> packed(words);
  for (std::size_t c = 0; c < zp.cols(); ++c) {
    for (std::size_t r = 0; r < zp.rows(); ++r) column[r] = zp(r, c);
    detail::pack_row(column, bits, packed, layout);
    for (std::size_t w = 0; w < words; ++w) out(w, c) = packed[w];
  }
  return out;
}

/// Inverse of pack_int_codes: int8 codes [rows, cols].
inline matrix<std::int8_t> unpack_int_codes(const matrix<std::int32_t>& packed, std::size_t cols, int bits,
                                            int_packing layout = int_packing::dense) {
  if (packed.cols() != detail::words_for(cols, bits, layout))
    LLMC_THROW(shape_error, "llmc.scheme.022",
               "unpack_int_codes: " + std::to_string(packed.cols()) + " words per row cannot hold " + std::to_string(cols) +
                   " values of " + std::to_string(bits) + " bits");
  matrix<std::int8_t> out(packed.rows(), cols);
  for (std::size_t r = 0; r < packed.rows(); ++r)
    detail::unpack_row({&packed(r, 0), packed.cols()}, bits, {&out(r, 0), cols}, layout);
  return out;
}

/// Inverse of pack_zero_points: int8 [slot_rows, slot_cols].
inline matrix<std::int8_t> unpack_zero_points(const matrix<std::int32_t>& packed, std::size_t slot_rows, int bits,
                                              int_packing layout = int_packing::dense) {
  if (packed.rows() != detail::words_for(slot_rows, bits, layout))
    LLMC_THROW(shape_error, "llmc.scheme.023", "unpack_zero_points: packed rows do not match the number of output channels");
  matrix<std::int8_t> out(slot_rows, packed.cols());
  std::vector<std::int32_t> column(packed.rows());
  std::vector<std::int8_t> values(slot_rows);
  for (std::size_t c = 0; c < packed.cols(); ++c) {
    for (std::size_t w = 0; w < packed.rows(); ++w) column[w] = packed(w, c);
    detail::unpack_row(column, bits, values, layout);
    for (std::size_t r = 0; r < slot_rows; ++r) out(r, c) = values[r];
  }
  return out;
}

/// weight_packed of an FP4 tensor (NVFP4, MXFP4): uint8 [rows, cols/2].
inline matrix<std::uint8_t> pack_fp4_codes(const quantized_tensor& q) {
  if (!q.args.is_fp4()) LLMC_THROW(config_error, "llmc.scheme.024", "pack_fp4_codes: the tensor is not FP4-quantized");
  if (q.cols() % 2 != 0)
    LLMC_THROW(shape_error, "llmc.scheme.025", "pack_fp4_codes: FP4 packing needs an even number of columns, got " + std::to_string(q.cols()));
  matrix<std::uint8_t> out(q.rows(), q.cols() / 2);
  std::vector<float4_e2m1> row(q.cols());
  for (std::size_t r = 0; r < q.rows(); ++r) {
    for (std::size_t c = 0; c < q.cols(); ++c) row[c] = float4_e2m1::from_bits(q.codes(r, c));
    pack_fp4(row, {&out(r, 0), q.cols() / 2});
  }
  return out;
}

/// Inverse of pack_fp4_codes: one E2M1 code per byte, [rows, 2*packed cols].
inline matrix<std::uint8_t> unpack_fp4_codes(const matrix<std::uint8_t>& packed) {
  matrix<std::uint8_t> out(packed.rows(), packed.cols() * 2);
  std::vector<float4_e2m1> row(out.cols());
  for (std::size_t r = 0; r < packed.rows(); ++r) {
    unpack_fp4({&packed(r, 0), packed.cols()}, row);
    for (std::size_t c = 0; c < out.cols(); ++c) out(r, c) = row[c].bits;
  }
  return out;
}

}  // namespace llmc
