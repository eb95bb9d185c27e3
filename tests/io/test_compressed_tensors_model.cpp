// Whole-model test on the real fixture (stories260K, fp32 and bf16): RTN-quantize every Linear with
// W4A16 (group 32, channel-wise for down_proj whose width 172 no group size divides), W8A8,
// FP8_DYNAMIC and NVFP4A16 (down_proj left dense), write compressed checkpoints with the embeddings
// and the tied lm_head dense, read them back and check every tensor's name, dtype and shape, that
// decompress equals fake quantization bit for bit, that dense tensors and tokenizer files are
// unchanged, and the config.json. Prints one tensor per format (name, dtype, shape, first 16 bytes)
// for comparison with LLM Compressor's output.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/compressed_tensors_reader.hpp"
#include "llmc/io/compressed_tensors_writer.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/scheme/presets.hpp"
#include "llmc/scheme/quantize_weight.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

/// Module order of transformers' LlamaForCausalLM state dict: embed_tokens, per layer self_attn
/// q/k/v/o, mlp gate/up/down, the two norms, then the final norm and lm_head.
struct module_entry {
  std::string name;
  std::string type;  ///< "Linear", "Embedding", or "" for a plain tensor (norms)
};

std::vector<module_entry> llama_modules(const model_config& c) {
  std::vector<module_entry> out{{"model.embed_tokens", "Embedding"}};
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                          "mlp.up_proj", "mlp.down_proj"})
      out.push_back({p + m, "Linear"});
    out.push_back({p + "input_layernorm", ""});
    out.push_back({p + "post_attention_layernorm", ""});
  }
  out.push_back({"model.norm", ""});
  out.push_back({"lm_head", "Linear"});
  return out;
}

struct model_scheme {
  const char* name;
  /// (scheme, targets) of each config group and the group a Linear takes (-1: dense).
  std::vector<std::pair<runtime_scheme, std::vector<std::string>>> groups;
  int (*group_of)(const std::string& module);
  compression_format format;
  std::vector<std::string> ignore_suffixes;  ///< modules expected in `ignore`, in order
  const char* shown;                         ///< suffix of the tensor printed for the note
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<model_scheme> model_schemes() {
  using namespace presets;
  const runtime_scheme g32{.weights = {.num_bits = 4, .strategy = quant_strategy::group, .group_size = 32}};
  const runtime_scheme ch{.weights = {.num_bits = 4, .strategy = quant_strategy::channel}};
  return {
      {"W4A16",
       {{g32, {"re:.*(q|k|v|o|gate|up)_proj$"}}, {ch, {"re:.*down_proj$"}}},
       [](const std::string& m) { return ends_with(m, "lm_head") ? -1 : (ends_with(m, "down_proj") ? 1 : 0); },
       compression_format::pack_quantized, {"lm_head"}, "weight_packed"},
      {"W8A8", {{runtime_scheme::from(W8A8{}), {"Linear"}}},
       [](const std::string& m) { return ends_with(m, "lm_head") ? -1 : 0; }, compression_format::int_quantized, {"lm_head"},
       "weight"},
      {"FP8_DYNAMIC", {{runtime_scheme::from(FP8_DYNAMIC{}), {"Linear"}}},
       [](const std::string& m) { return ends_with(m, "lm_head") ? -1 : 0; }, compression_format::float_quantized,
       {"lm_head"}, "weight"},
      {"NVFP4A16", {{runtime_scheme::from(NVFP4A16{}), {"Linear"}}},
       [](const std::string& m) { return ends_with(m, "lm_head") || ends_with(m, "down_proj") ? -1 : 0; },
       compression_format::nvfp4_pack_quantized,
       {"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj", "model.layers.2.mlp.down_proj",
        "model.layers.3.mlp.down_proj", "model.layers.4.mlp.down_proj", "lm_head"},
       "weight_packed"},
  };
}

std::string hex16(std::span<const std::byte> b) {
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < std::min<std::size_t>(16, b.size()); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(b[i]));
    if (i) s += ' ';
    s += buf;
  }
  return s;
}

