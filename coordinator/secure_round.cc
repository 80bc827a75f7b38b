#include "coordinator/secure_round.h"

#include <algorithm>
#include <cmath>

#include "common/errors.h"
#include "common/log.h"
#include "common/wire/frame.h"
#include "coordinator/clock.h"
#include "coordinator/update_validator.h"
#include "privacy/secagg/ring_vector.h"

namespace fsd::coordinator {
namespace {

using privacy::SecAggId;
using wire::RejectCode;

std::vector<SecAggId> Ids(std::size_t n) {
  std::vector<SecAggId> ids;
  for (std::size_t i = 1; i <= n; ++i) ids.push_back(static_cast<SecAggId>(i));
  return ids;
}

privacy::SecAggGraph MakeGraph(std::size_t n, std::uint32_t degree, std::uint64_t seed) {
  return degree == 0 ? privacy::SecAggGraph::Complete(Ids(n))
                     : privacy::SecAggGraph::Harary(Ids(n), static_cast<int>(degree), seed);
}

// The graph's degree (0: complete) and the threshold for a cohort of n.
SecureRound::Graph GraphFor(const config::SecureAggregationConfig& c, std::size_t n) {
  std::uint32_t degree = 0;
  std::uint32_t sparse_threshold = 0;
  if (c.graph == config::SecAggGraphKind::kSparse) {
    try {
      const auto harary =
          privacy::FindHararyParameters(static_cast<int>(n), c.adversarial_rate, c.dropout_rate);
      degree = static_cast<std::uint32_t>(harary.degree);
      sparse_threshold = static_cast<std::uint32_t>(harary.threshold);
    } catch (const ConfigError& e) {
      // Small cohorts: no sparse graph is both secure and correct.
      FSD_LOG(INFO) << e.what() << "; this round uses the complete graph";
    }
  }
  const std::uint32_t neighbourhood = degree == 0 ? static_cast<std::uint32_t>(n) : degree + 1;
  std::uint32_t threshold = 0;
  if (c.threshold == 0.0) {
    threshold = degree == 0 ? neighbourhood / 2 + 1 : sparse_threshold;
  } else if (c.threshold <= 1.0) {
    threshold = static_cast<std::uint32_t>(std::ceil(c.threshold * neighbourhood - 1e-9));
  } else {
    threshold = static_cast<std::uint32_t>(c.threshold);
  }
  return {degree, std::clamp<std::uint32_t>(threshold, 2, neighbourhood)};
}

// Integer weights 1..2^bits − 1, the heaviest at the top (bits 0: all 1).
std::vector<std::uint32_t> IntegerWeights(const std::vector<double>& weights, int bits) {
  const double top = static_cast<double>((std::uint64_t{1} << bits) - 1);
  const double heaviest = *std::max_element(weights.begin(), weights.end());
  std::vector<std::uint32_t> out;
  for (const double w : weights) {
    out.push_back(bits == 0 || !(heaviest > 0.0)
                      ? 1u
                      : static_cast<std::uint32_t>(std::max(1.0, std::round(top * w / heaviest))));
  }
  return out;
}

privacy::SecureInputLayout LayoutFor(const SecureRoundSetup& setup) {
  const auto& c = setup.config;
  return {
      setup.kept,
      setup.classes,
      static_cast<unsigned>(c.bits),
      c.range,
      c.logit_range,
      privacy::SecureRingBits(static_cast<unsigned>(c.bits), static_cast<unsigned>(c.weight_bits),
                              setup.cohort.size(), setup.total_samples)};
}

SecureRoundSetup Checked(SecureRoundSetup setup) {
  FSD_CHECK(setup.cohort.size() >= 2 && setup.weights.size() == setup.cohort.size())
      << "secure round of " << setup.cohort.size() << " clients";
  return setup;
}

std::map<std::string, SecAggId> IdsOf(const std::vector<std::string>& keys) {
  std::map<std::string, SecAggId> ids;
  for (std::size_t i = 0; i < keys.size(); ++i) ids[keys[i]] = static_cast<SecAggId>(i + 1);
  return ids;
}

}  // namespace

SecureRound::SecureRound(SecureRoundSetup setup)
    : setup_(Checked(std::move(setup))),
      ids_(IdsOf(setup_.cohort)),
      weights_(IntegerWeights(setup_.weights, setup_.config.weight_bits)),
      graph_(GraphFor(setup_.config, setup_.cohort.size())),
      layout_(LayoutFor(setup_)),
      parameters_{setup_.round, static_cast<int>(graph_.threshold), layout_.ring_bits,
                  layout_.length()},
      server_(parameters_, MakeGraph(setup_.cohort.size(), graph_.degree, setup_.graph_seed), [&] {
        const auto ids = Ids(setup_.cohort.size());
        return std::set<SecAggId>(ids.begin(), ids.end());
      }()) {}

wire::SecAggStart SecureRound::StartFor(const std::string& key) const {
  const SecAggId id = IdOf(key);
  return {id,
          static_cast<std::uint32_t>(setup_.cohort.size()),
          static_cast<std::uint32_t>(parameters_.threshold),
          graph_.degree,
          setup_.graph_seed,
          layout_.ring_bits,
          layout_.bits,
          layout_.range,
          layout_.logit_range,
          weights_[id - 1],
          layout_.length()};
}

bool SecureRound::Waiting(const std::set<std::string>& present) const {
  if (stage_ == Stage::kDone) return false;
  const int stage = static_cast<int>(stage_);
  // Who is expected now: everyone at first, then whoever completed the stage before.
  for (const auto& key : present) {
    if (!member(key) || sent_[stage].contains(key)) continue;
    if (stage == 0 || sent_[stage - 1].contains(key)) return true;
  }
  return false;
}

std::size_t SecureRound::masked_frame_bytes() const {
  // Envelope, payload (marker byte + i64 + f64 + u32 + u64 + u64 + the disputed
  // list, at most one id per cohort member), section header, packed elements.
  return wire::kEnvelopeBytes + 1 + 36 + 8 + 4 * setup_.cohort.size() + wire::kTensorHeaderBytes +
         (layout_.length() * layout_.ring_bits + 7) / 8;
}

std::optional<wire::Reject> SecureRound::Guard(const std::string& key, Stage stage,
                                               std::size_t frame_bytes,
                                               const std::function<void(SecAggId)>& act) {
  const int index = static_cast<int>(stage);
  if (sent_[index].contains(key)) {
    return wire::Reject{RejectCode::kDuplicate, "second message of this secure-aggregation stage"};
  }
  const double start = ThreadCpuSeconds();
  try {
    act(IdOf(key));
  } catch (const DataError& e) {
    figures_[index].cpu_s += ThreadCpuSeconds() - start;
    return wire::Reject{RejectCode::kInvalidValue, e.what()};
  }
  figures_[index].cpu_s += ThreadCpuSeconds() - start;
  figures_[index].bytes_up += static_cast<std::int64_t>(frame_bytes);
  ++figures_[index].clients;
  sent_[index].insert(key);
  return std::nullopt;
}

std::optional<wire::Reject> SecureRound::OnKeys(const std::string& key,
                                                const wire::SecAggKeys& keys,
                                                std::size_t frame_bytes) {
  if (keys.id != 0 && keys.id != IdOf(key)) {
    return wire::Reject{RejectCode::kInvalidValue,
                        "SECAGG_KEYS names id " + std::to_string(keys.id) + ", the sender's is " +
                            std::to_string(IdOf(key))};
  }
  return Guard(key, Stage::kAdvertise, frame_bytes, [&](SecAggId id) {
    server_.AcceptKeys({id, keys.encryption_key, keys.mask_key}, keys.self_mask_commitment);
  });
}

std::optional<wire::Reject> SecureRound::OnShares(const std::string& key,
                                                  const wire::SecAggShares& shares,
                                                  std::size_t frame_bytes) {
  return Guard(key, Stage::kShareKeys, frame_bytes, [&](SecAggId id) {
    std::vector<privacy::SealedShares> sealed;
    for (const auto& share : shares.shares) sealed.push_back({id, share.peer, share.sealed});
    server_.AcceptShares(id, std::move(sealed));
  });
}

std::optional<wire::Reject> SecureRound::OnMasked(const std::string& key,
                                                  const wire::SecAggMasked& masked,
                                                  std::int64_t declared, std::size_t frame_bytes) {
  const auto refuse = [](RejectCode code, const std::string& text) {
    // (append, not "literal" + text: GCC 12 warns falsely about the inlined
    // insert of the latter in some builds, -Warray-bounds)
    return wire::Reject{code, std::string("SECAGG_MASKED: ").append(text)};
  };
  if (auto refusal = CheckUploadHeader(
          {masked.withheld, masked.sample_count, masked.train_loss, masked.mask_round},
          /*distributed_dp=*/setup_.withheld != 0, declared, setup_.max_train_loss,
          setup_.mask_round)) {
    return refuse(refusal->code, refusal->text);
  }
  if (masked.clamped > layout_.length()) {
    return refuse(RejectCode::kInvalidValue, "clamped " + std::to_string(masked.clamped) + " of " +
                                                 std::to_string(layout_.length()) + " elements");
  }
  if (masked.masked.count != layout_.length()) {
    return refuse(RejectCode::kSchemaMismatch, std::to_string(masked.masked.count) +
                                                   " elements, the round's vector has " +
                                                   std::to_string(layout_.length()));
  }
  const std::set<privacy::SecAggId> disputed(masked.disputed.begin(), masked.disputed.end());
  if (disputed.size() != masked.disputed.size()) {
    return refuse(RejectCode::kInvalidValue, "the disputed list repeats an id");
  }
  auto result = Guard(key, Stage::kMaskedInput, frame_bytes, [&](SecAggId id) {
    // UnpackBits checks the exact size and the zero padding (DataError).
    server_.AcceptMaskedInput(
        id, privacy::UnpackBits(masked.masked.bytes, layout_.ring_bits, layout_.length()),
        disputed);
  });
  if (!result) {
    reports_[key] = {key, weights_[IdOf(key) - 1], masked.sample_count, masked.train_loss,
                     masked.clamped};
  }
  return result;
}

std::optional<wire::Reject> SecureRound::OnReveal(const std::string& key,
                                                  const wire::SecAggReveal& reveal,
                                                  std::size_t frame_bytes) {
  return Guard(key, Stage::kUnmask, frame_bytes, [&](SecAggId id) {
    privacy::UnmaskShares shares;
    shares.from = id;
    const auto fill = [&](const std::vector<wire::RevealedShare>& from,
                          std::map<SecAggId, privacy::ShamirShare>& to) {
      for (const auto& share : from) {
        if (!to.emplace(share.owner, privacy::ShamirShare{share.x, share.y}).second) {
          throw DataError("two shares for client " + std::to_string(share.owner));
        }
      }
    };
    fill(reveal.self_mask, shares.self_mask);
    fill(reveal.mask_key, shares.mask_key);
    server_.AcceptUnmask(shares);
  });
}

bool SecureRound::Fail(const std::string& reason) {
  failure_reason_ = reason;
  return false;
}

template <typename Make>
bool SecureRound::EndStage(Stage stage, bool (privacy::SecAggServer::*close)(), Make make,
                           Outbox& out) {
  const int index = static_cast<int>(stage);
  const double start = ThreadCpuSeconds();
  const bool closed = (server_.*close)();
  if (closed) {
    for (const auto& key : sent_[index]) out.emplace_back(key, make(IdOf(key)));
  }
  figures_[index].cpu_s += ThreadCpuSeconds() - start;
  if (!closed) return Fail(server_.failure_reason());
  stage_ = static_cast<Stage>(index + 1);
  return true;
}

bool SecureRound::CloseAdvertise(Outbox& out) {
  return EndStage(
      Stage::kAdvertise, &privacy::SecAggServer::CloseAdvertise,
      [&](SecAggId id) {
        wire::SecAggRoster roster;
        for (const auto& m : server_.RosterFor(id)) {
          roster.members.push_back({m.id, m.encryption_key, m.mask_key});
        }
        return wire::Body(std::move(roster));
      },
      out);
}

bool SecureRound::CloseShareKeys(Outbox& out) {
  return EndStage(
      Stage::kShareKeys, &privacy::SecAggServer::CloseShareKeys,
      [&](SecAggId id) {
        wire::SecAggDelivered delivered;
        for (auto& share : server_.SharesFor(id)) {
          delivered.shares.push_back({share.from, std::move(share.sealed)});
        }
        return wire::Body(std::move(delivered));
      },
      out);
}

bool SecureRound::CloseMaskedInput(Outbox& out) {
  return EndStage(
      Stage::kMaskedInput, &privacy::SecAggServer::CloseMaskedInput,
      [&](SecAggId) {
        return wire::Body(wire::SecAggUnmask{
            std::vector<std::uint32_t>(server_.survivors().begin(), server_.survivors().end())});
      },
      out);
}

bool SecureRound::Finish() {
  const double start = ThreadCpuSeconds();
  const bool finished = server_.Finish();
  figures_[3].cpu_s += ThreadCpuSeconds() - start;
  if (!finished) return Fail(server_.failure_reason());
  std::uint64_t announced = 0;
  for (const auto& [key, report] : reports_) announced += report.weight;
  result_ = privacy::DecodeSecureSum(layout_, server_.sum(), announced);
  stage_ = Stage::kDone;
  return true;
}

std::vector<std::string> SecureRound::culprits() const {
  std::vector<std::string> keys;
  for (const auto id : server_.culprits()) keys.push_back(setup_.cohort[id - 1]);
  return keys;
}

std::vector<std::pair<std::string, std::string>> SecureRound::disputes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [accuser, accused] : server_.disputes()) {
    for (const auto id : accused)
      out.emplace_back(setup_.cohort[accuser - 1], setup_.cohort[id - 1]);
  }
  return out;
}

