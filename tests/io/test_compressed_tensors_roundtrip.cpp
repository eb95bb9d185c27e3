// Round trips for every format: quantize -> compressed_checkpoint_writer -> compressed_checkpoint
// -> load_quantized / decompress, for fp32, bf16 and fp16 weights. The decoded quantized_tensor
// must equal the written one field for field, and decompress() must equal fake quantization of the
// original weight bit for bit. Also: exact tensor sets per module, sharding identical to
// write_sharded_safetensors, ignore lists, and the writer's and reader's errors.
#include <doctest/doctest.h>

#include "support/error_id.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/compressed_tensors_reader.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
#include "llmc/io/safetensors_writer.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize_weight.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

using test_support::error_id;

template <class T>
constexpr const char* dtype_text() {
  if constexpr (std::is_same_v<T, bfloat16>) return "bfloat16";
  else if constexpr (std::is_same_v<T, float16>) return "float16";
  else return "float32";
}

/// Weights with a spread of magnitudes, a few outliers and exact zeros (deterministic per seed).
template <class T>
matrix<T> random_weight(std::size_t rows, std::size_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> n(0.0f, 0.05f);
  std::uniform_int_distribution<int> pick(0, 99);
  matrix<T> m(rows, cols);
  for (std::size_t i = 0; i < m.size(); ++i) {
    float v = n(gen);
    const int p = pick(gen);
    if (p == 0) v *= 20.0f;
    if (p == 1) v = 0.0f;
    m.data()[i] = compute_dtype<T>::from_float(v);
  }
  return m;
}

template <class T>
std::vector<std::uint32_t> bits_of(const matrix<T>& m) {
  std::vector<std::uint32_t> out(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    const float f = static_cast<float>(m.data()[i]);
    std::memcpy(&out[i], &f, 4);
  }
  return out;
}

struct rt_case {
  const char* name;
  runtime_scheme scheme;
  std::size_t rows, cols;
  const char* version = "0.18";
  compression_format expect;
  std::optional<compression_format> forced = std::nullopt;
  bool g_idx = false;
};

quant_args int_args(int bits, quant_strategy st, int gs = 0, bool sym = true) {
  quant_args a{.num_bits = bits, .symmetric = sym, .strategy = st, .group_size = gs};
  if (!sym) a.zp_dtype = qparam_dtype::int8;
  return a;
}

