#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/errors.h"
#include "transport/curve_keys.h"
#include "tests/testing/temp_dir.h"

namespace fsd::transport {
namespace {

using fsd::testing::ReadFile;
using fsd::testing::TempDir;

// Runs `load`, expecting AuthError whose text has `fragment` and no key material.
template <typename Fn>
void ExpectAuthError(Fn load, const std::string& fragment, const CurveKeyPair& keys) {
  try {
    load();
    FAIL() << "expected AuthError";
  } catch (const AuthError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find(fragment), std::string::npos) << text;
    EXPECT_EQ(text.find(keys.secret_z85), std::string::npos) << "secret key leaked into: " << text;
  }
}

TEST(CurveKeysTest, GeneratedKeypairRoundTripsThroughFiles) {
  TempDir dir;
  const auto keys = GenerateCurveKeyPair();
  ASSERT_EQ(keys.public_z85.size(), 40u);
  WriteCurveKeyPair(dir.path(), "client-1", keys, /*overwrite=*/false);
  const auto loaded = LoadCurveSecretKeyFile(dir.File("client-1.key"));
  EXPECT_EQ(loaded.public_z85, keys.public_z85);
  EXPECT_EQ(loaded.secret_z85, keys.secret_z85);
  EXPECT_EQ(LoadCurvePublicKeyFile(dir.File("client-1.pub")), keys.public_z85);
  EXPECT_EQ(ReadFile(dir.File("client-1.pub")).find(keys.secret_z85), std::string::npos);
  struct stat info {};
  ASSERT_EQ(stat(dir.File("client-1.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(CurveKeysTest, TwoKeypairsDiffer) {
  EXPECT_NE(GenerateCurveKeyPair().secret_z85, GenerateCurveKeyPair().secret_z85);
}

TEST(CurveKeysTest, RefusesToOverwriteWithoutPermission) {
  TempDir dir;
  WriteCurveKeyPair(dir.path(), "a", GenerateCurveKeyPair(), false);
  EXPECT_THROW(WriteCurveKeyPair(dir.path(), "a", GenerateCurveKeyPair(), false), IoError);
  const auto replacement = GenerateCurveKeyPair();
  WriteCurveKeyPair(dir.path(), "a", replacement, true);
  EXPECT_EQ(LoadCurveSecretKeyFile(dir.File("a.key")).public_z85, replacement.public_z85);
}

TEST(CurveKeysTest, RefusesSecretFileReadableByOthers) {
  TempDir dir;
  const auto keys = GenerateCurveKeyPair();
  WriteCurveKeyPair(dir.path(), "a", keys, false);
  ASSERT_EQ(chmod(dir.File("a.key").c_str(), 0644), 0);
  ExpectAuthError([&] { LoadCurveSecretKeyFile(dir.File("a.key")); }, "mode 0644", keys);
}

TEST(CurveKeysTest, RejectsMalformedZ85) {
  TempDir dir;
  const auto keys = GenerateCurveKeyPair();
  std::string broken = keys.secret_z85;
  broken[5] = '~' + 1;  // outside the Z85 alphabet
  fsd::testing::WriteFile(dir.File("a.key"),
                          "public = \"" + keys.public_z85 + "\"\nsecret = \"" + broken + "\"\n");
  ASSERT_EQ(chmod(dir.File("a.key").c_str(), 0600), 0);
  ExpectAuthError([&] { LoadCurveSecretKeyFile(dir.File("a.key")); },
                  "'secret' is not a 40-character Z85 key", keys);
}

TEST(CurveKeysTest, RejectsPublicKeyNotMatchingSecretKey) {
  TempDir dir;
  const auto keys = GenerateCurveKeyPair();
  const auto other = GenerateCurveKeyPair();
  fsd::testing::WriteFile(dir.File("a.key"), "public = \"" + other.public_z85 + "\"\nsecret = \"" +
                                                 keys.secret_z85 + "\"\n");
  ASSERT_EQ(chmod(dir.File("a.key").c_str(), 0600), 0);
  ExpectAuthError([&] { LoadCurveSecretKeyFile(dir.File("a.key")); },
                  "does not match the secret key", keys);
}

TEST(CurveKeysTest, MissingFileIsIoError) {
  EXPECT_THROW(LoadCurveSecretKeyFile("/nonexistent/a.key"), IoError);
  EXPECT_THROW(LoadCurvePublicKeyFile("/nonexistent/a.pub"), IoError);
}

}  // namespace
}  // namespace fsd::transport
