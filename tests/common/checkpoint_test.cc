#include "common/storage/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>

#include "common/errors.h"
#include "common/storage/sealed_file.h"
#include "tests/testing/temp_dir.h"

namespace fsd::storage {
namespace {

Checkpoint Sample() {
  return {7,
          0xabcdef,
          {1.0f, 0.0f, -2.0f},
          {3, 4},
          {1.0f, 2.0f, 3.0f, 4.0f},
          5,
          {1, 0, 1},
          6,
          {1.5, 2.0},
          {0.25, 0.5},
          2,
          {0.5f, 0.0f, -0.25f},
          {1e-6f, 1e-6f, 0.125f},
          {{"key-a", 12}, {"key-b", UINT64_MAX}}};
}

TEST(AtomicFileTest, WritesMode0600AndNeverFollowsAPlantedTempSymlink) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("victim"), "precious");
  // Someone plants checkpoint.bin.tmp -> victim before the coordinator writes.
  std::filesystem::create_symlink(dir.File("victim"), dir.File("c.bin.tmp"));
  WriteCheckpoint(dir.File("c.bin"), Sample());
  EXPECT_EQ(testing::ReadFile(dir.File("victim")), "precious");
  EXPECT_FALSE(std::filesystem::exists(dir.File("c.bin.tmp")));
  const auto perms = std::filesystem::status(dir.File("c.bin")).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(ReadCheckpoint(dir.File("c.bin"), 100, 10).round, 7u);
}

TEST(CheckpointTest, RoundTripsEveryField) {
  testing::TempDir dir;
  WriteCheckpoint(dir.File("c.bin"), Sample());
  const auto read = ReadCheckpoint(dir.File("c.bin"), 100, 10);
  EXPECT_EQ(read.round, 7u);
  EXPECT_EQ(read.schema_fingerprint, 0xabcdefu);
  EXPECT_EQ(read.global, Sample().global);
  EXPECT_EQ(read.class_counts, Sample().class_counts);
  EXPECT_EQ(read.mean_logits, Sample().mean_logits);
  EXPECT_EQ(read.mask_round, 5u);
  EXPECT_EQ(read.mask, Sample().mask);
  EXPECT_EQ(read.privacy_steps, 6);
  EXPECT_EQ(read.privacy_orders, Sample().privacy_orders);
  EXPECT_EQ(read.privacy_rdp, Sample().privacy_rdp);
  EXPECT_EQ(read.server_optimizer, 2);
  EXPECT_EQ(read.server_m, Sample().server_m);
  EXPECT_EQ(read.server_v, Sample().server_v);
  EXPECT_EQ(read.excluded, Sample().excluded);
}

TEST(CheckpointTest, ReadsTheFormatBeforeExclusionsWithNone) {
  testing::TempDir dir;
  const Checkpoint sample = Sample();
  ByteWriter v5;  // FSDCKPT5: every field up to the server optimizer
  v5.Bytes("FSDCKPT5", 8);
  v5.Put(sample.round);
  v5.Put(sample.schema_fingerprint);
  v5.PutArray<float>(sample.global);
  v5.PutArray<std::int64_t>(sample.class_counts);
  v5.PutArray<float>(sample.mean_logits);
  v5.Put(sample.mask_round);
  v5.PutArray<std::uint8_t>(sample.mask);
  v5.Put(sample.privacy_steps);
  v5.PutArray<double>(sample.privacy_orders);
  v5.PutArray<double>(sample.privacy_rdp);
  v5.Put(sample.server_optimizer);
  v5.PutArray<float>(sample.server_m);
  v5.PutArray<float>(sample.server_v);
  WriteSealedFile(dir.File("c.bin"), v5.bytes());
  const auto read = ReadCheckpoint(dir.File("c.bin"), 100, 10);
  EXPECT_EQ(read.server_v, sample.server_v);
  EXPECT_TRUE(read.excluded.empty());
}

TEST(CheckpointTest, RefusesAnExclusionListBomb) {
  testing::TempDir dir;
  auto sample = Sample();
  sample.excluded.clear();
  WriteCheckpoint(dir.File("c.bin"), sample);
  // The exclusion count is the body's last u64: claim 2^40 entries.
  ByteWriter body;
  auto unsealed = ReadSealedFile(dir.File("c.bin"), 1 << 20);
  std::uint64_t bomb = std::uint64_t{1} << 40;
  std::memcpy(unsealed.data() + unsealed.size() - 8, &bomb, 8);
  body.Bytes(unsealed.data(), unsealed.size());
  WriteSealedFile(dir.File("c.bin"), body.bytes());
  try {
    ReadCheckpoint(dir.File("c.bin"), 100, 10);
    ADD_FAILURE() << "read an exclusion list of 2^40 entries";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("excluded clients, limit"), std::string::npos) << e.what();
  }
}

TEST(CheckpointTest, ReadsTheFormerFormatAsRunWithoutAServerOptimizer) {
  testing::TempDir dir;
  const Checkpoint sample = Sample();
  ByteWriter v4;  // FSDCKPT4: the same fields up to the privacy account
  v4.Bytes("FSDCKPT4", 8);
  v4.Put(sample.round);
  v4.Put(sample.schema_fingerprint);
  v4.PutArray<float>(sample.global);
  v4.PutArray<std::int64_t>(sample.class_counts);
  v4.PutArray<float>(sample.mean_logits);
  v4.Put(sample.mask_round);
  v4.PutArray<std::uint8_t>(sample.mask);
  v4.Put(sample.privacy_steps);
  v4.PutArray<double>(sample.privacy_orders);
  v4.PutArray<double>(sample.privacy_rdp);
  WriteSealedFile(dir.File("c.bin"), v4.bytes());
  const auto read = ReadCheckpoint(dir.File("c.bin"), 100, 10);
  EXPECT_EQ(read.round, 7u);
  EXPECT_EQ(read.global, sample.global);
  EXPECT_EQ(read.privacy_rdp, sample.privacy_rdp);
  EXPECT_EQ(read.server_optimizer, 0);
  EXPECT_TRUE(read.server_m.empty());
  EXPECT_TRUE(read.server_v.empty());
}

TEST(CheckpointTest, RefusesCorruptionOversizeAndInconsistentContent) {
  testing::TempDir dir;
  const std::string path = dir.File("c.bin");
  WriteCheckpoint(path, Sample());
  std::string bytes = testing::ReadFile(path);
  bytes[30] ^= 0x04;
  testing::WriteFile(path, bytes);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);  // digest
  WriteCheckpoint(path, Sample());
  EXPECT_THROW(ReadCheckpoint(path, 2, 10), DataError);  // more values than the model has
  auto bad = Sample();
  bad.global[1] = NAN;
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.class_counts[0] = -1;
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.mask_round = 0;  // a mask without its round
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.mask = {1, 2, 1};
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.privacy_rdp = {0.25};  // one RDP value for two orders
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.server_optimizer = 9;  // no such optimizer
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.server_v[2] = INFINITY;
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  bad = Sample();
  bad.privacy_orders[0] = 1.0;  // orders are > 1
  WriteCheckpoint(path, bad);
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
  testing::WriteFile(path,
                     "FSDCKPT3 and then some bytes that are long enough to pass the size checks");
  EXPECT_THROW(ReadCheckpoint(path, 100, 10), DataError);
}

}  // namespace
}  // namespace fsd::storage