std::vector<SecureRound::Report> SecureRound::survivors() const {
  std::vector<Report> out;
  for (const auto& [key, report] : reports_) out.push_back(report);
  return out;
}

std::vector<std::string> SecureRound::Incomplete() const {
  std::vector<std::string> out;
  const std::set<std::string>& last = sent_[std::min(static_cast<int>(stage_), kStages - 1)];
  for (const auto& key : setup_.cohort) {
    if (!last.contains(key)) out.push_back(key);
  }
  return out;
}

std::set<std::string> Disputants(const std::vector<std::pair<std::string, std::string>>& disputes) {
  // Every dispute has a hostile side (an honest client reports a seal that
  // did not open; honest senders' seals open), so the excluded set must
  // cover every dispute. Greedily: the client in the most disputes goes
  // first (an attacker that seals garbage for many neighbours, or accuses
  // many, is alone in all of them); a dispute that stands alone cannot be
  // decided, and both sides go.
  std::map<std::string, std::set<std::string>> against;
  for (const auto& [a, b] : disputes) {
    against[a].insert(b);
    against[b].insert(a);
  }
  std::set<std::string> out;
  while (true) {
    auto most = against.end();
    for (auto it = against.begin(); it != against.end(); ++it) {
      if (most == against.end() || it->second.size() > most->second.size()) most = it;
    }
    if (most == against.end() || most->second.empty()) break;
    if (most->second.size() == 1) {  // only pairs left
      for (const auto& [key, others] : against)
        if (!others.empty()) out.insert(key);
      break;
    }
    out.insert(most->first);
    for (const auto& other : most->second) against[other].erase(most->first);
    most->second.clear();
  }
  return out;
}

nlohmann::json SecureRound::Record(std::size_t survivors, std::uint64_t clamped) const {
  const auto& figures = figures_;
  static constexpr const char* kStageNames[] = {"advertise", "share_keys", "masked_input",
                                                "unmask"};
  nlohmann::json stages = nlohmann::json::object();
  for (int i = 0; i < SecureRound::kStages; ++i) {
    stages[kStageNames[i]] = {{"clients", figures[i].clients},
                              {"bytes_up", figures[i].bytes_up},
                              {"coordinator_cpu_s", figures[i].cpu_s},
                              {"seconds", figures[i].seconds}};
  }
  return {{"cohort", cohort_size()},  {"threshold", threshold()}, {"graph_degree", degree()},
          {"ring_bits", ring_bits()}, {"survivors", survivors},   {"clamped", clamped},
          {"stages", stages}};
}

}  // namespace fsd::coordinator
