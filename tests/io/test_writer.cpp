// The safetensors writer: byte-exact against files written by the Python safetensors library
// (tests/io/make_golden.py), round trips, sharding as huggingface_hub/transformers do it.
#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/checkpoint.hpp"
#include "llmc/io/json.hpp"
#include "llmc/io/safetensors.hpp"
#include "llmc/io/safetensors_writer.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

const fs::path golden = iotest::data_dir / "golden";

/// The tensors of one manifest entry, with their bytes kept alive.
struct manifest_tensors {
  std::vector<std::vector<std::byte>> storage;
  std::vector<tensor_ref> refs;
  std::map<std::string, std::string> metadata;
};

manifest_tensors from_manifest(const nlohmann::json& entry) {
  manifest_tensors m;
  m.storage.reserve(entry["tensors"].size());
  for (const auto& t : entry["tensors"]) {
    const auto dt = dtype_from_name(t["dtype"].get<std::string>());
    REQUIRE(dt.has_value());
    const auto shape = t["shape"].get<std::vector<std::int64_t>>();
    m.storage.push_back(iotest::pattern_bytes(*dt, shape, t["seed"].get<int>()));
    m.refs.push_back(tensor_ref{t["name"].get<std::string>(), *dt, shape, m.storage.back()});
  }
  if (entry.contains("metadata") && entry["metadata"].is_object()) {
    m.metadata = entry["metadata"].get<std::map<std::string, std::string>>();
  }
  return m;
}

nlohmann::json manifest() { return parse_json_strict(iotest::read_string(golden / "manifest.json"), "manifest.json"); }

bool same_bytes(const std::vector<std::byte>& a, const std::vector<std::byte>& b) { return iotest::bytes_equal(a, b); }

}  // namespace

TEST_CASE("writer output is byte-identical to the Python safetensors library") {
  const auto man = manifest();
  REQUIRE(man["files"].size() == 4);
  for (auto it = man["files"].begin(); it != man["files"].end(); ++it) {
    INFO(it.key());
    auto m = from_manifest(*it);
    const auto expected = iotest::read_bytes(golden / it.key());
    const auto ours = serialize_safetensors(m.refs, m.metadata);
    CHECK(same_bytes(ours, expected));
    // The streamed writer produces the same bytes.
    iotest::temp_dir tmp;
    write_safetensors(tmp / "x.safetensors", m.refs, m.metadata, /*sync=*/true);
    CHECK(same_bytes(iotest::read_bytes(tmp / "x.safetensors"), expected));
  }
}

