// llmc/method.hpp — the method layer: statistics collectors, RTN, GPTQ, AWQ, SmoothQuant and
// compile-time recipes composing them.
#pragma once

#include "llmc/method/awq.hpp"
#include "llmc/method/channel_stats.hpp"
#include "llmc/method/concepts.hpp"
#include "llmc/method/gptq.hpp"
#include "llmc/method/hessian.hpp"
#include "llmc/method/mappings.hpp"
#include "llmc/method/recipe.hpp"
#include "llmc/method/rtn.hpp"
#include "llmc/method/smoothquant.hpp"
