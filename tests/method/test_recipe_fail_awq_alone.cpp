// expect: llmc: AWQ only rescales weights: add a quantizing method after it
// Compile-fail test: AWQ must be followed by a quantizing method (LLM Compressor's recipe validation).
#include "llmc/method/awq.hpp"
#include "llmc/method/recipe.hpp"
#include "llmc/scheme/presets.hpp"
int main() {
  llmc::layer_context ctx;
  llmc::apply_recipe(llmc::recipe<llmc::awq<llmc::presets::W4A16>>{}, ctx);
}
