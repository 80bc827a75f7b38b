// Exception types used inside fsd processes, and FSD_CHECK for broken invariants.
//
// Policy: programmer errors throw InternalError (via FSD_CHECK), environment
// problems throw IoError / ConfigError / DataError, and executables map each type
// to a documented exit code (see ExitCode). Nothing here calls abort().
// Thread-safety: the types are plain values; FSD_CHECK is safe from any thread.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace fsd {

// A broken invariant inside our own process (a bug, not bad input).
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// A file, directory or OS call failed (missing file, permission, short write).
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration key or command-line value is unknown or out of range. The
// message names the key and what is allowed.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A data file is malformed (wrong magic, truncated, inconsistent counts). The
// message names the file and the problem.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A key, certificate or peer identity is invalid or not admitted (bad key file,
// loose permissions, public key not matching its secret key). Messages never
// contain key material.
class AuthError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Process exit codes shared by every fsd executable (documented in README.md).
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,  // a bug: InternalError or an unexpected exception
  kExitUsage = 2,     // bad command line or configuration (ConfigError)
  kExitIo = 3,        // file or OS error (IoError)
  kExitData = 4,      // malformed input data (DataError)
  kExitAuth = 5,      // invalid keys or identity (AuthError)
  kExitDiverged = 6,  // the federation stopped: its global model diverged
};

namespace internal {

// Collects the streamed context of a failed FSD_CHECK and throws on destruction
// of the full expression.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    stream_ << file << ":" << line << ": check failed: " << condition << " ";
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }
  [[noreturn]] void Throw() const { throw InternalError(stream_.str()); }

 private:
  std::ostringstream stream_;
};

// Lets `FSD_CHECK(c) << "context"` throw after the context is streamed.
struct CheckThrower {
  [[noreturn]] void operator&(const CheckFailure& failure) const { failure.Throw(); }
};

}  // namespace internal
}  // namespace fsd

// FSD_CHECK(cond) << "context": throws fsd::InternalError naming file:line,
// the condition and the context when cond is false.
#define FSD_CHECK(condition)                      \
  (condition) ? (void)0                           \
              : ::fsd::internal::CheckThrower() & \
                    ::fsd::internal::CheckFailure(__FILE__, __LINE__, #condition)