std::vector<rt_case> cases() {
  using namespace presets;
  using F = compression_format;
  const quant_args int8_static_asym_input{.num_bits = 8, .symmetric = false, .zp_dtype = qparam_dtype::int8,
                                          .observer = observer_kind::static_minmax};
  quant_args fp8_block_small = args::fp8_block128;
  fp8_block_small.block_rows = 8;
  fp8_block_small.block_cols = 16;
  quant_args fp8_group16_dynamic = args::fp8_group128_dynamic;
  fp8_group16_dynamic.group_size = 16;
  const quant_args mxfp8{.num_bits = 8, .type = quant_type::float_, .strategy = quant_strategy::group, .group_size = 32,
                         .scale_dtype = qparam_dtype::uint8, .zp_dtype = qparam_dtype::uint8};
  quant_args block_int4 = int_args(4, quant_strategy::block);
  block_int4.block_rows = 8;
  block_int4.block_cols = 32;
  std::vector<rt_case> c = {
      {"W8A8", runtime_scheme::from(W8A8{}), 24, 64, "0.18", F::int_quantized},
      {"W8A8 @0.12", runtime_scheme::from(W8A8{}), 24, 64, "0.12", F::int_quantized},
      {"W4A8 (int4 stored as int8)", runtime_scheme::from(W4A8{}), 16, 256, "0.18", F::int_quantized},
      {"W8A8 static asymmetric input", {.weights = args::int8_channel, .input_activations = int8_static_asym_input}, 16, 64,
       "0.18", F::int_quantized},
      {"W4A16 g32", {.weights = int_args(4, quant_strategy::group, 32)}, 24, 96, "0.18", F::pack_quantized},
      {"W4A16 g32 @0.12", {.weights = int_args(4, quant_strategy::group, 32)}, 24, 96, "0.12", F::pack_quantized},
      {"W4A16 g32 actorder=group", {.weights = [] { auto a = int_args(4, quant_strategy::group, 32); a.actorder = act_order::group; return a; }()},
       24, 96, "0.18", F::pack_quantized, std::nullopt, true},
      {"W4A16_ASYM g32", {.weights = int_args(4, quant_strategy::group, 32, false)}, 20, 64, "0.18", F::pack_quantized},
      {"W4A16_ASYM g32 @0.12", {.weights = int_args(4, quant_strategy::group, 32, false)}, 20, 64, "0.12", F::pack_quantized},
      {"int4 asym channel", {.weights = int_args(4, quant_strategy::channel, 0, false)}, 20, 64, "0.18", F::pack_quantized},
      {"int4 asym tensor (int8 zero point)", {.weights = int_args(4, quant_strategy::tensor, 0, false)}, 8, 64, "0.18",
       F::pack_quantized},
      {"int4 block 8x32", {.weights = block_int4}, 20, 64, "0.18", F::pack_quantized},
      {"int8 asym g32 packed", {.weights = int_args(8, quant_strategy::group, 32, false)}, 12, 64, "0.18", F::pack_quantized},
      {"W8A16 g128", runtime_scheme::from(W8A16{}), 16, 256, "0.18", F::pack_quantized},
      {"W8A16 channel @0.12", runtime_scheme::from(W8A16_CHANNEL{}), 16, 64, "0.12", F::pack_quantized},
      {"W2A16 g32", {.weights = int_args(2, quant_strategy::group, 32)}, 8, 64, "0.18", F::pack_quantized},
      {"W3A16 g32 dense", {.weights = int_args(3, quant_strategy::group, 32)}, 10, 96, "0.18", F::pack_quantized},
      {"W3A16 g32 @0.12 naive", {.weights = int_args(3, quant_strategy::group, 32)}, 10, 96, "0.12", F::naive_quantized},
      {"W3A16 asym @0.16 forced pack (legacy)", {.weights = int_args(3, quant_strategy::group, 32, false)}, 40, 96, "0.16",
       F::pack_quantized, F::pack_quantized},
      {"W3A16 g32 @0.17 (pack inferred, per-word)", {.weights = int_args(3, quant_strategy::group, 32)}, 10, 96, "0.17",
       F::pack_quantized},
      {"W5A16 g32 dense", {.weights = int_args(5, quant_strategy::group, 32)}, 10, 96, "0.18", F::pack_quantized},
      {"W6A16 asym @0.14 forced pack (legacy)", {.weights = int_args(6, quant_strategy::group, 32, false)}, 12, 96, "0.14",
       F::pack_quantized, F::pack_quantized},
      {"W7A16 channel dense", {.weights = int_args(7, quant_strategy::channel)}, 10, 70, "0.18", F::pack_quantized},
      {"FP8 static input", runtime_scheme::from(FP8{}), 16, 64, "0.18", F::float_quantized},
      {"FP8_DYNAMIC", runtime_scheme::from(FP8_DYNAMIC{}), 16, 64, "0.18", F::float_quantized},
      {"FP8 block 8x16 (rows padded)", {.weights = fp8_block_small, .input_activations = fp8_group16_dynamic}, 20, 64, "0.18",
       F::float_quantized},
      {"FP8 weight-only (naive)", {.weights = args::fp8_channel}, 16, 64, "0.18", F::naive_quantized},
      {"NVFP4A16", runtime_scheme::from(NVFP4A16{}), 16, 64, "0.18", F::nvfp4_pack_quantized},
      {"NVFP4A16 @0.12", runtime_scheme::from(NVFP4A16{}), 16, 64, "0.12", F::nvfp4_pack_quantized},
      {"NVFP4", runtime_scheme::from(NVFP4{}), 16, 64, "0.18", F::nvfp4_pack_quantized},
      {"MXFP4A16", runtime_scheme::from(MXFP4A16{}), 16, 64, "0.18", F::mxfp4_pack_quantized},
      {"MXFP8A16", {.weights = mxfp8}, 16, 64, "0.18", F::mxfp8_quantized},
      {"W4A16 forced int-quantized", {.weights = int_args(4, quant_strategy::group, 32)}, 8, 64, "0.18", F::int_quantized,
       F::int_quantized},
  };
  return c;
}

