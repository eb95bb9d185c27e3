// expect: llmc: asymmetric float quantization is not supported
#include "llmc/scheme/scheme.hpp"
using bad = llmc::scheme<llmc::quant_args{.num_bits = 8, .type = llmc::quant_type::float_, .symmetric = false}>;
int main() { return bad::weights.num_bits; }
