// compressed-tensors quantization_config: the version table, per-module format inference for each
// release, QuantizationArgs serialization, and goldens of the whole quantization_config for the
// preset schemes at 0.12 and 0.18 (tests/data/compressed_tensors/config, written by hand from the
// compressed-tensors sources by make_config_goldens.py), plus parsing back and its errors.
#include <doctest/doctest.h>

#include "support/error_id.hpp"

#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/compressed_tensors_config.hpp"
#include "llmc/io/compressed_tensors_format.hpp"
#include "llmc/scheme/presets.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

using test_support::error_id;

const fs::path config_dir = fs::path(LLMC_TEST_DATA_DIR) / "compressed_tensors" / "config";

runtime_scheme w4a16_gptq_static() {
  runtime_scheme s = runtime_scheme::from(presets::W4A16{});
  s.weights.actorder = act_order::weight;
  return s;
}

ct_quantization_config one_group(const runtime_scheme& s, const ct_version& v) {
  ct_quantization_config c;
  c.version = v;
  c.config_groups.push_back({"group_0", s, {"Linear"}, infer_module_format(s, v)});
  const compression_format f[] = {*c.config_groups[0].format};
  c.format = summarize_formats(f);
  c.ignore = {"lm_head"};
  return c;
}

struct preset_case {
  const char* name;
  runtime_scheme scheme;
};

std::vector<preset_case> golden_presets() {
  using namespace presets;
  return {{"W8A8", runtime_scheme::from(W8A8{})},
          {"W4A16_GPTQ_STATIC", w4a16_gptq_static()},
          {"W4A16_ASYM", runtime_scheme::from(W4A16_ASYM{})},
          {"FP8", runtime_scheme::from(FP8{})},
          {"FP8_DYNAMIC", runtime_scheme::from(FP8_DYNAMIC{})},
          {"FP8_BLOCK", runtime_scheme::from(FP8_BLOCK{})},
          {"NVFP4A16", runtime_scheme::from(NVFP4A16{})},
          {"NVFP4", runtime_scheme::from(NVFP4{})},
          {"MXFP4A16", runtime_scheme::from(MXFP4A16{})}};
}

}  // namespace

TEST_CASE("ct_version: parsing, newest patch releases and the feature table") {
  CHECK(ct_version::parse("0.12").text == "0.12.2");
  CHECK(ct_version::parse("0.18").text == "0.18.0");
  CHECK(ct_version::parse("0.14").text == "0.14.0.1");
  CHECK(ct_version::parse("0.12.3.a20251030").text == "0.12.3.a20251030");
  CHECK(ct_version::parse("0.12.3.a20251030").minor == 12);
  CHECK(ct_version{}.minor == 18);
  CHECK(ct_version{}.text == "0.18.0");
  for (const char* bad : {"0.10", "0.19", "1.12", "12", "0.", "abc", "0.12 ", "0.12.2;rm"})
    CHECK_MESSAGE(error_id([&] { (void)ct_version::parse(bad); }) == "llmc.io.201", bad);

  const auto v12 = ct_version::parse("0.12"), v13 = ct_version::parse("0.13"), v14 = ct_version::parse("0.14"),
             v16 = ct_version::parse("0.16"), v17 = ct_version::parse("0.17"), v18 = ct_version::parse("0.18");
  CHECK(!v12.has_scale_zp_dtype());
  CHECK(v13.has_scale_zp_dtype());
  CHECK(!v13.memoryless_observer_names());
  CHECK(v14.memoryless_observer_names());
  CHECK(v16.packing() == int_packing::legacy_per_word);
  CHECK(v17.packing() == int_packing::legacy_per_word);  // 0.17 packs 1..8 bits, still per word
  CHECK(v18.packing() == int_packing::dense);
  CHECK(!v12.has_mxfp4());
  CHECK(v13.has_mxfp4());
  CHECK(!v14.has_mxfp8());
  CHECK(v18.has_mxfp8());
}