template <class T>
void run_case(const rt_case& k, unsigned seed) {
  iotest::temp_dir dir;
  const std::string module = "model.layers.0.mlp.down_proj";
  const quant_args& a = k.scheme.weights;
  const matrix<T> x = random_weight<T>(k.rows, k.cols, seed);
  std::vector<std::int32_t> g_idx;
  quantized_tensor q;
  if (k.g_idx) {
    std::vector<std::size_t> perm(k.cols);
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
    g_idx.resize(k.cols);
    for (std::size_t i = 0; i < k.cols; ++i) g_idx[perm[i]] = static_cast<std::int32_t>(i / static_cast<std::size_t>(a.group_size));
    q = quantize(a, x, minmax_qparams(a, x, 0.0f, g_idx), g_idx);
  } else {
    q = quantize_weight(k.scheme, x);
  }
  activation_qparams in;
  const quant_args& ia = k.scheme.input_activations;
  if (ia.enabled() && ia.dynamic == quant_dynamic::static_) {
    in.scale = 0.0123f;
    if (!ia.symmetric) in.zero_point = -3;
  }
  if (ia.enabled() && ia.dynamic == quant_dynamic::local) in.global_scale = 2688.0f / 3.7f;

  const matrix<float> norm(1, k.cols, 1.25f);
  ct_writer_options opt;
  opt.version = ct_version::parse(k.version);
  opt.format = k.forced;
  {
    compressed_checkpoint_writer w(dir / "out", {{"torch_dtype", dtype_text<T>()}}, opt);
    const auto g = w.add_config_group(k.scheme);
    CHECK(w.add_quantized(module, g, q, in) == k.expect);
    w.add_tensor(tensor_ref::of<float>("model.norm.weight", norm.span(), {static_cast<std::int64_t>(k.cols)}));
    w.add_dense_module("lm_head", "Linear");
    const auto r = w.finish();
    CHECK(r.quantization_config.ignore == std::vector<std::string>{"lm_head"});
    CHECK(r.quantization_config.format == k.expect);
  }
  const auto ck = compressed_checkpoint::open(dir / "out");
  const auto mi = ck.info(module);
  REQUIRE(mi.group.has_value());
  CHECK(mi.format == k.expect);
  CHECK(ck.modules() == std::vector<std::string>{module});
  // Exactly the tensors of the format, plus the passthrough norm.
  std::vector<std::string> expected_names{"model.norm.weight"};
  for (const auto& s : module_tensor_specs(k.expect, k.scheme, k.rows, k.cols, q.model_dtype, ck.quantization_config().version))
    expected_names.push_back(module + "." + s.suffix);
  auto names = ck.tensors().names();
  std::sort(names.begin(), names.end());
  std::sort(expected_names.begin(), expected_names.end());
  CHECK(names == expected_names);

  const quantized_tensor back = ck.load_quantized(module);
  quant_args expect_args = q.args;
  if (!ck.quantization_config().version.memoryless_observer_names()) {
    // Before 0.14 the observer is written as "minmax": it reads back as that name.
    CHECK(back.args.observer == observer_kind::minmax);
    expect_args.observer = observer_kind::minmax;
  }
  CHECK(back.args == expect_args);
  CHECK(back.model_dtype == q.model_dtype);
  CHECK(back.codes == q.codes);
  CHECK(back.params.scale == q.params.scale);
  CHECK(back.params.zero_point == q.params.zero_point);
  CHECK(back.params.global_scale == q.params.global_scale);
  CHECK(back.g_idx == q.g_idx);
  CHECK(back.params.layout.slot_rows == q.params.layout.slot_rows);
  CHECK(back.params.layout.slot_cols == q.params.layout.slot_cols);

  matrix<T> fake = x;
  fake_quantize(a, fake, q.params, g_idx);
  CHECK(bits_of(ck.decompress(module)) == bits_of(fake));
  CHECK(bits_of(ck.decompress_as<T>(module)) == bits_of(fake));

  const activation_qparams in_back = ck.input_qparams(module);
  CHECK(in_back.zero_point == in.zero_point);
  CHECK(in_back.global_scale == in.global_scale);
  if (in.scale) {
    REQUIRE(in_back.scale.has_value());
    CHECK(*in_back.scale == static_cast<float>(compute_dtype<T>::from_float(*in.scale)));
  } else {
    CHECK(!in_back.scale.has_value());
  }
  // The passthrough tensor is unchanged and decompress of a dense 1-D tensor is not a module.
  CHECK(ck.tensors().tensor("model.norm.weight").to_vector<float>() == norm.storage());
}

}  // namespace

TEST_CASE("round trip: every format, fp32 / bf16 / fp16, decompress == fake quantization bit for bit") {
  unsigned seed = 1;
  for (const auto& k : cases()) {
    INFO(std::string(k.name));
    run_case<float>(k, seed++);
    run_case<bfloat16>(k, seed++);
    run_case<float16>(k, seed++);
  }
}

