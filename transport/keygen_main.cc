// fsd-keygen: writes a CURVE keypair (NAME.key, mode 0600, and NAME.pub).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/errors.h"
#include "common/run_guarded.h"
#include "transport/curve_keys.h"

int main(int argc, char** argv) {
  CLI::App app{
      "fsd-keygen: create a CURVE keypair for fsd-coordinator or fsd-client.\n"
      "Writes DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub (share it; the coordinator\n"
      "admits clients whose .pub files are in its allow-list directory).\n"
      "Exit codes: 0 ok, 1 internal error, 2 bad flags, 3 I/O error, 5 key error."};
  std::string dir;
  std::string name;
  bool force = false;
  app.add_option("--out", dir, "directory for the key files")->required();
  app.add_option("--name", name, "base name of the files (e.g. coordinator, client-3)")->required();
  app.add_flag("--force", force, "replace existing files");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? fsd::kExitOk : fsd::kExitUsage;
  }
  return fsd::RunGuarded("fsd-keygen", [&] {
    if (name.empty() || name.find('/') != std::string::npos) {
      throw fsd::ConfigError("--name must be a plain file name, got '" + name + "'");
    }
    const auto keys = fsd::transport::GenerateCurveKeyPair();
    fsd::transport::WriteCurveKeyPair(dir, name, keys, force);
    std::printf("wrote %s/%s.key (secret) and %s/%s.pub, public key %s...\n", dir.c_str(),
                name.c_str(), dir.c_str(), name.c_str(),
                fsd::transport::Fingerprint(keys.public_z85).c_str());
    return fsd::kExitOk;
  });
}
