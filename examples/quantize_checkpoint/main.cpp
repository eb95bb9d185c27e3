// quantize_checkpoint — round-to-nearest compression of a Hugging Face checkpoint into a
// compressed-tensors checkpoint, walking its Linear layers with one scheme.
//
//   quantize_checkpoint [--model DIR] [--output DIR] [--scheme W4A16|W8A8|FP8_DYNAMIC|NVFP4A16|...]
//                       [--group-size N] [--ct-version 0.18] [--replace]
//
// With no arguments it compresses the bundled stories260k model with INT4 groups of 32 (layers
// whose width does not divide by 32, like its 172-wide down_proj, go to a second, channel-wise
// config group) into ./out/stories260k-W4A16, reads the result back and checks that every module
// decompresses to exactly the weights it quantized. It teaches the library (model_directory,
// quantize_weight, compressed_checkpoint_writer, compressed_checkpoint) rather than the tool.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "llmc/io.hpp"
#include "llmc/scheme.hpp"

namespace {
struct options {
  std::string model = LLMC_EXAMPLE_MODEL_DIR;
  std::string output;
  std::string scheme = "W4A16";
  int group_size = 32;
  std::string ct_version = "0.18";
  bool replace = false;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "quantize_checkpoint: %s\nusage: quantize_checkpoint [--model DIR] [--output DIR] [--scheme NAME] "
               "[--group-size N] [--ct-version 0.12|0.18] [--replace]\n", why);
  std::exit(2);
}

llmc::runtime_scheme preset(const std::string& name) {
  using namespace llmc::presets;
  static const std::map<std::string, llmc::runtime_scheme> table{
      {"W4A16", llmc::runtime_scheme::from(W4A16{})}, {"W4A16_ASYM", llmc::runtime_scheme::from(W4A16_ASYM{})},
      {"W8A16", llmc::runtime_scheme::from(W8A16{})}, {"W8A8", llmc::runtime_scheme::from(W8A8{})},
      {"W4A8", llmc::runtime_scheme::from(W4A8{})}, {"FP8_DYNAMIC", llmc::runtime_scheme::from(FP8_DYNAMIC{})},
      {"FP8_BLOCK", llmc::runtime_scheme::from(FP8_BLOCK{})}, {"NVFP4A16", llmc::runtime_scheme::from(NVFP4A16{})},
      {"MXFP4A16", llmc::runtime_scheme::from(MXFP4A16{})}};
  auto it = table.find(name);
  if (it == table.end()) usage(("unknown scheme " + name + " (W4A16, W4A16_ASYM, W8A16, W8A8, W4A8, FP8_DYNAMIC, FP8_BLOCK, NVFP4A16, MXFP4A16)").c_str());
  return it->second;
}

bool is_linear_weight(const std::string& name) {
  return name.find(".layers.") != std::string::npos && name.size() > 12 && name.ends_with("_proj.weight");
}

template <class T>
llmc::matrix<T> load(const llmc::tensor_view& v) {
  if (v.shape.size() != 2) usage(("tensor " + v.name + " is not a matrix").c_str());
  const auto rows = static_cast<std::size_t>(v.shape[0]), cols = static_cast<std::size_t>(v.shape[1]);
  if constexpr (std::is_same_v<T, float>) return llmc::matrix<float>(rows, cols, llmc::to_float32(v));
  else return llmc::matrix<T>(rows, cols, v.to_vector<T>());
}

double relative_error(const llmc::matrix<float>& a, const llmc::matrix<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a.data()[i]) - b.data()[i];
    num += d * d;
    den += static_cast<double>(a.data()[i]) * a.data()[i];
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}
}  // namespace

