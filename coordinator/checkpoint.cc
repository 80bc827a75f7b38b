#include "coordinator/checkpoint.h"

#include <cstring>

#include "common/errors.h"
#include "common/storage/sealed_file.h"

namespace fsd::coordinator {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'D', 'C', 'K', 'P', 'T', '2'};
constexpr char kRetiredMagic[8] = {'F', 'S', 'D', 'C', 'K', 'P', 'T', '1'};

}  // namespace

void WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  storage::ByteWriter out;
  out.Bytes(kMagic, sizeof(kMagic));
  out.Put(checkpoint.round);
  out.Put(checkpoint.schema_fingerprint);
  out.PutArray<float>(checkpoint.global);
  out.PutArray<std::int64_t>(checkpoint.soft_state.counts);
  out.PutArray<float>(checkpoint.soft_state.mean_logits);
  storage::WriteSealedFile(path, out.bytes());
}

Checkpoint ReadCheckpoint(const std::string& path, std::uint64_t max_values,
                          std::uint64_t max_classes) {
  const std::uint64_t max_bytes = 64 + max_values * 4 + max_classes * 8 + max_classes * max_classes * 4;
  const auto body = storage::ReadSealedFile(path, max_bytes);
  storage::ByteReader in(body, path);
  char magic[8];
  for (char& c : magic) c = in.Get<char>();
  if (std::memcmp(magic, kRetiredMagic, 8) == 0) {
    throw DataError(path + ": version-1 checkpoint (no soft-target state); start a new run");
  }
  if (std::memcmp(magic, kMagic, 8) != 0) throw DataError(path + ": not an fsd checkpoint");
  Checkpoint checkpoint;
  checkpoint.round = in.Get<std::uint64_t>();
  checkpoint.schema_fingerprint = in.Get<std::uint64_t>();
  checkpoint.global = in.GetArray<float>(max_values, "global model");
  checkpoint.soft_state.counts = in.GetArray<std::int64_t>(max_classes, "class counts");
  const std::size_t classes = checkpoint.soft_state.counts.size();
  checkpoint.soft_state.mean_logits =
      in.GetArray<float>(max_classes * max_classes, "soft-target logits");
  in.ExpectEnd();
  if (checkpoint.soft_state.mean_logits.size() != classes * classes) {
    throw DataError(path + ": soft-target logits do not match " + std::to_string(classes) +
                    " classes");
  }
  return checkpoint;
}

}  // namespace fsd::coordinator
