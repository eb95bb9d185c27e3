// LLM Compressor recipes: the spec's representative YAML recipes parse to the right modifiers and
// schemes; every malformed recipe fails with its id and a message naming the place.
#include <doctest/doctest.h>

#include "llmc/pipeline/recipe.hpp"

using namespace llmc;
using namespace llmc::pipeline;

namespace {
std::string error_id(const std::string& yaml) {
  try {
    (void)parse_recipe(yaml, "test.yaml");
  } catch (const config_error& e) {
    return e.id() + " " + e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("W8A8 recipe: SmoothQuant 0.8 then GPTQ with explicit config groups") {
  const auto r = parse_recipe(R"(
quant_stage:
  quant_modifiers:
    SmoothQuantModifier:
      smoothing_strength: 0.8
    GPTQModifier:
      ignore: [lm_head]
      actorder: null
      config_groups:
        group_0:
          targets: [Linear]
          weights:            {num_bits: 8, type: int,   symmetric: true, strategy: channel}
          input_activations:  {num_bits: 8, type: int,   symmetric: true, strategy: token, dynamic: true}
)");
  REQUIRE(r.modifiers.size() == 2);
  CHECK(r.modifiers[0].kind == modifier_kind::smoothquant);
  CHECK(r.modifiers[0].smoothing_strength == 0.8f);
  CHECK(r.modifiers[0].stage == "quant");
  CHECK(r.modifiers[0].group == "quant");
  const auto& g = r.modifiers[1];
  CHECK(g.kind == modifier_kind::gptq);
  CHECK(g.ignore == std::vector<std::string>{"lm_head"});
  CHECK(g.actorder_given);
  CHECK(g.actorder == act_order::none);
  REQUIRE(g.config_groups.size() == 1);
  CHECK(g.config_groups[0].targets == std::vector<std::string>{"Linear"});
  // The explicit config equals the W8A8 preset field for field.
  CHECK(g.config_groups[0].scheme == runtime_scheme::from(presets::W8A8{}));
}

TEST_CASE("preset schemes, W4A16 GPTQ with actorder, AWQ, FP8 dynamic") {
  const auto w4 = parse_recipe(R"(
quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head]
      actorder: weight
      block_size: 64
      dampening_frac: 0.05
      scheme: w4a16
)");
  const auto& g = w4.modifiers.at(0);
  CHECK(g.block_size == 64);
  CHECK(g.dampening_frac == doctest::Approx(0.05f));
  CHECK(g.actorder == act_order::weight);
  REQUIRE(g.config_groups.size() == 1);
  CHECK(g.config_groups[0].name == "group_0");
  CHECK(g.config_groups[0].targets == std::vector<std::string>{"Linear"});
  CHECK(g.config_groups[0].scheme == runtime_scheme::from(presets::W4A16{}));

  const auto awq = parse_recipe(R"(
quant_stage:
  quant_modifiers:
    AWQModifier:
      duo_scaling: both
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 4, type: int, symmetric: false, strategy: group, group_size: 128}
)");
  CHECK(awq.modifiers[0].duo_scaling == modifier::duo::both);
  CHECK(awq.modifiers[1].config_groups[0].scheme == runtime_scheme::from(presets::W4A16_ASYM{}));

  const auto fp8 = parse_recipe(R"({"quant_stage": {"quant_modifiers": {"QuantizationModifier": {"ignore": ["lm_head"],
      "config_groups": {"group_0": {"targets": ["Linear"],
        "weights": {"num_bits": 8, "type": "float", "symmetric": true, "strategy": "channel", "dynamic": false},
        "input_activations": {"num_bits": 8, "type": "float", "symmetric": true, "strategy": "token", "dynamic": true}}}}}}})");
  CHECK(fp8.modifiers[0].config_groups[0].scheme == runtime_scheme::from(presets::FP8_DYNAMIC{}));

  // Two config groups: INT4 groups of 32 for most Linears, channel-wise INT4 for down_proj.
  const auto two = parse_recipe(R"(
quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 4, type: int, symmetric: true, group_size: 32}
        group_1:
          targets: ["re:.*down_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
)");
  REQUIRE(two.modifiers[0].config_groups.size() == 2);
  CHECK(two.modifiers[0].config_groups[0].scheme.weights.strategy == quant_strategy::group);  // inferred from group_size
  CHECK(two.modifiers[0].config_groups[0].scheme.weights.group_size == 32);
  CHECK(two.modifiers[0].config_groups[1].scheme.weights.strategy == quant_strategy::channel);
}

