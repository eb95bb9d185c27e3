// output_directory: nothing partial is ever visible, existing outputs are protected, inputs are
// never touched.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "io_test_util.hpp"
#include "llmc/io/model_directory.hpp"
#include "llmc/io/output_directory.hpp"
#include "llmc/io/safetensors_writer.hpp"

using namespace llmc;
using iotest::fixtures;
namespace fs = std::filesystem;

namespace {
/// Names of the entries of `dir` (not recursive).
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

/// Every file under `dir` with its bytes, for before/after comparisons.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = iotest::read_string(e.path());
  }
  return out;
}
}  // namespace

TEST_CASE("a committed output appears complete under the target name") {
  iotest::temp_dir tmp;
  const auto target = tmp / "out";
  {
    output_directory out(target);
    CHECK(out.target() == fs::weakly_canonical(target));
    CHECK(out.staging().parent_path() == out.target().parent_path());
    CHECK(out.staging().filename().string().rfind(".out.tmp-", 0) == 0);
    CHECK(fs::is_directory(out.staging()));
    CHECK_FALSE(fs::exists(target));
    out.write_file("config.json", "{}\n");
    out.write_file("sub/dir/notes.txt", "hello");
    const std::vector<float> w = {1, 2, 3};
    write_safetensors(out.file("model.safetensors"), std::vector<tensor_ref>{tensor_ref::of<float>("w", w, {3})});
    const auto copied = out.copy_passthrough_files(fixtures / "models/stories260k");
    CHECK(copied.size() == 5);
    CHECK_FALSE(fs::exists(target));  // nothing visible before commit
    out.commit();
    CHECK(out.committed());
    CHECK_FALSE(fs::exists(out.staging()));
    CHECK_IO_ERROR(out.commit(), "llmc.io.163");
    CHECK_IO_ERROR(out.write_file("late.txt", "x"), "llmc.io.163");
  }
  CHECK(entries(target) == std::vector<std::string>{"config.json", "generation_config.json", "model.safetensors",
                                                    "special_tokens_map.json", "sub", "tokenizer.json",
                                                    "tokenizer.model", "tokenizer_config.json"});
  CHECK(iotest::read_string(target / "sub/dir/notes.txt") == "hello");
  // Copied files are byte-identical.
  for (const char* n : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                        "generation_config.json"}) {
    CHECK(iotest::read_string(target / n) == iotest::read_string(fixtures / "models/stories260k" / n));
  }
  // Only the target is left in the parent: no staging or backup folders.
  CHECK(entries(tmp.path) == std::vector<std::string>{"out"});
}

TEST_CASE("failure midway leaves nothing behind") {
  iotest::temp_dir tmp;
  const auto target = tmp / "out";
  try {
    output_directory out(target);
    out.write_file("config.json", "{}");
    const std::vector<float> w(1000, 1.0f);
    write_safetensors(out.file("model.safetensors"), std::vector<tensor_ref>{tensor_ref::of<float>("w", w, {1000})});
    throw std::runtime_error("quantization failed");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()) == "quantization failed");
  }
  CHECK_FALSE(fs::exists(target));
  CHECK(entries(tmp.path).empty());
  // An io error from inside the writer is no different.
  CHECK_IO_ERROR(([&] {
                   output_directory out(target);
                   const std::vector<float> w = {1.0f};
                   write_safetensors(out.file("model.safetensors"),
                                     std::vector<tensor_ref>{tensor_ref::of<float>("w", w, {2})});
                   out.commit();
                 }()),
                 "llmc.io.131");
  CHECK(entries(tmp.path).empty());
}