TEST_CASE("compression formats: names round trip") {
  CHECK(to_string(compression_format::nvfp4_pack_quantized) == "nvfp4-pack-quantized");
  CHECK(to_string(compression_format::mixed_precision) == "mixed-precision");
  for (compression_format f : all_compression_formats) CHECK(compression_format_from_string(to_string(f)) == f);
  CHECK(!compression_format_from_string("pack_quantized").has_value());
}

TEST_CASE("format inference follows each release's rules") {
  using namespace presets;
  const auto v12 = ct_version::parse("0.12"), v13 = ct_version::parse("0.13"), v15 = ct_version::parse("0.15"),
             v17 = ct_version::parse("0.17"), v18 = ct_version::parse("0.18");
  auto f = [](const runtime_scheme& s, const ct_version& v, std::string_view t = "Linear") {
    return infer_module_format(s, v, t);
  };
  const auto w8a8 = runtime_scheme::from(W8A8{}), w4a16 = runtime_scheme::from(W4A16{}),
             w4a8 = runtime_scheme::from(W4A8{}), fp8 = runtime_scheme::from(FP8{}),
             fp8d = runtime_scheme::from(FP8_DYNAMIC{}), nv = runtime_scheme::from(NVFP4{}),
             mx = runtime_scheme::from(MXFP4A16{});
  for (const auto& v : {v12, v15, v17, v18}) {
    CHECK(f(w8a8, v) == compression_format::int_quantized);
    CHECK(f(w4a16, v) == compression_format::pack_quantized);
    CHECK(f(w4a8, v) == compression_format::int_quantized);  // W4A8 is stored unpacked (spec §8.2)
    CHECK(f(fp8, v) == compression_format::float_quantized);
    CHECK(f(fp8d, v) == compression_format::float_quantized);
    CHECK(f(nv, v) == compression_format::nvfp4_pack_quantized);
  }
  // 3-bit weight-only: naive before 0.17 (pack only took 4/8 bits), packed densely from 0.17.
  runtime_scheme w3{.weights = {.num_bits = 3, .strategy = quant_strategy::group, .group_size = 128}};
  CHECK(f(w3, v12) == compression_format::naive_quantized);
  CHECK(f(w3, v15) == compression_format::naive_quantized);
  CHECK(f(w3, v17) == compression_format::pack_quantized);
  // FP8 weight-only is naive-quantized in every release.
  const runtime_scheme fp8_w{.weights = presets::args::fp8_channel};
  CHECK(f(fp8_w, v12) == compression_format::naive_quantized);
  CHECK(f(fp8_w, v18) == compression_format::naive_quantized);
  // W4AFP8 (int4 weights, fp8 dynamic inputs): int-quantized everywhere.
  const runtime_scheme w4afp8{.weights = presets::args::int4_group128, .input_activations = presets::args::fp8_token_dynamic};
  CHECK(f(w4afp8, v12) == compression_format::int_quantized);
  CHECK(f(w4afp8, v17) == compression_format::int_quantized);
  CHECK(f(w4afp8, v18) == compression_format::int_quantized);
  // MX: mxfp4 from 0.13; MXFP8 weights from 0.15.
  CHECK(error_id([&] { (void)f(mx, v12); }) == "llmc.io.202");
  CHECK(f(mx, v13) == compression_format::mxfp4_pack_quantized);
  const runtime_scheme mxfp8{.weights = {.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::group,
                                         .group_size = 32, .scale_dtype = qparam_dtype::uint8, .zp_dtype = qparam_dtype::uint8}};
  CHECK(error_id([&] { (void)f(mxfp8, v13); }) == "llmc.io.202");
  CHECK(f(mxfp8, v15) == compression_format::mxfp8_quantized);
  // Quantized embeddings: any module before 0.15, Linear only in 0.15-0.16, Linear/Embedding from 0.17.
  CHECK(f(w4a16, v12, "Embedding") == compression_format::pack_quantized);
  CHECK(error_id([&] { (void)f(w4a16, v15, "Embedding"); }) == "llmc.io.202");
  CHECK(f(w4a16, v17, "Embedding") == compression_format::pack_quantized);
  // Schemes llmc does not write.
  runtime_scheme nv_group = nv;
  nv_group.weights.actorder = act_order::group;
  CHECK(error_id([&] { (void)f(nv_group, v18); }) == "llmc.io.202");
  runtime_scheme static_out = w8a8;
  static_out.output_activations = presets::args::fp8_tensor_static_input;
  CHECK(error_id([&] { (void)f(static_out, v18); }) == "llmc.io.202");
  CHECK(error_id([&] { (void)f(runtime_scheme{}, v18); }) == "llmc.io.202");
}

