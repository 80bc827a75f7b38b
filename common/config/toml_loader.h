// Maps TOML text to config structs. Unknown keys, wrong types and out-of-range
// values are ConfigErrors that name the key and what is allowed; command-line
// overrides ("training.epochs=3") are applied before validation, so they obey
// the same rules. Thread-safety: free functions, no shared state.
#pragma once

#include <string>
#include <vector>

#include "common/config/config.h"

namespace fsd::config {

// Parses `toml_text` (`origin` names it in errors), applies `overrides`
// ("section.key=value", value in TOML syntax; bare words are strings) and
// validates. Throws ConfigError.
RunConfig ParseConfig(const std::string& toml_text, const std::string& origin,
                             const std::vector<std::string>& overrides = {});

// Reads the file at `path` (IoError if unreadable), then as ParseConfig; a
// relative federation.partition_file is resolved against the file's directory.
RunConfig LoadConfig(const std::string& path,
                            const std::vector<std::string>& overrides = {});

// Every key the loader accepts, as "section.key", in declaration order.
std::vector<std::string> KnownConfigKeys();

}  // namespace fsd::config
