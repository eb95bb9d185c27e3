// llmc::oneshot end to end on the fixture model (stories260K, fp32): held-out perplexity of the
// compressed checkpoints against fp32 (6.12596, fixtures/README.md), GPTQ against RTN, read-back of
// every module, and bad inputs failing with their ids before anything is written.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmc/io/safetensors_writer.hpp"
#include "llmc/model/evaluate.hpp"
#include "llmc/pipeline/compressed_model.hpp"
#include "llmc/pipeline/oneshot.hpp"
#include "oneshot_fixture.hpp"
#include "llmc/text/dataset_windows.hpp"
#include "llmc/text/tokenizer.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

using test_support::fixtures;
using test_support::model_dir;
using test_support::w8a8_recipe;

fs::path scratch(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("llmc-driver-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(p);
  return p;
}

/// The fixture protocol: heldout.txt with one BOS, 32 windows of 512 tokens.
const std::vector<token_id>& heldout_ids() {
  static const std::vector<token_id> ids = [] {
    const auto tok = tokenizer::from_directory(model_dir);
    const auto w = evaluation_windows_from_file(tok, fixtures / "text" / "heldout.txt", window_options{512, 0, 32, true});
    std::vector<token_id> out;
    for (const auto& win : w.windows) out.insert(out.end(), win.ids.begin(), win.ids.end());
    return out;
  }();
  return ids;
}

double heldout_perplexity(const fs::path& dir) {
  const evaluation_model em = load_evaluation_model(dir);
  perplexity_options o;
  o.window = 512;
  o.max_windows = 32;
  o.hooks = em.hooks();
  return perplexity(em.model, heldout_ids(), o).perplexity;
}

oneshot_args fast_args(const fs::path& out) { return test_support::fixture_args(out, 512, 32, 4); }


using test_support::w4a16_recipe;

/// Every module of the written checkpoint decompresses to exactly the weight oneshot used.
void check_read_back(const oneshot_report& rep, std::size_t expect_quantized) {
  const compressed_checkpoint cc = compressed_checkpoint::open(rep.output);
  REQUIRE(cc.is_compressed());
  const auto& qc = cc.quantization_config();
  CHECK(std::find(qc.ignore.begin(), qc.ignore.end(), "lm_head") != qc.ignore.end());
  std::size_t quantized = 0, equal = 0;
  for (const auto& [module, w] : rep.weights) {
    const ct_module_info mi = cc.info(module, "Linear");
    quantized += mi.group ? 1 : 0;
    const matrix<float> d = cc.decompress(module, "Linear");
    if (d.rows() == w.rows() && d.cols() == w.cols() && std::memcmp(d.data(), w.data(), w.size() * sizeof(float)) == 0) ++equal;
    else MESSAGE("differs: " << module);
  }
  CHECK(rep.weights.size() == 35);
  CHECK(equal == rep.weights.size());
  CHECK(quantized == expect_quantized);
}

}  // namespace

TEST_CASE("oneshot W8A8 (SmoothQuant 0.8 + GPTQ) on stories260K: perplexity within 2% of fp32, read back exactly") {
  const double fp32 = heldout_perplexity(model_dir);
  CHECK(fp32 == doctest::Approx(6.12596).epsilon(1e-4));
  const fs::path out = scratch("w8a8");
  const oneshot_report rep = oneshot(fast_args(out), pipeline::parse_recipe(w8a8_recipe, "w8a8"));
  CHECK(rep.layers == 5);
  CHECK(rep.quantized_linears == 35);
  CHECK(rep.calibration_samples == 32);
  CHECK(rep.calibration_tokens == 32 * 512);
  REQUIRE(rep.per_layer.size() == 5);
  // Each layer was smoothed (two mappings) and quantized (seven GPTQ notes).
  std::size_t sq = 0, gq = 0;
  for (const auto& n : rep.per_layer[2].notes) (n.method == "smoothquant" ? sq : n.method == "gptq" ? gq : sq) += 1;
  CHECK(sq == 2);
  CHECK(gq == 7);
  // The layer's phases: disjoint parts of its time, each measured, and the last layer does not
  // propagate (nothing reads its output).
  for (const auto& l : rep.per_layer) {
    const double phases = l.load_seconds + l.statistics_seconds + l.methods_seconds + l.write_seconds + l.propagate_seconds;
    CHECK(l.statistics_seconds > 0.0);
    CHECK(l.methods_seconds > 0.0);
    CHECK(l.write_seconds > 0.0);
    CHECK(phases <= l.seconds);
    CHECK((l.propagate_seconds > 0.0) == (l.index + 1 < rep.per_layer.size()));
  }
  check_read_back(rep, 35);
  const double q = heldout_perplexity(out);
  MESSAGE("held-out perplexity: fp32 " << fp32 << ", W8A8 SQ0.8+GPTQ " << q);
  CHECK(q > fp32 * 0.98);
  CHECK(q < fp32 * 1.02);
  fs::remove_all(out);
}

