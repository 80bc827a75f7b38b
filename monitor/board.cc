#include "monitor/board.h"

#include <string_view>

namespace fsd::monitor {
namespace {

// The fields of `record` the status page plots.
nlohmann::json PagePoint(const nlohmann::json& record) {
  nlohmann::json point = nlohmann::json::object();
  for (const char* key :
       {"round", "outcome", "acc", "clients_selected", "clients_reported", "bytes_up", "bytes_down",
        "epsilon", "loss", "round_s", "collect_s", "eval_s"}) {
    if (const auto it = record.find(key); it != record.end()) point[key] = *it;
  }
  if (const auto secure = record.find("secure_aggregation");
      secure != record.end() && secure->is_object() && secure->contains("stages")) {
    nlohmann::json stage_s = nlohmann::json::object();
    for (const auto& [stage, figures] : (*secure)["stages"].items()) {
      stage_s[stage] = NumberField(figures, "seconds");
    }
    point["stage_s"] = std::move(stage_s);
  }
  return point;
}

}  // namespace

double NumberField(const nlohmann::json& record, const char* key, double missing) {
  const auto it = record.find(key);
  return it != record.end() && it->is_number() ? it->get<double>() : missing;
}

void Board::SetRun(RunInfo run) {
  std::lock_guard lock(mutex_);
  snapshot_.run = std::move(run);
}

void Board::SetLive(Live live) {
  std::lock_guard lock(mutex_);
  snapshot_.live = std::move(live);
}

void Board::AddRound(const nlohmann::json& record) {
  nlohmann::json point = PagePoint(record);
  std::lock_guard lock(mutex_);
  Totals& totals = snapshot_.totals;
  // bytes_{up,down}_KIND: the round's traffic by direction and kind.
  for (const auto& [key, value] : record.items()) {
    for (std::string_view direction : {"up", "down"}) {
      const std::string prefix = "bytes_" + std::string(direction) + "_";
      if (key.starts_with(prefix) && value.is_number()) {
        totals.bytes[{std::string(direction), key.substr(prefix.size())}] +=
            value.get<std::int64_t>();
      }
    }
  }
  const std::string outcome = record.value("outcome", std::string("committed"));
  if (outcome != "committed") ++totals.rounds_failed;
  if (const auto secure = record.find("secure_aggregation");
      secure != record.end() && secure->is_object()) {
    totals.secagg_dropouts += static_cast<std::int64_t>(NumberField(*secure, "cohort") -
                                                        NumberField(*secure, "survivors"));
    totals.secagg_clamped += static_cast<std::int64_t>(NumberField(*secure, "clamped"));
  }
  snapshot_.rounds.push_back(std::move(point));
  if (snapshot_.rounds.size() > kRoundsKept) snapshot_.rounds.pop_front();
  snapshot_.last_round = record;
}

Snapshot Board::Read() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

}  // namespace fsd::monitor