TEST_CASE("writer sharding equals write_sharded_safetensors; big tensors get their own shard") {
  iotest::temp_dir dir;
  std::vector<std::vector<std::byte>> storage;
  std::vector<tensor_ref> refs;
  const std::vector<std::pair<std::string, std::int64_t>> spec = {
      {"a", 10}, {"b", 30}, {"huge", 200}, {"c", 40}, {"d", 5}, {"e", 60}, {"f", 1}};
  int seed = 1;
  for (const auto& [name, n] : spec) {
    storage.push_back(iotest::pattern_bytes(dtype::f32, {n}, seed++));
    refs.push_back(tensor_ref{name, dtype::f32, {n}, storage.back()});
  }
  shard_options so;
  so.max_shard_size = 256;  // bytes; "huge" (800 bytes) is above it
  fs::create_directories(dir / "ref");
  const auto ref = write_sharded_safetensors(dir / "ref", refs, so);
  REQUIRE(ref.sharded);

  ct_writer_options opt;
  opt.max_shard_size = so.max_shard_size;
  compressed_checkpoint_writer w(dir / "out", {{"torch_dtype", "float32"}}, opt);
  for (const auto& t : refs) w.add_tensor(t);
  const auto r = w.finish();
  CHECK(r.files == ref.files);
  CHECK(r.weight_map == ref.weight_map);
  CHECK(r.total_size == ref.total_size);
  CHECK(!r.quantized);
  for (const auto& f : r.files) CHECK(iotest::read_bytes(dir / "out" / f) == iotest::read_bytes(dir / "ref" / f));
  CHECK(iotest::read_string(dir / "out" / "model.safetensors.index.json") == ref.index_json);
  // No quantization: config.json exactly as transformers writes it.
  CHECK(iotest::read_string(dir / "out" / "config.json") == "{\n  \"torch_dtype\": \"float32\"\n}\n");
  // No staging leftovers.
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 2);  // ref and out
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir / "out")) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  std::vector<std::string> expect_files = ref.files;
  expect_files.push_back("config.json");
  expect_files.push_back("model.safetensors.index.json");
  std::sort(expect_files.begin(), expect_files.end());
  CHECK(files == expect_files);
}

TEST_CASE("a sharded quantized checkpoint reads back through its index") {
  iotest::temp_dir dir;
  const auto s = runtime_scheme::from(presets::W4A16{});
  ct_writer_options opt;
  opt.max_shard_size = 6000;
  std::vector<quantized_tensor> qs;
  std::vector<matrix<bfloat16>> xs;
  {
    compressed_checkpoint_writer w(dir / "out", {{"torch_dtype", "bfloat16"}}, opt);
    const auto g = w.add_config_group(s);
    for (int i = 0; i < 6; ++i) {
      xs.push_back(random_weight<bfloat16>(32, 256, 100 + static_cast<unsigned>(i)));
      qs.push_back(quantize_weight(s, xs.back()));
      w.add_quantized("layers." + std::to_string(i) + ".proj", g, qs.back());
    }
    const auto r = w.finish();
    CHECK(r.sharded);
    CHECK(r.files.size() >= 3);
  }
  const auto ck = compressed_checkpoint::open(dir / "out");
  CHECK(ck.tensors().sharded());
  CHECK(ck.modules().size() == 6);
  for (int i = 0; i < 6; ++i) {
    const std::string m = "layers." + std::to_string(i) + ".proj";
    CHECK(ck.load_quantized(m).codes == qs[static_cast<std::size_t>(i)].codes);
    CHECK(bits_of(ck.decompress(m)) == bits_of(dequantize<bfloat16>(qs[static_cast<std::size_t>(i)])));
  }
}

