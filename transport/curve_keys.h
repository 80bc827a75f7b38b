// CURVE keypairs for ZeroMQ's encrypted transport, stored as Z85 text files.
//
// A keypair is two files: NAME.pub (the 40-character Z85 public key, safe to
// share; the coordinator's allow-list is a directory of them) and NAME.key
// (public and secret key, mode 0600). Loading a secret file refuses group- or
// world-accessible permissions, malformed Z85, and a public key that does not
// match the secret key. Error messages name the file and the problem and never
// contain key material. Thread-safety: free functions, no shared state.
// Errors: AuthError for invalid keys or permissions, IoError for file access.
#pragma once

#include <string>

namespace fsd::transport {

struct CurveKeyPair {
  std::string public_z85;  // 40 characters
  std::string secret_z85;  // 40 characters
};

// A fresh keypair from libzmq's CSPRNG-backed generator.
CurveKeyPair GenerateCurveKeyPair();

// Writes DIR/NAME.key (0600) and DIR/NAME.pub (0644). Refuses to replace
// existing files unless `overwrite`.
void WriteCurveKeyPair(const std::string& dir, const std::string& name, const CurveKeyPair& keys,
                       bool overwrite);

// Loads and checks a NAME.key file.
CurveKeyPair LoadCurveSecretKeyFile(const std::string& path);

// Loads and checks a NAME.pub file; returns the Z85 public key.
std::string LoadCurvePublicKeyFile(const std::string& path);

// First 8 characters of a Z85 public key: enough to tell keys apart in logs.
std::string Fingerprint(const std::string& public_z85);

}  // namespace fsd::transport