TEST_CASE("global format: single, mixed-precision, dense") {
  using F = compression_format;
  const std::vector<F> one{F::pack_quantized, F::pack_quantized, F::dense};
  const std::vector<F> two{F::pack_quantized, F::int_quantized};
  const std::vector<F> none{F::dense};
  CHECK(summarize_formats(one) == F::pack_quantized);
  CHECK(summarize_formats(two) == F::mixed_precision);
  CHECK(summarize_formats(none) == F::dense);
  CHECK(summarize_formats(std::vector<F>{}) == F::dense);
}

TEST_CASE("forced formats must fit the weights") {
  using namespace presets;
  const auto w4a16 = runtime_scheme::from(W4A16{});
  const auto nv = runtime_scheme::from(NVFP4A16{});
  CHECK(error_id([&] { check_format_fits(compression_format::float_quantized, w4a16, "m"); }) == "llmc.io.203");
  CHECK(error_id([&] { check_format_fits(compression_format::naive_quantized, nv, "m"); }) == "llmc.io.203");
  CHECK(error_id([&] { check_format_fits(compression_format::mxfp4_pack_quantized, nv, "m"); }) == "llmc.io.203");
  CHECK(error_id([&] { check_format_fits(compression_format::dense, w4a16, "m"); }) == "llmc.io.203");
  CHECK(error_id([&] { check_format_fits(compression_format::mixed_precision, w4a16, "m"); }) == "llmc.io.203");
  CHECK(error_id([&] { check_format_fits(compression_format::int_quantized, w4a16, "m"); }) == "no error");
  CHECK(error_id([&] { check_format_fits(compression_format::naive_quantized, w4a16, "m"); }) == "no error");
}

TEST_CASE("QuantizationArgs serialization per release") {
  const auto v12 = ct_version::parse("0.12"), v13 = ct_version::parse("0.13"), v18 = ct_version::parse("0.18");
  const quant_args asym = presets::args::int4_group128_asym;
  auto j18 = quant_args_to_json(asym, v18);
  CHECK(j18["zp_dtype"] == "torch.int8");
  CHECK(j18["scale_dtype"].is_null());
  CHECK(j18["group_size"] == 128);
  CHECK(j18["observer"] == "memoryless_minmax");
  CHECK(j18.size() == 12);
  auto j12 = quant_args_to_json(asym, v12);
  CHECK(j12.size() == 10);
  CHECK(!j12.contains("zp_dtype"));
  CHECK(!j12.contains("scale_dtype"));
  CHECK(j12["observer"] == "minmax");
  // 0.13 has the dtype fields but still the "minmax" observer name.
  auto j13 = quant_args_to_json(presets::args::nvfp4_weight, v13);
  CHECK(j13["scale_dtype"] == "torch.float8_e4m3fn");
  CHECK(j13["zp_dtype"].is_null());  // symmetric: the serializer writes null
  CHECK(j13["observer"] == "minmax");
  // Dynamic: observer null; channel: group_size null; block: [rows, cols].
  auto jd = quant_args_to_json(presets::args::int8_token_dynamic, v18);
  CHECK(jd["observer"].is_null());
  CHECK(jd["dynamic"] == true);
  CHECK(quant_args_to_json(presets::args::int8_channel, v18)["group_size"].is_null());
  CHECK(quant_args_to_json(presets::args::fp8_block128, v18)["block_structure"] == nlohmann::json::array({128, 128}));
  CHECK(quant_args_to_json(presets::args::nvfp4_input, v18)["dynamic"] == "local");
  // MSE observers before 0.14 are "mse".
  quant_args mse = presets::args::int4_group128;
  mse.observer = observer_kind::memoryless_mse;
  CHECK(quant_args_to_json(mse, v12)["observer"] == "mse");
  CHECK(quant_args_to_json(mse, v18)["observer"] == "memoryless_mse");
  // actorder: "static" (weight, LLM Compressor's GPTQ default) and "group".
  quant_args ao = presets::args::int4_group128;
  ao.actorder = act_order::weight;
  CHECK(quant_args_to_json(ao, v18)["actorder"] == "static");
  ao.actorder = act_order::group;
  CHECK(quant_args_to_json(ao, v18)["actorder"] == "group");
}

