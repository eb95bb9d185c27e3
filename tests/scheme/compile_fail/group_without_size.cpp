// expect: llmc: the group and tensor_group strategies require group_size > 0
#include "llmc/scheme/scheme.hpp"
using bad = llmc::scheme<llmc::quant_args{.num_bits = 4, .strategy = llmc::quant_strategy::group}>;
int main() { return bad::weights.num_bits; }
