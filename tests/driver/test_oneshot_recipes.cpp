// llmc::oneshot on the fixture model (stories260K) with what goes beyond one modifier: the
// activation cache spilling to a file (byte-identical output), several quantizing modifiers in one
// recipe, custom AWQ mappings, recipe.yaml in the output, and compile-time recipes giving the same
// bytes as their YAML equivalents. Small calibration (8 x 256 tokens) keeps each run short.
#include <doctest/doctest.h>


#include <filesystem>
#include <string>
#include <vector>

#include "llmc/io/compressed_tensors_reader.hpp"
#include "llmc/pipeline/oneshot.hpp"
#include "oneshot_fixture.hpp"
#include "llmc/scheme/presets.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

using test_support::fixtures;
using test_support::model_dir;
using test_support::w8a8_recipe;

/// Outputs go inside a private folder so leftovers can be counted.
const fs::path& work_dir() {
  static const test_support::work_folder w("llmc-recipes");
  return w.path;
}

fs::path out_dir(const std::string& name) {
  const fs::path p = work_dir() / name;
  fs::remove_all(p);
  return p;
}

using test_support::read_file;

oneshot_args small_args(const fs::path& out) { return test_support::fixture_args(out, 256, 8, 2); }


/// GPTQ INT4 g32 on attention, RTN INT8 per channel on the MLP: two quantizing modifiers.
const char* two_quantizers = R"(
quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head]
      config_groups:
        attention:
          targets: ["re:.*self_attn\\.(q|k|v|o)_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 32}
    QuantizationModifier:
      ignore: [lm_head]
      config_groups:
        mlp:
          targets: ["re:.*mlp\\..*_proj$"]
          weights: {num_bits: 8, type: int, symmetric: true, strategy: channel}
)";

std::string awq_recipe(const std::string& mappings) {
  const std::string m = mappings.empty() || mappings.back() == '\n' ? mappings : mappings + "\n";
  return test_support::w4a16_recipe("QuantizationModifier", "    AWQModifier:\n      duo_scaling: true\n" + m);
}