TEST_CASE("empty file layout matches the Rust library's test vectors") {
  // safetensors/src/tensor.rs test_empty: "{}" padded to 8 with spaces; with {"framework": "pt"}.
  const auto a = serialize_safetensors({});
  const std::string sa(reinterpret_cast<const char*>(a.data()), a.size());
  CHECK(sa == std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const auto b = serialize_safetensors({}, {{"framework", "pt"}});
  const std::string sb(reinterpret_cast<const char*>(b.data()), b.size());
  CHECK(sb == std::string("\x28\0\0\0\0\0\0\0", 8) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
}

TEST_CASE("round trip: every tensor reads back with its dtype, shape, bytes and metadata") {
  const auto man = manifest();
  auto m = from_manifest(man["files"]["all_dtypes.safetensors"]);
  iotest::temp_dir tmp;
  write_safetensors(tmp / "rt.safetensors", m.refs, m.metadata);
  auto f = safetensors_file::open(tmp / "rt.safetensors");
  CHECK(f.size() == m.refs.size());
  CHECK(f.metadata() == m.metadata);
  for (const auto& r : m.refs) {
    INFO(r.name);
    const auto v = f.tensor(r.name);
    CHECK(v.dtype == r.dtype);
    CHECK(v.shape == r.shape);
    REQUIRE(v.bytes.size() == r.bytes.size());
    CHECK(iotest::bytes_equal(v.bytes, r.bytes));
    // Sorted by decreasing alignment from an 8-aligned start: every tensor is aligned.
    CHECK(reinterpret_cast<std::uintptr_t>(v.bytes.data()) % dtype_size(v.dtype) == 0);
  }
  // Copying views into a new file reproduces the file exactly.
  std::vector<tensor_ref> copies;
  for (const auto& n : f.names()) copies.push_back(tensor_ref::of(f.tensor(n)));
  CHECK(same_bytes(serialize_safetensors(copies, f.metadata()), iotest::read_bytes(tmp / "rt.safetensors")));
}

TEST_CASE("typed tensor_ref::of and reading back") {
  const std::vector<float> w = {1.0f, -2.0f, 3.5f, 0.25f, 8.0f, -0.5f};
  const std::vector<bfloat16> s = {bfloat16(0.5f), bfloat16(-1.0f)};
  const std::vector<std::int32_t> packed = {-1, 0x12345678};
  const std::vector<tensor_ref> refs = {tensor_ref::of<float>("w", w, {2, 3}), tensor_ref::of<bfloat16>("s", s, {2, 1}),
                                        tensor_ref::of<std::int32_t>("p", packed, {1, 2})};
  const auto file = serialize_safetensors(refs, {{"format", "pt"}});
  const auto h = parse_safetensors_header(file, "mem");
  CHECK(view_of(file, h, *h.find("w")).to_vector<float>() == w);
  CHECK(to_float32(view_of(file, h, *h.find("s"))) == std::vector<float>{0.5f, -1.0f});
  CHECK(view_of(file, h, *h.find("p")).as<std::int32_t>()[1] == 0x12345678);
  // Data order is the Rust Dtype enum order, descending: F32 > I32 > BF16.
  CHECK(h.tensors[0].name == "w");
  CHECK(h.tensors[1].name == "p");
  CHECK(h.tensors[2].name == "s");
}

TEST_CASE("writer rejects invalid input before writing anything") {
  const std::vector<float> w = {1.0f, 2.0f};
  iotest::temp_dir tmp;
  const auto path = tmp / "bad.safetensors";
  CHECK_IO_ERROR(write_safetensors(path, std::vector<tensor_ref>{tensor_ref::of<float>("a", w, {2}),
                                                                 tensor_ref::of<float>("a", w, {2})}),
                 "llmc.io.130");
  CHECK_IO_ERROR(write_safetensors(path, std::vector<tensor_ref>{tensor_ref::of<float>("a", w, {3})}), "llmc.io.131");
  CHECK_IO_ERROR(write_safetensors(path, std::vector<tensor_ref>{tensor_ref::of<float>("a", w, {-2})}), "llmc.io.131");
  CHECK_IO_ERROR(write_safetensors(path, std::vector<tensor_ref>{tensor_ref::of<float>("", w, {2})}), "llmc.io.133");
  CHECK_IO_ERROR(write_safetensors(path, std::vector<tensor_ref>{tensor_ref::of<float>("__metadata__", w, {2})}),
                 "llmc.io.133");
  CHECK_IO_ERROR(write_safetensors(path, std::vector<tensor_ref>{tensor_ref::of<float>("bad\xff", w, {2})}),
                 "llmc.io.133");
  CHECK_FALSE(fs::exists(path));
  CHECK_IO_ERROR(write_safetensors(tmp / "no/such/dir/x.safetensors", std::vector<tensor_ref>{}), "llmc.io.132");
}

TEST_CASE("plan_shards follows huggingface_hub's split") {
  std::vector<std::vector<std::byte>> store;
  std::vector<tensor_ref> refs;
  for (std::size_t sz : {100, 160, 60, 400, 200, 40, 16}) {
    store.emplace_back(sz);
    std::string name = "t";
    name += std::to_string(refs.size());
    refs.push_back(tensor_ref{name, dtype::u8, {static_cast<std::int64_t>(sz)}, store.back()});
  }
  const auto shards = plan_shards(refs, 300);
  // [t0,t1] 260; t2 would make 320 -> new shard; t3 (400 > 300) alone, emitted while t2's shard is
  // still open; [t2,t4,t5] = 300 (equal to the limit stays); t6 -> new shard.
  REQUIRE(shards.size() == 4);
  CHECK(shards[0] == std::vector<std::size_t>{0, 1});
  CHECK(shards[1] == std::vector<std::size_t>{3});
  CHECK(shards[2] == std::vector<std::size_t>{2, 4, 5});
  CHECK(shards[3] == std::vector<std::size_t>{6});
  CHECK(plan_shards(refs, 10'000).size() == 1);
  CHECK(shard_file_name(0, 4) == "model-00001-of-00004.safetensors");
  CHECK(shard_file_name(11, 123) == "model-00012-of-00123.safetensors");
}

TEST_CASE("sharded writing is byte-identical to huggingface_hub + safetensors + transformers' index") {
  const auto man = manifest();
  const auto& sh = man["sharded"];
  auto m = from_manifest(sh);
  iotest::temp_dir tmp;
  shard_options opt;
  opt.max_shard_size = sh["max_shard_size"].get<std::uint64_t>();
  const auto r = write_sharded_safetensors(tmp.path, m.refs, opt);
  CHECK(r.sharded);
  CHECK(r.total_size == 976);
  REQUIRE(r.files == sh["files"].get<std::vector<std::string>>());
  for (const auto& f : r.files) {
    INFO(f);
    CHECK(same_bytes(iotest::read_bytes(tmp / f), iotest::read_bytes(golden / "sharded" / f)));
  }
  CHECK(iotest::read_string(tmp / "model.safetensors.index.json") ==
        iotest::read_string(golden / "sharded" / "model.safetensors.index.json"));
  CHECK(r.index_json == iotest::read_string(golden / "sharded" / "model.safetensors.index.json"));
  CHECK(r.weight_map.at("big") == "model-00002-of-00004.safetensors");
}

TEST_CASE("sharded round trip through safetensors_checkpoint") {
  const auto man = manifest();
  auto m = from_manifest(man["sharded"]);
  iotest::temp_dir tmp;
  shard_options opt;
  opt.max_shard_size = 300;
  opt.total_parameters = 1234;
  write_sharded_safetensors(tmp.path, m.refs, opt);
  const auto idx = parse_json_strict(iotest::read_string(tmp / "model.safetensors.index.json"), "index");
  CHECK(idx["metadata"]["total_parameters"] == 1234);
  CHECK(idx["metadata"]["total_size"] == 976);
  auto c = safetensors_checkpoint::open(tmp.path);
  CHECK(c.sharded());
  CHECK(c.files().size() == 4);
  CHECK(c.size() == m.refs.size());
  CHECK(c.total_size() == 976);
  for (const auto& r : m.refs) {
    INFO(r.name);
    const auto v = c.tensor(r.name);
    CHECK(v.dtype == r.dtype);
    CHECK(v.shape == r.shape);
    REQUIRE(v.bytes.size() == r.bytes.size());
    CHECK(iotest::bytes_equal(v.bytes, r.bytes));
    c.release(r.name);
  }
  CHECK(c.file_of("big").path().filename() == "model-00002-of-00004.safetensors");
  CHECK_IO_ERROR(c.tensor("missing"), "llmc.io.115");
}

TEST_CASE("a single shard is written as model.safetensors without an index") {
  const std::vector<float> w = {1, 2, 3};
  iotest::temp_dir tmp;
  const auto r = write_sharded_safetensors(tmp.path, std::vector<tensor_ref>{tensor_ref::of<float>("w", w, {3})});
  CHECK_FALSE(r.sharded);
  CHECK(r.files == std::vector<std::string>{"model.safetensors"});
  CHECK(fs::exists(tmp / "model.safetensors"));
  CHECK_FALSE(fs::exists(tmp / "model.safetensors.index.json"));
  auto c = safetensors_checkpoint::open(tmp.path);
  CHECK_FALSE(c.sharded());
  CHECK(c.tensor("w").to_vector<float>() == w);
  CHECK(c.files().front().metadata() == std::map<std::string, std::string>{{"format", "pt"}});
}