TEST_CASE("config groups: one per distinct scheme in module order; ignore lists by module type") {
  iotest::temp_dir dir;
  using namespace presets;
  const runtime_scheme g32{.weights = int_args(4, quant_strategy::group, 32)};
  const runtime_scheme ch{.weights = int_args(4, quant_strategy::channel)};
  ct_writer_options opt;
  opt.extra_ignore = {"re:.*vision.*"};
  compressed_checkpoint_writer w(dir / "out", {{"torch_dtype", "float32"}}, opt);
  const auto down = w.add_config_group(ch, {"re:.*down_proj$"});
  const auto rest = w.add_config_group(g32, {"re:.*(q|k|v|o|gate|up)_proj$"});
  const auto rest_again = w.add_config_group(g32, {"re:.*(q|k|v|o|gate|up)_proj$"});  // equal: merged
  const auto x = random_weight<float>(8, 64, 7);
  const auto qa = quantize_weight(g32, x), qc = quantize_weight(ch, x);
  w.add_dense_module("embed", "Embedding", tensor_ref::of<float>("embed.weight", x.span(), {8, 64}));
  w.add_quantized("l0.q_proj", rest, qa);
  w.add_dense_module("l0.k_proj", "Linear");
  w.add_quantized("l0.down_proj", down, qc);
  w.add_quantized("l1.q_proj", rest_again, qa);
  w.add_dense_module("lm_head", "Linear");
  const auto r = w.finish();
  const auto& c = r.quantization_config;
  REQUIRE(c.config_groups.size() == 2);
  CHECK(c.config_groups[0].name == "group_0");
  CHECK(c.config_groups[0].targets == std::vector<std::string>{"re:.*(q|k|v|o|gate|up)_proj$"});
  CHECK(c.config_groups[1].scheme == ch);
  CHECK(c.format == compression_format::pack_quantized);
  // Embedding is not a quantized type: not ignored; Linear ones are, in module order.
  CHECK(c.ignore == std::vector<std::string>{"l0.k_proj", "lm_head", "re:.*vision.*"});
  const auto ck = compressed_checkpoint::open(dir / "out");
  CHECK(ck.info("l0.down_proj").group == std::size_t{1});
  CHECK(ck.info("l0.q_proj").group == std::size_t{0});
  CHECK(!ck.info("lm_head").group.has_value());
  CHECK(!ck.info("embed").group.has_value());
  CHECK(ck.info("embed").module_type == "Embedding");
  CHECK(bits_of(ck.decompress("embed")) == bits_of(x));
  CHECK(bits_of(ck.decompress("l0.down_proj")) == bits_of(dequantize<float>(qc)));
}

TEST_CASE("mixed formats give mixed-precision; the global override wins") {
  iotest::temp_dir dir;
  using namespace presets;
  const auto w8a8 = runtime_scheme::from(W8A8{});
  const auto w4 = runtime_scheme::from(W4A16{});
  const auto x = random_weight<float>(8, 128, 3);
  {
    ct_writer_options opt;
      compressed_checkpoint_writer w(dir / "mixed", {{"torch_dtype", "float32"}}, opt);
    w.add_quantized("a", w.add_config_group(w8a8, {"a"}), quantize_weight(w8a8, x));
    w.add_quantized("b", w.add_config_group(w4, {"b"}), quantize_weight(w4, x));
    const auto r = w.finish();
    CHECK(r.quantization_config.format == compression_format::mixed_precision);
    const auto ck = compressed_checkpoint::open(dir / "mixed");
    CHECK(ck.info("a").format == compression_format::int_quantized);
    CHECK(ck.info("b").format == compression_format::pack_quantized);
  }
  {
    ct_writer_options opt;
      opt.format = compression_format::naive_quantized;
    compressed_checkpoint_writer w(dir / "forced", {{"torch_dtype", "float32"}}, opt);
    w.add_quantized("b", w.add_config_group(w4), quantize_weight(w4, x));
    const auto r = w.finish();
    CHECK(r.quantization_config.format == compression_format::naive_quantized);
    CHECK(r.quantization_config.config_groups[0].format == compression_format::naive_quantized);
    const auto ck = compressed_checkpoint::open(dir / "forced");
    CHECK(ck.tensors().info("b.weight").dtype == dtype::i8);
    CHECK(bits_of(ck.decompress("b")) == bits_of(dequantize<float>(quantize_weight(w4, x))));
  }
}

