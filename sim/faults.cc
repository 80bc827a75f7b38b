#include "sim/faults.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace fsd::sim {
namespace {

// Salts keep the draws of different faults independent.
enum Salt : std::uint64_t {
  kBeforeTrain = 1,
  kDuringTrain,
  kAfterUpload,
  kCrash,
  kGarbage,
  kGarbageBytes,
  kStragglers
};

std::uint64_t Mix(std::uint64_t x) {  // splitmix64's finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

FaultPlan::FaultPlan(const config::FaultsConfig& faults, std::uint64_t seed, std::size_t clients)
    : faults_(faults), seed_(seed), any_(config::InjectsFaults(faults)), stragglers_(clients) {
  const auto count = static_cast<std::size_t>(
      std::llround(faults.straggler_fraction * static_cast<double>(clients)));
  std::vector<std::size_t> order(clients);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937_64 rng(Mix(seed_ ^ Mix(kStragglers)));
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t i = 0; i < count; ++i) stragglers_[order[i]] = true;
}

double FaultPlan::Draw(std::uint64_t salt, std::size_t client, std::uint64_t round,
                       std::uint64_t delivery) const {
  const std::uint64_t bits = Mix(Mix(Mix(Mix(seed_ ^ Mix(salt)) ^ client) ^ round) ^ delivery);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;  // uniform in [0, 1)
}

bool FaultPlan::DropsOut(DropoutPoint point, std::size_t client, std::uint64_t round,
                         std::uint64_t delivery) const {
  switch (point) {
    case DropoutPoint::kBeforeTrain:
      return Draw(kBeforeTrain, client, round, delivery) < faults_.dropout_before_train;
    case DropoutPoint::kDuringTrain:
      return Draw(kDuringTrain, client, round, delivery) < faults_.dropout_during_train;
    case DropoutPoint::kAfterUpload:
      return Draw(kAfterUpload, client, round, delivery) < faults_.dropout_after_upload;
  }
  return false;
}

bool FaultPlan::Crashes(std::size_t client, std::uint64_t round, std::uint64_t delivery) const {
  return Draw(kCrash, client, round, delivery) < faults_.crash_rate;
}

bool FaultPlan::SendsGarbage(std::size_t client, std::uint64_t round,
                             std::uint64_t delivery) const {
  return Draw(kGarbage, client, round, delivery) < faults_.garbage_rate;
}

std::vector<std::uint8_t> FaultPlan::GarbageFrame(std::size_t client, std::uint64_t round,
                                                  std::uint64_t delivery) const {
  std::mt19937_64 rng(Mix(Mix(Mix(seed_ ^ Mix(kGarbageBytes)) ^ client) ^ round) ^ delivery);
  std::vector<std::uint8_t> frame(1 + rng() % 1024);
  for (auto& byte : frame) byte = static_cast<std::uint8_t>(rng());
  return frame;
}

std::size_t FaultPlan::num_stragglers() const {
  return static_cast<std::size_t>(std::count(stragglers_.begin(), stragglers_.end(), true));
}

nlohmann::json FaultCounts::ToJson() const {
  return {{"faults_dropped_before_train", dropped_before_train},
          {"faults_dropped_during_train", dropped_during_train},
          {"faults_dropped_after_upload", dropped_after_upload},
          {"faults_dropped", dropped()},
          {"faults_crashed", crashed},
          {"faults_garbage_frames", garbage_frames},
          {"faults_straggling", straggling}};
}

}  // namespace fsd::sim