std::string shape_text(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
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

template <class T>
void run_model(const fs::path& src_dir, const model_scheme& ms, bool sharded) {
  iotest::temp_dir tmp;
  const fs::path out_dir = tmp / "out";
  const model_directory src = model_directory::open(src_dir);
  ct_writer_options opt;
  if (sharded) opt.max_shard_size = 100'000;  // several shards for this ~0.3 MB model
  auto w = compressed_checkpoint_writer::for_model(src, out_dir, opt);
  std::vector<std::size_t> gid;
  for (const auto& [s, targets] : ms.groups) gid.push_back(w->add_config_group(s, targets));

  std::map<std::string, quantized_tensor> quantized;
  std::set<std::tuple<std::string, dtype, std::vector<std::int64_t>>> expected;
  std::vector<std::string> dense;
  for (const auto& m : llama_modules(src.config())) {
    const std::string wname = m.name + ".weight";
    if (m.type.empty() || m.type == "Embedding") {
      const tensor_view v = src.tensor(wname);
      if (m.type.empty()) w->add_tensor(tensor_ref::of(v));
      else w->add_dense_module(m.name, m.type, tensor_ref::of(v));
      expected.insert({v.name, v.dtype, v.shape});
      dense.push_back(v.name);
      continue;
    }
    if (!src.contains(wname)) {  // the tied lm_head has no tensor of its own
      w->add_dense_module(m.name, m.type);
      continue;
    }
    const tensor_view v = src.tensor(wname);
    const int g = ms.group_of(m.name);
    if (g < 0) {
      w->add_dense_module(m.name, m.type, tensor_ref::of(v));
      expected.insert({v.name, v.dtype, v.shape});
      dense.push_back(v.name);
      continue;
    }
    const auto rows = static_cast<std::size_t>(v.shape[0]), cols = static_cast<std::size_t>(v.shape[1]);
    const matrix<T> x(rows, cols, v.to_vector<T>());
    const runtime_scheme& s = ms.groups[static_cast<std::size_t>(g)].first;
    quantized_tensor q = quantize_weight(s, x);
    const compression_format f = w->add_quantized(m.name, gid[static_cast<std::size_t>(g)], q);
    CHECK(f == ms.format);
    for (const auto& spec : module_tensor_specs(f, s, rows, cols, q.model_dtype, opt.version))
      expected.insert({m.name + "." + spec.suffix, spec.dtype, spec.shape});
    quantized.emplace(m.name, std::move(q));
  }
  const ct_write_result r = w->finish();
  CHECK(r.sharded == sharded);
  CHECK(r.quantization_config.format == ms.format);
  CHECK(r.quantization_config.config_groups.size() == ms.groups.size());
  CHECK(r.quantization_config.ignore == ms.ignore_suffixes);
  CHECK(r.copied_files == src.present_passthrough_files());

  // Every tensor: name, dtype, shape.
  const compressed_checkpoint ck = compressed_checkpoint::open(out_dir);
  std::set<std::tuple<std::string, dtype, std::vector<std::int64_t>>> got;
  for (const auto& n : ck.tensors().names()) {
    const auto& i = ck.tensors().info(n);
    got.insert({n, i.dtype, i.shape});
  }
  CHECK(got == expected);
  // Quantized modules decompress to the fake-quantized weights, bit for bit.
  for (const auto& [name, q] : quantized) {
    INFO(name);
    CHECK(ck.info(name).format == ms.format);
    CHECK(bits_of(ck.decompress(name)) == bits_of(dequantize<T>(q)));
  }
  // Dense tensors are byte-identical to the source; so are the tokenizer / generation files.
  for (const auto& n : dense) {
    const auto a = src.tensor(n).bytes, b = ck.tensors().tensor(n).bytes;
    CHECK_MESSAGE(iotest::bytes_equal(a, b), n);
  }
  for (const auto& f : src.present_passthrough_files())
    CHECK(iotest::read_bytes(out_dir / f) == iotest::read_bytes(src_dir / f));
  // config.json: the source config plus quantization_config, dumped as update_config does.
  const std::string cfg = iotest::read_string(out_dir / "config.json");
  CHECK(cfg == config_json_with_quantization(src.config().raw, r.quantization_config));
  CHECK(cfg.back() == '}');
  const auto reparsed = parse_json_strict(cfg, "config.json");
  nlohmann::json without = reparsed;
  without.erase("quantization_config");
  CHECK(without == src.config().raw);
  CHECK(reparsed["quantization_config"]["ignore"] == ms.ignore_suffixes);
  // The output is itself a loadable model folder.
  const model_directory again = model_directory::open(out_dir);
  CHECK(again.config().architecture == "LlamaForCausalLM");

  const std::string shown = "model.layers.0.self_attn.q_proj." + std::string(ms.shown);
  const tensor_view sv = ck.tensors().tensor(shown);
  const tensor_view sc = ck.tensors().tensor("model.layers.0.self_attn.q_proj.weight_scale");
  MESSAGE(src_dir.filename().string() << " " << std::string(ms.name) << " (" << to_string(ms.format) << "): " << shown << " "
                                      << dtype_name(sv.dtype) << " " << shape_text(sv.shape) << " first bytes "
                                      << hex16(sv.bytes) << " | weight_scale " << dtype_name(sc.dtype) << " "
                                      << shape_text(sc.shape) << " first bytes " << hex16(sc.bytes));
}

const fs::path fixtures = LLMC_FIXTURES_DIR;

}  // namespace

