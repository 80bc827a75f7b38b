// The cross-key rules of a run's config: every refusal that depends on more
// than one key, in one table — the key a refusal names, the keys it depends
// on, and the check that says what is wrong. The loader (toml_loader.h)
// applies them after every section is read; each has a test that breaks it
// alone (tests/common/cross_key_rules_test.cc). Rules that need the model
// (its exits, its layout) are data::ModelSpecFor's and the coordinator's.
// Thread-safety: the table is immutable. Errors: CheckCrossKeyRules throws
// ConfigError "ORIGIN: KEY: PROBLEM" for the first rule a config breaks.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace fsd::config {

struct CrossKeyRule {
  std::string_view key;         // the key the refusal names (what to change)
  std::string_view depends_on;  // the other keys that make its value wrong
  // What is wrong with `config`, or nullopt when the rule holds.
  std::function<std::optional<std::string>(const RunConfig& config)> problem;
};

// Every rule, in the order they are checked.
const std::vector<CrossKeyRule>& CrossKeyRules();

void CheckCrossKeyRules(const RunConfig& config, const std::string& origin);

}  // namespace fsd::config