TEST_CASE("malformed recipes fail before any work, naming the place and the fix") {
  CHECK(error_id("quant_stage: [").rfind("llmc.recipe.101", 0) == 0);
  const auto unknown_mod = error_id("quant_stage:\n  quant_modifiers:\n    SparseGPTModifier: {sparsity: 0.5}\n");
  CHECK(unknown_mod.rfind("llmc.recipe.102", 0) == 0);
  CHECK(unknown_mod.find("SparseGPTModifier") != std::string::npos);
  CHECK(unknown_mod.find("supported: QuantizationModifier") != std::string::npos);
  const auto unknown_arg = error_id("quant_stage:\n  quant_modifiers:\n    GPTQModifier: {scheme: W4A16, dampening: 0.1}\n");
  CHECK(unknown_arg.rfind("llmc.recipe.103", 0) == 0);
  CHECK(unknown_arg.find("'dampening'") != std::string::npos);
  CHECK(unknown_arg.find("dampening_frac") != std::string::npos);  // the valid names are listed
  CHECK(error_id("a_stage:\n  b_modifiers:\n    QuantizationModifier:\n      config_groups:\n        g:\n          targets: [Linear]\n"
                 "          weights: {num_bits: 4, bogus: 1}\n").rfind("llmc.recipe.104", 0) == 0);
  CHECK(error_id("a_stage:\n  b_modifiers:\n    GPTQModifier: {scheme: W4A16, block_size: big}\n").rfind("llmc.recipe.105", 0) == 0);
  CHECK(error_id("a_stage:\n  b_modifiers:\n    SmoothQuantModifier: {smoothing_strength: 1.5}\n    GPTQModifier: {scheme: W8A8}\n")
            .rfind("llmc.recipe.106", 0) == 0);
  // token strategy without dynamic: CT's validation, reported with the reason.
  const auto invalid = error_id("a_stage:\n  b_modifiers:\n    QuantizationModifier:\n      config_groups:\n        g:\n          targets: [Linear]\n"
                                "          weights: {num_bits: 8}\n          input_activations: {num_bits: 8, strategy: token}\n");
  CHECK(invalid.rfind("llmc.recipe.107", 0) == 0);
  CHECK(invalid.find("token strategy requires dynamic") != std::string::npos);
  CHECK(error_id("a_stage:\n  b_modifiers:\n    GPTQModifier: {scheme: W3A3}\n").rfind("llmc.recipe.108", 0) == 0);
  CHECK(error_id("a_stage:\n  b_modifiers:\n    QuantizationModifier: {scheme: W4A16, config_groups: {g: {targets: [Linear], weights: {num_bits: 4}}}}\n")
            .rfind("llmc.recipe.110", 0) == 0);
  CHECK(error_id("a_stage:\n  b_modifiers:\n    AWQModifier: {}\n").rfind("llmc.recipe.113", 0) == 0);
  CHECK(error_id("a_stage:\n  b_modifiers:\n    GPTQModifier: {}\n").rfind("llmc.recipe.111", 0) == 0);
  CHECK(error_id("quantization: 1\n").rfind("llmc.recipe.109", 0) == 0);
  CHECK(error_id("a_stage: 1\n").rfind("llmc.recipe.105", 0) == 0);
}