TEST_CASE("writer errors: refused outputs, misfit shapes, mismatched args and qparams; nothing left behind") {
  iotest::temp_dir dir;
  using namespace presets;
  const auto w4 = runtime_scheme::from(W4A16{});
  const nlohmann::json cfg = {{"torch_dtype", "float32"}};
  ct_writer_options opt;

  // An existing output folder is refused (nothing overwritten).
  fs::create_directories(dir / "exists");
  iotest::write_bytes(dir / "exists" / "keep.txt", "keep");
  CHECK(error_id([&] { compressed_checkpoint_writer w(dir / "exists", cfg, opt); }) == "llmc.io.160");
  CHECK(iotest::read_string(dir / "exists" / "keep.txt") == "keep");

  auto leaves_nothing = [&](const char* name, auto&& body) {
    const std::string id = error_id([&] {
      compressed_checkpoint_writer w(dir / name, cfg, opt);
      body(w);
      (void)w.finish();
    });
    CHECK_MESSAGE(!fs::exists(dir / name), name);
    std::size_t staging = 0;
    for (const auto& e : fs::directory_iterator(dir.path))
      if (e.path().filename().string().rfind(".", 0) == 0) ++staging;
    CHECK(staging == 0);
    return id;
  };

  // A module whose width does not fit its group size fails before any of its bytes are written,
  // and the half-written checkpoint vanishes.
  const runtime_scheme g32{.weights = int_args(4, quant_strategy::group, 32)};
  const auto odd = random_weight<float>(8, 172, 1);  // 172 is not a multiple of 32
  const auto ok = random_weight<float>(8, 64, 2);
  CHECK(leaves_nothing("misfit", [&](auto& w) {
          const auto g = w.add_config_group(g32);
          w.add_quantized("fine", g, quantize_weight(g32, ok));
          w.add_quantized("down_proj", g, quantize_weight(g32, odd));
        }) == "llmc.io.204");
  // Args of another scheme than the group's.
  CHECK(leaves_nothing("args", [&](auto& w) { w.add_quantized("m", w.add_config_group(w4), quantize_weight(g32, ok)); }) ==
        "llmc.io.205");
  CHECK(leaves_nothing("nogroup", [&](auto& w) { w.add_quantized("m", 3, quantize_weight(g32, ok)); }) == "llmc.io.205");
  // FP8 static inputs need their scale; dynamic ones must not get one.
  const auto fp8 = runtime_scheme::from(FP8{});
  CHECK(leaves_nothing("noscale", [&](auto& w) { w.add_quantized("m", w.add_config_group(fp8), quantize_weight(fp8, ok)); }) ==
        "llmc.io.206");
  CHECK(leaves_nothing("extrascale", [&](auto& w) {
          activation_qparams in;
          in.scale = 1.0f;
          w.add_quantized("m", w.add_config_group(w4), quantize_weight(w4, random_weight<float>(8, 128, 3)), in);
        }) == "llmc.io.206");
  const auto nv = runtime_scheme::from(NVFP4{});
  CHECK(leaves_nothing("noglobal", [&](auto& w) { w.add_quantized("m", w.add_config_group(nv), quantize_weight(nv, ok)); }) ==
        "llmc.io.206");
  // A forced format that cannot hold the weights.
  CHECK(leaves_nothing("forced", [&](auto& w) {
          w.add_quantized("m", w.add_config_group(g32, {"Linear"}, compression_format::float_quantized), quantize_weight(g32, ok));
        }) == "llmc.io.203");
  // A scale that is not exact in the model dtype (the qparams were tampered with / made for fp32).
  CHECK(leaves_nothing("inexact", [&](auto& w) {
          auto q = quantize_weight(g32, random_weight<bfloat16>(8, 64, 4));
          q.params.scale(0, 0) = 0.1f;  // not a bfloat16 value
          w.add_quantized("m", w.add_config_group(g32), q);
        }) == "llmc.io.207");
  // An internally inconsistent tensor (a code outside the 4-bit range).
  CHECK(leaves_nothing("badcode", [&](auto& w) {
          auto q = quantize_weight(g32, ok);
          q.codes(0, 0) = 9;
          w.add_quantized("m", w.add_config_group(g32), q);
        }) == "llmc.io.204");
  // MXFP4 cannot be written for 0.12.
  {
    ct_writer_options o12 = opt;
    o12.version = ct_version::parse("0.12");
    const auto mx = runtime_scheme::from(MXFP4A16{});
    const std::string id = error_id([&] {
      compressed_checkpoint_writer w(dir / "mx12", cfg, o12);
      w.add_quantized("m", w.add_config_group(mx), quantize_weight(mx, ok));
    });
    CHECK(id == "llmc.io.202");
    CHECK(!fs::exists(dir / "mx12"));
  }
  // Modules and tensors are unique; a finished writer refuses more work.
  CHECK(leaves_nothing("twice", [&](auto& w) {
          const auto g = w.add_config_group(g32);
          w.add_quantized("m", g, quantize_weight(g32, ok));
          w.add_quantized("m", g, quantize_weight(g32, ok));
        }) == "llmc.io.208");
  CHECK(leaves_nothing("tensor twice", [&](auto& w) {
          const auto g = w.add_config_group(g32);
          w.add_quantized("m", g, quantize_weight(g32, ok));
          w.add_tensor(tensor_ref::of<float>("m.weight_scale", ok.span(), {8, 64}));
        }) == "llmc.io.130");
  {
    compressed_checkpoint_writer w(dir / "done", cfg, opt);
    (void)w.finish();
    CHECK(error_id([&] { w.add_tensor(tensor_ref::of<float>("x", ok.span(), {8, 64})); }) == "llmc.io.208");
    CHECK(error_id([&] { (void)w.finish(); }) == "llmc.io.208");
    CHECK(fs::exists(dir / "done" / "config.json"));
  }
}

