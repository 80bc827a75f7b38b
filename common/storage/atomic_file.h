// WriteFileAtomically: how fsd puts a file on disk that must never be seen
// half-written or be redirected — secret keys, checkpoints, client state
// files. The bytes go to `path.tmp`, created with O_CREAT|O_EXCL|O_NOFOLLOW
// and the final mode (a stale temp file is unlinked first, never followed),
// are fsynced, renamed over `path`, and the directory is fsynced so the
// rename survives a crash. A reader sees the old file or the new one.
// Thread-safety: one writer per path at a time (a second concurrent writer
// unlinks the first one's temp file, which then fails with IoError).
// Errors: IoError naming the file and the failing step.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

namespace fsd::storage {

void WriteFileAtomically(const std::string& path, std::span<const std::uint8_t> bytes,
                         mode_t mode = 0600);

}  // namespace fsd::storage