TEST_CASE("quantization_config goldens for the presets at 0.12 and 0.18") {
  for (const char* tag : {"0.12", "0.18"}) {
    const ct_version v = ct_version::parse(tag);
    for (const auto& p : golden_presets()) {
      const std::string file = std::string(p.name) + "-" + tag + ".json";
      INFO(file);
      if (std::string(p.name) == "MXFP4A16" && v.minor == 12) {
        CHECK(!fs::exists(config_dir / file));
        CHECK(error_id([&] { (void)one_group(p.scheme, v); }) == "llmc.io.202");
        continue;
      }
      const std::string expected = iotest::read_string(config_dir / file);
      const std::string ours = python_json_dumps(quantization_config_to_json(one_group(p.scheme, v)), 2, true);
      CHECK(ours == expected);
    }
  }
}

TEST_CASE("the spec's W4A16 example, inside a whole config.json as LLM Compressor leaves it") {
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"rms_norm_eps", 1e-05},
                                 {"torch_dtype", "bfloat16"}, {"vocab_size", 32000}};
  const std::string text = config_json_with_quantization(config, one_group(w4a16_gptq_static(), ct_version::parse("0.18")));
  const std::string expected = R"({
  "architectures": [
    "LlamaForCausalLM"
  ],
  "model_type": "llama",
  "quantization_config": {
    "config_groups": {
      "group_0": {
        "format": "pack-quantized",
        "input_activations": null,
        "output_activations": null,
        "targets": [
          "Linear"
        ],
        "weights": {
          "actorder": "static",
          "block_structure": null,
          "dynamic": false,
          "group_size": 128,
          "num_bits": 4,
          "observer": "memoryless_minmax",
          "observer_kwargs": {},
          "scale_dtype": null,
          "strategy": "group",
          "symmetric": true,
          "type": "int",
          "zp_dtype": null
        }
      }
    },
    "format": "pack-quantized",
    "global_compression_ratio": null,
    "ignore": [
      "lm_head"
    ],
    "kv_cache_scheme": null,
    "quant_method": "compressed-tensors",
    "quantization_status": "compressed",
    "sparsity_config": {},
    "transform_config": {},
    "version": "0.18.0"
  },
  "rms_norm_eps": 1e-05,
  "torch_dtype": "bfloat16",
  "vocab_size": 32000
})";
  CHECK(text == expected);  // json.dump in update_config: no trailing newline
}

TEST_CASE("quantization_config parses back to the same schemes") {
  const ct_version v18 = ct_version::parse("0.18");
  for (const auto& p : golden_presets()) {
    INFO(p.name);
    const auto c = one_group(p.scheme, v18);
    const auto back = parse_quantization_config(quantization_config_to_json(c), "test");
    REQUIRE(back.config_groups.size() == 1);
    CHECK(back.config_groups[0].scheme == p.scheme);
    CHECK(back.config_groups[0].targets == std::vector<std::string>{"Linear"});
    CHECK(back.config_groups[0].format == c.config_groups[0].format);
    CHECK(back.format == c.format);
    CHECK(back.ignore == c.ignore);
    CHECK(back.version.text == "0.18.0");
    CHECK(back.quantization_status == "compressed");
  }
  // A 0.12 NVFP4 config (no scale_dtype) reads with its implied FP8 scales.
  const auto old = parse_quantization_config(
      quantization_config_to_json(one_group(runtime_scheme::from(presets::NVFP4A16{}), ct_version::parse("0.12"))), "t");
  CHECK(old.config_groups[0].scheme.weights.scale_dtype == qparam_dtype::float8_e4m3fn);
  CHECK(old.config_groups[0].scheme.weights.observer == observer_kind::minmax);
  CHECK(old.version.minor == 12);
}

