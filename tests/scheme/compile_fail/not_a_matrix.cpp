// expect: llmc: this type is not a matrix for llmc
#include <vector>
#include "llmc/tensor/concepts.hpp"
static_assert(llmc::require_matrix_like<std::vector<float>>());
int main() { return 0; }