int main(int argc, char** argv) try {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--model") o.model = value();
    else if (a == "--output") o.output = value();
    else if (a == "--scheme") o.scheme = value();
    else if (a == "--group-size") o.group_size = std::stoi(value());
    else if (a == "--ct-version") o.ct_version = value();
    else if (a == "--replace") o.replace = true;
    else if (a == "--help" || a == "-h") usage("help");
    else usage(("unknown argument " + a).c_str());
  }
  llmc::runtime_scheme scheme = preset(o.scheme);
  if (scheme.weights.strategy == llmc::quant_strategy::group && o.group_size > 0) scheme.weights.group_size = o.group_size;
  llmc::runtime_scheme channel = scheme;  // for Linears whose width the group size does not divide
  if (channel.weights.strategy == llmc::quant_strategy::group && channel.weights.is_int()) {
    channel.weights.strategy = llmc::quant_strategy::channel;
    channel.weights.group_size = 0;
    channel.weights.actorder = llmc::act_order::none;
  }
  if (o.output.empty()) o.output = "out/" + std::filesystem::path(o.model).filename().string() + "-" + o.scheme;

  const auto t0 = std::chrono::steady_clock::now();
  const auto model = llmc::model_directory::open(o.model);
  llmc::ct_writer_options wo;
  wo.version = llmc::ct_version::parse(o.ct_version);
  wo.replace = o.replace;
  auto writer_ptr = llmc::compressed_checkpoint_writer::for_model(model, o.output, wo);
  auto& writer = *writer_ptr;
  const std::string divisible_target = "Linear";
  const std::size_t g_main = writer.add_config_group(scheme, {divisible_target});
  std::optional<std::size_t> g_channel;

  std::printf("model %s: %s, %zu tensors, dtype %s\nscheme %s -> %s (compressed-tensors %s)\n", o.model.c_str(),
              model.config().architecture.c_str(), model.tensor_names().size(), model.config().torch_dtype.c_str(),
              o.scheme.c_str(), o.output.c_str(), wo.version.text.c_str());
  std::map<std::string, llmc::matrix<float>> expected;  // module -> the weights the checkpoint must decompress to
  const auto names = model.tensor_names();
  std::size_t done = 0, total = 0;
  for (const auto& n : names) total += is_linear_weight(n) ? 1 : 0;
  for (const auto& name : names) {
    const auto v = model.tensor(name);
    if (!is_linear_weight(name)) {
      if (name == "lm_head.weight") writer.add_dense_module("lm_head", "Linear", llmc::tensor_ref::of(v));
      else writer.add_tensor(llmc::tensor_ref::of(v));
      continue;
    }
    const std::string module = name.substr(0, name.size() - 7);
    const auto cols = static_cast<std::size_t>(v.shape[1]);
    const bool fits = llmc::check_shape_fits(scheme.weights, static_cast<std::size_t>(v.shape[0]), cols).empty();
    std::size_t group = g_main;
    llmc::runtime_scheme used = scheme;
    if (!fits) {
      if (!g_channel) g_channel = writer.add_config_group(channel, {"re:.*" + module.substr(module.rfind('.') + 1) + "$"});
      group = *g_channel;
      used = channel;
    }
    llmc::matrix<float> original, fq;
    llmc::quantized_tensor q;
    if (v.dtype == llmc::dtype::bf16) {
      const auto w = load<llmc::bfloat16>(v);
      original = llmc::matrix<float>::from(w, [](llmc::bfloat16 x) { return static_cast<float>(x); });
      q = llmc::quantize_weight(used, w);
      fq = llmc::matrix<float>::from(llmc::dequantize<llmc::bfloat16>(q), [](llmc::bfloat16 x) { return static_cast<float>(x); });
    } else {
      original = load<float>(v);
      q = llmc::quantize_weight(used, original);
      fq = llmc::dequantize<float>(q);
    }
    const auto fmt = writer.add_quantized(module, group, q);
    ++done;
    std::printf("[%2zu/%zu] %-40s %-18s [%zu, %zu]  rel. error %.4f\n", done, total, module.c_str(),
                std::string(llmc::to_string(fmt)).c_str(), original.rows(), original.cols(), relative_error(original, fq));
    expected.emplace(module, std::move(fq));
  }
  const auto result = writer.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %zu file(s), %llu bytes of tensors, format %s, in %.2fs\n", result.path.c_str(), result.files.size(),
              static_cast<unsigned long long>(result.total_size), std::string(llmc::to_string(result.quantization_config.format)).c_str(), secs);

  // Read the checkpoint back and check every module decompresses to the weights quantized above.
  const auto back = llmc::compressed_checkpoint::open(result.path);
  std::size_t equal = 0;
  for (const auto& [module, w] : expected) {
    const auto d = back.decompress(module);
    if (d.rows() == w.rows() && d.cols() == w.cols() && std::memcmp(d.data(), w.data(), w.size() * sizeof(float)) == 0) ++equal;
    else std::printf("MISMATCH in %s\n", module.c_str());
  }
  if (equal != expected.size()) {
    std::printf("read back: %zu of %zu modules differ from their fake-quantized weights\n", expected.size() - equal, expected.size());
    return 1;
  }
  std::printf("read back: %zu modules, every one equal to its fake-quantized weight\n", expected.size());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "quantize_checkpoint: %s\n", e.what());
  return 1;
}