TEST_CASE("oneshot W4A16 g32 (+ channel down_proj): GPTQ perplexity below RTN") {
  const fs::path out_rtn = scratch("w4-rtn"), out_gptq = scratch("w4-gptq");
  // RTN is data-free: no calibration runs even though a dataset is given.
  const oneshot_report rtn = oneshot(fast_args(out_rtn), pipeline::parse_recipe(w4a16_recipe("QuantizationModifier"), "rtn"));
  CHECK(rtn.calibration_tokens == 0);
  const oneshot_report gq = oneshot(fast_args(out_gptq), pipeline::parse_recipe(w4a16_recipe("GPTQModifier"), "gptq"));
  CHECK(gq.calibration_tokens == 32 * 512);
  check_read_back(rtn, 35);
  check_read_back(gq, 35);
  const compressed_checkpoint cc = compressed_checkpoint::open(gq.output);
  CHECK(cc.quantization_config().config_groups.size() == 2);
  CHECK(cc.info("model.layers.0.mlp.down_proj", "Linear").format == compression_format::pack_quantized);
  const double p_rtn = heldout_perplexity(out_rtn), p_gptq = heldout_perplexity(out_gptq);
  MESSAGE("held-out perplexity W4A16 g32: RTN " << p_rtn << ", GPTQ " << p_gptq);
  CHECK(p_gptq < p_rtn);
  CHECK(p_gptq > 6.0);  // still a quantized model: not the fp32 weights
  fs::remove_all(out_rtn);
  fs::remove_all(out_gptq);
}