std::size_t leftover_spill_files() {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(work_dir()))
    if (e.path().filename().string().rfind(".llmc-activations", 0) == 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("oneshot: an activation cache spilled to a file gives byte-identical output") {
  const auto r = pipeline::parse_recipe(w8a8_recipe, "w8a8");
  const fs::path a_out = out_dir("spill-none"), b_out = out_dir("spill-most");
  const oneshot_report a = oneshot(small_args(a_out), r);
  CHECK(a.spilled_batches == 0);
  CHECK(a.spilled_bytes == 0);
  // 8 samples in batches of 2: 4 batches of 2 x 256 x 64 floats; keep one batch in memory.
  REQUIRE(a.activation_cache_bytes == 4u * 2 * 256 * 64 * sizeof(float));
  oneshot_args sa = small_args(b_out);
  sa.activation_cache_limit = a.activation_cache_bytes / 4;
  const oneshot_report b = oneshot(sa, r);
  CHECK(b.spilled_batches == 3);
  CHECK(b.spilled_bytes == 3 * a.activation_cache_bytes / 4);
  for (const char* f : {"model.safetensors", "config.json", "recipe.yaml"}) {
    INFO(f);
    CHECK(read_file(a_out / f) == read_file(b_out / f));
  }
  CHECK(read_file(a_out / "model.safetensors").size() > 100000);
  CHECK(leftover_spill_files() == 0);  // the spill file is gone
  SUBCASE("a spill folder that does not exist fails with its id and leaves no output") {
    const fs::path c_out = out_dir("spill-bad");
    oneshot_args ca = small_args(c_out);
    ca.activation_cache_limit = 1;
    ca.spill_dir = work_dir() / "no-such-folder";
    try {
      (void)oneshot(ca, r);
      FAIL("no error");
    } catch (const io_error& e) {
      CHECK(e.id() == "llmc.pipeline.140");
    }
    CHECK_FALSE(fs::exists(c_out));
  }
}

TEST_CASE("oneshot: two quantizing modifiers in one recipe each quantize their own Linears") {
  const auto r = pipeline::parse_recipe(two_quantizers, "two");
  REQUIRE(r.modifiers.size() == 2);
  const fs::path out = out_dir("two");
  const oneshot_report rep = oneshot(small_args(out), r);
  CHECK(rep.quantized_linears == 35);
  REQUIRE(rep.quantized_by.size() == 35);
  std::size_t by_gptq = 0, by_rtn = 0;
  for (const auto& [module, mi] : rep.quantized_by) {
    const bool attention = module.find(".self_attn.") != std::string::npos;
    CHECK_MESSAGE(mi == (attention ? 0u : 1u), module);
    (mi == 0 ? by_gptq : by_rtn) += 1;
  }
  CHECK(by_gptq == 20);
  CHECK(by_rtn == 15);
  // GPTQ notes name attention Linears only.
  for (const auto& l : rep.per_layer)
    for (const auto& n : l.notes)
      if (n.method == "gptq") CHECK_MESSAGE(n.target.find(".self_attn.") != std::string::npos, n.target);

  // The written quantization_config merges both modifiers' groups.
  const compressed_checkpoint cc = compressed_checkpoint::open(rep.output);
  const auto& qc = cc.quantization_config();
  REQUIRE(qc.config_groups.size() == 2);
  CHECK(qc.config_groups[0].targets == std::vector<std::string>{"re:.*self_attn\\.(q|k|v|o)_proj$"});
  CHECK(qc.config_groups[0].scheme.weights.num_bits == 4);
  CHECK(qc.config_groups[0].scheme.weights.group_size == 32);
  CHECK(qc.config_groups[1].targets == std::vector<std::string>{"re:.*mlp\\..*_proj$"});
  CHECK(qc.config_groups[1].scheme.weights.num_bits == 8);
  CHECK(qc.config_groups[1].scheme.weights.strategy == quant_strategy::channel);
  CHECK(cc.info("model.layers.3.self_attn.k_proj", "Linear").format == compression_format::pack_quantized);
  CHECK(cc.info("model.layers.3.mlp.up_proj", "Linear").group == std::optional<std::size_t>(1));
  CHECK(cc.info("model.layers.3.self_attn.k_proj", "Linear").group == std::optional<std::size_t>(0));
  for (const auto& [module, w] : rep.weights) {
    const matrix<float> d = cc.decompress(module, "Linear");
    CHECK_MESSAGE(std::equal(d.storage().begin(), d.storage().end(), w.storage().begin(), w.storage().end()), module);
  }

  // RTN is data-free and per weight: the MLP weights equal those of an RTN-only recipe. GPTQ of
  // layer 0 sees the unquantized embeddings either way: its attention weights equal a GPTQ-only run.
  const fs::path rtn_out = out_dir("two-rtn-only"), gptq_out = out_dir("two-gptq-only");
  const std::string text = two_quantizers;
  const std::string rtn_only = "quant_stage:\n  quant_modifiers:\n" + text.substr(text.find("    QuantizationModifier:"));
  const std::string gptq_only = text.substr(0, text.find("    QuantizationModifier:"));
  const oneshot_report rr = oneshot(small_args(rtn_out), pipeline::parse_recipe(rtn_only, "rtn-only"));
  const oneshot_report gr = oneshot(small_args(gptq_out), pipeline::parse_recipe(gptq_only, "gptq-only"));
  CHECK(rr.quantized_linears == 15);
  CHECK(gr.quantized_linears == 20);
  for (const auto& [module, w] : rep.weights) {
    if (module.find(".mlp.") != std::string::npos) CHECK_MESSAGE(rr.weights.at(module).storage() == w.storage(), module);
    if (module.rfind("model.layers.0.self_attn.", 0) == 0) CHECK_MESSAGE(gr.weights.at(module).storage() == w.storage(), module);
  }
  // ... while later layers' attention sees the RTN-quantized MLPs before it.
  CHECK(gr.weights.at("model.layers.4.self_attn.q_proj").storage() != rep.weights.at("model.layers.4.self_attn.q_proj").storage());

  SUBCASE("a Linear claimed by two quantizing modifiers is an error before any work") {
    const fs::path bad = out_dir("two-conflict");
    const auto rc = pipeline::parse_recipe(R"(
s_stage:
  m_modifiers:
    GPTQModifier: {scheme: W8A8, targets: [Linear], ignore: [lm_head]}
    QuantizationModifier: {scheme: W8A16, targets: ["re:.*down_proj$"]}
)", "conflict");
    try {
      (void)oneshot(small_args(bad), rc);
      FAIL("no error");
    } catch (const config_error& e) {
      CHECK(e.id() == "llmc.pipeline.101");
      CHECK(std::string(e.what()).find("model.layers.0.mlp.down_proj is quantized by both GPTQModifier (modifier 0) and "
                                       "QuantizationModifier (modifier 1)") != std::string::npos);
    }
    CHECK_FALSE(fs::exists(bad));
  }
}

TEST_CASE("oneshot: recipe.yaml is written with the output and reproduces it") {
  const fs::path out = out_dir("recipe-yaml");
  const oneshot_report rep = oneshot(small_args(out), pipeline::parse_recipe(two_quantizers, "two"));
  const std::string saved = read_file(rep.output / "recipe.yaml");
  // The reference's shape: {stage}_stage -> {group}_modifiers -> ClassName -> arguments, defaults filled.
  CHECK(saved.rfind("quant_stage:\n  quant_modifiers:\n    GPTQModifier:\n", 0) == 0);
  CHECK(saved.find("      block_size: 128\n") != std::string::npos);
  CHECK(saved.find("      dampening_frac: 0.01\n") != std::string::npos);
  CHECK(saved.find("      actorder: static\n") != std::string::npos);
  CHECK(saved.find("    QuantizationModifier:\n") != std::string::npos);
  CHECK(saved.find("      ignore: [lm_head]\n") != std::string::npos);
  // Running the saved recipe again gives the same checkpoint, byte for byte.
  const fs::path again = out_dir("recipe-yaml-again");
  const oneshot_report rep2 = oneshot(small_args(again), pipeline::load_recipe(rep.output / "recipe.yaml"));
  CHECK(read_file(again / "model.safetensors") == read_file(out / "model.safetensors"));
  CHECK(read_file(again / "config.json") == read_file(out / "config.json"));
  CHECK(read_file(again / "recipe.yaml") == saved);
  (void)rep2;
  SUBCASE("save_recipe = false writes none") {
    const fs::path none = out_dir("recipe-yaml-none");
    oneshot_args a = small_args(none);
    a.save_recipe = false;
    (void)oneshot(a, pipeline::parse_recipe(two_quantizers, "two"));
    CHECK(fs::exists(none / "model.safetensors"));
    CHECK_FALSE(fs::exists(none / "recipe.yaml"));
  }
}

TEST_CASE("oneshot: custom AWQ mappings") {
  const std::string defaults = R"(      mappings:
        - smooth_layer: "re:.*input_layernorm$"
          balance_layers: ["re:.*q_proj$", "re:.*k_proj$", "re:.*v_proj$"]
        - smooth_layer: "re:.*v_proj$"
          balance_layers: ["re:.*o_proj$"]
        - smooth_layer: "re:.*post_attention_layernorm$"
          balance_layers: ["re:.*gate_proj$", "re:.*up_proj$"]
        - smooth_layer: "re:.*up_proj$"
          balance_layers: ["re:.*down_proj$"])";
  SUBCASE("an explicit copy of the Llama defaults gives byte-identical output") {
    const fs::path a_out = out_dir("awq-default"), b_out = out_dir("awq-explicit");
    const oneshot_report a = oneshot(small_args(a_out), pipeline::parse_recipe(awq_recipe(""), "awq"));
    const oneshot_report b = oneshot(small_args(b_out), pipeline::parse_recipe(awq_recipe(defaults), "awq-explicit"));
    CHECK(a.quantized_linears == 35);
    CHECK(read_file(a_out / "model.safetensors") == read_file(b_out / "model.safetensors"));
    CHECK(read_file(a_out / "config.json") == read_file(b_out / "config.json"));
    // The mappings ran: AWQ noted its searches in both.
    std::size_t notes_a = 0, notes_b = 0;
    for (const auto& l : a.per_layer)
      for (const auto& n : l.notes) notes_a += n.method == "awq";
    for (const auto& l : b.per_layer)
      for (const auto& n : l.notes) notes_b += n.method == "awq";
    CHECK(notes_a > 0);
    CHECK(notes_a == notes_b);
    CHECK(read_file(b_out / "recipe.yaml").find("smooth_layer: re:.*post_attention_layernorm$") != std::string::npos);
  }
  SUBCASE("a subset of the mappings is applied as given, and differs from the defaults") {
    const fs::path a_out = out_dir("awq-default2"), b_out = out_dir("awq-mlp-only");
    (void)oneshot(small_args(a_out), pipeline::parse_recipe(awq_recipe(""), "awq"));
    const oneshot_report b = oneshot(small_args(b_out), pipeline::parse_recipe(awq_recipe(R"(      mappings:
        - smooth_layer: "re:.*post_attention_layernorm$"
          balance_layers: ["re:.*gate_proj$", "re:.*up_proj$"])"), "awq-mlp"));
    for (const auto& l : b.per_layer)
      for (const auto& n : l.notes)
        if (n.method == "awq") CHECK_MESSAGE(n.target.find("post_attention_layernorm") != std::string::npos, n.target);
    CHECK(read_file(a_out / "model.safetensors") != read_file(b_out / "model.safetensors"));
  }
  SUBCASE("mappings that do not fit the model fail before any work, naming the mapping") {
    const fs::path bad = out_dir("awq-bad");
    auto expect = [&](const std::string& mapping, const std::string& text) {
      try {
        (void)oneshot(small_args(bad), pipeline::parse_recipe(awq_recipe(mapping), "awq-bad"));
        FAIL("no error");
      } catch (const config_error& e) {
        CHECK(e.id() == "llmc.pipeline.105");
        CHECK_MESSAGE(std::string(e.what()).find(text) != std::string::npos, e.what());
      }
      CHECK_FALSE(fs::exists(bad));
    };
    expect(R"(      mappings:
        - smooth_layer: "re:.*ln_1$"
          balance_layers: ["re:.*q_proj$"])",
           "AWQ mapping 0 {smooth_layer: re:.*ln_1$, balance_layers: [re:.*q_proj$]} selects no smooth layer in model.layers.0");
    expect(R"(      mappings:
        - smooth_layer: "re:.*input_layernorm$"
          balance_layers: ["re:.*c_attn$"])",
           "selects no balance Linear in model.layers.0");
    expect(R"(      mappings:
        - smooth_layer: "re:.*input_layernorm$"
          balance_layers: ["re:.*o_proj$"])",
           "the output of input_layernorm is not the input of self_attn.o_proj (that is self_attn.v_proj)");
    expect(R"(      mappings:
        - smooth_layer: "re:.*post_attention_layernorm$"
          balance_layers: ["re:.*up_proj$", "re:.*down_proj$"])",
           "read different inputs");
  }
}

