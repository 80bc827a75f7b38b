// RunFlags: the command-line flags fsd-coordinator and fsd-sim share — the
// config, the output directory, key overrides, resuming, plaintext and the
// status page — and what they do before a run starts. Each program adds
// its own flags beside these and turns them into more overrides.
// Thread-safety: none needed (used on the main thread before a run).
// Errors: ConfigError for a config or an --http address that is wrong,
// IoError when the output directory cannot be created.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "coordinator/options.h"

namespace fsd::coordinator {

struct RunFlags {
  std::string config_path, out_dir, http;
  int rounds = 0;
  bool resume = false, resume_if_present = false, insecure = false;
  std::vector<std::string> overrides;  // --set, then the flags that override keys

  // Adds --config, --out, --rounds, --set, --http (`http_help`), --resume,
  // --resume-if-present and --insecure to `app`.
  void AddTo(CLI::App& app, const std::string& http_help);
  // The config with every override applied (--set and the program's own,
  // then --rounds and --insecure), after checking the --http address.
  config::RunConfig Load();
  void CreateOutDir() const;
  ResumeMode resume_mode() const;
};

}  // namespace fsd::coordinator
