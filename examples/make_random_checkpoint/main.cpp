// make_random_checkpoint — writes a Hugging Face model folder with random weights.
//
//   llmc_make_random_checkpoint [--config config.json] [--layers N] [--dtype bf16|f16|f32]
//                               [--seed S] [--replace] [--check] OUTPUT_DIR
//
// Without --config the folder is TinyLlama-1.1B-shaped (22 layers, hidden 2048, 32/4 heads, SwiGLU
// 5632, vocabulary 32000, untied): the model of the forward-pass benchmark. --layers keeps every
// shape but the depth. --check loads the folder back with llmc::causal_lm and runs BOS through it.
// The output is a deterministic function of the config, dtype and seed (llmc/model/random_checkpoint.hpp).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "llmc/io/model_directory.hpp"
#include "llmc/model/causal_lm.hpp"
#include "llmc/model/random_checkpoint.hpp"

namespace {

int usage() {
  std::fputs(
      "usage: llmc_make_random_checkpoint [--config config.json] [--layers N] [--dtype bf16|f16|f32]\n"
      "                                   [--seed S] [--replace] [--check] OUTPUT_DIR\n"
      "Writes config.json, generation_config.json and model.safetensors with random weights\n"
      "(TinyLlama-1.1B-shaped unless --config names another config.json).\n",
      stderr);
  return 2;
}

/// FNV-1a 64 of a file: a short fingerprint that shows the output is reproducible.
std::uint64_t fnv1a64(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> buf(1 << 20);
  std::uint64_t h = 0xcbf29ce484222325ULL;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[static_cast<std::size_t>(i)]);
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    nlohmann::json config = llmc::tinyllama_1b_config();
    llmc::random_checkpoint_options opt;
    long layers = -1;
    bool check = false;
    std::string out;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--config") {
        config = nlohmann::json::parse(llmc::read_text_file(value()));
      } else if (a == "--layers") {
        layers = std::stol(value());
      } else if (a == "--dtype") {
        const std::string d = value();
        if (d == "bf16") opt.weight_dtype = llmc::dtype::bf16;
        else if (d == "f16") opt.weight_dtype = llmc::dtype::f16;
        else if (d == "f32") opt.weight_dtype = llmc::dtype::f32;
        else throw std::runtime_error("--dtype must be bf16, f16 or f32");
      } else if (a == "--seed") {
        opt.seed = std::stoull(value());
      } else if (a == "--replace") {
        opt.replace = true;
      } else if (a == "--check") {
        check = true;
      } else if (a == "-h" || a == "--help") {
        return usage();
      } else if (!a.empty() && a[0] == '-') {
        std::fprintf(stderr, "unknown option %s\n", a.c_str());
        return usage();
      } else {
        out = a;
      }
    }
    if (out.empty()) return usage();
    if (layers > 0) config["num_hidden_layers"] = layers;
    llmc::write_random_checkpoint(out, config, opt);

    const llmc::model_directory dir = llmc::model_directory::open(out);
    std::uint64_t params = 0, bytes = 0;
    for (const auto& name : dir.tensor_names()) {
      const auto v = dir.tensor(name);
      params += v.numel();
      bytes += v.bytes.size();
    }
    std::printf("%s: %zu tensors, %llu parameters, %llu bytes of weights, fnv1a64 %016llx", dir.config().architecture.c_str(),
                dir.tensor_names().size(), static_cast<unsigned long long>(params), static_cast<unsigned long long>(bytes),
                static_cast<unsigned long long>(fnv1a64(dir.weight_files().front())));
    if (check) {
      const llmc::causal_lm m = llmc::causal_lm::load(dir);
      const std::vector<std::int32_t> bos{static_cast<std::int32_t>(dir.config().bos_token_id.value_or(0))};
      const llmc::matrix<float> logits = m.forward(bos, 1, 1);
      bool finite = true;
      for (float v : logits.storage()) finite = finite && std::isfinite(v);
      std::printf("; runs: logits[0] %s", finite ? "finite" : "NOT finite");
      if (!finite) {
        std::printf("\n");
        return 1;
      }
    }
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmc_make_random_checkpoint: %s\n", e.what());
    return 1;
  }
}
