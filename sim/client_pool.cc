#include "sim/client_pool.h"

#include <algorithm>
#include <thread>

#include "common/log.h"

namespace fsd::sim {

using Clock = std::chrono::steady_clock;

ClientPool::ClientPool(std::vector<std::int64_t> shard_sizes, std::size_t checked_in,
                       std::uint64_t seed, MakeNode make_node, const FaultPlan& faults)
    : shard_sizes_(std::move(shard_sizes)),
      make_node_(std::move(make_node)),
      faults_(faults),
      rng_(random::StreamEngine(seed, {.name = "check-in-churn"})),
      eligible_after_(shard_sizes_.size(), 0),
      back_at_(shard_sizes_.size()),
      incarnations_(shard_sizes_.size(), 0) {
  for (std::size_t k = 0; k < shard_sizes_.size(); ++k) {
    if (shard_sizes_[k] > 0) offline_.push_back(k);
  }
  population_ = offline_.size();
  checked_in_ = std::min(checked_in, population_);
}

void ClientPool::CheckIn(std::size_t client, TimePoint now) {
  const std::uint64_t incarnation = ++incarnations_[client];
  auto [it, added] = online_.emplace(client, Online{incarnation, make_node_(client), {}, 0});
  it->second.node.Start(now);
  ++check_ins_;
  items_stale_ = true;
}

void ClientPool::Vanish(std::size_t client, std::uint64_t round, bool deliver) {
  const auto it = online_.find(client);
  if (it == online_.end()) return;
  if (deliver) it->second.node.DeliverQueuedOnClose();
  online_.erase(it);
  eligible_after_[client] = round;
  back_at_[client] = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(faults_.offline_s()));
  offline_.push_back(client);
  items_stale_ = true;
}

bool ClientPool::DropOut(std::size_t client, std::uint64_t round) {
  if (churn()) {
    Vanish(client, round, /*deliver=*/true);
    return true;
  }
  const auto it = online_.find(client);
  if (it == online_.end()) return true;
  auto& session = it->second.node.session();
  if (session.secure_round() == round) session.AbandonSecureRound();
  return false;
}

void ClientPool::CheckOut(std::size_t client, std::uint64_t round) {
  const auto it = online_.find(client);
  if (it == online_.end()) return;
  it->second.node.SayBye("checked out");
  Vanish(client, round, /*deliver=*/true);
}

