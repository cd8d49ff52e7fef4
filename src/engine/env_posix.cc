// Env::posix(): the engine's storage seam over POSIX calls.
// Writes loop over short writes and EINTR; sync is fdatasync (journal segments are preallocated and
// zero-filled, so syncing records overwritten into them flushes data only; where a file does grow,
// fdatasync flushes the size change too); sync_dir fsyncs the directory so creates, renames and
// removes are durable. The lock is flock(LOCK_EX | LOCK_NB) on a file kept open until unlock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <string>

#include "engine/env.h"

#include <cstring>

#include "fmt/format.h"

namespace stockd::engine {

core::Status io_status(std::string_view what, IoError e) {
  return core::Status::error(core::Code::unavailable, fmt::format("{}: {}", what, std::strerror(e)));
}
namespace {

// Zeros written by allocate() per call.
constexpr std::size_t kZeroChunkBytes = 1u << 20;

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, bool append_mode) : fd_(fd), append_mode_(append_mode) {}
  ~PosixWritableFile() override { close(); }

  IoError append(std::string_view data) override {
    if (fd_ < 0) return EBADF;
    if (!append_mode_) return EINVAL;
    return write_all(data, -1);
  }

  IoError write_at(std::uint64_t offset, std::string_view data) override {
    if (fd_ < 0) return EBADF;
    if (append_mode_) return EINVAL;  // pwrite on an O_APPEND file would append
    return write_all(data, static_cast<off_t>(offset));
  }

  IoError allocate(std::uint64_t size) override {
    if (fd_ < 0) return EBADF;
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return errno;
    auto at = static_cast<std::uint64_t>(st.st_size);
    if (at >= size) return 0;
    // Contiguous blocks first where the file system can (an optimisation only; the size stays, so an
    // append-mode write still lands at `at`), then zeros written
    // over them: fallocate alone leaves unwritten extents whose first overwrite is a metadata change.
    int rc;
    do {
      rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(at), static_cast<off_t>(size - at));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EOPNOTSUPP && errno != ENOSYS) return errno;
    static const std::string zeros(kZeroChunkBytes, '\0');
    while (at < size) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size - at, zeros.size()));
      if (IoError e = write_all(std::string_view(zeros.data(), n), append_mode_ ? -1 : static_cast<off_t>(at)); e != 0) {
        return e;
      }
      at += n;
    }
    return 0;
  }

  IoError sync() override {
    if (fd_ < 0) return EBADF;
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }

  IoError truncate(std::uint64_t size) override {
    if (fd_ < 0) return EBADF;
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }

  IoError close() override {
    if (fd_ < 0) return 0;
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? 0 : errno;
  }

 private:
  // offset < 0: write at the file position (append mode).
  IoError write_all(std::string_view data, off_t offset) {
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      ssize_t n = offset < 0 ? ::write(fd_, p, left) : ::pwrite(fd_, p, left, offset);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return EIO;
      p += n;
      left -= static_cast<std::size_t>(n);
      if (offset >= 0) offset += n;
    }
    return 0;
  }

  int fd_;
  bool append_mode_;
};

class PosixEnv final : public Env {
 public:
  IoError open_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* out) override {
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd;
    do {
      fd = ::open(path.c_str(), flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    *out = std::make_unique<PosixWritableFile>(fd, true);
    return 0;
  }

  IoError open_existing(const std::string& path, std::unique_ptr<WritableFile>* out) override {
    int fd;
    do {
      fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    *out = std::make_unique<PosixWritableFile>(fd, false);
    return 0;
  }

  IoError read_at(const std::string& path, std::uint64_t offset, std::size_t n, std::string* out) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    out->resize(n);
    std::size_t got = 0;
    IoError e = 0;
    while (got < n) {
      ssize_t r = ::pread(fd, out->data() + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        e = r < 0 ? errno : EIO;
        break;
      }
      got += static_cast<std::size_t>(r);
    }
    ::close(fd);
    return e;
  }

  IoError read_file(const std::string& path, std::string* out) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return e;
    }
    out->resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < out->size()) {
      ssize_t n = ::read(fd, out->data() + got, out->size() - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        int e = errno;
        ::close(fd);
        return e;
      }
      if (n == 0) break;  // the file shrank meanwhile
      got += static_cast<std::size_t>(n);
    }
    out->resize(got);
    ::close(fd);
    return 0;
  }

  IoError list_dir(const std::string& dir, std::vector<std::string>* names) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return errno;
    names->clear();
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names->emplace_back(n);
    }
    ::closedir(d);
    return 0;
  }

  IoError make_dir(const std::string& dir) override {
    // Creates missing parents too, like mkdir -p.
    for (std::size_t i = 1; i <= dir.size(); ++i) {
      if (i < dir.size() && dir[i] != '/') continue;
      std::string part = dir.substr(0, i);
      if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return errno;
    }
    return 0;
  }

  IoError remove_file(const std::string& path) override { return ::unlink(path.c_str()) == 0 ? 0 : errno; }

  IoError rename_file(const std::string& from, const std::string& to) override {
    return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
  }

  IoError sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = ::fsync(fd);
    int e = rc == 0 ? 0 : errno;
    ::close(fd);
    return e;
  }

  IoError file_size(const std::string& path, std::uint64_t* size) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno;
    *size = static_cast<std::uint64_t>(st.st_size);
    return 0;
  }

  IoError lock_file(const std::string& path, int* handle) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      ::close(fd);
      return e;
    }
    *handle = fd;
    return 0;
  }

  void unlock_file(int handle) override {
    if (handle < 0) return;
    ::flock(handle, LOCK_UN);
    ::close(handle);
  }

  bool forkable() const override { return true; }

  std::int64_t now_us() override {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  }
};

}  // namespace

Env* Env::posix() {
  static PosixEnv env;
  return &env;
}

}  // namespace stockd::engine
