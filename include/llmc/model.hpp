// llmc/model.hpp — the model layer: Llama-family decoder description, one-layer-at-a-time forward
// with Linear-input hooks, whole-model forward, evaluation (perplexity, KL, greedy generation),
// fake-quantized weights, random checkpoints for benchmarks.
#pragma once

#include "llmc/model/causal_lm.hpp"
#include "llmc/model/decoder_layer.hpp"
#include "llmc/model/decoder_spec.hpp"
#include "llmc/model/errors.hpp"
#include "llmc/model/evaluate.hpp"
#include "llmc/model/fake_quant.hpp"
#include "llmc/model/random_checkpoint.hpp"
#include "llmc/model/rope.hpp"
#include "llmc/model/weights.hpp"
