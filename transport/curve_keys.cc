#include "transport/curve_keys.h"

#include <sys/stat.h>
#include <zmq.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/errors.h"
#include "common/storage/atomic_file.h"

namespace fsd::transport {
namespace {

constexpr std::size_t kZ85KeyChars = 40;
constexpr std::size_t kKeyBytes = 32;

// True if `text` is 40 valid Z85 characters.
bool IsZ85Key(const std::string& text) {
  if (text.size() != kZ85KeyChars) return false;
  std::array<std::uint8_t, kKeyBytes> bytes{};
  return zmq_z85_decode(bytes.data(), text.c_str()) != nullptr;
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open key file");
  std::string text(4096, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (!in.eof()) throw AuthError(path + ": larger than any key file");
  return text;
}

// Value of the line `key = "..."`, or empty.
std::string Field(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  std::string line;
  const std::string prefix = key + " = \"";
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() && line.back() == '"') {
      return line.substr(prefix.size(), line.size() - prefix.size() - 1);
    }
  }
  return {};
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode, bool overwrite) {
  if (!overwrite && std::filesystem::exists(path)) {
    throw IoError(path + ": exists (pass --force to replace it)");
  }
  // Created with its final mode under O_EXCL|O_NOFOLLOW, so a secret is never
  // readable by others, even briefly, nor written through a planted symlink.
  storage::WriteFileAtomically(
      path, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, mode);
}

}  // namespace

CurveKeyPair GenerateCurveKeyPair() {
  char public_key[kZ85KeyChars + 1];
  char secret_key[kZ85KeyChars + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw AuthError("libzmq cannot generate CURVE keys (built without CURVE support?)");
  }
  return {public_key, secret_key};
}

void WriteCurveKeyPair(const std::string& dir, const std::string& name, const CurveKeyPair& keys,
                       bool overwrite) {
  FSD_CHECK(IsZ85Key(keys.public_z85) && IsZ85Key(keys.secret_z85)) << "invalid keypair";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(dir + ": cannot create directory: " + ec.message());
  const std::string base = dir + "/" + name;
  WriteFile(base + ".key",
            "# fsd CURVE keypair: keep this file secret (mode 0600)\npublic = \"" +
                keys.public_z85 + "\"\nsecret = \"" + keys.secret_z85 + "\"\n",
            0600, overwrite);
  WriteFile(base + ".pub", "# fsd CURVE public key\npublic = \"" + keys.public_z85 + "\"\n", 0644,
            overwrite);
}

CurveKeyPair LoadCurveSecretKeyFile(const std::string& path) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw IoError(path + ": cannot open key file");
  if ((info.st_mode & 0077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
    throw AuthError(path + ": secret key file has mode " + mode +
                    ", readable by others; run chmod 600 on it");
  }
  const std::string text = ReadSmallFile(path);
  CurveKeyPair keys{Field(text, "public"), Field(text, "secret")};
  if (!IsZ85Key(keys.public_z85))
    throw AuthError(path + ": 'public' is not a 40-character Z85 key");
  if (!IsZ85Key(keys.secret_z85))
    throw AuthError(path + ": 'secret' is not a 40-character Z85 key");
  char derived[kZ85KeyChars + 1];
  if (zmq_curve_public(derived, keys.secret_z85.c_str()) != 0 || keys.public_z85 != derived) {
    throw AuthError(path + ": public key does not match the secret key");
  }
  return keys;
}

std::string LoadCurvePublicKeyFile(const std::string& path) {
  const std::string key = Field(ReadSmallFile(path), "public");
  if (!IsZ85Key(key)) throw AuthError(path + ": 'public' is not a 40-character Z85 key");
  return key;
}

std::string Fingerprint(const std::string& public_z85) { return public_z85.substr(0, 8); }

}  // namespace fsd::transport
