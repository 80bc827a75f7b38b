#include "sim/attack.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

#include "common/errors.h"
#include "common/random/streams.h"
#include "common/wire/frame.h"

namespace fsd::sim {
namespace {

const char* KindName(config::AttackKind kind) {
  switch (kind) {
    case config::AttackKind::kSignFlip:
      return "sign_flip";
    case config::AttackKind::kScale:
      return "scale";
    case config::AttackKind::kGaussian:
      return "gaussian";
    case config::AttackKind::kZero:
      return "zero";
    case config::AttackKind::kRandom:
      return "random";
    case config::AttackKind::kAlie:
      return "alie";
    case config::AttackKind::kLabelFlip:
      return "label_flip";
    case config::AttackKind::kLogitPoison:
      return "logit_poison";
    case config::AttackKind::kBadShare:
      return "bad_share";
    case config::AttackKind::kBadWeight:
      return "bad_weight";
    case config::AttackKind::kBadSeal:
      return "bad_seal";
  }
  return "unknown";
}

double StandardNormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

}  // namespace

std::vector<float> AttackedValues(config::AttackKind kind, double factor,
                                  std::span<const float> global, std::span<const float> trained,
                                  std::uint64_t seed) {
  FSD_CHECK(global.size() == trained.size())
      << "attack needs the round's global values: " << global.size() << " vs " << trained.size();
  const std::size_t n = trained.size();
  std::vector<float> out(n);
  std::mt19937_64 rng(seed);
  switch (kind) {
    case config::AttackKind::kSignFlip:
    case config::AttackKind::kScale: {
      const double sign = kind == config::AttackKind::kSignFlip ? -1.0 : 1.0;
      for (std::size_t i = 0; i < n; ++i) {
        const double delta = static_cast<double>(trained[i]) - global[i];
        out[i] = static_cast<float>(global[i] + sign * factor * delta);
      }
      return out;
    }
    case config::AttackKind::kGaussian: {
      double sum = 0.0, squares = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        const double delta = static_cast<double>(trained[i]) - global[i];
        sum += delta;
        squares += delta * delta;
      }
      const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
      const double variance =
          n > 0 ? std::max(0.0, squares / static_cast<double>(n) - mean * mean) : 0.0;
      std::normal_distribution<double> noise(0.0, factor * std::sqrt(variance));
      for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(global[i] + noise(rng));
      return out;
    }
    case config::AttackKind::kZero:
      std::copy(global.begin(), global.end(), out.begin());
      return out;
    case config::AttackKind::kRandom: {
      std::uniform_real_distribution<double> uniform(-factor, factor);
      for (auto& value : out) value = static_cast<float>(uniform(rng));
      return out;
    }
    case config::AttackKind::kAlie:
    case config::AttackKind::kLabelFlip:
    case config::AttackKind::kLogitPoison:
    case config::AttackKind::kBadShare:
    case config::AttackKind::kBadWeight:
    case config::AttackKind::kBadSeal:
      break;
  }
  throw InternalError(std::string("AttackedValues does not handle ") + KindName(kind));
}

std::vector<float> AlieValues(std::span<const std::vector<float>> honest, double z) {
  FSD_CHECK(!honest.empty()) << "alie needs at least one honest update";
  const std::size_t dim = honest.front().size();
  for (const auto& values : honest) FSD_CHECK(values.size() == dim) << "alie: unequal sizes";
  const auto k = static_cast<double>(honest.size());
  std::vector<float> out(dim);
  for (std::size_t i = 0; i < dim; ++i) {
    double sum = 0.0, squares = 0.0;
    for (const auto& values : honest) {
      sum += values[i];
      squares += static_cast<double>(values[i]) * values[i];
    }
    const double mean = sum / k;
    const double std = std::sqrt(std::max(0.0, squares / k - mean * mean));
    out[i] = static_cast<float>(mean - z * std);
  }
  return out;
}

