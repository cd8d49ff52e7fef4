// sync_count_shim: an LD_PRELOAD library that counts the sync calls of the process it is loaded into,
// so that a test can see a real stockd (Env::posix(), not FaultEnv) ask the kernel to reach the disk.
//
// Counted: fsync, fdatasync, sync_file_range, msync, syncfs, sync (env_posix.cc uses fdatasync for
// files and fsync for directories; it opens nothing O_SYNC/O_DSYNC). A call is counted when it is
// made, before the real call: whatever the process does after the sync returns (an acknowledgement)
// happens after the count moved.
//
// The count is published in the file named by STOCKD_SYNC_COUNT_FILE (created at load, truncated):
// one line of 20 decimal digits, rewritten in place under a lock after every counted call, so a
// reader sees the latest count and never a partial line. Without that variable nothing is published.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace {

std::mutex g_mu;
unsigned long long g_count = 0;  // guarded by g_mu
int g_fd = -1;                   // set once at load

void publish_locked() {
  if (g_fd < 0) return;
  char line[32];
  int n = std::snprintf(line, sizeof line, "%020llu\n", g_count);
  if (n > 0) (void)::pwrite(g_fd, line, static_cast<std::size_t>(n), 0);
}

void count_one() {
  std::lock_guard<std::mutex> lock(g_mu);
  ++g_count;
  publish_locked();
}

__attribute__((constructor)) void open_count_file() {
  const char* path = std::getenv("STOCKD_SYNC_COUNT_FILE");
  if (path == nullptr || *path == '\0') return;
  g_fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::lock_guard<std::mutex> lock(g_mu);
  publish_locked();
}

// The next definition of `name` after this library (libc's).
template <typename Fn>
Fn real(const char* name) {
  void* sym = ::dlsym(RTLD_NEXT, name);
  if (sym == nullptr) {
    std::fprintf(stderr, "sync_count_shim: dlsym(RTLD_NEXT, %s) failed\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(sym);
}

}  // namespace

extern "C" {

int fsync(int fd) {
  static auto fn = real<int (*)(int)>("fsync");
  count_one();
  return fn(fd);
}

int fdatasync(int fd) {
  static auto fn = real<int (*)(int)>("fdatasync");
  count_one();
  return fn(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  static auto fn = real<int (*)(int, off64_t, off64_t, unsigned int)>("sync_file_range");
  count_one();
  return fn(fd, offset, nbytes, flags);
}

int msync(void* addr, size_t length, int flags) {
  static auto fn = real<int (*)(void*, size_t, int)>("msync");
  count_one();
  return fn(addr, length, flags);
}

int syncfs(int fd) {
  static auto fn = real<int (*)(int)>("syncfs");
  count_one();
  return fn(fd);
}

void sync() {
  static auto fn = real<void (*)()>("sync");
  count_one();
  fn();
}

}  // extern "C"