TEST_CASE("stories260k fp32: W4A16 / W8A8 / FP8_DYNAMIC / NVFP4A16 compressed checkpoints round trip") {
  for (const auto& ms : model_schemes()) {
    INFO(std::string(ms.name));
    run_model<float>(fixtures / "models" / "stories260k", ms, false);
  }
}

TEST_CASE("stories260k bf16: W4A16 / W8A8 / FP8_DYNAMIC / NVFP4A16 compressed checkpoints round trip") {
  for (const auto& ms : model_schemes()) {
    INFO(std::string(ms.name));
    run_model<bfloat16>(fixtures / "models" / "stories260k-bf16", ms, false);
  }
}

TEST_CASE("stories260k bf16 W4A16 written in several shards") {
  run_model<bfloat16>(fixtures / "models" / "stories260k-bf16", model_schemes()[0], true);
}

TEST_CASE("stories260k: NVFP4A16 on down_proj (width 172) is refused before anything is written") {
  iotest::temp_dir tmp;
  const model_directory src = model_directory::open(fixtures / "models" / "stories260k");
  ct_writer_options opt;
  const auto nv = runtime_scheme::from(presets::NVFP4A16{});
  std::string id;
  {
    auto w = compressed_checkpoint_writer::for_model(src, tmp / "out", opt);
    const auto g = w->add_config_group(nv);
    const tensor_view v = src.tensor("model.layers.0.mlp.down_proj.weight");
    const matrix<float> x(64, 172, v.to_vector<float>());
    try {
      w->add_quantized("model.layers.0.mlp.down_proj", g, quantize_weight(nv, x));
    } catch (const llmc::error& e) {
      id = e.id();
    }
  }
  CHECK(id == "llmc.io.204");
  CHECK(!fs::exists(tmp / "out"));
  // Writing into the source model folder is refused too.
  std::string id2;
  try {
    auto w = compressed_checkpoint_writer::for_model(src, fixtures / "models" / "stories260k" / "out", opt);
  } catch (const llmc::error& e) {
    id2 = e.id();
  }
  CHECK(id2 == "llmc.io.161");
}
