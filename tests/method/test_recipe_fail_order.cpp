// expect: llmc: a weight transform (AWQ, SmoothQuant) follows a quantizing method
// Compile-fail test: a transform after a quantizer would edit weights that are already quantized.
#include "llmc/method/gptq.hpp"
#include "llmc/method/recipe.hpp"
#include "llmc/method/smoothquant.hpp"
#include "llmc/scheme/presets.hpp"
using bad = llmc::recipe<llmc::gptq<llmc::presets::W8A8>, llmc::smoothquant>;
int main() { return bad::size; }
