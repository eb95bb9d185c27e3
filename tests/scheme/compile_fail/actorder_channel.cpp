// expect: llmc: actorder=group requires the group or tensor_group strategy
#include "llmc/scheme/scheme.hpp"
using bad = llmc::scheme<llmc::quant_args{.num_bits = 4, .strategy = llmc::quant_strategy::channel,
                                          .actorder = llmc::act_order::group}>;
int main() { return bad::weights.num_bits; }
