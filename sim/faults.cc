#include "sim/faults.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "common/random/streams.h"

namespace fsd::sim {

FaultPlan::FaultPlan(const config::FaultsConfig& faults, std::uint64_t seed, std::size_t clients)
    : faults_(faults), seed_(seed), any_(config::InjectsFaults(faults)), stragglers_(clients) {
  const auto count = static_cast<std::size_t>(
      std::llround(faults.straggler_fraction * static_cast<double>(clients)));
  std::vector<std::size_t> order(clients);
  std::iota(order.begin(), order.end(), std::size_t{0});
  random::Engine rng = random::StreamEngine(seed_, {.name = "fault-stragglers"});
  random::Shuffle(std::span(order), rng);
  for (std::size_t i = 0; i < count; ++i) stragglers_[order[i]] = true;
}

double FaultPlan::Draw(std::string_view fault, std::size_t client, std::uint64_t round,
                       std::uint64_t delivery) const {
  const std::uint64_t bits = random::DeriveSeed(
      seed_, {.name = fault, .round = round, .client = client, .attempt = delivery});
  return static_cast<double>(bits >> 11) * 0x1.0p-53;  // uniform in [0, 1)
}

bool FaultPlan::DropsOut(DropoutPoint point, std::size_t client, std::uint64_t round,
                         std::uint64_t delivery) const {
  switch (point) {
    case DropoutPoint::kBeforeTrain:
      return Draw("fault-before-train", client, round, delivery) < faults_.dropout_before_train;
    case DropoutPoint::kDuringTrain:
      return Draw("fault-during-train", client, round, delivery) < faults_.dropout_during_train;
    case DropoutPoint::kAfterUpload:
      return Draw("fault-after-upload", client, round, delivery) < faults_.dropout_after_upload;
  }
  return false;
}

bool FaultPlan::Crashes(std::size_t client, std::uint64_t round, std::uint64_t delivery) const {
  return Draw("fault-crash", client, round, delivery) < faults_.crash_rate;
}

bool FaultPlan::SendsGarbage(std::size_t client, std::uint64_t round,
                             std::uint64_t delivery) const {
  return Draw("fault-garbage", client, round, delivery) < faults_.garbage_rate;
}

std::vector<std::uint8_t> FaultPlan::GarbageFrame(std::size_t client, std::uint64_t round,
                                                  std::uint64_t delivery) const {
  random::Engine rng = random::StreamEngine(
      seed_,
      {.name = "fault-garbage-bytes", .round = round, .client = client, .attempt = delivery});
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
