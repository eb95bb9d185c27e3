// llmc — the command line of llmc: LLM Compressor's oneshot in C++.
//
//   llmc oneshot [--model DIR] [--dataset FILE] [--recipe FILE | --scheme NAME [--method gptq|rtn|awq]
//                [--smoothquant S]] [--output DIR] [--max-seq-length N] [--num-calibration-samples N]
//                [--seed N] [--replace] [--concatenate-data] [--activation-cache-limit SIZE]
//                [--device cpu|cuda [--cuda-device N] [--device-cache-limit SIZE] [--bf16-hessian] [--tf32]]
//   llmc eval --model DIR [--text FILE] [--reference DIR]
//   llmc inspect DIR
//
// With no arguments `llmc oneshot` compresses the bundled stories260k model with the W8A8 recipe
// of the reference's examples (SmoothQuant 0.8 + GPTQ W8A8, lm_head ignored), calibrating on the
// bundled TinyStories text, and prints the held-out perplexity before and after.
// Exit codes: 0 success, 2 bad command line, 3 bad recipe/configuration, 4 file or I/O error,
// 5 numeric problem in the model (NaN/Inf), 1 anything else.
#include <CLI/CLI.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "llmc/core/progress.hpp"
#include "llmc/model/evaluate.hpp"
#include "llmc/pipeline/compressed_model.hpp"
#include "llmc/pipeline/oneshot.hpp"
#include "llmc/pipeline/registry.hpp"
#include "llmc/text/dataset_windows.hpp"
#include "llmc/text/tokenizer.hpp"
#if LLMC_CLI_CUDA
#include "oneshot_cuda.hpp"
#endif

namespace fs = std::filesystem;