TEST_CASE("oneshot FP8 (static per-tensor input scales) and FP8_DYNAMIC: perplexity within 2% of fp32") {
  const double fp32 = heldout_perplexity(model_dir);
  const fs::path out_static = scratch("fp8-static"), out_dynamic = scratch("fp8-dynamic");
  const oneshot_report st = oneshot(fast_args(out_static), pipeline::parse_recipe(R"(
quant_stage:
  quant_modifiers:
    QuantizationModifier: {ignore: [lm_head], scheme: FP8}
)", "fp8"));
  CHECK(st.calibration_tokens == 32 * 512);  // static input scales need calibration
  check_read_back(st, 35);
  // Every quantized Linear stores its calibrated input_scale, and evaluation applies it.
  const compressed_checkpoint cc = compressed_checkpoint::open(st.output);
  const activation_qparams in = cc.input_qparams("model.layers.2.self_attn.q_proj", "Linear");
  REQUIRE(in.scale.has_value());
  CHECK(*in.scale > 0.0f);
  const oneshot_report dy = oneshot(fast_args(out_dynamic), pipeline::parse_recipe(R"(
quant_stage:
  quant_modifiers:
    QuantizationModifier: {ignore: [lm_head], scheme: FP8_DYNAMIC}
)", "fp8-dynamic"));
  CHECK(dy.calibration_tokens == 0);  // data-free
  const double p_static = heldout_perplexity(out_static), p_dynamic = heldout_perplexity(out_dynamic);
  MESSAGE("held-out perplexity: fp32 " << fp32 << ", FP8 static " << p_static << ", FP8_DYNAMIC " << p_dynamic);
  CHECK(p_static < fp32 * 1.02);
  CHECK(p_dynamic < fp32 * 1.02);
  CHECK(p_static != p_dynamic);  // the static scale was really used
  fs::remove_all(out_static);
  fs::remove_all(out_dynamic);
}

TEST_CASE("oneshot: a group size that does not divide down_proj fails before any work, listing the Linears") {
  const fs::path out = scratch("misfit");
  const auto r = pipeline::parse_recipe(R"(
quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: [Linear]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 32}
)", "misfit");
  try {
    (void)oneshot(fast_args(out), r);
    FAIL("no error");
  } catch (const config_error& e) {
    CHECK(e.id() == "llmc.pipeline.110");
    const std::string m = e.what();
    CHECK(m.find("model.layers.4.mlp.down_proj [64, 172]") != std::string::npos);
    CHECK(m.find("5 Linear(s)") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("oneshot: bad inputs fail with their ids and leave no output") {
  const fs::path out = scratch("bad");
  const auto good = pipeline::parse_recipe(w8a8_recipe, "w8a8");
  SUBCASE("missing model folder") {
    oneshot_args a = fast_args(out);
    a.model = scratch("no-such-model");
    try {
      (void)oneshot(a, good);
      FAIL("no error");
    } catch (const io_error& e) {
      CHECK(e.id() == "llmc.io.150");
    }
  }
  SUBCASE("unknown modifier") {
    try {
      (void)pipeline::parse_recipe("s_stage:\n  m_modifiers:\n    SparseGPTModifier: {sparsity: 0.5}\n", "bad");
      FAIL("no error");
    } catch (const config_error& e) {
      CHECK(e.id() == "llmc.recipe.102");
    }
  }
  SUBCASE("data-needing recipe without a dataset") {
    oneshot_args a = fast_args(out);
    a.dataset.clear();
    try {
      (void)oneshot(a, good);
      FAIL("no error");
    } catch (const config_error& e) {
      CHECK(e.id() == "llmc.pipeline.104");
    }
  }
  SUBCASE("NaN weight in a copy of the model") {
    const fs::path copy = scratch("nan-model");
    fs::create_directories(copy);
    for (const auto& f : fs::directory_iterator(model_dir))
      if (f.path().filename() != "model.safetensors") fs::copy_file(f.path(), copy / f.path().filename());
    {
      const auto src = safetensors_file::open(model_dir / "model.safetensors");
      std::vector<std::vector<float>> data;
      std::vector<tensor_ref> refs;
      for (const auto& n : src.names()) data.push_back(to_float32(src.tensor(n)));
      data[7][3] = std::nanf("");
      std::size_t i = 0;
      for (const auto& n : src.names()) {
        refs.push_back(tensor_ref::of<float>(n, data[i], src.tensor(n).shape));
        ++i;
      }
      write_safetensors(copy / "model.safetensors", refs, {{"format", "pt"}});
    }
    oneshot_args a = fast_args(out);
    a.model = copy;
    try {
      (void)oneshot(a, good);
      FAIL("no error");
    } catch (const numeric_error& e) {
      CHECK(e.id() == "llmc.pipeline.120");
    }
    fs::remove_all(copy);
  }
  SUBCASE("an existing output folder is not replaced without replace") {
    fs::create_directories(out);
    std::ofstream(out / "keep.txt") << "mine";
    try {
      (void)oneshot(fast_args(out), good);
      FAIL("no error");
    } catch (const io_error& e) {
      CHECK(std::string(e.id()).rfind("llmc.io.16", 0) == 0);
    }
    CHECK(fs::exists(out / "keep.txt"));
    CHECK_FALSE(fs::exists(out / "config.json"));
    fs::remove_all(out);
  }
  CHECK_FALSE(fs::exists(out));
}
