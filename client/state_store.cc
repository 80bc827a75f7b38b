#include "client/state_store.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "common/errors.h"
#include "common/storage/sealed_file.h"

namespace fsd::client {
namespace {

constexpr char kMagic[8] = {'F', 'S', 'D', 'S', 'T', 'A', 'T', '1'};
constexpr std::size_t kStatesKept = 2;

void CheckName(const std::string& client) {
  const bool ok = !client.empty() && std::all_of(client.begin(), client.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
  if (!ok) throw ConfigError("client name '" + client + "' must be [A-Za-z0-9_.-]+");
}

}  // namespace

ClientStateStore::ClientStateStore(std::string dir, std::uint64_t schema_fingerprint,
                                   std::size_t num_values)
    : dir_(std::move(dir)), schema_fingerprint_(schema_fingerprint), num_values_(num_values) {
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  if (error) throw IoError(dir_ + ": cannot create state directory: " + error.message());
}

std::string ClientStateStore::PathFor(const std::string& client, std::uint64_t round) const {
  return dir_ + "/" + client + ".r" + std::to_string(round) + ".state";
}

std::vector<std::uint64_t> ClientStateStore::SavedRounds(const std::string& client) const {
  std::vector<std::uint64_t> rounds;
  const std::string prefix = client + ".r";
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const std::string file = entry.path().filename().string();
    if (!file.starts_with(prefix) || !file.ends_with(".state")) continue;
    const std::string digits = file.substr(prefix.size(), file.size() - prefix.size() - 6);
    if (digits.empty() || digits.size() > 19 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    rounds.push_back(std::stoull(digits));
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds;
}

void ClientStateStore::Save(const std::string& client, std::uint64_t round,
                            std::span<const float> values) const {
  CheckName(client);
  FSD_CHECK(values.size() == num_values_) << values.size() << " values, model has " << num_values_;
  storage::ByteWriter out;
  out.Bytes(kMagic, sizeof(kMagic));
  out.Put(round);
  out.Put(schema_fingerprint_);
  out.PutArray<float>(values);
  storage::WriteSealedFile(PathFor(client, round), out.bytes());
  // Keep the newest states: the one just written and the one before it, which
  // a resume from the previous round needs.
  auto rounds = SavedRounds(client);
  while (rounds.size() > kStatesKept) {
    std::filesystem::remove(PathFor(client, rounds.front()));
    rounds.erase(rounds.begin());
  }
}

std::optional<std::vector<float>> ClientStateStore::LoadBefore(const std::string& client,
                                                               std::uint64_t round) const {
  CheckName(client);
  const auto rounds = SavedRounds(client);
  const auto it = std::lower_bound(rounds.begin(), rounds.end(), round);
  if (it == rounds.begin()) return std::nullopt;
  const std::string path = PathFor(client, *std::prev(it));
  const auto body = storage::ReadSealedFile(path, 64 + num_values_ * sizeof(float));
  storage::ByteReader in(body, path);
  char magic[8];
  for (char& c : magic) c = in.Get<char>();
  if (std::memcmp(magic, kMagic, 8) != 0) throw DataError(path + ": not an fsd client state");
  in.Get<std::uint64_t>();  // round, also in the file name
  if (in.Get<std::uint64_t>() != schema_fingerprint_) {
    throw DataError(path + ": state is for a different model");
  }
  auto values = in.GetArray<float>(num_values_, "weights");
  in.ExpectEnd();
  if (values.size() != num_values_) throw DataError(path + ": state is for a different model");
  if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
    throw DataError(path + ": holds NaN or Inf");
  }
  return values;
}

}  // namespace fsd::client