TEST_CASE("reader errors name the tensor and the problem") {
  iotest::temp_dir dir;
  using namespace presets;
  const auto w4 = runtime_scheme::from(W4A16_ASYM{});
  const auto x = random_weight<float>(8, 128, 9);
  const auto q = quantize_weight(w4, x);
  ct_writer_options opt;
  {
    compressed_checkpoint_writer w(dir / "good", {{"torch_dtype", "float32"}}, opt);
    w.add_quantized("m", w.add_config_group(w4), q);
    (void)w.finish();
  }
  const auto good = compressed_checkpoint::open(dir / "good");
  CHECK(error_id([&] { (void)good.decompress("nope"); }) == "llmc.io.214");

  // Re-write the weights with one tensor changed and check the reader's verdict.
  auto variant = [&](const char* name, auto&& edit) {
    fs::create_directories(dir / name);
    fs::copy_file(dir / "good" / "config.json", dir / name / "config.json");
    std::vector<ct_stored_tensor> ts;
    for (const auto& n : good.tensors().names()) {
      const auto v = good.tensors().tensor(n);
      ts.push_back({n, v.dtype, v.shape, std::vector<std::byte>(v.bytes.begin(), v.bytes.end())});
    }
    edit(ts);
    std::vector<tensor_ref> refs;
    for (const auto& t : ts) refs.push_back(t.ref());
    write_safetensors(dir / name / "model.safetensors", refs);
    return compressed_checkpoint::open(dir / name);
  };
  auto find = [](std::vector<ct_stored_tensor>& ts, const std::string& n) -> ct_stored_tensor& {
    for (auto& t : ts)
      if (t.name == n) return t;
    FAIL("no tensor " << n);
    return ts.front();
  };
  const auto missing = variant("missing", [&](auto& ts) {
    ts.erase(std::remove_if(ts.begin(), ts.end(), [](const auto& t) { return t.name == "m.weight_zero_point"; }), ts.end());
  });
  CHECK(error_id([&] { (void)missing.decompress("m"); }) == "llmc.io.213");
  const auto wrong_dtype = variant("dtype", [&](auto& ts) {
    auto& s = find(ts, "m.weight_scale");
    s.dtype = dtype::i32;
  });
  CHECK(error_id([&] { (void)wrong_dtype.decompress("m"); }) == "llmc.io.213");
  const auto wrong_shape = variant("shape", [&](auto& ts) {
    auto& s = find(ts, "m.weight_shape");
    s.bytes[8] = std::byte{64};  // [8, 64]: the packed words no longer match
  });
  CHECK(error_id([&] { (void)wrong_shape.decompress("m"); }) == "llmc.io.213");
  const auto zero_scale = variant("zero", [&](auto& ts) {
    auto& s = find(ts, "m.weight_scale");
    std::fill(s.bytes.begin(), s.bytes.begin() + 4, std::byte{0});
  });
  CHECK(error_id([&] { (void)zero_scale.decompress("m"); }) == "llmc.io.215");

  // No quantization_config / not compressed-tensors / unknown format / missing model dtype.
  fs::create_directories(dir / "plain");
  fs::copy_file(dir / "good" / "model.safetensors", dir / "plain" / "model.safetensors");
  iotest::write_bytes(dir / "plain" / "config.json", "{}");
  const auto plain = compressed_checkpoint::open(dir / "plain");
  CHECK(!plain.is_compressed());
  CHECK(error_id([&] { (void)plain.quantization_config(); }) == "llmc.io.210");
  CHECK(error_id([&] { (void)plain.load_quantized("m"); }) == "llmc.io.203");
  iotest::write_bytes(dir / "plain" / "config.json",
                      R"({"quantization_config": {"quant_method": "compressed-tensors", "format": "marlin-24",
                         "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 128},
                         "format": "marlin-24"}}}})");
  CHECK(error_id([&] { (void)compressed_checkpoint::open(dir / "plain").decompress("m"); }) == "llmc.io.212");
  iotest::write_bytes(dir / "plain" / "config.json", R"({"quantization_config": {"quant_method": "bitsandbytes"}})");
  CHECK(error_id([&] { (void)compressed_checkpoint::open(dir / "plain"); }) == "llmc.io.210");

  // NVFP4 needs the model dtype: from torch_dtype, else a dense float tensor, else an error.
  const auto nv = runtime_scheme::from(NVFP4A16{});
  const auto xb = random_weight<bfloat16>(4, 32, 5);
  const auto qn = quantize_weight(nv, xb);
  {
    compressed_checkpoint_writer w(dir / "nv", nlohmann::json::object(), opt);
    w.add_quantized("m", w.add_config_group(nv), qn);
    (void)w.finish();
  }
  const auto nvck = compressed_checkpoint::open(dir / "nv");
  CHECK(error_id([&] { (void)nvck.model_dtype(); }) == "llmc.io.216");
  CHECK(error_id([&] { (void)nvck.decompress("m"); }) == "llmc.io.216");
  CHECK(bits_of(nvck.decompress("m", {}, scalar_type::bfloat16)) == bits_of(dequantize<bfloat16>(qn)));
  {
    compressed_checkpoint_writer w(dir / "nv2", nlohmann::json::object(), opt);
    w.add_quantized("m", w.add_config_group(nv), qn);
    const matrix<bfloat16> n(1, 32, bfloat16(1.0f));
    w.add_tensor(tensor_ref::of<bfloat16>("norm.weight", n.span(), {32}));
    (void)w.finish();
  }
  CHECK(compressed_checkpoint::open(dir / "nv2").model_dtype() == scalar_type::bfloat16);
  CHECK(bits_of(compressed_checkpoint::open(dir / "nv2").decompress("m")) == bits_of(dequantize<bfloat16>(qn)));
}

