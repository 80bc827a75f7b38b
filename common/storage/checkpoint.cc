#include "common/storage/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/errors.h"
#include "common/storage/sealed_file.h"

namespace fsd::storage {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'D', 'C', 'K', 'P', 'T', '6'};
constexpr char kMagicV5[8] = {'F', 'S', 'D', 'C', 'K', 'P', 'T', '5'};
constexpr char kMagicV4[8] = {'F', 'S', 'D', 'C', 'K', 'P', 'T', '4'};
constexpr std::uint64_t kMaxExcluded = 1'000'000;
constexpr std::uint64_t kMaxKeyBytes = 256;
constexpr std::uint8_t kMaxServerOptimizer = 4;  // aggregation::ServerOptimizerKind::kAdagrad
constexpr char kRetiredPrefix[7] = {'F', 'S', 'D', 'C', 'K', 'P', 'T'};

}  // namespace

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  ByteWriter out;
  out.Bytes(kMagic, sizeof(kMagic));
  out.Put(checkpoint.round);
  out.Put(checkpoint.schema_fingerprint);
  out.PutArray<float>(checkpoint.global);
  out.PutArray<std::int64_t>(checkpoint.class_counts);
  out.PutArray<float>(checkpoint.mean_logits);
  out.Put(checkpoint.mask_round);
  out.PutArray<std::uint8_t>(checkpoint.mask);
  out.Put(checkpoint.privacy_steps);
  out.PutArray<double>(checkpoint.privacy_orders);
  out.PutArray<double>(checkpoint.privacy_rdp);
  out.Put(checkpoint.server_optimizer);
  out.PutArray<float>(checkpoint.server_m);
  out.PutArray<float>(checkpoint.server_v);
  out.Put(static_cast<std::uint64_t>(checkpoint.excluded.size()));
  for (const auto& [key, through] : checkpoint.excluded) {
    out.PutArray<std::uint8_t>(std::vector<std::uint8_t>(key.begin(), key.end()));
    out.Put(through);
  }
  WriteSealedFile(path, out.bytes());
}

Checkpoint ReadCheckpoint(const std::string& path, std::uint64_t max_values,
                          std::uint64_t max_classes) {
  constexpr std::uint64_t kMaxOrders = 1024;
  const std::uint64_t max_bytes = 64 + max_values * 13 + max_classes * 8 +
                                  max_classes * max_classes * 4 + 56 + kMaxOrders * 16 +
                                  kMaxExcluded * (16 + kMaxKeyBytes);
  const auto body = ReadSealedFile(path, max_bytes);
  ByteReader in(body, path);
  char magic[8];
  for (char& c : magic) c = in.Get<char>();
  const bool v4 = std::memcmp(magic, kMagicV4, 8) == 0;
  const bool v5 = std::memcmp(magic, kMagicV5, 8) == 0;
  if (!v4 && !v5 && std::memcmp(magic, kMagic, 8) != 0) {
    if (std::memcmp(magic, kRetiredPrefix, 7) == 0) {
      throw DataError(path + ": checkpoint of an earlier format (" + std::string(magic, 8) +
                      "); start a new run");
    }
    throw DataError(path + ": not an fsd checkpoint");
  }
  Checkpoint checkpoint;
  checkpoint.round = in.Get<std::uint64_t>();
  checkpoint.schema_fingerprint = in.Get<std::uint64_t>();
  checkpoint.global = in.GetArray<float>(max_values, "global model");
  checkpoint.class_counts = in.GetArray<std::int64_t>(max_classes, "class counts");
  const std::size_t classes = checkpoint.class_counts.size();
  checkpoint.mean_logits = in.GetArray<float>(max_classes * max_classes, "soft-target logits");
  checkpoint.mask_round = in.Get<std::uint64_t>();
  checkpoint.mask = in.GetArray<std::uint8_t>(max_values, "mask");
  checkpoint.privacy_steps = in.Get<std::int64_t>();
  checkpoint.privacy_orders = in.GetArray<double>(kMaxOrders, "privacy orders");
  checkpoint.privacy_rdp = in.GetArray<double>(kMaxOrders, "privacy RDP");
  if (!v4) {
    checkpoint.server_optimizer = in.Get<std::uint8_t>();
    checkpoint.server_m = in.GetArray<float>(max_values, "server optimizer first moment");
    checkpoint.server_v = in.GetArray<float>(max_values, "server optimizer second moment");
  }
  if (!v4 && !v5) {
    const auto excluded = in.Get<std::uint64_t>();
    if (excluded > kMaxExcluded || excluded > in.remaining() / 16) {
      throw DataError(path + ": " + std::to_string(excluded) + " excluded clients, limit " +
                      std::to_string(kMaxExcluded));
    }
    for (std::uint64_t i = 0; i < excluded; ++i) {
      const auto key = in.GetArray<std::uint8_t>(kMaxKeyBytes, "excluded client key");
      checkpoint.excluded.emplace_back(std::string(key.begin(), key.end()),
                                       in.Get<std::uint64_t>());
    }
  }
  in.ExpectEnd();
  if (checkpoint.server_optimizer > kMaxServerOptimizer) {
    throw DataError(path + ": unknown server optimizer " +
                    std::to_string(checkpoint.server_optimizer));
  }
  if (checkpoint.privacy_rdp.size() != checkpoint.privacy_orders.size() ||
      checkpoint.privacy_steps < 0 ||
      std::any_of(checkpoint.privacy_orders.begin(), checkpoint.privacy_orders.end(),
                  [](double a) { return !(a > 1.0) || !std::isfinite(a); }) ||
      std::any_of(checkpoint.privacy_rdp.begin(), checkpoint.privacy_rdp.end(),
                  [](double r) { return std::isnan(r) || r < 0.0; })) {
    throw DataError(path + ": privacy account is inconsistent (orders, RDP or steps)");
  }
  if (!checkpoint.mask.empty() && checkpoint.mask.size() != checkpoint.global.size()) {
    throw DataError(path + ": mask does not match the model");
  }
  if (checkpoint.mask.empty() != (checkpoint.mask_round == 0)) {
    throw DataError(path + ": mask round " + std::to_string(checkpoint.mask_round) +
                    (checkpoint.mask.empty() ? " without a mask" : " with a mask of round 0"));
  }
  const auto finite = [](const std::vector<float>& values) {
    return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
  };
  if (!finite(checkpoint.global) || !finite(checkpoint.mean_logits) ||
      !finite(checkpoint.server_m) || !finite(checkpoint.server_v)) {
    throw DataError(path + ": holds NaN or Inf");
  }
  if (std::any_of(checkpoint.class_counts.begin(), checkpoint.class_counts.end(),
                  [](std::int64_t n) { return n < 0; })) {
    throw DataError(path + ": negative class count");
  }
  if (std::any_of(checkpoint.mask.begin(), checkpoint.mask.end(), [](auto b) { return b > 1; })) {
    throw DataError(path + ": mask holds values other than 0 and 1");
  }
  if (checkpoint.mean_logits.size() != classes * classes) {
    throw DataError(path + ": soft-target logits do not match " + std::to_string(classes) +
                    " classes");
  }
  return checkpoint;
}

}  // namespace fsd::storage