double AlieZ(std::size_t n, std::size_t f) {
  FSD_CHECK(n > 0 && f <= n) << "alie z for n=" << n << " f=" << f;
  const auto supporters = static_cast<double>(n / 2 + 1) - static_cast<double>(f);  // ⌊n/2 + 1⌋ − f
  const double p = (static_cast<double>(n) - supporters) / static_cast<double>(n);
  if (p <= 0.0) return 0.0;
  // Φ⁻¹(p) by bisection: Φ is monotone, 100 halvings of [−10, 10] are exact in double.
  double lo = -10.0, hi = 10.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2.0;
    (StandardNormalCdf(mid) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2.0;
}

void PoisonSummary(aggregation::SoftTargetSummary& summary, double factor) {
  const std::size_t classes = summary.num_classes();
  FSD_CHECK(summary.mean_logits.size() == classes * classes) << "summary shape";
  for (std::size_t c = 0; c < classes; ++c) {
    float* row = summary.mean_logits.data() + c * classes;
    std::swap(row[c], row[(c + 1) % classes]);
    for (std::size_t j = 0; j < classes; ++j) row[j] = static_cast<float>(row[j] * factor);
  }
}

Attack::Attack(config::AttackConfig config, std::size_t num_clients, std::uint64_t seed)
    : config_(config), num_clients_(num_clients), seed_(seed) {
  FSD_CHECK(static_cast<std::size_t>(config_.clients) <= num_clients)
      << config_.clients << " attackers among " << num_clients << " clients";
  std::vector<std::size_t> order(num_clients);
  std::iota(order.begin(), order.end(), 0);
  random::Engine rng = random::StreamEngine(seed, {.name = "attackers"});
  random::Shuffle(std::span(order), rng);
  attackers_.insert(order.begin(), order.begin() + config_.clients);
}

bool Attack::Attacks(std::size_t client, std::uint64_t round) const {
  return IsAttacker(client) && round >= static_cast<std::uint64_t>(config_.start_round);
}

bool Attack::FlipsLabels(std::size_t client, std::uint64_t round) const {
  return config_.kind == config::AttackKind::kLabelFlip && Attacks(client, round);
}

std::int64_t Attack::DeclaredSamples(std::size_t client, std::int64_t true_samples) const {
  if (!IsAttacker(client) || config_.declared_samples <= 0.0) return true_samples;
  return static_cast<std::int64_t>(std::llround(config_.declared_samples));
}

void Attack::Apply(std::size_t client, const client::LocalRound& round,
                   client::TrainedRound& trained) const {
  if (!IsAttacker(client)) return;
  ClaimDeclaredSamples(client, trained);
  if (!Attacks(client, round.round) || coordinated()) return;
  switch (config_.kind) {
    case config::AttackKind::kSignFlip:
    case config::AttackKind::kScale:
    case config::AttackKind::kGaussian:
    case config::AttackKind::kZero:
    case config::AttackKind::kRandom:
      // Pruned coordinates do not travel (the session sends kept values only).
      trained.values = AttackedValues(
          config_.kind, config_.factor, round.global_values, trained.values,
          random::DeriveSeed(seed_,
                             {.name = "attack-values", .round = round.round, .client = client}));
      break;
    case config::AttackKind::kLogitPoison:
      PoisonSummary(trained.summary, config_.factor);
      break;
    case config::AttackKind::kLabelFlip:  // trained on flipped labels already
    case config::AttackKind::kAlie:
      break;
    case config::AttackKind::kBadShare:  // on the wire: FrameEditors
    case config::AttackKind::kBadWeight:
    case config::AttackKind::kBadSeal:
      return;
  }
  Log(round.round, client);
}

void Attack::InstallFrameEditors(std::size_t client, client::ClientNodeOptions& node) const {
  if (!IsAttacker(client)) return;
  // Edits one decoded frame in place; frames that do not decode pass unchanged.
  const auto editor = [this, client](auto edit) {
    return [this, client, edit](std::vector<std::uint8_t>& frame) {
      auto decoded = wire::DecodeFrame(frame, {});
      if (!decoded.ok() || !Attacks(client, decoded.value().round)) return;
      wire::Message message = std::move(decoded.value());
      if (!edit(message.body)) return;
      frame = wire::EncodeFrame(message);
      Log(message.round, client);
    };
  };
  switch (config_.kind) {
    case config::AttackKind::kBadShare:
      // One wrong Shamir share in the reveal.
      node.edit_outgoing = editor([](wire::Body& body) {
        auto* reveal = std::get_if<wire::SecAggReveal>(&body);
        if (reveal == nullptr) return false;
        auto& shares = reveal->self_mask.empty() ? reveal->mask_key : reveal->self_mask;
        if (shares.empty() || shares.front().y.empty()) return false;
        shares.front().y.front() ^= 1;
        return true;
      });
      break;
    case config::AttackKind::kBadSeal:
      // The sealed shares for its first neighbour do not open there.
      node.edit_outgoing = editor([](wire::Body& body) {
        auto* shares = std::get_if<wire::SecAggShares>(&body);
        if (shares == nullptr || shares->shares.empty() || shares->shares.front().sealed.empty())
          return false;
        shares->shares.front().sealed.back() ^= 1;  // the GCM tag
        return true;
      });
      break;
    case config::AttackKind::kBadWeight: {
      // Masks with its announced weight + factor.
      const auto extra = static_cast<std::uint32_t>(std::llround(config_.factor));
      node.edit_incoming = editor([extra](wire::Body& body) {
        auto* start = std::get_if<wire::RoundStart>(&body);
        if (start == nullptr || start->secure.id == 0) return false;
        start->secure.weight += extra;
        return true;
      });
      break;
    }
    default:
      break;
  }
}

void Attack::ApplyCoordinated(std::uint64_t round, std::span<const std::size_t> clients,
                              std::span<client::TrainedRound* const> trained) const {
  FSD_CHECK(clients.size() == trained.size() && !clients.empty())
      << clients.size() << " attackers, " << trained.size() << " results";
  std::vector<std::vector<float>> honest;
  for (const auto* result : trained) honest.push_back(result->values);
  const double z = config_.factor > 0.0
                       ? config_.factor
                       : AlieZ(num_clients_, static_cast<std::size_t>(config_.clients));
  const std::vector<float> attack = AlieValues(honest, z);
  for (std::size_t i = 0; i < clients.size(); ++i) {
    trained[i]->values = attack;
    Log(round, clients[i]);
  }
}

void Attack::ClaimDeclaredSamples(std::size_t client, client::TrainedRound& trained) const {
  const std::int64_t declared = DeclaredSamples(client, trained.sample_count);
  if (declared != trained.sample_count && trained.sample_count > 0) {
    // Claim the declared samples, with the summary's counts scaled to match
    // (their sum must not exceed the update's sample count).
    const double scale = static_cast<double>(declared) / static_cast<double>(trained.sample_count);
    for (auto& count : trained.summary.counts) {
      count = static_cast<std::int64_t>(std::floor(static_cast<double>(count) * scale));
    }
    trained.sample_count = declared;
  }
}

void Attack::Log(std::uint64_t round, std::size_t client) const {
  std::lock_guard lock(log_mutex_);
  log_[round].insert(client);
}

nlohmann::json Attack::InjectedIn(std::uint64_t round, const std::vector<std::string>& aggregated,
                                  const std::vector<std::string>& client_names) const {
  const std::set<std::string> names(aggregated.begin(), aggregated.end());
  nlohmann::json attackers = nlohmann::json::array();
  std::lock_guard lock(log_mutex_);
  if (const auto it = log_.find(round); it != log_.end()) {
    for (const auto client : it->second) {
      if (names.contains(client_names[client])) attackers.push_back(client_names[client]);
    }
  }
  return {{"attack", KindName(config_.kind)}, {"attackers", attackers}};
}

}  // namespace fsd::sim
