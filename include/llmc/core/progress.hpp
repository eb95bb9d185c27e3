// llmc/core/progress.hpp — progress of long jobs: step i of N, rate and time left.
//
// Long operations (oneshot's layer loop, tokenizing a dataset, evaluation) take a progress_sink;
// the library never prints by itself. console_progress writes one line per update to a stream
// ("layer 3/22  [model.layers.2]  0.41 layers/s  ETA 46s"), which the command line uses.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

namespace llmc {

struct progress_event {
  std::string task;     ///< e.g. "layer", "calibration", "eval"
  std::size_t done = 0; ///< steps finished
  std::size_t total = 0;
  std::string detail;   ///< e.g. the layer name
  double elapsed_s = 0; ///< since the task started
  [[nodiscard]] double rate() const noexcept { return elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0; }
  [[nodiscard]] double eta_s() const noexcept {
    const double r = rate();
    return r > 0 && total >= done ? static_cast<double>(total - done) / r : 0.0;
  }
};

using progress_sink = std::function<void(const progress_event&)>;

/// Tracks one task and forwards updates to a sink (which may be empty: then nothing happens).
class progress_tracker {
 public:
  progress_tracker(progress_sink sink, std::string task, std::size_t total)
      : sink_(std::move(sink)), task_(std::move(task)), total_(total), start_(std::chrono::steady_clock::now()) {}
  void update(std::size_t done, std::string detail = {}) const {
    if (!sink_) return;
    progress_event e{task_, done, total_, std::move(detail),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count()};
    sink_(e);
  }

 private:
  progress_sink sink_;
  std::string task_;
  std::size_t total_;
  std::chrono::steady_clock::time_point start_;
};

/// A sink printing one line per update to `out` (stderr by default).
inline progress_sink console_progress(std::FILE* out = stderr) {
  return [out](const progress_event& e) {
    std::fprintf(out, "%s %zu/%zu", e.task.c_str(), e.done, e.total);
    if (!e.detail.empty()) std::fprintf(out, "  [%s]", e.detail.c_str());
    if (e.done > 0) std::fprintf(out, "  %.2f %s/s  ETA %.0fs", e.rate(), e.task.c_str(), e.eta_s());
    std::fprintf(out, "  (%.1fs)\n", e.elapsed_s);
    std::fflush(out);
  };
}

}  // namespace llmc
