// expect: llmc: the token strategy requires dynamic quantization
#include "llmc/scheme/scheme.hpp"
using bad = llmc::scheme<llmc::quant_args{.num_bits = 8, .strategy = llmc::quant_strategy::channel},
                         llmc::quant_args{.num_bits = 8, .strategy = llmc::quant_strategy::token}>;
constexpr auto w = bad::input_activations;
int main() { return w.num_bits; }
