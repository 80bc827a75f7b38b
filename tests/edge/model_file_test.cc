// The runtime model file (edge/model_file.h) without LibTorch: round trips,
// and every malformed file refused by name before anything is allocated.
#include "edge/model_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/errors.h"
#include "common/wire/sha256.h"
#include "edge/xnnpack_engine.h"
#include "tests/testing/temp_dir.h"

namespace fsd::edge {
namespace {

// A two-exit model on 4×4×1 images: conv 3×3 (2 filters) + ReLU + max-pool,
// then a head of global average pooling and a 2→3 classifier; stage 2 a
// 2→2 conv, head 2 the same shape of classifier.
EdgeModel Tiny() {
  EdgeModel m;
  m.in_channels = 1;
  m.height = m.width = 4;
  m.num_classes = 3;
  Layer conv{LayerKind::kConv2d,           1,           2, 3, 1, 1, true, 0,
             std::vector<float>(18, 0.1f), {0.0f, 0.5f}};
  Layer pool{LayerKind::kMaxPool2d, 0, 0, 2, 2, 0, false, 0, {}, {}};
  Layer gap{LayerKind::kGlobalAveragePool, 0, 0, 0, 1, 0, false, 0, {}, {}};
  Layer fc{LayerKind::kLinear, 2, 3, 0, 1, 0, false, 0, {1, 0, 0, 1, 1, -1}, {0.0f, 0.0f, 0.25f}};
  Layer conv2{LayerKind::kConv2d, 2, 2, 3, 1, 1, true, 0, std::vector<float>(36, -0.05f),
              {1.0f, 0.0f}};
  m.stages = {{{conv, pool}}, {{conv2}}};
  m.heads = {{{gap, fc}}, {{gap, fc}}};
  return m;
}

std::vector<std::uint8_t> Bytes() { return SerializeModel(Tiny()); }

std::string ErrorOf(const std::vector<std::uint8_t>& bytes) {
  try {
    ParseModel(bytes, "m.fsdm");
  } catch (const DataError& e) {
    return e.what();
  }
  return "no error";
}

TEST(EdgeModelFileTest, RoundTripsEveryLayer) {
  const EdgeModel parsed = ParseModel(Bytes(), "m.fsdm");
  ASSERT_EQ(parsed.num_exits(), 2);
  EXPECT_EQ(parsed.stages[0].layers[0].weights, Tiny().stages[0].layers[0].weights);
  EXPECT_EQ(parsed.heads[1].layers[1].bias, Tiny().heads[1].layers[1].bias);
  EXPECT_TRUE(parsed.stages[0].layers[0].relu);
  EXPECT_EQ(SerializeModel(parsed), Bytes());
}

TEST(EdgeModelFileTest, RefusesMalformedFilesByName) {
  auto bytes = Bytes();
  EXPECT_NE(ErrorOf({bytes.begin(), bytes.begin() + 30}).find("truncated"), std::string::npos);
  auto bad = bytes;
  bad[0] = 'X';
  EXPECT_NE(ErrorOf(bad).find("bad magic"), std::string::npos);
  bad = bytes;
  bad[4] = 9;  // version
  EXPECT_NE(ErrorOf(bad).find("format version 9"), std::string::npos);
  bad = bytes;
  bad.push_back(0);
  EXPECT_NE(ErrorOf(bad).find("trailing bytes"), std::string::npos);
  // The first layer's weight count (u64 after 7 u32 fields) announcing more than its shape.
  bad = bytes;
  const std::size_t first_layer = 4 + 4 * 6 + 4;  // header, then stage 1's layer count
  const std::uint64_t huge = 1ULL << 40;
  std::memcpy(bad.data() + first_layer + 7 * 4, &huge, 8);
  EXPECT_NE(ErrorOf(bad).find("the layer's shape needs 18"), std::string::npos);
  // A convolution reading more channels than its input has.
  bad = bytes;
  const std::uint32_t three = 3;
  std::memcpy(bad.data() + first_layer + 4, &three, 4);
  EXPECT_NE(ErrorOf(bad).find("convolution reads 3 channels, its input has 1"), std::string::npos);
  // A NaN weight.
  bad = bytes;
  const float nan = std::nanf("");
  std::memcpy(bad.data() + first_layer + 7 * 4 + 8, &nan, 4);
  EXPECT_NE(ErrorOf(bad).find("NaN or infinite"), std::string::npos);
}

TEST(EdgeModelFileTest, ReadsAFileOnlyWhenItsDigestMatches) {
  testing::TempDir dir;
  const std::string path = dir.File("m.fsdm");
  WriteModelFile(path, Tiny());
  const auto bytes = Bytes();
  const std::string digest = wire::ToHex(wire::Sha256({bytes}));
  EXPECT_EQ(ReadModelFile(path, digest).num_exits(), 2);
  std::string other = digest;
  other[0] = other[0] == 'a' ? 'b' : 'a';
  try {
    ReadModelFile(path, other);
    FAIL() << "a file whose digest differs from the manifest's was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the manifest"), std::string::npos);
  }
  EXPECT_THROW(ReadModelFile(dir.File("missing.fsdm"), digest), IoError);
  // A file far larger than any model is refused before it is read (a sparse file here).
  std::filesystem::resize_file(path, (std::uintmax_t{1} << 30) + 1);
  try {
    ReadModelFile(path, digest);
    FAIL() << "a 1 GiB model file was read";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("a model file holds at most"), std::string::npos);
  }
}

