// llmc/io/file.hpp — POSIX file primitives for the io layer: read-only memory maps, whole-file
// reads, and durable writes (write + fsync).
//
// Invariants: a mapped_file maps the whole file PROT_READ/MAP_PRIVATE, so mapping costs no memory
// until pages are touched, and release() (madvise MADV_DONTNEED) drops touched pages again; since
// the mapping is never written, dropped pages are re-read from the file on the next access and all
// spans stay valid. Every OS failure throws io_error llmc.io.101 (reads) or llmc.io.132 (writes)
// naming the path and strerror(errno). POSIX only (Linux, macOS).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmc/core/error.hpp"
#include "llmc/io/errors.hpp"

namespace llmc {

namespace detail {
inline std::string errno_text(int e) { return std::string(std::strerror(e)); }

/// Closes a file descriptor on scope exit.
struct fd_guard {
  int fd = -1;
  explicit fd_guard(int f) noexcept : fd(f) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace detail

/// A whole file mapped read-only (MAP_PRIVATE). Move-only; unmaps on destruction.
class mapped_file {
 public:
  mapped_file() = default;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept { swap(o); }
  mapped_file& operator=(mapped_file&& o) noexcept {
    if (this != &o) {
      unmap();
      swap(o);
    }
    return *this;
  }
  ~mapped_file() { unmap(); }

  /// Maps `p`. Nothing is read: pages are faulted in on first access.
  /// @throws io_error llmc.io.101 when the file cannot be opened, stat'ed or mapped.
  static mapped_file open(const std::filesystem::path& p) {
    mapped_file m;
    m.path_ = p;
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int e = errno;
      LLMC_THROW(io_error, io_errc::os_error, p.string() + ": cannot open (" + detail::errno_text(e) + ")");
    }
    detail::fd_guard guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int e = errno;
      LLMC_THROW(io_error, io_errc::os_error, p.string() + ": cannot stat (" + detail::errno_text(e) + ")");
    }
    if (!S_ISREG(st.st_mode)) {
      LLMC_THROW(io_error, io_errc::os_error, p.string() + ": not a regular file");
    }
    m.size_ = static_cast<std::size_t>(st.st_size);
    if (m.size_ == 0) return m;  // mmap of length 0 is invalid; an empty span is enough
    void* addr = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      const int e = errno;
      LLMC_THROW(io_error, io_errc::os_error, p.string() + ": cannot map into memory (" + detail::errno_text(e) + ")");
    }
    m.data_ = static_cast<std::byte*>(addr);
    return m;
  }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

  /// Drops the resident pages of [offset, offset+length) (rounded out to whole pages). Data stays
  /// readable: it is paged in again from the file on the next access. Returns false when the
  /// kernel refused (the hint is then simply not applied).
  bool release(std::size_t offset, std::size_t length) const noexcept {
    return advise(offset, length, MADV_DONTNEED);
  }
  /// Asks the kernel to read [offset, offset+length) ahead of use.
  bool prefetch(std::size_t offset, std::size_t length) const noexcept {
    return advise(offset, length, MADV_WILLNEED);
  }

 private:
  bool advise(std::size_t offset, std::size_t length, int advice) const noexcept {
    if (data_ == nullptr || length == 0 || offset >= size_) return true;
    if (length > size_ - offset) length = size_ - offset;
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t begin = offset / page * page;
    const std::size_t end = offset + length;
    return ::madvise(data_ + begin, end - begin, advice) == 0;
  }
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }
  void swap(mapped_file& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(path_, o.path_);
  }
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::filesystem::path path_;
};

/// Reads a whole (small) file into a string. `missing_id` is the error id used when the file
/// does not exist (so callers can report e.g. a missing config.json with its own id).
/// @throws io_error `missing_id` when absent, llmc.io.101 on any other failure.
inline std::string read_text_file(const std::filesystem::path& p, const char* missing_id = io_errc::os_error) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    LLMC_THROW(io_error, e == ENOENT ? missing_id : io_errc::os_error,
               p.string() + ": cannot open (" + detail::errno_text(e) + ")");
  }
  detail::fd_guard guard(fd);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      LLMC_THROW(io_error, io_errc::os_error, p.string() + ": read failed (" + detail::errno_text(e) + ")");
    }
    if (r == 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

/// A file being written: create/truncate, append bytes, then finish() (optionally fsync) and close.
/// Failures throw io_error llmc.io.132 naming the path.
class output_file {
 public:
  explicit output_file(std::filesystem::path p) : path_(std::move(p)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      const int e = errno;
      LLMC_THROW(io_error, io_errc::write_failed, path_.string() + ": cannot create (" + detail::errno_text(e) + ")");
    }
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() {
    if (fd_ >= 0) ::close(fd_);
  }

  void write(std::span<const std::byte> data) {
    const std::byte* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      const std::size_t chunk = left < (std::size_t{1} << 30) ? left : (std::size_t{1} << 30);
      const ssize_t w = ::write(fd_, p, chunk);
      if (w < 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        LLMC_THROW(io_error, io_errc::write_failed, path_.string() + ": write failed (" + detail::errno_text(e) + ")");
      }
      p += w;
      left -= static_cast<std::size_t>(w);
    }
  }
  void write(std::string_view s) { write(std::as_bytes(std::span<const char>(s.data(), s.size()))); }

  /// Flushes to stable storage when `sync` is true, then closes.
  void finish(bool sync) {
    if (sync && ::fsync(fd_) != 0) {
      const int e = errno;
      LLMC_THROW(io_error, io_errc::write_failed, path_.string() + ": fsync failed (" + detail::errno_text(e) + ")");
    }
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      const int e = errno;
      LLMC_THROW(io_error, io_errc::write_failed, path_.string() + ": close failed (" + detail::errno_text(e) + ")");
    }
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

/// Writes `content` to `p` (create/truncate), fsyncing it when `sync`.
inline void write_file(const std::filesystem::path& p, std::string_view content, bool sync = false) {
  output_file f(p);
  f.write(content);
  f.finish(sync);
}

/// fsyncs a file or a directory (a directory's fsync makes the names in it durable).
/// @throws io_error `id` naming the path.
inline void fsync_path(const std::filesystem::path& p, const char* id = io_errc::write_failed) {
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    LLMC_THROW(io_error, id, p.string() + ": cannot open to fsync (" + detail::errno_text(e) + ")");
  }
  detail::fd_guard guard(fd);
  if (::fsync(fd) != 0) {
    const int e = errno;
    // Some file systems refuse fsync on directories (EINVAL); there is nothing more to flush.
    if (!(e == EINVAL && std::filesystem::is_directory(p))) {
      LLMC_THROW(io_error, id, p.string() + ": fsync failed (" + detail::errno_text(e) + ")");
    }
  }
}

}  // namespace llmc