TEST_CASE("oneshot: a compile-time recipe gives the bytes of its YAML equivalent") {
  const fs::path y_out = out_dir("ct-yaml"), c_out = out_dir("ct-compile-time");
  const oneshot_report y = oneshot(small_args(y_out), pipeline::parse_recipe(w8a8_recipe, "w8a8"));
  const llmc::recipe ct{smoothquant{.smoothing_strength = 0.8f}, gptq<presets::W8A8>{}};
  const oneshot_report c = oneshot(small_args(c_out), ct);  // ignore defaults to {"lm_head"}
  CHECK(c.quantized_linears == 35);
  CHECK(read_file(y_out / "model.safetensors") == read_file(c_out / "model.safetensors"));
  CHECK(read_file(y_out / "config.json") == read_file(c_out / "config.json"));
  // recipe.yaml records the equivalent LLM Compressor recipe, which parses back.
  const std::string saved = read_file(c_out / "recipe.yaml");
  CHECK(saved.rfind("default_stage:\n  default_modifiers:\n    SmoothQuantModifier:\n      smoothing_strength: 0.8\n", 0) == 0);
  const auto back = pipeline::parse_recipe(saved, "saved");
  REQUIRE(back.modifiers.size() == 2);
  CHECK(back.modifiers[1].kind == pipeline::modifier_kind::gptq);
  CHECK(back.modifiers[1].config_groups.front().scheme == runtime_scheme::from(presets::W8A8{}));
  // A data-free compile-time recipe skips calibration.
  const fs::path r_out = out_dir("ct-rtn");
  const oneshot_report rr = oneshot(small_args(r_out), rtn<presets::FP8_DYNAMIC>{});
  CHECK(rr.calibration_tokens == 0);
  CHECK(rr.quantized_linears == 35);
}

TEST_CASE("oneshot: a kv_cache_scheme is refused before any work, not dropped") {
  const char* kv = R"(
quant_stage:
  quant_modifiers:
    QuantizationModifier:
      ignore: [lm_head]
      scheme: FP8_DYNAMIC
      targets: [Linear]
      kv_cache_scheme: {num_bits: 8, type: float, strategy: tensor, dynamic: false, symmetric: true}
)";
  const fs::path out = out_dir("kv");
  try {
    (void)oneshot(small_args(out), pipeline::parse_recipe(kv, "kv.yaml"));
    FAIL("a kv_cache_scheme must be refused");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.pipeline.108");
    CHECK(std::string(e.what()).find("kv_cache_scheme") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(out));
}