// One stage on 4x4x1 images: conv 1→2 (ReLU), conv 2→2, then the addition of
// the stage's input through a 1x1 projection 1→2 (ReLU); head: pool + 2→2.
EdgeModel TinyResidual() {
  EdgeModel m;
  m.in_channels = 1;
  m.height = m.width = 4;
  m.num_classes = 2;
  Layer conv1{LayerKind::kConv2d, 1, 2, 3, 1, 1, true, 0, std::vector<float>(18, 0.0f), {1, 2}};
  Layer conv2{LayerKind::kConv2d, 2, 2, 3, 1, 1, false, 0, std::vector<float>(36, 0.0f), {3, -9}};
  Layer add{LayerKind::kResidualAdd, 1, 2, 1, 1, 0, true, 0, {2.0f, -1.0f}, {0.5f, 0.0f}};
  Layer gap{LayerKind::kGlobalAveragePool, 0, 0, 0, 1, 0, false, 0, {}, {}};
  Layer fc{LayerKind::kLinear, 2, 2, 0, 1, 0, false, 0, {1, 0, 0, 1}, {0.0f, 0.0f}};
  m.stages = {{{conv1, conv2, add}}};
  m.heads = {{{gap, fc}}};
  return m;
}

TEST(EdgeModelFileTest, ResidualAdditionsNeedVersion2AndAConsistentShortcut) {
  // Models without additions stay version 1, which earlier runtimes read.
  EXPECT_EQ(Bytes()[4], 1);
  const auto bytes = SerializeModel(TinyResidual());
  EXPECT_EQ(bytes[4], 2);
  const EdgeModel parsed = ParseModel(bytes, "m.fsdm");
  EXPECT_EQ(parsed.stages[0].layers[2].kind, LayerKind::kResidualAdd);
  EXPECT_EQ(SerializeModel(parsed), bytes);
  const auto refused = [](EdgeModel m) { return ErrorOf(SerializeModel(m)); };
  auto m = TinyResidual();
  m.stages[0].layers[2].source = 2;  // its own input: not an earlier layer
  EXPECT_NE(refused(m).find("residual addition from layer 2"), std::string::npos) << refused(m);
  m = TinyResidual();
  m.stages[0].layers[2].source = 1;  // conv2's input has 2 channels, the projection reads 1
  EXPECT_NE(refused(m).find("residual addition of 1 to 2 channels"), std::string::npos)
      << refused(m);
  m = TinyResidual();
  m.stages[0].layers[2].kernel = 0;  // identity of 1 channel onto 2
  m.stages[0].layers[2].weights.clear();
  m.stages[0].layers[2].bias.clear();
  EXPECT_NE(refused(m).find("4x4x1 shortcut to a 4x4x2"), std::string::npos) << refused(m);
  m = TinyResidual();
  m.stages[0].layers[2].stride = 2;  // a 2x2 shortcut onto a 4x4 output
  EXPECT_NE(refused(m).find("2x2x2 shortcut to a 4x4x2"), std::string::npos) << refused(m);
  // A version 1 file cannot hold an addition.
  auto old = bytes;
  old[4] = 1;
  EXPECT_NE(ErrorOf(old).find("unknown kind 5 for format version 1"), std::string::npos);
}

// Runs one 4x4 single-channel image of constant `value` to exit 1 and checks
// its first logits.
void ExpectFirstExitLogits(XnnpackEngine& engine, float value, const std::vector<float>& expected) {
  const std::vector<float> image(16, value);
  const float* logits = engine.Run(image.data(), 1, 0);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(logits[i], expected[i], 1e-5) << "logit " << i << " for pixels " << value;
  }
}

TEST(XnnpackEngineTest, AddsTheProjectedShortcutAfterTheResidualBranch) {
  // Zero conv weights: conv1 → ReLU(bias) = (1, 2), conv2 → its bias (3, −9);
  // the projection of pixel value v is (2v + 0.5, −v); sum and ReLU:
  // (3.5 + 2v, max(0, −9 − v)) = (5.5, 0) for v = 1, then GAP and identity.
  XnnpackEngine engine(TinyResidual());
  ExpectFirstExitLogits(engine, 1.0f, {5.5f, 0.0f});
  ExpectFirstExitLogits(engine, -10.0f, {0.0f, 1.0f});  // −20 + 3.5 → 0; −9 + 10 = 1
}

TEST(XnnpackEngineTest, ComputesTheLayersByHand) {
  XnnpackEngine engine(Tiny());
  // A constant image of ones: conv output at every pixel = 0.1 × (in-bounds taps) + bias,
  // ReLU, 2×2 max-pool keeps the interior-most value: 0.1 × 9 (+0 / +0.5).
  // GAP over the 2×2 pooled map: every pooled value is the max of a 2×2 window
  // that includes an interior pixel (9 taps): 0.9 and 1.4.
  ExpectFirstExitLogits(engine, 1.0f, {0.9f, 1.4f, 0.9f - 1.4f + 0.25f});
  const std::vector<float> image(16, 1.0f);
  // Anytime with threshold 0 stops at exit 1 with the same logits.
  const auto [exit, early] = engine.RunUntilConfident(image.data(), 0.0);
  EXPECT_EQ(exit, 0);
  EXPECT_NEAR(early[1], 1.4f, 1e-5);
  EXPECT_EQ(engine.RunUntilConfident(image.data(), 1.0).first, 1);
}

}  // namespace
}  // namespace fsd::edge
