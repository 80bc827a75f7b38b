// Who shares keys and masks with whom in secure aggregation: everyone with
// everyone (the complete graph of Bonawitz et al. 2017), or, for large
// cohorts, each client with k neighbours of a randomly relabelled Harary
// graph (SecAgg+, Bell et al., CCS 2020), which cuts a client's work from
// O(n) to O(k) with k = O(log n).
//
// HararyParameters(n, adversarial_rate, dropout_rate) finds the smallest even
// degree k and a threshold t (shares among the k neighbours and the client
// itself) such that, for an honest-but-curious coordinator colluding with at
// most ⌊adversarial_rate·n⌋ clients and at most ⌊dropout_rate·n⌋ dropouts:
//   - the graph of honest survivors stays connected except with probability
//     2^−41 (a union bound over the pairs of gaps of k/2 successive bad
//     clients that could cut the ring);
//   - no client has t or more adversarial neighbours, except with probability
//     2^−41/n each (statistical security 2^−40 overall);
//   - every client keeps at least t surviving holders of its shares, except
//     with probability 2^−20/n each (correctness);
// counting neighbours with the hypergeometric distribution. These are the
// rules of Bell et al. as fcp computes them; the results match fcp's
// precomputed table (tests/privacy_secagg_test.cc).
// Thread-safety: plain values and free functions. Errors: ConfigError naming
// the argument when the rates are out of range or no degree below n − 1
// meets them.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace fsd::privacy {

struct HararyParameters {
  int degree = 0;     // k: neighbours per client (even)
  int threshold = 0;  // t: shares (of k + 1) that reconstruct a secret
};

HararyParameters FindHararyParameters(int clients, double adversarial_rate, double dropout_rate);

// A neighbourhood graph over ids; every id is its own neighbour.
class SecAggGraph {
 public:
  static SecAggGraph Complete(const std::vector<std::uint32_t>& ids);
  // H(degree, n) on the ids put in a ring in the order of a permutation drawn
  // from `seed` (public: every participant derives the same graph); each id's
  // neighbours are the degree/2 before and after it. REQUIRES: even degree
  // < ids.size().
  static SecAggGraph Harary(const std::vector<std::uint32_t>& ids, int degree, std::uint64_t seed);

  // The neighbours of `id` (itself included), ascending; empty for an
  // unknown id.
  const std::vector<std::uint32_t>& Neighbours(std::uint32_t id) const;
  bool AreNeighbours(std::uint32_t a, std::uint32_t b) const;

 private:
  std::map<std::uint32_t, std::vector<std::uint32_t>> neighbours_;
};

}  // namespace fsd::privacy
