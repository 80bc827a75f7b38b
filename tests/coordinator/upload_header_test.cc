// The checks an UPDATE and a SECAGG_MASKED share (coordinator/update_validator.h).
#include <gtest/gtest.h>

#include <cmath>

#include "common/wire/messages.h"
#include "coordinator/update_validator.h"

namespace fsd::coordinator {
namespace {

using wire::RejectCode;

constexpr std::uint32_t kAllWithheld = wire::kWithheldSampleCount | wire::kWithheldTrainLoss;

std::optional<RejectCode> CodeOf(const UploadHeader& header, bool distributed_dp) {
  const auto refusal = CheckUploadHeader(header, distributed_dp, /*declared_samples=*/100,
                                         /*max_train_loss=*/10.0, /*mask_round=*/3);
  if (refusal) return refusal->code;
  return std::nullopt;
}

TEST(UploadHeaderTest, AcceptsFiguresWithinTheDeclarationLimitsAndMask) {
  EXPECT_EQ(CodeOf({0, 100, 0.0, 3}, false), std::nullopt);
  EXPECT_EQ(CodeOf({0, 1, 10.0, 3}, false), std::nullopt);
  // Under distributed DP the figures are withheld and not checked.
  EXPECT_EQ(CodeOf({kAllWithheld, 0, 0.0, 3}, true), std::nullopt);
}

TEST(UploadHeaderTest, RefusesEachFigureOutsideItsBoundWithItsCode) {
  EXPECT_EQ(CodeOf({0, 0, 0.5, 3}, false), RejectCode::kLimitExceeded);
  EXPECT_EQ(CodeOf({0, 101, 0.5, 3}, false), RejectCode::kLimitExceeded);
  EXPECT_EQ(CodeOf({0, 50, -0.1, 3}, false), RejectCode::kInvalidValue);
  EXPECT_EQ(CodeOf({0, 50, 10.5, 3}, false), RejectCode::kInvalidValue);
  EXPECT_EQ(CodeOf({0, 50, std::nan(""), 3}, false), RejectCode::kInvalidValue);
  EXPECT_EQ(CodeOf({0, 50, 0.5, 2}, false), RejectCode::kSchemaMismatch);
}

TEST(UploadHeaderTest, WithholdingIsRequiredUnderDistributedDpAndRefusedWithoutIt) {
  EXPECT_EQ(CodeOf({kAllWithheld, 50, 0.5, 3}, false), RejectCode::kInvalidValue);
  EXPECT_EQ(CodeOf({wire::kWithheldSampleCount, 0, 0.0, 3}, true), RejectCode::kInvalidValue);
  EXPECT_EQ(CodeOf({0, 50, 0.5, 3}, true), RejectCode::kInvalidValue);
  const auto refusal = CheckUploadHeader({0, 50, 0.5, 3}, true, 100, 10.0, 3);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_NE(refusal->text.find("privacy.dp"), std::string::npos) << refusal->text;
}

}  // namespace
}  // namespace fsd::coordinator
