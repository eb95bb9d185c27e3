// llmc/pipeline/activation_cache.hpp — the hidden states a sequential pipeline carries from one
// decoder layer to the next, in memory up to a limit and in a temporary file beyond it.
//
// The reference keeps every calibration batch's layer inputs (IntermediatesCache, optionally
// offloaded to another device; [LC] pipelines/cache.py, spec §1.4). llmc keeps them in fp32 in
// memory while their total stays within `limit` bytes; the states of the batches past the limit
// are written to one file in `spill_dir` and read back, one batch at a time, whenever a layer runs
// over them. Invariants: a batch's states read back are bit-identical to those written (raw fp32
// bytes), so a spilled run gives byte-identical results to an in-memory one; masks and positions
// always stay in memory (a few bytes per token); the spill file is unlinked as soon as it is
// created, so it disappears when the cache is destroyed or the process dies, and never shows up in
// the output folder. File pages live in the kernel's page cache, which the kernel may evict: they
// are not part of the process's resident set.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "llmc/core/error.hpp"
#include "llmc/model/decoder_layer.hpp"

namespace llmc {

/// Calibration batches between decoder layers, spilling to a file past a memory limit.
class activation_cache {
 public:
  /// limit: bytes of hidden states kept in memory (0 = no limit). spill_dir: where the spill file
  /// goes when one is needed (created on the first spilled batch).
  explicit activation_cache(std::uint64_t limit = 0, std::filesystem::path spill_dir = {})
      : limit_(limit), spill_dir_(std::move(spill_dir)) {}
  activation_cache(const activation_cache&) = delete;
  activation_cache& operator=(const activation_cache&) = delete;
  ~activation_cache() { close_file(); }

  /// Appends a batch; its states go to the spill file when keeping them would pass the limit.
  /// @throws io_error llmc.pipeline.140 when the spill file cannot be created or written.
  void push(hidden_batch hb) {
    const std::uint64_t bytes = hb.states.size() * sizeof(float);
    entry e;
    e.rows = hb.states.rows();
    e.cols = hb.states.cols();
    if (limit_ == 0 || resident_ + bytes <= limit_) {
      resident_ += bytes;
    } else {
      open_file();
      e.spilled = true;
      e.offset = file_size_;
      write_at(hb.states.data(), bytes, e.offset);
      file_size_ += bytes;
      hb.states = matrix<float>();
      ++spilled_batches_;
    }
    batches_.push_back(std::move(hb));
    entries_.push_back(e);
  }

  /// Calls f(hidden_batch&) on every batch in order. A spilled batch is read into a scratch batch
  /// first and, when `write_back`, written back after f (f may change its states, not its shape).
  template <class F>
  void for_each(F&& f, bool write_back) {
    for (std::size_t i = 0; i < batches_.size(); ++i) {
      const entry& e = entries_[i];
      if (!e.spilled) {
        f(batches_[i]);
        continue;
      }
      hidden_batch& meta = batches_[i];
      scratch_.batch = meta.batch;
      scratch_.seq = meta.seq;
      scratch_.mask = std::move(meta.mask);
      scratch_.positions = std::move(meta.positions);
      if (scratch_.states.rows() != e.rows || scratch_.states.cols() != e.cols) scratch_.states = matrix<float>(e.rows, e.cols);
      read_at(scratch_.states.data(), e.rows * e.cols * sizeof(float), e.offset);
      struct restore {  // the mask and positions go back to the batch even when f throws
        hidden_batch& meta;
        hidden_batch& s;
        ~restore() {
          meta.mask = std::move(s.mask);
          meta.positions = std::move(s.positions);
        }
      } guard{meta, scratch_};
      f(scratch_);
      if (write_back) {
        if (scratch_.states.rows() != e.rows || scratch_.states.cols() != e.cols)
          LLMC_THROW(shape_error, "llmc.pipeline.141", "activation_cache: a batch changed shape while it was processed");
        write_at(scratch_.states.data(), e.rows * e.cols * sizeof(float), e.offset);
      }
    }
  }

  /// Frees everything (the spill file too).
  void clear() {
    batches_.clear();
    entries_.clear();
    scratch_ = hidden_batch{};
    resident_ = 0;
    close_file();
  }

  [[nodiscard]] std::size_t size() const noexcept { return batches_.size(); }
  [[nodiscard]] bool empty() const noexcept { return batches_.empty(); }
  /// Bytes of hidden states held in memory (the scratch batch not counted).
  [[nodiscard]] std::uint64_t resident_bytes() const noexcept { return resident_; }
  /// Bytes of hidden states in the spill file.
  [[nodiscard]] std::uint64_t spilled_bytes() const noexcept { return file_size_; }
  [[nodiscard]] std::size_t spilled_batches() const noexcept { return spilled_batches_; }

 private:
  struct entry {
    bool spilled = false;
    std::uint64_t offset = 0;
    std::size_t rows = 0, cols = 0;
  };

  [[noreturn]] void fail(const std::string& what, int err) const {
    LLMC_THROW(io_error, "llmc.pipeline.140",
               "activation cache spill file in " + spill_dir_.string() + ": " + what + " (" + std::strerror(err) +
                   "); free disk space there, or raise the activation cache limit");
  }
  void open_file() {
    if (fd_ >= 0) return;
    const std::filesystem::path dir = spill_dir_.empty() ? std::filesystem::path(".") : spill_dir_;
    std::string tmpl = (dir / ".llmc-activations-XXXXXX").string();
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ < 0) fail("cannot create", errno);
    // Unlinked at once: the file lives exactly as long as the descriptor.
    ::unlink(tmpl.c_str());
  }
  void close_file() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    file_size_ = 0;
    spilled_batches_ = 0;
  }
  void write_at(const float* p, std::uint64_t bytes, std::uint64_t off) const {
    const auto* b = reinterpret_cast<const char*>(p);
    while (bytes > 0) {
      const ssize_t w = ::pwrite(fd_, b, static_cast<std::size_t>(std::min<std::uint64_t>(bytes, 1u << 30)), static_cast<off_t>(off));
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("write failed", errno);
      }
      b += w;
      off += static_cast<std::uint64_t>(w);
      bytes -= static_cast<std::uint64_t>(w);
    }
  }
  void read_at(float* p, std::uint64_t bytes, std::uint64_t off) const {
    auto* b = reinterpret_cast<char*>(p);
    while (bytes > 0) {
      const ssize_t r = ::pread(fd_, b, static_cast<std::size_t>(std::min<std::uint64_t>(bytes, 1u << 30)), static_cast<off_t>(off));
      if (r < 0) {
        if (errno == EINTR) continue;
        fail("read failed", errno);
      }
      if (r == 0) fail("unexpected end of file", EIO);
      b += r;
      off += static_cast<std::uint64_t>(r);
      bytes -= static_cast<std::uint64_t>(r);
    }
  }

  std::uint64_t limit_ = 0;
  std::filesystem::path spill_dir_;
  std::vector<hidden_batch> batches_;
  std::vector<entry> entries_;
  hidden_batch scratch_;
  std::uint64_t resident_ = 0, file_size_ = 0;
  std::size_t spilled_batches_ = 0;
  int fd_ = -1;
};

}  // namespace llmc