TEST_CASE("quantization_config parsing: legacy forms, presets by name, and errors") {
  auto parse = [](const std::string& text) { return parse_quantization_config(nlohmann::ordered_json::parse(text), "cfg"); };
  // group_size -1 means channel; "RxC" block strings; actorder true means group; preset by name.
  const auto c = parse(R"({"quant_method": "compressed-tensors", "format": "mixed-precision",
    "config_groups": {
      "a": {"targets": ["re:.*down_proj$"], "weights": {"num_bits": 8, "group_size": -1}},
      "b": {"targets": ["Linear"], "weights": {"num_bits": 8, "type": "float", "strategy": "block", "block_structure": "64x32"}},
      "c": {"targets": ["q"], "weights": {"num_bits": 4, "group_size": 64, "actorder": true}},
      "W4A16": ["lm_head"]}})");
  REQUIRE(c.config_groups.size() == 4);
  CHECK(c.config_groups[0].scheme.weights.strategy == quant_strategy::channel);
  CHECK(c.config_groups[1].scheme.weights.block_rows == 64);
  CHECK(c.config_groups[1].scheme.weights.block_cols == 32);
  CHECK(c.config_groups[2].scheme.weights.actorder == act_order::group);
  CHECK(c.config_groups[3].scheme == runtime_scheme::from(presets::W4A16{}));
  CHECK(c.config_groups[3].targets == std::vector<std::string>{"lm_head"});
  CHECK(c.format == compression_format::mixed_precision);
  CHECK(c.version.minor == 18);  // no version: read as the newest release

  auto id = [&](const std::string& text) { return error_id([&] { (void)parse(text); }); };
  CHECK(id(R"({"quant_method": "gptq", "config_groups": {}})") == "llmc.io.210");
  CHECK(id(R"({"config_groups": {}})") == "llmc.io.210");
  CHECK(id(R"({"quant_method": "compressed-tensors"})") == "llmc.io.211");
  CHECK(id(R"({"quant_method": "compressed-tensors", "format": "int4-magic", "config_groups": {}})") == "llmc.io.212");
  CHECK(id(R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"targets": ["Linear"],
        "weights": {"num_bits": 4, "group_size": 128, "bits": 4}}}})") == "llmc.io.211");
  CHECK(id(R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"targets": ["Linear"],
        "weights": {"num_bits": 4, "strategy": "token"}}}})") == "llmc.io.211");
  CHECK(id(R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"targets": ["Linear"],
        "weights": {"num_bits": 4, "strategy": "group"}}}})") == "llmc.io.211");
  CHECK(id(R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 4}}}})") ==
        "llmc.io.211");
  CHECK(id(R"({"quant_method": "compressed-tensors", "config_groups": {"NOPE": ["Linear"]}})") == "llmc.io.211");
  CHECK(id(R"({"quant_method": "compressed-tensors", "config_groups": {"g": {"targets": ["Linear"],
        "weights": {"num_bits": 4, "scale_dtype": "torch.complex64"}}}})") == "llmc.io.211");
  // A release llmc does not target is still read (its packing follows the nearest supported one).
  const auto newer = parse(R"({"quant_method": "compressed-tensors", "version": "0.21.0", "config_groups": {}})");
  CHECK(newer.version.minor == 18);
  CHECK(newer.version.text == "0.21.0");
}