TEST_CASE("an existing output is refused unless replace is requested; replace swaps it whole") {
  iotest::temp_dir tmp;
  const auto target = tmp / "out";
  fs::create_directory(target);
  iotest::write_bytes(target / "old.txt", "old");
  CHECK_IO_ERROR(output_directory(target), "llmc.io.160");
  CHECK(iotest::read_string(target / "old.txt") == "old");
  CHECK(entries(tmp.path) == std::vector<std::string>{"out"});
  {
    output_options opt;
    opt.replace = true;
    output_directory out(target, opt);
    out.write_file("new.txt", "new");
    // Until commit the old output is untouched.
    CHECK(iotest::read_string(target / "old.txt") == "old");
    out.commit();
  }
  CHECK(entries(target) == std::vector<std::string>{"new.txt"});
  CHECK(entries(tmp.path) == std::vector<std::string>{"out"});
  {
    // Replace that fails midway keeps the previous output.
    output_options opt;
    opt.replace = true;
    try {
      output_directory out(target, opt);
      out.write_file("newer.txt", "x");
      throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
  }
  CHECK(entries(target) == std::vector<std::string>{"new.txt"});
  CHECK(entries(tmp.path) == std::vector<std::string>{"out"});
  // A file in the way is never replaced by a folder.
  iotest::write_bytes(tmp / "afile", "x");
  output_options opt;
  opt.replace = true;
  CHECK_IO_ERROR(output_directory(tmp / "afile", opt), "llmc.io.160");
}

TEST_CASE("a target that appears during writing is not overwritten") {
  iotest::temp_dir tmp;
  const auto target = tmp / "out";
  output_directory out(target);
  out.write_file("a.txt", "ours");
  fs::create_directory(target);
  iotest::write_bytes(target / "theirs.txt", "theirs");
  CHECK_IO_ERROR(out.commit(), "llmc.io.160");
  CHECK(entries(target) == std::vector<std::string>{"theirs.txt"});
}

TEST_CASE("the input folder is never the output, inside it, or inside the output") {
  iotest::temp_dir tmp;
  const auto input = tmp / "model";
  fs::create_directory(input);
  for (const auto& e : fs::directory_iterator(fixtures / "models/stories260k")) {
    fs::copy_file(e.path(), input / e.path().filename());
  }
  const auto before = snapshot(input);
  output_options opt;
  opt.inputs = {input};
  CHECK_IO_ERROR(output_directory(input, opt), "llmc.io.161");
  CHECK_IO_ERROR(output_directory(input / "quantized", opt), "llmc.io.161");
  CHECK_IO_ERROR(output_directory(tmp / "model/./sub/../q", opt), "llmc.io.161");
  CHECK_IO_ERROR(output_directory(input.string() + "/", opt), "llmc.io.161");
  opt.replace = true;
  CHECK_IO_ERROR(output_directory(input, opt), "llmc.io.161");
  CHECK_IO_ERROR(output_directory(tmp.path, opt), "llmc.io.161");  // replacing the parent would delete the input
  // Through a symlink to the input.
  fs::create_directory_symlink(input, tmp / "link");
  CHECK_IO_ERROR(output_directory(tmp / "link", opt), "llmc.io.161");
  CHECK_IO_ERROR(output_directory(tmp / "link/q", opt), "llmc.io.161");
  // A sibling folder whose name starts like the input's is fine.
  {
    output_directory out(tmp / "model-w4a16", opt);
    const auto src = model_directory::open(input);
    out.write_file("config.json", src.config().to_json());
    out.copy_passthrough_files(input);
    out.commit();
  }
  CHECK(fs::exists(tmp / "model-w4a16/tokenizer.json"));
  CHECK(snapshot(input) == before);
}

TEST_CASE("relative names stay inside the output") {
  iotest::temp_dir tmp;
  output_directory out(tmp / "out");
  CHECK_IO_ERROR(out.file("../escape.txt"), "llmc.io.164");
  CHECK_IO_ERROR(out.file("/etc/passwd"), "llmc.io.164");
  CHECK_IO_ERROR(out.file(""), "llmc.io.164");
  CHECK_IO_ERROR(out.file("a/../../b"), "llmc.io.164");
  CHECK_IO_ERROR(out.copy_file(tmp / "missing.json"), "llmc.io.101");
  CHECK(out.file("a/b.txt") == out.staging() / "a/b.txt");
  CHECK(fs::is_directory(out.staging() / "a"));
}
