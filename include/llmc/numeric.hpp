// llmc/numeric.hpp — umbrella for the numeric layer (layer 1): the narrow number types
// (bfloat16, float16, float8_e4m3fn/e5m2, float4_e2m1, float8_e8m0, int4/uint4), their
// conversions, round_half_even, sizeof_bits_v, the runtime scalar_type tag, and compressed-tensors
// sub-byte packing.
//
// Invariant: everything here depends only on llmc/core; the numeric layer is the bit-exact
// foundation that the scheme layer quantizes with (spec §4.1-4.6, §8.4-8.5).
#pragma once

#include "llmc/numeric/bfloat16.hpp"
#include "llmc/numeric/e8m0.hpp"
#include "llmc/numeric/float16.hpp"
#include "llmc/numeric/float4.hpp"
#include "llmc/numeric/float8.hpp"
#include "llmc/numeric/float_bits.hpp"
#include "llmc/numeric/int4.hpp"
#include "llmc/numeric/packing.hpp"
#include "llmc/numeric/rounding.hpp"
#include "llmc/numeric/scalar_type.hpp"
#include "llmc/numeric/traits.hpp"
