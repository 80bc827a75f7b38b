#include "common/run_guarded.h"

#include <cstdio>
#include <exception>

#include "common/errors.h"

namespace fsd {

int RunGuarded(const char* program, const std::function<int()>& body) {
  try {
    return body();
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s: configuration error: %s\n", program, e.what());
    return kExitUsage;
  } catch (const IoError& e) {
    std::fprintf(stderr, "%s: I/O error: %s\n", program, e.what());
    return kExitIo;
  } catch (const DataError& e) {
    std::fprintf(stderr, "%s: data error: %s\n", program, e.what());
    return kExitData;
  } catch (const AuthError& e) {
    std::fprintf(stderr, "%s: key error: %s\n", program, e.what());
    return kExitAuth;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", program, e.what());
    return kExitInternal;
  }
}

}  // namespace fsd
