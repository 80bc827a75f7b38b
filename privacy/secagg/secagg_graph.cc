#include "privacy/secagg/secagg_graph.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "common/errors.h"
#include "common/random/streams.h"

namespace fsd::privacy {
namespace {

constexpr double kSecurityBits = 40;     // statistical security
constexpr double kCorrectnessBits = 20;  // failure probability
constexpr double kSmall = 1e-14;         // keeps rounding of rates on the safe side

// The number of marked items among `draws` drawn without replacement from
// `total` of which `marked` are marked.
class Hypergeometric {
 public:
  Hypergeometric(int total, int marked, int draws)
      : total_(total), marked_(marked), draws_(draws) {}

  double LogPmf(int x) const {
    if (x < 0 || x > draws_ || x > marked_ || draws_ - x > total_ - marked_) return -HUGE_VAL;
    return LogChoose(marked_, x) + LogChoose(total_ - marked_, draws_ - x) -
           LogChoose(total_, draws_);
  }

  // The smallest x with Pr[X <= x] >= p.
  int LowerQuantile(double p) const {
    double cdf = 0.0;
    for (int x = 0; x <= draws_; ++x) {
      cdf += std::exp(LogPmf(x));
      if (cdf >= p) return x;
    }
    return draws_;
  }

  // The smallest x with Pr[X > x] < p.
  int UpperQuantile(double p) const {
    double tail = 0.0;  // Pr[X > x], summed from the top
    for (int x = draws_; x >= 0; --x) {
      const double next = tail + std::exp(LogPmf(x));  // Pr[X > x − 1]
      if (next >= p) return x;
      tail = next;
    }
    return -1;
  }

 private:
  static double LogChoose(int n, int k) {
    return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
  }
  int total_, marked_, draws_;
};

}  // namespace

HararyParameters FindHararyParameters(int clients, double adversarial_rate, double dropout_rate) {
  if (clients < 1 || clients > 1'000'000) {
    throw ConfigError("secure aggregation graph: clients must be 1..1000000, got " +
                      std::to_string(clients));
  }
  if (!(adversarial_rate >= 0.0 && adversarial_rate < 1.0) ||
      !(dropout_rate >= 0.0 && dropout_rate < 1.0) || adversarial_rate + dropout_rate > 0.9) {
    throw ConfigError(
        "secure aggregation graph: the adversarial and dropout rates must each be in [0, 1) and "
        "sum to at most 0.9");
  }
  const double n = clients;
  const int adversarial = static_cast<int>(std::floor((adversarial_rate + kSmall) * n));
  const int dropouts = static_cast<int>(std::floor((dropout_rate + kSmall) * n));
  const int bad = adversarial + dropouts;
  const int survivors = static_cast<int>(std::ceil((1.0 - dropout_rate - kSmall) * n));
  const double security_per_event = std::pow(2.0, -(kSecurityBits + 1)) / n;
  const double correctness_per_client = std::pow(2.0, -kCorrectnessBits) / n;
  for (int degree = 2; degree < clients - 1; degree += 2) {
    // Cutting the ring takes two runs of degree/2 bad clients.
    if (degree <= bad) {
      const double log_gap_pairs = std::log(n) + std::log(n - degree - 1) - std::log(2.0);
      const double log_disconnected = log_gap_pairs + std::lgamma(bad + 1.0) +
                                      std::lgamma(n - degree + 1.0) - std::lgamma(n + 1.0) -
                                      std::lgamma(bad - degree + 1.0);
      if (log_disconnected >= -(kSecurityBits + 1) * std::log(2.0)) continue;
    }
    // t − 1 must exceed what the adversarial neighbours can hold, and the
    // surviving neighbours must reach t.
    const int too_many_adversarial =
        Hypergeometric(clients, adversarial, degree).UpperQuantile(security_per_event);
    const int enough_survivors =
        Hypergeometric(clients, survivors, degree).LowerQuantile(correctness_per_client);
    if (enough_survivors > too_many_adversarial) {
      return {degree, std::max(too_many_adversarial + 1, 2)};
    }
  }
  throw ConfigError("secure aggregation graph: no degree below " + std::to_string(clients - 1) +
                    " is secure and correct for " + std::to_string(clients) +
                    " clients at these rates; use the complete graph");
}

SecAggGraph SecAggGraph::Complete(const std::vector<std::uint32_t>& ids) {
  SecAggGraph graph;
  std::vector<std::uint32_t> all = ids;
  std::sort(all.begin(), all.end());
  for (const auto id : ids) graph.neighbours_[id] = all;
  return graph;
}

SecAggGraph SecAggGraph::Harary(const std::vector<std::uint32_t>& ids, int degree,
                                std::uint64_t seed) {
  FSD_CHECK(degree >= 0 && degree % 2 == 0 && static_cast<std::size_t>(degree) < ids.size())
      << "Harary graph of degree " << degree << " on " << ids.size() << " nodes";
  std::vector<std::uint32_t> ring = ids;
  std::sort(ring.begin(), ring.end());
  // Portable draws: a coordinator and its clients on other machines (other
  // standard libraries) must build the same graph from the seed.
  random::Engine rng(seed);
  random::Shuffle(std::span(ring), rng);
  SecAggGraph graph;
  const std::size_t n = ring.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::uint32_t> near;
    for (int offset = -degree / 2; offset <= degree / 2; ++offset) {
      near.push_back(ring[(i + n + static_cast<std::size_t>(offset + static_cast<int>(n))) % n]);
    }
    std::sort(near.begin(), near.end());
    graph.neighbours_[ring[i]] = std::move(near);
  }
  return graph;
}

const std::vector<std::uint32_t>& SecAggGraph::Neighbours(std::uint32_t id) const {
  static const std::vector<std::uint32_t> kNone;
  const auto found = neighbours_.find(id);
  return found == neighbours_.end() ? kNone : found->second;
}

bool SecAggGraph::AreNeighbours(std::uint32_t a, std::uint32_t b) const {
  const auto& near = Neighbours(a);
  return std::binary_search(near.begin(), near.end(), b);
}

}  // namespace fsd::privacy
