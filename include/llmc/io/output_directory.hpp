// llmc/io/output_directory.hpp — all-or-nothing creation of an output model folder.
//
// Everything is written into a staging folder beside the target, ".<name>.tmp-<pid>-<random>" (same
// parent, hence same file system, so the final rename is atomic). commit() fsyncs every file and
// folder of the staging tree, then renames it into place and fsyncs the parent. Without commit()
// (an exception, an early return) the destructor deletes the staging folder: no partial output is
// ever visible under the target name. An existing target is refused unless replace=true; then it
// is swapped out atomically (Linux renameat2 RENAME_EXCHANGE, else rename-aside-then-rename) and
// deleted only after the new folder is in place. A target that is an input folder, lies inside one,
// or contains one is refused (llmc.io.161), so inputs are never modified.
#pragma once

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <cstdio>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include "llmc/core/error.hpp"
#include "llmc/io/errors.hpp"
#include "llmc/io/file.hpp"
#include "llmc/io/model_directory.hpp"

namespace llmc {

/// Options of output_directory.
struct output_options {
  /// Replace an existing target folder (deleted only once the new one is complete).
  bool replace = false;
  /// Folders that must never be touched: the target may not equal, lie in, or contain any of them.
  std::vector<std::filesystem::path> inputs;
};

namespace detail {

inline std::filesystem::path resolved(const std::filesystem::path& p) {
  std::error_code ec;
  auto r = std::filesystem::weakly_canonical(std::filesystem::absolute(p), ec);
  if (ec) r = std::filesystem::absolute(p).lexically_normal();
  // Drop a trailing separator so "a/b/" and "a/b" compare equal.
  if (!r.has_filename() && r.has_parent_path()) r = r.parent_path();
  return r;
}

/// True when `inner` equals `outer` or lies inside it (both already resolved).
inline bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) continue;
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

inline std::string random_hex() {
  std::random_device rd;
  const std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// renameat2 with flags (1 = RENAME_NOREPLACE, 2 = RENAME_EXCHANGE, linux/fs.h); -1/ENOSYS elsewhere.
inline int rename2(const std::filesystem::path& from, const std::filesystem::path& to, unsigned flags) {
#if defined(__linux__) && defined(SYS_renameat2)
  return static_cast<int>(::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags));
#else
  (void)from;
  (void)to;
  (void)flags;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace detail

/// A staging folder that becomes `target` on commit(), or vanishes.
class output_directory {
 public:
  /// Checks the target and creates the staging folder.
  /// @throws io_error llmc.io.161 (overlaps an input), 160 (exists, !replace), 162 (cannot create)
  explicit output_directory(const std::filesystem::path& target, output_options opt = {})
      : replace_(opt.replace) {
    namespace fs = std::filesystem;
    target_ = detail::resolved(target);
    if (!target_.has_filename() || target_ == target_.root_path()) {
      LLMC_THROW(io_error, io_errc::output_bad_name, target.string() + ": is not a usable output folder name");
    }
    std::error_code ec;
    const bool exists = fs::exists(fs::symlink_status(target_, ec));
    for (const auto& in : opt.inputs) {
      const fs::path input = detail::resolved(in);
      if (detail::is_within(target_, input)) {
        LLMC_THROW(io_error, io_errc::output_overlaps_input,
                   target_.string() + ": the output folder is the input folder " + input.string() +
                       " or lies inside it; write the output somewhere else (inputs are never modified)");
      }
      if (exists && detail::is_within(input, target_)) {
        LLMC_THROW(io_error, io_errc::output_overlaps_input,
                   target_.string() + ": the output folder contains the input " + input.string() +
                       "; replacing it would delete the input: write the output somewhere else");
      }
    }
    if (exists && !replace_) {
      LLMC_THROW(io_error, io_errc::output_exists,
                 target_.string() + ": already exists; choose another output folder or ask to replace it");
    }
    if (exists && !fs::is_directory(target_, ec)) {
      LLMC_THROW(io_error, io_errc::output_exists,
                 target_.string() + ": exists and is not a folder; remove it or choose another output path");
    }
    const fs::path parent = target_.parent_path();
    fs::create_directories(parent, ec);
    if (ec) {
      LLMC_THROW(io_error, io_errc::output_fs, parent.string() + ": cannot create the parent folder (" + ec.message() + ")");
    }
    staging_ = parent / ("." + target_.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                         detail::random_hex());
    if (!fs::create_directory(staging_, ec) || ec) {
      LLMC_THROW(io_error, io_errc::output_fs,
                 staging_.string() + ": cannot create the staging folder (" + (ec ? ec.message() : "exists") + ")");
    }
  }
  output_directory(const output_directory&) = delete;
  output_directory& operator=(const output_directory&) = delete;

  /// Removes the staging folder unless commit() succeeded.
  ~output_directory() {
    if (!committed_ && !staging_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(staging_, ec);
    }
  }

  /// The final folder (absolute).
  [[nodiscard]] const std::filesystem::path& target() const noexcept { return target_; }
  /// Where files are written until commit().
  [[nodiscard]] const std::filesystem::path& staging() const noexcept { return staging_; }
  [[nodiscard]] bool committed() const noexcept { return committed_; }

  /// staging()/relative, after checking `relative` stays inside (no "..", not absolute, not empty).
  /// Sub-folders are created as needed.
  /// @throws io_error llmc.io.164, 163 (after commit)
  [[nodiscard]] std::filesystem::path file(std::string_view relative) const {
    check_open();
    const std::filesystem::path rel(relative);
    bool ok = !relative.empty() && rel.is_relative() && relative.find('\0') == std::string_view::npos;
    for (const auto& part : rel) ok = ok && part != ".." && part != ".";
    if (!ok || !rel.has_filename()) {
      LLMC_THROW(io_error, io_errc::output_bad_name,
                 "\"" + std::string(relative) + "\" is not a plain relative file name inside the output folder");
    }
    const auto p = staging_ / rel;
    if (rel.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(p.parent_path(), ec);
      if (ec) {
        LLMC_THROW(io_error, io_errc::output_fs, p.parent_path().string() + ": cannot create (" + ec.message() + ")");
      }
    }
    return p;
  }

  /// Writes a whole file into the staging folder.
  void write_file(std::string_view relative, std::string_view content) { llmc::write_file(file(relative), content); }

  /// Copies `source` unchanged to staging()/relative (default: the source's file name).
  /// @throws io_error llmc.io.101 (source unreadable), 162 (copy failed)
  void copy_file(const std::filesystem::path& source, std::string_view relative = {}) {
    const auto dest = file(relative.empty() ? source.filename().string() : std::string(relative));
    std::error_code ec;
    if (!std::filesystem::is_regular_file(source, ec)) {
      LLMC_THROW(io_error, io_errc::os_error, source.string() + ": cannot copy into the output: not a readable file");
    }
    std::filesystem::copy_file(source, dest, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) {
      LLMC_THROW(io_error, io_errc::output_fs,
                 source.string() + ": copying to " + dest.string() + " failed (" + ec.message() + ")");
    }
    // A copy keeps the source's mode; a read-only input (a fixture, a store) must not make the
    // output read-only: output files are rw-r--r-- like every file we write.
    namespace fs = std::filesystem;
    fs::permissions(dest, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read,
                    fs::perm_options::replace, ec);
  }

  /// Copies those of `names` (default: tokenizer and generation files) that exist in `source_dir`;
  /// returns the names copied.
  std::vector<std::string> copy_passthrough_files(const std::filesystem::path& source_dir,
                                                  const std::vector<std::string>& names = passthrough_file_names()) {
    std::vector<std::string> copied;
    std::error_code ec;
    for (const auto& n : names) {
      if (std::filesystem::is_regular_file(source_dir / n, ec)) {
        copy_file(source_dir / n, n);
        copied.push_back(n);
      }
    }
    return copied;
  }

  /// Makes the output durable and visible under target(). After this the object only reports.
  /// @throws io_error llmc.io.163 (twice), 160 (target appeared meanwhile, !replace), 162 (fs failure)
  void commit() {
    namespace fs = std::filesystem;
    check_open();
    sync_tree(staging_);
    std::error_code ec;
    const bool exists = fs::exists(fs::symlink_status(target_, ec));
    if (exists && !replace_) {
      LLMC_THROW(io_error, io_errc::output_exists,
                 target_.string() + ": appeared while the output was being written; nothing was replaced");
    }
    if (!exists) {
      if (detail::rename2(staging_, target_, 1u /*RENAME_NOREPLACE*/) != 0) {
        const int e = errno;
        if (e == EEXIST) {
          LLMC_THROW(io_error, io_errc::output_exists,
                     target_.string() + ": appeared while the output was being written; nothing was replaced");
        }
        if (e != ENOSYS && e != EINVAL) fail_rename(e);
        if (::rename(staging_.c_str(), target_.c_str()) != 0) fail_rename(errno);
      }
    } else if (detail::rename2(staging_, target_, 2u /*RENAME_EXCHANGE*/) == 0) {
      // staging_ now holds the old output; the new one is already in place.
      fs::remove_all(staging_, ec);
    } else {
      const fs::path old = target_.parent_path() / ("." + target_.filename().string() + ".old-" +
                                                    std::to_string(::getpid()) + "-" + detail::random_hex());
      if (::rename(target_.c_str(), old.c_str()) != 0) fail_rename(errno);
      if (::rename(staging_.c_str(), target_.c_str()) != 0) {
        const int e = errno;
        ::rename(old.c_str(), target_.c_str());  // put the old output back
        fail_rename(e);
      }
      fs::remove_all(old, ec);
    }
    committed_ = true;
    fsync_path(target_.parent_path(), io_errc::output_fs);
  }

 private:
  void check_open() const {
    if (committed_) {
      LLMC_THROW(io_error, io_errc::output_committed,
                 target_.string() + ": the output folder was already committed; create a new output_directory");
    }
  }
  [[noreturn]] void fail_rename(int e) const {
    LLMC_THROW(io_error, io_errc::output_fs,
               staging_.string() + ": cannot rename to " + target_.string() + " (" + detail::errno_text(e) + ")");
  }
  static void sync_tree(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> dirs{dir};
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) {
        dirs.push_back(it->path());
      } else if (it->is_regular_file(ec)) {
        fsync_path(it->path(), io_errc::output_fs);
      }
    }
    if (ec) LLMC_THROW(io_error, io_errc::output_fs, dir.string() + ": cannot list (" + ec.message() + ")");
    for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) fsync_path(*d, io_errc::output_fs);
  }

  std::filesystem::path target_;
  std::filesystem::path staging_;
  bool replace_ = false;
  bool committed_ = false;
};

}  // namespace llmc
