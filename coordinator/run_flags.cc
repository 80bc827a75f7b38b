#include "coordinator/run_flags.h"

#include <filesystem>
#include <system_error>

#include "common/config/toml_loader.h"
#include "common/errors.h"
#include "monitor/http_server.h"

namespace fsd::coordinator {

void RunFlags::AddTo(CLI::App& app, const std::string& http_help) {
  app.add_option("--config", config_path, "TOML config (see configs/README.md)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--out", out_dir, "output directory")->required();
  app.add_option("--rounds", rounds, "override federation.rounds")->check(CLI::PositiveNumber);
  app.add_option("--set", overrides, "override a config key: section.key=value (repeatable)");
  app.add_option("--http", http, http_help);
  auto* resume_flag =
      app.add_flag("--resume", resume, "continue from DIR/checkpoint.bin (an error if missing)");
  app.add_flag("--resume-if-present", resume_if_present,
               "continue from DIR/checkpoint.bin when it exists, else start fresh")
      ->excludes(resume_flag);
  app.add_flag("--insecure", insecure, "plaintext, unauthenticated transport (debugging only)");
}

config::RunConfig RunFlags::Load() {
  if (rounds > 0) overrides.push_back("federation.rounds=" + std::to_string(rounds));
  if (insecure) overrides.push_back("transport.insecure=true");
  if (!http.empty()) monitor::ParseHttpAddress(http, "--http");  // a bad address fails now
  return config::LoadConfig(config_path, overrides);
}

void RunFlags::CreateOutDir() const {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw IoError(out_dir + ": cannot create output directory: " + ec.message());
}

ResumeMode RunFlags::resume_mode() const {
  return resume              ? ResumeMode::kResume
         : resume_if_present ? ResumeMode::kResumeIfPresent
                             : ResumeMode::kFresh;
}

}  // namespace fsd::coordinator