void ClientPool::Refill(TimePoint now) {
  if (finished_) return;  // the federation is over: nobody checks in
  for (std::size_t i = 0; i < restarts_.size();) {
    if (restarts_[i].first > now) {
      ++i;
      continue;
    }
    CheckIn(restarts_[i].second, now);
    restarts_.erase(restarts_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  const std::uint64_t committed = committed_;
  if (!churn()) {
    // Everyone stays checked in (only churn and crashes take clients
    // offline): the first call checks the whole population in.
    for (const std::size_t client : offline_) CheckIn(client, now);
    offline_.clear();
  }
  // With churn a client is drawn at random from those offline; one that
  // left a round not yet committed is passed over (a bounded number of
  // draws per call, so a population that is mostly waiting cannot stall
  // the hub).
  for (int passes = 0; churn() && online_.size() + restarts_.size() < checked_in_ &&
                       !offline_.empty() && passes < 64;) {
    const auto at = static_cast<std::size_t>(random::UniformBelow(rng_, offline_.size()));
    const std::size_t client = offline_[at];
    if (eligible_after_[client] > committed && back_at_[client] > now) {
      ++passes;
      continue;
    }
    offline_[at] = offline_.back();
    offline_.pop_back();
    CheckIn(client, now);
  }
  online_count_ = online_.size();
}

std::vector<RoundJob> ClientPool::Poll(std::chrono::milliseconds timeout) {
  Refill(Clock::now());
  if (items_stale_) {
    items_.clear();
    item_clients_.clear();
    for (auto& [client, online] : online_) {
      items_.push_back({online.node.socket().handle(), 0, ZMQ_POLLIN, 0});
      item_clients_.push_back(client);
    }
    items_stale_ = false;
  }
  std::vector<RoundJob> jobs;
  if (items_.empty()) {
    std::this_thread::sleep_for(timeout);
    return jobs;
  }
  zmq::poll(items_.data(), items_.size(), timeout);
  const auto now = Clock::now();
  for (std::size_t i = 0; i < items_.size(); ++i) {
    if ((items_[i].revents & ZMQ_POLLIN) == 0) continue;
    const std::size_t client = item_clients_[i];
    const auto it = online_.find(client);
    if (it == online_.end()) continue;  // left while handling an earlier socket
    const std::uint64_t incarnation = it->second.incarnation;
    for (auto& round : it->second.node.Receive(now)) {
      // A ROUND_START for round r says r − 1 committed (what a client pool
      // in its own process learns of the coordinator's progress).
      if (round.round > committed_ + 1) committed_ = round.round - 1;
      const std::uint64_t delivery = ++deliveries_[{client, round.round}];
      if (faults_.DropsOut(DropoutPoint::kBeforeTrain, client, round.round, delivery)) {
        Count(round.round, &FaultCounts::dropped_before_train);
        // (Secure rounds: after advertising its keys.)
        if (DropOut(client, round.round)) break;
        continue;
      }
      jobs.push_back(RoundJob{client, shard_sizes_[client], incarnation, std::move(round)});
    }
  }
  return jobs;
}

void ClientPool::Upload(RoundResult result) { Deliver(std::move(result), /*released=*/false); }

void ClientPool::Deliver(RoundResult result, bool released) {
  const std::size_t client = result.client;
  const auto it = online_.find(client);
  if (it == online_.end() || it->second.incarnation != result.incarnation) return;  // gone since
  const auto now = Clock::now();
  const std::uint64_t round = result.round.round;
  const std::uint64_t delivery = deliveries_[{client, round}];
  if (!released && faults_.IsStraggler(client) && faults_.straggler_factor() > 1.0) {
    const auto wait =
        std::chrono::duration<double>((faults_.straggler_factor() - 1.0) * result.train_s);
    held_.push_back({now + std::chrono::duration_cast<Clock::duration>(wait), std::move(result)});
    Count(round, &FaultCounts::straggling);
    return;
  }
  if (faults_.Crashes(client, round, delivery)) {
    Count(round, &FaultCounts::crashed);
    online_.erase(it);  // linger 0: whatever was queued is lost, as in a crash
    items_stale_ = true;
    const auto restart = std::chrono::duration<double>(faults_.restart_after_s());
    restarts_.emplace_back(now + std::chrono::duration_cast<Clock::duration>(restart), client);
    return;
  }
  if (faults_.DropsOut(DropoutPoint::kDuringTrain, client, round, delivery)) {
    Count(round, &FaultCounts::dropped_during_train);
    DropOut(client, round);
    return;
  }
  client::ClientNode& node = it->second.node;
  if (faults_.SendsGarbage(client, round, delivery)) {
    node.SendRaw(faults_.GarbageFrame(client, round, delivery), now);
    Count(round, &FaultCounts::garbage_frames);
  }
  // An upload after its round committed (a spare, a straggler) is refused
  // as stale; the client stays, since the next round may have sampled it.
  const bool late = committed_ >= round;
  const bool secure = result.round.secure;
  node.SendUpdate(result.round, std::move(result.trained), now);
  if (secure) {
    // The masked input may leave later (once the shares are in): Tick()
    // draws the after-upload dropout and checks out after unmasking.
    if (churn() && !late) it->second.leave_after = round;
    return;
  }
  if (faults_.DropsOut(DropoutPoint::kAfterUpload, client, round, delivery)) {
    Count(round, &FaultCounts::dropped_after_upload);
    DropOut(client, round);
    return;
  }
  if (churn() && !late) CheckOut(client, round);
}

void ClientPool::Tick() {
  const auto now = Clock::now();
  for (std::size_t i = 0; i < held_.size();) {
    if (held_[i].due > now) {
      ++i;
      continue;
    }
    RoundResult result = std::move(held_[i].result);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    Deliver(std::move(result), /*released=*/true);
  }
  const std::uint64_t committed = committed_;
  if (committed > pruned_through_) {
    std::erase_if(deliveries_, [&](const auto& entry) { return entry.first.second <= committed; });
    pruned_through_ = committed;
  }
  std::vector<std::pair<std::size_t, std::uint64_t>> dropped, leaving;
  for (auto& [client, online] : online_) {
    auto& session = online.node.session();
    const auto stage = session.secure_stage();
    if (stage == privacy::SecAggStage::kUnmask &&
        online.secure_decided != session.secure_rounds_started()) {
      // Drawn once per secure round started (a retried round draws again).
      online.secure_decided = session.secure_rounds_started();
      const std::uint64_t round = *session.secure_round();
      if (faults_.DropsOut(DropoutPoint::kAfterUpload, client, round, online.secure_decided)) {
        dropped.emplace_back(client, round);
        continue;
      }
    }
    if (online.node.finished()) {
      finished_ = true;
      continue;
    }
    if (online.leave_after && stage == privacy::SecAggStage::kDone) {
      leaving.emplace_back(client, *online.leave_after);
      continue;
    }
    online.node.Tick(now);
  }
  for (const auto& [client, round] : dropped) {
    Count(round, &FaultCounts::dropped_after_upload);
    DropOut(client, round);  // the masked input is out; no unmask answer
  }
  for (const auto& [client, round] : leaving) CheckOut(client, round);
  online_count_ = online_.size();
}

void ClientPool::Count(std::uint64_t round, int FaultCounts::*fault) {
  const std::lock_guard lock(counts_mutex_);
  ++(counts_[round].*fault);
}

nlohmann::json ClientPool::AllRoundFigures() {
  nlohmann::json figures = nlohmann::json::object();
  const std::lock_guard lock(counts_mutex_);
  for (const auto& [round, counts] : counts_) figures[std::to_string(round)] = counts.ToJson();
  return figures;
}

nlohmann::json ClientPool::TakeRoundFigures(std::uint64_t round) {
  nlohmann::json figures = {{"clients_checked_in", online_count_.load()}};
  const std::lock_guard lock(counts_mutex_);
  if (faults_.any()) figures.update(counts_[round].ToJson());
  std::erase_if(counts_, [&](const auto& entry) { return entry.first <= round; });
  return figures;
}

}  // namespace fsd::sim
