#include "common/storage/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/errors.h"

namespace fsd::storage {
namespace {

std::string Reason() { return std::strerror(errno); }

}  // namespace

void WriteFileAtomically(const std::string& path, std::span<const std::uint8_t> bytes,
                         mode_t mode) {
  const std::string temp = path + ".tmp";
  ::unlink(temp.c_str());  // a leftover of a crash; unlink never follows a symlink
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) throw IoError(temp + ": cannot create: " + Reason());
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = Reason();
      ::close(fd);
      ::unlink(temp.c_str());
      throw IoError(temp + ": write failed: " + reason);
    }
    done += static_cast<std::size_t>(n);
  }
  // The umask may have narrowed the mode; set it exactly.
  const bool ok = ::fchmod(fd, mode) == 0 && ::fsync(fd) == 0;
  const std::string reason = ok ? "" : Reason();
  ::close(fd);
  if (!ok) {
    ::unlink(temp.c_str());
    throw IoError(temp + ": cannot sync: " + reason);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string rename_reason = Reason();
    ::unlink(temp.c_str());
    throw IoError(path + ": cannot replace: " + rename_reason);
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) throw IoError(dir + ": cannot open to sync: " + Reason());
  const bool dir_synced = ::fsync(dir_fd) == 0;
  ::close(dir_fd);
  if (!dir_synced) throw IoError(dir + ": cannot sync directory: " + Reason());
}

}  // namespace fsd::storage
