// ExpectError<E>(fn, fragments): runs `fn`, expecting an exception of type E
// (default DataError) whose message contains every fragment — the check of
// "a clear error that names the problem".
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/errors.h"

namespace fsd::testing {

template <typename E = DataError, typename Fn>
void ExpectError(Fn fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace fsd::testing
