// model_directory on the fixtures and on hand-made folders (sharded, broken).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/io/safetensors_writer.hpp"

using namespace llmc;
using iotest::fixtures;
namespace fs = std::filesystem;

TEST_CASE("the fixture folders open with config, generation config, weights and tokenizer files") {
  for (const char* name : {"stories260k", "stories260k-bf16"}) {
    INFO(name);
    const auto m = model_directory::open(fixtures / "models" / name);
    CHECK(m.config().architecture == "LlamaForCausalLM");
    REQUIRE(m.generation().has_value());
    CHECK(m.generation()->eos_token_ids == std::vector<std::int64_t>{2});
    CHECK(m.tensor_names().size() == 48);
    CHECK(m.contains("model.layers.3.self_attn.k_proj.weight"));
    CHECK(m.tensor("model.layers.3.self_attn.k_proj.weight").shape == std::vector<std::int64_t>{32, 64});
    CHECK(m.weight_files() == std::vector<fs::path>{fixtures / "models" / name / "model.safetensors"});
    CHECK_FALSE(m.weights().sharded());
    CHECK(m.present_passthrough_files() ==
          std::vector<std::string>{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                   "tokenizer.model", "generation_config.json"});
    CHECK_IO_ERROR(m.tensor("model.layers.9.mlp.up_proj.weight"), "llmc.io.115");
  }
  const auto b = model_directory::open(fixtures / "models/stories260k-bf16");
  CHECK(b.tensor("model.norm.weight").dtype == dtype::bf16);
}

TEST_CASE("a sharded model folder") {
  iotest::temp_dir tmp;
  fs::copy_file(fixtures / "models/stories260k/config.json", tmp / "config.json");
  // Re-shard the fixture weights with a 100 kB limit.
  const auto src = model_directory::open(fixtures / "models/stories260k");
  std::vector<tensor_ref> refs;
  for (const auto& n : src.tensor_names()) refs.push_back(tensor_ref::of(src.tensor(n)));
  shard_options opt;
  opt.max_shard_size = 100'000;
  const auto r = write_sharded_safetensors(tmp.path, refs, opt);
  REQUIRE(r.sharded);
  CHECK(r.files.size() > 5);
  const auto m = model_directory::open(tmp.path);
  CHECK(m.weights().sharded());
  CHECK_FALSE(m.generation().has_value());
  CHECK(m.weight_files().size() == r.files.size());
  CHECK(m.tensor_names().size() == 48);
  for (const auto& n : src.tensor_names()) {
    INFO(n);
    const auto a = src.tensor(n);
    const auto b = m.tensor(n);
    REQUIRE(a.bytes.size() == b.bytes.size());
    CHECK(iotest::bytes_equal(a.bytes, b.bytes));
  }
  CHECK(m.present_passthrough_files().empty());
}

TEST_CASE("missing pieces are reported clearly") {
  iotest::temp_dir tmp;
  CHECK_IO_ERROR(model_directory::open(tmp / "absent"), "llmc.io.150");
  iotest::write_bytes(tmp / "file", "x");
  CHECK_IO_ERROR(model_directory::open(tmp / "file"), "llmc.io.150");
  CHECK_IO_ERROR(model_directory::open(tmp.path), "llmc.io.140");
  fs::copy_file(fixtures / "models/stories260k/config.json", tmp / "config.json");
  try {
    (void)model_directory::open(tmp.path);
    FAIL("no throw");
  } catch (const io_error& e) {
    CHECK(e.id() == "llmc.io.150");
    CHECK(std::string(e.what()).find("model.safetensors") != std::string::npos);
    CHECK(std::string(e.what()).find(tmp.path.string()) != std::string::npos);
  }
  // A sharded folder whose index names a missing shard.
  fs::copy_file(iotest::data_dir / "hostile/shard_missing/model.safetensors.index.json",
                tmp / "model.safetensors.index.json");
  fs::copy_file(iotest::data_dir / "hostile/shard_missing/model-00001-of-00002.safetensors",
                tmp / "model-00001-of-00002.safetensors");
  CHECK_IO_ERROR(model_directory::open(tmp.path), "llmc.io.121");
  // model.safetensors wins over an index when both exist, as in transformers.
  fs::copy_file(fixtures / "models/stories260k/model.safetensors", tmp / "model.safetensors");
  CHECK(model_directory::open(tmp.path).tensor_names().size() == 48);
  // An unsupported architecture in config.json.
  iotest::write_bytes(tmp / "config.json", R"({"architectures": ["BertModel"]})");
  CHECK_IO_ERROR(model_directory::open(tmp.path), "llmc.io.142");
}
