// The device executor of oneshot (pipeline/device_executor.hpp, `llmc oneshot --device cuda`)
// run on the host: oneshot_on(host_dense_policy) executes the device code path — the device
// forward, device Hessians with padding masks, the Hessian's rescale after SmoothQuant, device
// GPTQ, the device activation cache with a budget — with Thrust's host system, and is compared
// with the CPU pipeline on the fixture model (stories260K).
// What must agree: the same modules, tensor names, dtypes, shapes and config.json bytes; the
// quantized weights equal except where the two forwards' summation orders (the device forward
// sums attention and norms in another order, ~1e-6 relative) move a value across a rounding
// boundary: at most a few per mille of the weights, each by at most one quantization step; and
// where the batches were cached (device or pinned) must not change a single byte.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "llmc/io/safetensors.hpp"
#include "llmc/method/device_policy.hpp"
#include "llmc/pipeline/oneshot_device.hpp"
#include "oneshot_fixture.hpp"

using namespace llmc;
namespace fs = std::filesystem;

namespace {

struct work_folder {
  fs::path path;
  work_folder() : path(fs::temp_directory_path() / ("llmc-device-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~work_folder() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
const fs::path& work_dir() {
  static const work_folder w;
  return w.path;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Padded batches: one sample per line of the calibration text, 4 per batch, up to 128 tokens.
oneshot_args padded_args(const std::string& name) {
  oneshot_args a = test_support::fixture_args(work_dir() / name, 128, 16, 4);
  a.data_format = dataset_format::text_lines;
  return a;
}

struct agreement {
  std::size_t values = 0;
  std::size_t moved = 0;   ///< values that moved by more than 2 % of a quantization step (a code changed)
  std::size_t drifted = 0; ///< values that moved by less (the scale itself moved, e.g. SmoothQuant's)
  double max_steps = 0.0;  ///< largest difference, in quantization steps
};

/// Group width of the W4A16 recipes below (g32, down_proj channel-wise) or of a channel scheme.
std::size_t w4a16_groups(const std::string& name, std::size_t cols) { return name.find("down_proj") != std::string::npos ? cols : 32; }
std::size_t channel_groups(const std::string&, std::size_t cols) { return cols; }

/// Compares the written weights of two runs module by module. A group's quantization step is
/// estimated as the smallest gap between two of its distinct values in run a (never smaller
/// than the true step; larger when no two adjacent levels occur).
template <class Groups>
agreement compare_weights(const oneshot_report& a, const oneshot_report& b, Groups&& group_width) {
  REQUIRE(a.weights.size() == b.weights.size());
  agreement g;
  for (const auto& [name, wa] : a.weights) {
    const auto it = b.weights.find(name);
    REQUIRE_MESSAGE(it != b.weights.end(), name);
    const matrix<float>& wb = it->second;
    REQUIRE(wa.rows() == wb.rows());
    REQUIRE(wa.cols() == wb.cols());
    const std::size_t gw = group_width(name, wa.cols());
    for (std::size_t r = 0; r < wa.rows(); ++r) {
      for (std::size_t c0 = 0; c0 < wa.cols(); c0 += gw) {
        const std::size_t c1 = std::min(wa.cols(), c0 + gw);
        std::vector<float> vals(&wa(r, c0), &wa(r, c0) + (c1 - c0));
        std::sort(vals.begin(), vals.end());
        float step = 0.0f;
        for (std::size_t j = 1; j < vals.size(); ++j)
          if (vals[j] > vals[j - 1] && (step == 0.0f || vals[j] - vals[j - 1] < step)) step = vals[j] - vals[j - 1];
        for (std::size_t c = c0; c < c1; ++c) {
          ++g.values;
          const float d = std::fabs(wa(r, c) - wb(r, c));
          if (d == 0.0f) continue;
          const double steps = step > 0.0f ? static_cast<double>(d / step) : 1e9;
          ++(steps > 0.02 ? g.moved : g.drifted);
          g.max_steps = std::max(g.max_steps, steps);
        }
      }
    }
  }
  return g;
}

void check_same_layout(const oneshot_report& host, const oneshot_report& dev) {
  CHECK(read_file(host.output / "config.json") == read_file(dev.output / "config.json"));
  const auto th = safetensors_file::open(host.output / "model.safetensors");
  const auto td = safetensors_file::open(dev.output / "model.safetensors");
  REQUIRE(th.names() == td.names());
  for (const auto& n : th.names()) {
    CHECK_MESSAGE(th.info(n).dtype == td.info(n).dtype, n);
    CHECK_MESSAGE(th.info(n).shape == td.info(n).shape, n);
  }
  CHECK(host.quantized_linears == dev.quantized_linears);
  CHECK(host.calibration_tokens == dev.calibration_tokens);
}

oneshot_report run_pair(const char* recipe_text, const std::string& name, oneshot_report& host) {
  const pipeline::recipe r = pipeline::parse_recipe(recipe_text, name);
  host = oneshot(padded_args(name + "-host"), r);
  const oneshot_report dev = oneshot_on(host_dense_policy{}, padded_args(name + "-device"), r, {}, "host-policy");
  CHECK(host.executor == "cpu");
  CHECK(dev.executor == "host-policy");
  check_same_layout(host, dev);
  return dev;
}

const char* const w4a16_gptq = R"(
quant_stage:
  quant_modifiers:
    GPTQModifier:
      ignore: [lm_head]
      config_groups:
        group_0:
          targets: ["re:.*(q|k|v|o|gate|up)_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 32}
        group_1:
          targets: ["re:.*down_proj$"]
          weights: {num_bits: 4, type: int, symmetric: true, strategy: channel}
      actorder: static
)";

}  // namespace

TEST_CASE("device executor on the host: W4A16 GPTQ agrees with the CPU pipeline (padded batches)") {
  oneshot_report host;
  const oneshot_report dev = run_pair(w4a16_gptq, "w4a16", host);
  const agreement g = compare_weights(host, dev, w4a16_groups);
  MESSAGE("W4A16 GPTQ: " << g.moved << " of " << g.values << " weights moved, " << g.drifted << " drifted, at most "
                         << g.max_steps << " step(s)");
  CHECK(g.values == 226560);
  CHECK(static_cast<double>(g.moved) <= 0.005 * static_cast<double>(g.values));
  CHECK(g.max_steps <= 1.05);
}

TEST_CASE("device executor on the host: SmoothQuant + GPTQ W8A8 (the device Hessian follows the smoothing)") {
  oneshot_report host;
  const oneshot_report dev = run_pair(test_support::w8a8_recipe, "w8a8", host);
  const agreement g = compare_weights(host, dev, channel_groups);
  MESSAGE("W8A8 SQ+GPTQ: " << g.moved << " of " << g.values << " weights moved, " << g.drifted << " drifted, at most "
                           << g.max_steps << " step(s)");
  // SmoothQuant's scales come from per-channel maxima that follow the forward's rounding: the
  // smoothed weights (and so every quantization scale of q/k/v, gate/up) drift by a few ulps.
  CHECK(static_cast<double>(g.moved) <= 0.005 * static_cast<double>(g.values));
  CHECK(g.max_steps <= 1.05);
  // The input scales come from the per-channel min/max the device executor collected.
  const auto th = safetensors_file::open(host.output / "model.safetensors");
  const auto td = safetensors_file::open(dev.output / "model.safetensors");
  std::size_t scales = 0;
  for (const auto& n : th.names())
    if (n.find("weight_scale") != std::string::npos) ++scales;
  CHECK(scales == 35);
}

TEST_CASE("device executor on the host: where the batches are cached does not change a byte") {
  const pipeline::recipe r = pipeline::parse_recipe(w4a16_gptq, "w4a16");
  const oneshot_report all = oneshot_on(host_dense_policy{}, padded_args("cache-all"), r);
  device_oneshot_options o;
  o.device_cache_limit = 1;  // every batch past the first byte stays in (pinned) host memory
  const oneshot_report pinned = oneshot_on(host_dense_policy{}, padded_args("cache-pinned"), r, o);
  CHECK(all.pinned_cache_bytes == 0);
  CHECK(all.device_cache_bytes > 0);
  CHECK(pinned.pinned_cache_bytes == all.device_cache_bytes);
  CHECK(pinned.device_cache_bytes == 0);
  CHECK(read_file(all.output / "model.safetensors") == read_file(pinned.output / "model.safetensors"));
}

TEST_CASE("device executor on the host: bf16 Hessian inputs stay close to fp32") {
  const pipeline::recipe r = pipeline::parse_recipe(w4a16_gptq, "w4a16");
  const oneshot_report f32 = oneshot_on(host_dense_policy{}, padded_args("h-fp32"), r);
  device_oneshot_options o;
  o.bf16_hessian = true;
  const oneshot_report b16 = oneshot_on(host_dense_policy{}, padded_args("h-bf16"), r, o);
  const agreement g = compare_weights(f32, b16, w4a16_groups);
  MESSAGE("bf16 vs fp32 Hessian inputs: " << g.moved << " of " << g.values << " weights moved, at most " << g.max_steps
                                          << " step(s)");
  // Rounding the inputs to bf16 changes H by ~2^-9 relative: some of GPTQ's choices move.
  CHECK(g.moved > 0);
  CHECK(static_cast<double>(g.moved) <= 0.10 * static_cast<double>(g.values));
}
