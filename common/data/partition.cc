#include "common/data/partition.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <numeric>
#include <random>

#include "common/errors.h"
#include "common/random/streams.h"

namespace fsd::data {
namespace {

void CheckClients(int num_clients) {
  if (num_clients < 1) {
    throw ConfigError("number of clients is " + std::to_string(num_clients) + ", must be >= 1");
  }
}

std::vector<std::int64_t> Iota(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

Partition PartitionIid(std::int64_t num_samples, int num_clients, std::uint64_t seed) {
  CheckClients(num_clients);
  std::vector<std::int64_t> order = Iota(num_samples);
  random::Engine rng = random::StreamEngine(seed, {.name = "partition-iid"});
  random::Shuffle(std::span(order), rng);
  Partition partition(num_clients);
  for (int k = 0; k < num_clients; ++k) {
    const auto begin = num_samples * k / num_clients;
    const auto end = num_samples * (k + 1) / num_clients;
    partition[k].assign(order.begin() + begin, order.begin() + end);
  }
  return partition;
}

Partition PartitionDirichlet(std::span<const std::int64_t> labels, int num_classes, int num_clients,
                             double alpha, std::uint64_t seed) {
  CheckClients(num_clients);
  if (!(alpha > 0.0)) {
    throw ConfigError("Dirichlet alpha is " + std::to_string(alpha) + ", must be > 0");
  }
  random::Engine rng = random::StreamEngine(seed, {.name = "partition-dirichlet"});
  // (std::gamma_distribution is libstdc++'s algorithm: another standard
  // library draws other shares from the same seed.)
  std::gamma_distribution<double> gamma(alpha, 1.0);
  Partition partition(num_clients);
  for (int c = 0; c < num_classes; ++c) {
    std::vector<std::int64_t> members;
    for (std::size_t i = 0; i < labels.size(); ++i) {
      if (labels[i] == c) members.push_back(static_cast<std::int64_t>(i));
    }
    random::Shuffle(std::span(members), rng);
    std::vector<double> share(num_clients);
    double total = 0.0;
    for (double& s : share) total += (s = gamma(rng));
    if (total <= 0.0) {  // all draws underflowed (tiny alpha): give the class to one client
      share.assign(num_clients, 0.0);
      share[random::UniformBelow(rng, static_cast<std::uint64_t>(num_clients))] = 1.0;
      total = 1.0;
    }
    // Cut points from the cumulative shares, as numpy's split of the reference.
    double cumulative = 0.0;
    std::size_t begin = 0;
    for (int k = 0; k < num_clients; ++k) {
      cumulative += share[k] / total;
      std::size_t end =
          k + 1 == num_clients
              ? members.size()
              : std::min(members.size(), static_cast<std::size_t>(cumulative * members.size()));
      end = std::max(end, begin);
      partition[k].insert(partition[k].end(), members.begin() + begin, members.begin() + end);
      begin = end;
    }
  }
  return partition;
}

Partition PartitionShards(std::span<const std::int64_t> labels, int num_clients,
                          int labels_per_client, std::uint64_t seed) {
  CheckClients(num_clients);
  const std::int64_t num_shards = std::int64_t{num_clients} * labels_per_client;
  if (labels_per_client < 1 || num_shards > static_cast<std::int64_t>(labels.size())) {
    throw ConfigError("shards per client is " + std::to_string(labels_per_client) +
                      ", must be >= 1 with clients * shards <= samples");
  }
  std::vector<std::int64_t> order = Iota(static_cast<std::int64_t>(labels.size()));
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return labels[a] < labels[b]; });
  std::vector<std::int64_t> shard_ids = Iota(num_shards);
  random::Engine rng = random::StreamEngine(seed, {.name = "partition-shards"});
  random::Shuffle(std::span(shard_ids), rng);
  const auto n = static_cast<std::int64_t>(order.size());
  Partition partition(num_clients);
  for (std::int64_t s = 0; s < num_shards; ++s) {
    const std::int64_t shard = shard_ids[s];
    auto& client = partition[s / labels_per_client];
    client.insert(client.end(), order.begin() + n * shard / num_shards,
                  order.begin() + n * (shard + 1) / num_shards);
  }
  return partition;
}

void WritePartitionFile(const std::string& path, const Partition& partition) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw IoError(path + ": cannot open for writing");
  for (const auto& client : partition) {
    for (std::size_t i = 0; i < client.size(); ++i) {
      if (i > 0) out << ' ';
      out << client[i];
    }
    out << '\n';
  }
  out.flush();
  if (!out) throw IoError(path + ": write failed");
}

Partition ReadPartitionFile(const std::string& path, std::int64_t num_samples, int max_clients) {
  std::ifstream in(path);
  if (!in) throw IoError(path + ": cannot open partition file");
  std::vector<bool> seen(static_cast<std::size_t>(num_samples), false);
  Partition partition;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const auto where = [&] { return path + ":" + std::to_string(line_number) + ": "; };
    if (static_cast<int>(partition.size()) >= max_clients) {
      throw DataError(where() + "more than " + std::to_string(max_clients) + " clients");
    }
    std::vector<std::int64_t> client;
    const char* cursor = line.data();
    const char* end = line.data() + line.size();
    while (cursor < end) {
      if (*cursor == ' ' || *cursor == '\t' || *cursor == '\r') {
        ++cursor;
        continue;
      }
      std::int64_t index = -1;
      const auto [next, error] = std::from_chars(cursor, end, index);
      if (error != std::errc() || (next < end && *next != ' ' && *next != '\t' && *next != '\r')) {
        throw DataError(where() + "not a sample index: '" +
                        std::string(cursor, std::min<std::size_t>(end - cursor, 20)) + "'");
      }
      if (index < 0 || index >= num_samples) {
        throw DataError(where() + "index " + std::to_string(index) + " outside [0, " +
                        std::to_string(num_samples) + ")");
      }
      if (seen[index]) {
        throw DataError(where() + "index " + std::to_string(index) + " assigned twice");
      }
      seen[index] = true;
      client.push_back(index);
      cursor = next;
    }
    partition.push_back(std::move(client));
  }
  // A blank line is a client without samples (a Dirichlet split can leave
  // one); a trailing blank line is not a client.
  while (!partition.empty() && partition.back().empty()) partition.pop_back();
  if (partition.empty()) throw DataError(path + ": no samples in partition file");
  return partition;
}

}  // namespace fsd::data