TEST_CASE("recipe_yaml: the reference's serialized shape, defaults filled, and it parses back") {
  const auto r = parse_recipe(R"(
quant_stage:
  quant_modifiers:
    SmoothQuantModifier:
      smoothing_strength: 0.8
    GPTQModifier:
      scheme: W4A16
      targets: Linear
      ignore: [lm_head]
)", "t.yaml");
  const std::string y = recipe_yaml(r);
  CHECK(y == "quant_stage:\n"
             "  quant_modifiers:\n"
             "    SmoothQuantModifier:\n"
             "      smoothing_strength: 0.8\n"
             "    GPTQModifier:\n"
             "      targets: [Linear]\n"
             "      ignore: [lm_head]\n"
             "      scheme: W4A16\n"
             "      bypass_divisibility_checks: false\n"
             "      block_size: 128\n"
             "      dampening_frac: 0.01\n"
             "      actorder: static\n"
             "      offload_hessians: false\n");
  const auto back = parse_recipe(y, "back");
  REQUIRE(back.modifiers.size() == 2);
  CHECK(back.modifiers[0].smoothing_strength == 0.8f);
  CHECK(back.modifiers[1].config_groups.size() == 1);
  CHECK(back.modifiers[1].config_groups[0].scheme == r.modifiers[1].config_groups[0].scheme);
  CHECK(back.modifiers[1].actorder == std::optional<act_order>(act_order::weight));
}

TEST_CASE("recipe_yaml: modifiers built in C++ get explicit config groups that parse back equal") {
  recipe r;
  modifier m;
  m.kind = modifier_kind::quantization;
  m.ignore = {"lm_head"};
  m.config_groups.push_back({"group_0", {"re:.*down_proj$"}, runtime_scheme{quant_args{.num_bits = 4, .strategy = quant_strategy::channel}}});
  m.config_groups.push_back(
      {"group_1", {"Linear"}, runtime_scheme{quant_args{.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32}}});
  r.modifiers.push_back(m);
  const std::string y = recipe_yaml(r);
  CHECK(y.rfind("default_stage:\n  default_modifiers:\n    QuantizationModifier:\n      config_groups:\n        group_0:\n", 0) == 0);
  const auto back = parse_recipe(y, "back");
  REQUIRE(back.modifiers.size() == 1);
  REQUIRE(back.modifiers[0].config_groups.size() == 2);
  for (std::size_t g = 0; g < 2; ++g) {
    CHECK(back.modifiers[0].config_groups[g].targets == m.config_groups[g].targets);
    CHECK(back.modifiers[0].config_groups[g].scheme == m.config_groups[g].scheme);
  }
}

TEST_CASE("recipe_yaml: appended to a source model's recipe.yaml as append_recipe_dict does") {
  const auto r = parse_recipe("quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: FP8_DYNAMIC}\n", "t");
  // A clashing stage key: the existing one becomes _0, the new one _1.
  const std::string clash = recipe_yaml(r, "quant_stage:\n  quant_modifiers:\n    QuantizationModifier: {scheme: W8A16}\n");
  CHECK(clash.rfind("quant_stage_0:\n", 0) == 0);
  CHECK(clash.find("\nquant_stage_1:\n") != std::string::npos);
  CHECK(clash.find("scheme: W8A16") < clash.find("scheme: FP8_DYNAMIC"));
  // No clash: appended after the existing stages.
  const std::string added = recipe_yaml(r, "sparsity_stage:\n  sparsity_modifiers:\n    ConstantPruningModifier: {targets: [x]}\n");
  CHECK(added.rfind("sparsity_stage:\n", 0) == 0);
  CHECK(added.find("\nquant_stage:\n") != std::string::npos);
  CHECK(error_id("x") != "no error");
  try {
    (void)recipe_yaml(r, "- not\n- a map\n");
    FAIL("no error");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.recipe.101");
  }
}