TEST_CASE("quantized Embedding modules (0.17+) and a kv_cache_scheme with its scales") {
  iotest::temp_dir dir;
  const runtime_scheme s{.weights = int_args(8, quant_strategy::channel)};
  const auto e = random_weight<bfloat16>(64, 32, 21);
  const auto q = quantize_weight(s, e);
  const quant_args kv{.num_bits = 8, .type = quant_type::float_, .observer = observer_kind::static_minmax};
  ct_writer_options opt;
  opt.kv_cache_scheme = kv;
  {
    compressed_checkpoint_writer w(dir / "out", {{"torch_dtype", "bfloat16"}}, opt);
    const auto g = w.add_config_group(s, {"Embedding"});
    CHECK(w.add_quantized("model.embed_tokens", g, q, {}, "Embedding") == compression_format::pack_quantized);
    const matrix<bfloat16> ks(1, 1, bfloat16(0.25f));
    w.add_tensor(tensor_ref::of<bfloat16>("model.layers.0.self_attn.k_scale", ks.span(), {1}));
    w.add_dense_module("lm_head", "Linear");
    const auto r = w.finish();
    CHECK(r.quantization_config.ignore.empty());  // Linear is not a quantized type here
    const auto j = quantization_config_to_json(r.quantization_config);
    CHECK(j["kv_cache_scheme"]["type"] == "float");
    CHECK(j["kv_cache_scheme"]["strategy"] == "tensor");
    CHECK(j["kv_cache_scheme"]["observer"] == "static_minmax");
  }
  const auto ck = compressed_checkpoint::open(dir / "out");
  REQUIRE(ck.quantization_config().kv_cache_scheme.has_value());
  CHECK(*ck.quantization_config().kv_cache_scheme == kv);
  CHECK(ck.info("model.embed_tokens").module_type == "Embedding");
  CHECK(bits_of(ck.decompress("model.embed_tokens")) == bits_of(dequantize<bfloat16>(q)));
  // Matched as a Linear instead, the same name is not targeted.
  CHECK(!ck.info("model.embed_tokens", "Linear").group.has_value());
  // 0.15 / 0.16 only compress Linear modules.
  ct_writer_options o16;
  o16.version = ct_version::parse("0.16");
  std::string id;
  try {
    compressed_checkpoint_writer w(dir / "old", {{"torch_dtype", "bfloat16"}}, o16);
    w.add_quantized("model.embed_tokens", w.add_config_group(s, {"Embedding"}), q, {}, "Embedding");
  } catch (const llmc::error& err) {
    id = err.id();
  }
  CHECK(id == "llmc.io.202");
  // A kv_cache_scheme alone still writes a quantization_config (format dense, no groups).
  ct_writer_options kvo;
  kvo.kv_cache_scheme = kv;
  compressed_checkpoint_writer w(dir / "kvonly", {{"torch_dtype", "bfloat16"}}, kvo);
  const auto r = w.finish();
  CHECK(r.quantized);
  CHECK(r.quantization_config.format == compression_format::dense);
  CHECK(quantization_config_to_json(r.quantization_config)["config_groups"] == nlohmann::json::object());
}