namespace {

const fs::path example_dir = LLMC_EXAMPLE_DIR;

struct oneshot_cli {
  std::string model = (example_dir / "models" / "stories260k").string();
  std::string dataset = (example_dir / "data" / "calibration.txt").string();
  std::string dataset_format = "auto";
  std::string recipe, scheme = "W8A8", method = "gptq", output, eval_text = (example_dir / "data" / "heldout.txt").string();
  std::vector<std::string> ignore{"lm_head"};
  float smoothquant = -1.0f;
  std::int64_t max_seq_length = 512;
  std::size_t samples = 512, batch_size = 4;
  std::uint64_t seed = 42;
  bool replace = false, no_eval = false, no_shuffle = false, concatenate = false;
  std::string cache_limit = "0";
  std::string device = "cpu", device_cache_limit = "0";
  int cuda_device = 0;
  bool bf16_hessian = false, tf32 = false;
};

/// "512M", "2G", "1.5GiB", "1000000": bytes (K/M/G are powers of 1024).
std::uint64_t parse_size(const std::string& s, const char* flag = "--activation-cache-limit") {
  std::size_t end = 0;
  double v = 0.0;
  try {
    v = std::stod(s, &end);
  } catch (const std::exception&) {
    throw CLI::ValidationError(flag, "expected a size like 512M or 2G, got '" + s + "'");
  }
  std::string unit = s.substr(end);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double mul = 1.0;
  if (unit == "" || unit == "B") mul = 1.0;
  else if (unit == "K" || unit == "KB" || unit == "KIB") mul = 1024.0;
  else if (unit == "M" || unit == "MB" || unit == "MIB") mul = 1024.0 * 1024.0;
  else if (unit == "G" || unit == "GB" || unit == "GIB") mul = 1024.0 * 1024.0 * 1024.0;
  else throw CLI::ValidationError(flag, "unknown unit '" + unit + "' (use K, M or G)");
  if (!(v >= 0.0)) throw CLI::ValidationError(flag, "the limit must be >= 0");
  return static_cast<std::uint64_t>(v * mul);
}

std::string fmt_args(const llmc::quant_args& a) {
  if (!a.enabled()) return "none";
  std::string s = std::string(a.is_int() ? "int" : "float") + std::to_string(a.num_bits) + " " +
                  std::string(llmc::to_string(a.strategy));
  if (a.group_size > 0) s += " " + std::to_string(a.group_size);
  s += a.symmetric ? " sym" : " asym";
  if (a.dynamic == llmc::quant_dynamic::dynamic) s += " dynamic";
  else if (a.dynamic == llmc::quant_dynamic::local) s += " local";
  if (a.actorder != llmc::act_order::none) s += " actorder=" + std::string(llmc::to_string(a.actorder));
  return s;
}

/// The recipe of --scheme/--method/--smoothquant, in LLM Compressor's YAML format.
std::string recipe_from_flags(const oneshot_cli& o) {
  if (!llmc::pipeline::find_preset(o.scheme))
    throw CLI::ValidationError("--scheme", "unknown scheme " + o.scheme + " (valid: " + llmc::pipeline::preset_names() + ")");
  std::string ignore;
  for (const auto& i : o.ignore) ignore += (ignore.empty() ? "" : ", ") + ("\"" + i + "\"");
  std::string y = "oneshot_stage:\n  oneshot_modifiers:\n";
  if (o.smoothquant >= 0.0f) y += "    SmoothQuantModifier:\n      smoothing_strength: " + std::to_string(o.smoothquant) + "\n";
  std::string quantizer = "GPTQModifier";
  if (o.method == "rtn") quantizer = "QuantizationModifier";
  else if (o.method == "awq") {
    y += "    AWQModifier:\n      ignore: [" + ignore + "]\n";
    quantizer = "QuantizationModifier";
  } else if (o.method != "gptq") {
    throw CLI::ValidationError("--method", "must be gptq, rtn or awq, got " + o.method);
  }
  y += "    " + quantizer + ":\n      scheme: " + o.scheme + "\n      targets: [Linear]\n      ignore: [" + ignore + "]\n";
  return y;
}

llmc::dataset_format parse_format(const std::string& f, const std::string& path) {
  if (f == "lines") return llmc::dataset_format::text_lines;
  if (f == "document") return llmc::dataset_format::text_document;
  if (f == "json") return llmc::dataset_format::json;
  if (f == "jsonl") return llmc::dataset_format::jsonl;
  if (f != "auto") throw CLI::ValidationError("--dataset-format", "must be auto, lines, document, json or jsonl");
  // A plain text file is one document cut into max_seq_length chunks (the fixture's protocol).
  const auto ext = fs::path(path).extension();
  return ext == ".txt" || ext == ".text" ? llmc::dataset_format::text_document : llmc::dataset_format::automatic;
}

/// Held-out perplexity with the fixture protocol (one BOS, windows of 512, at most 32).
double heldout_perplexity(const fs::path& model, const fs::path& text, std::size_t window, std::size_t max_windows) {
  const llmc::evaluation_model em = llmc::load_evaluation_model(model);
  const auto tok = llmc::tokenizer::from_directory(model);
  const auto w = llmc::evaluation_windows_from_file(tok, text,
                                                    llmc::window_options{static_cast<std::int64_t>(window), 0, max_windows, true});
  std::vector<llmc::token_id> ids;
  for (const auto& win : w.windows) ids.insert(ids.end(), win.ids.begin(), win.ids.end());
  llmc::perplexity_options po;
  po.window = window;
  po.max_windows = max_windows;
  po.hooks = em.hooks();
  return llmc::perplexity(em.model, ids, po).perplexity;
}

int run_oneshot(oneshot_cli o) {
  if (o.device != "cuda") {  // a precision or placement flag that would do nothing must not pass silently
    std::string stray;
    if (o.tf32) stray += " --tf32";
    if (o.bf16_hessian) stray += " --bf16-hessian";
    if (o.cuda_device != 0) stray += " --cuda-device";
    if (o.device_cache_limit != "0") stray += " --device-cache-limit";
    if (!stray.empty())
      LLMC_THROW(llmc::config_error, "llmc.pipeline.152",
                 "--device " + o.device + " with" + stray + ": these options apply to --device cuda only; add --device cuda, or "
                 "leave them out to run on the CPU");
  }
  std::string recipe_text, origin;
  llmc::pipeline::recipe r;
  if (!o.recipe.empty()) r = llmc::pipeline::load_recipe(o.recipe);
  else {
    recipe_text = recipe_from_flags(o);
    r = llmc::pipeline::parse_recipe(recipe_text, "--scheme " + o.scheme + " --method " + o.method);
  }
  if (o.output.empty())
    o.output = "out/" + fs::path(o.model).filename().string() + "-" + (o.recipe.empty() ? o.scheme : fs::path(o.recipe).stem().string());
  llmc::oneshot_args a;
  a.model = o.model;
  a.dataset = o.dataset;
  a.data_format = parse_format(o.dataset_format, o.dataset);
  a.output_dir = o.output;
  a.max_seq_length = o.max_seq_length;
  a.num_calibration_samples = o.samples;
  a.batch_size = o.batch_size;
  a.seed = o.seed;
  a.shuffle_calibration_samples = !o.no_shuffle;
  a.concatenate_data = o.concatenate;
  a.replace = o.replace;
  a.activation_cache_limit = parse_size(o.cache_limit);
  a.progress = llmc::console_progress(stderr);
  std::printf("llmc oneshot: %s -> %s\nrecipe %s:", o.model.c_str(), o.output.c_str(), r.origin.c_str());
  for (const auto& m : r.modifiers) std::printf(" %s", std::string(llmc::pipeline::to_string(m.kind)).c_str());
  std::printf("\n");
  std::fflush(stdout);
  llmc::oneshot_report rep;
  if (o.device == "cuda") {
#if LLMC_CLI_CUDA
    llmc::device_oneshot_options d;
    d.bf16_hessian = o.bf16_hessian;
    d.tf32_forward = o.tf32;
    d.device_cache_limit = parse_size(o.device_cache_limit, "--device-cache-limit");
    d.device = o.cuda_device;
    rep = llmc::oneshot(a, r, [&](const llmc::decoder_spec& spec) { return llmc_cli::make_cuda_executor(spec, d); });
#else
    LLMC_THROW(llmc::config_error, "llmc.pipeline.151",
               "--device cuda: this llmc was built without CUDA (CMake found no nvcc); install the CUDA toolkit and "
               "reconfigure (cmake -S . -B build), or leave out --device cuda to run on the CPU");
#endif
  } else {
    rep = llmc::oneshot(a, r);
  }
  for (const auto& w : rep.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  std::printf("\nsummary\n  output            %s (%.2f MB of tensors)\n", rep.output.c_str(), static_cast<double>(rep.bytes_written) / 1e6);
  std::printf("  layers            %zu, Linears quantized %zu, dense %zu\n", rep.layers, rep.quantized_linears, rep.dense_linears);
  std::printf("  calibration       %zu samples, %zu tokens, %.2fs\n", rep.calibration_samples, rep.calibration_tokens, rep.calibration_seconds);
  double load = 0.0, stats = 0.0, methods = 0.0, write = 0.0, propagate = 0.0;
  for (const auto& l : rep.per_layer) {
    std::printf("  layer %-3zu         %.3fs, %zu quantized, %zu dense\n", l.index, l.seconds, l.quantized, l.dense);
    load += l.load_seconds;
    stats += l.statistics_seconds;
    methods += l.methods_seconds;
    write += l.write_seconds;
    propagate += l.propagate_seconds;
  }
  if (!rep.per_layer.empty())
    std::printf("  layer phases      load %.2fs, statistics %.2fs, methods %.2fs, writing %.2fs, propagation %.2fs\n", load,
                stats, methods, write, propagate);
  if (rep.spilled_batches > 0)
    std::printf("  activation cache  %.1f MB, %.1f MB of it (%zu batches) spilled to a temporary file\n",
                static_cast<double>(rep.activation_cache_bytes) / 1e6, static_cast<double>(rep.spilled_bytes) / 1e6, rep.spilled_batches);
  if (rep.executor != "cpu")
    std::printf("  device            %s; calibration batches: %.1f MB in device memory, %.1f MB in pinned host memory\n",
                rep.executor.c_str(), static_cast<double>(rep.device_cache_bytes) / 1e6,
                static_cast<double>(rep.pinned_cache_bytes) / 1e6);
  std::printf("  total             %.2fs\n", rep.total_seconds);
  if (!o.no_eval && !o.eval_text.empty()) {
    const double before = heldout_perplexity(o.model, o.eval_text, 512, 32);
    const double after = heldout_perplexity(rep.output, o.eval_text, 512, 32);
    std::printf("perplexity on %s: fp32 %.5f, compressed %.5f (%+.2f%%)\n", fs::path(o.eval_text).filename().c_str(), before,
                after, 100.0 * (after / before - 1.0));
  }
  return 0;
}

int run_eval(const std::string& model, const std::string& text, const std::string& reference, std::size_t window,
             std::size_t max_windows) {
  const double p = heldout_perplexity(model, text, window, max_windows);
  std::printf("%s: perplexity %.5f on %s (windows of %zu, at most %zu)\n", model.c_str(), p, text.c_str(), window, max_windows);
  if (!reference.empty()) {
    const llmc::evaluation_model ref = llmc::load_evaluation_model(reference), cand = llmc::load_evaluation_model(model);
    const auto tok = llmc::tokenizer::from_directory(reference);
    const auto w = llmc::evaluation_windows_from_file(tok, text, llmc::window_options{static_cast<std::int64_t>(window), 0, max_windows, true});
    std::vector<llmc::token_id> ids;
    for (const auto& win : w.windows) ids.insert(ids.end(), win.ids.begin(), win.ids.end());
    llmc::kl_options ko;
    ko.window = window;
    ko.max_windows = max_windows;
    ko.reference_hooks = ref.hooks();
    ko.candidate_hooks = cand.hooks();
    const auto kl = llmc::kl_divergence(ref.model, cand.model, ids, ko);
    std::printf("KL(reference || model) mean %.6f nats, max %.6f, top-1 agreement %.4f over %zu positions\n", kl.mean_kl, kl.max_kl,
                kl.top1_agreement, kl.positions);
  }
  return 0;
}

int run_inspect(const std::string& dir) {
  const llmc::compressed_checkpoint cc = llmc::compressed_checkpoint::open(dir);
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;
  for (const auto& n : cc.tensors().names()) {
    ++tensors;
    bytes += cc.tensors().info(n).nbytes();
  }
  std::printf("%s: %zu tensors, %.2f MB\n", dir.c_str(), tensors, static_cast<double>(bytes) / 1e6);
  if (!cc.is_compressed()) {
    std::printf("no quantization_config: a dense checkpoint\n");
    return 0;
  }
  const auto& qc = cc.quantization_config();
  std::printf("quantization_config: format %s, status %s, compressed-tensors %s\n", std::string(llmc::to_string(qc.format)).c_str(),
              qc.quantization_status.c_str(), qc.version.text.c_str());
  for (const auto& g : qc.config_groups) {
    std::string t;
    for (const auto& x : g.targets) t += (t.empty() ? "" : ", ") + x;
    std::printf("  %s: targets [%s]\n    weights %s; input activations %s\n", g.name.c_str(), t.c_str(),
                fmt_args(g.scheme.weights).c_str(), fmt_args(g.scheme.input_activations).c_str());
  }
  std::string ig;
  for (const auto& x : qc.ignore) ig += (ig.empty() ? "" : ", ") + x;
  std::printf("  ignore [%s]\n", ig.c_str());
  std::size_t quantized = 0, dense = 0;
  for (const auto& m : cc.modules()) {
    const auto type = llmc::ct_default_module_type(m);
    if (type != "Linear") continue;
    const llmc::ct_module_info mi = cc.info(m, type);
    const llmc::matrix<float> w = cc.decompress(m, type);  // proves the module decodes
    std::printf("  %-36s %-16s %-18s [%zu, %zu]\n", m.c_str(), mi.group ? qc.config_groups[*mi.group].name.c_str() : "dense",
                std::string(llmc::to_string(mi.format)).c_str(), w.rows(), w.cols());
    (mi.group ? quantized : dense) += 1;
  }
  std::printf("%zu Linear(s) quantized, %zu dense\n", quantized, dense);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"llmc: compress Hugging Face checkpoints into compressed-tensors checkpoints (LLM Compressor's oneshot in C++)"};
  app.require_subcommand(1);
  app.footer("Exit codes: 0 success, 2 bad command line, 3 bad recipe/configuration, 4 file or I/O error, 5 NaN/Inf in the model, 1 other.");

  oneshot_cli o;
  auto* one = app.add_subcommand("oneshot", "Apply a recipe layer by layer and write a compressed checkpoint. With no "
                                            "arguments: the bundled stories260k model, W8A8 (SmoothQuant 0.8 + GPTQ).");
  one->add_option("--model", o.model, "Hugging Face model folder")->capture_default_str();
  one->add_option("--dataset", o.dataset, "calibration file (.txt, .json, .jsonl)")->capture_default_str();
  one->add_option("--dataset-format", o.dataset_format, "auto (a .txt is one document), lines, document, json, jsonl")->capture_default_str();
  auto* recipe = one->add_option("--recipe", o.recipe, "LLM Compressor recipe (YAML/JSON)");
  one->add_option("--scheme", o.scheme, "preset scheme: " + llmc::pipeline::preset_names())->capture_default_str()->excludes(recipe);
  one->add_option("--method", o.method, "gptq, rtn or awq (with --scheme)")->capture_default_str()->excludes(recipe);
  one->add_option("--smoothquant", o.smoothquant, "add SmoothQuant with this strength first (default: 0.8 when no --scheme/--method/--recipe is given, else none)")->excludes(recipe);
  one->add_option("--ignore", o.ignore, "modules left dense (with --scheme)")->capture_default_str()->excludes(recipe);
  one->add_option("--output", o.output, "output folder (default out/<model>-<scheme>)");
  one->add_option("--max-seq-length", o.max_seq_length, "tokens per calibration sample")->capture_default_str();
  one->add_option("--num-calibration-samples", o.samples, "calibration samples")->capture_default_str();
  one->add_option("--batch-size", o.batch_size, "calibration samples per forward")->capture_default_str();
  one->add_option("--seed", o.seed, "shuffle seed")->capture_default_str();
  one->add_flag("--no-shuffle", o.no_shuffle, "calibrate on the first samples, in file order");
  one->add_flag("--concatenate-data", o.concatenate,
                "join the samples and cut them into max-seq-length windows (every sample full length, no padding)");
  one->add_flag("--replace", o.replace, "replace an existing output folder");
  one->add_option("--activation-cache-limit", o.cache_limit,
                  "memory for the cached calibration hidden states (e.g. 256M, 1G; 0 = no limit); the rest spills to a "
                  "temporary file beside the output folder, deleted at the end")->capture_default_str();
  one->add_option("--device", o.device, "where the calibration forward, Hessians and GPTQ run: cpu, or cuda (an NVIDIA GPU)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  one->add_option("--cuda-device", o.cuda_device, "CUDA device ordinal (with --device cuda)")->capture_default_str();
  one->add_option("--device-cache-limit", o.device_cache_limit,
                  "device memory for the cached calibration batches (0 = free memory minus one layer's needs); the rest "
                  "stays in pinned host memory (with --device cuda)")->capture_default_str();
  one->add_flag("--bf16-hessian", o.bf16_hessian, "bf16 inputs to the Hessian GEMMs, fp32 accumulation (with --device cuda)");
  one->add_flag("--tf32", o.tf32, "TF32 tensor cores for the calibration forward's GEMMs (with --device cuda)");
  one->add_option("--eval-text", o.eval_text, "held-out text for perplexity before/after")->capture_default_str();
  one->add_flag("--no-eval", o.no_eval, "skip the perplexity before/after");

  std::string model, text = (example_dir / "data" / "heldout.txt").string(), reference;
  std::size_t window = 512, max_windows = 32;
  auto* ev = app.add_subcommand("eval", "Perplexity of a model folder (compressed or not) on a text, and KL against a reference.");
  ev->add_option("--model", model, "model folder")->required();
  ev->add_option("--text", text, "text file")->capture_default_str();
  ev->add_option("--reference", reference, "reference model folder for KL divergence");
  ev->add_option("--window", window, "tokens per window")->capture_default_str();
  ev->add_option("--max-windows", max_windows, "windows evaluated (0: all)")->capture_default_str();

  std::string dir;
  auto* in = app.add_subcommand("inspect", "What a checkpoint holds: tensors, config groups, scheme and format of each Linear.");
  in->add_option("dir", dir, "checkpoint folder")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    if (*one) {
      // The bundled example's recipe (the reference's W8A8 example): SmoothQuant 0.8 before GPTQ.
      if (one->count("--scheme") + one->count("--method") + one->count("--smoothquant") + one->count("--recipe") == 0)
        o.smoothquant = 0.8f;
      return run_oneshot(o);
    }
    if (*ev) return run_eval(model, text, reference, window, max_windows);
    if (*in) return run_inspect(dir);
  } catch (const CLI::Error& e) {
    std::fprintf(stderr, "llmc: %s\n", e.what());
    return 2;
  } catch (const llmc::config_error& e) {
    std::fprintf(stderr, "llmc: %s\n", e.what());
    return 3;
  } catch (const llmc::io_error& e) {
    std::fprintf(stderr, "llmc: %s\n", e.what());
    return 4;
  } catch (const llmc::numeric_error& e) {
    std::fprintf(stderr, "llmc: %s\n", e.what());
    return 5;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmc: %s\n", e.what());
    return 1;
  }
  return 0;
}
