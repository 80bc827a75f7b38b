// Runs an executable's body and turns escaping exceptions into an error line
// on stderr and the documented exit code (common/errors.h, ExitCode).
#pragma once

#include <functional>

namespace fsd {

// Returns body()'s result, or the exit code of the exception it threw:
// ConfigError → 2, IoError → 3, DataError → 4, AuthError → 5, anything else → 1.
int RunGuarded(const char* program, const std::function<int()>& body);

}  // namespace fsd
