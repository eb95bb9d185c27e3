// llmc/scheme.hpp — the scheme layer: quantization args, presets, observers, quantize/dequantize,
// packing. Needs only the standard library.
#pragma once

#include "llmc/scheme/compute_dtype.hpp"
#include "llmc/scheme/observer.hpp"
#include "llmc/scheme/pack.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/qparams.hpp"
#include "llmc/scheme/quant_args.hpp"
#include "llmc/scheme/quantize.hpp"
#include "llmc/scheme/quantize_weight.hpp"
#include "llmc/scheme/quantized_tensor.hpp"
#include "llmc/scheme/scheme.hpp"
