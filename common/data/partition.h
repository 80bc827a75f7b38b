// Splits a dataset's sample indices among clients: IID, Dirichlet(α) over
// labels, or shards (k labels per client); and reads/writes partition files.
//
// A client's view is its index list into the shared Dataset, never a copy.
// Every partitioner is seeded: the same inputs and seed give the identical
// partition, and every sample is assigned to exactly one client.
// Errors: ConfigError for impossible parameters; DataError for malformed
// partition files (naming file, line and problem); IoError when a file cannot
// be opened or written. Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace fsd::data {

// partition[k] holds client k's sample indices.
using Partition = std::vector<std::vector<std::int64_t>>;

// Shuffles 0..num_samples-1 and deals contiguous, near-equal slices.
Partition PartitionIid(std::int64_t num_samples, int num_clients, std::uint64_t seed);

// For each class, shuffles its samples and splits them by proportions drawn
// from Dirichlet(alpha, ..., alpha) over clients. Smaller alpha is more skewed.
Partition PartitionDirichlet(std::span<const std::int64_t> labels, int num_classes, int num_clients,
                             double alpha, std::uint64_t seed);

// Sorts samples by label, cuts them into num_clients * labels_per_client shards
// and deals each client labels_per_client shards at random (McMahan et al.).
Partition PartitionShards(std::span<const std::int64_t> labels, int num_clients,
                          int labels_per_client, std::uint64_t seed);

// Partition file: one line per client, space-separated sample indices; a
// client without samples is an empty line.
void WritePartitionFile(const std::string& path, const Partition& partition);

// Reads a partition file whose indices must lie in [0, num_samples), appear at
// most once overall, with at most max_clients lines. A blank line is a client
// without samples, except at the end of the file (the last client holds
// samples); a file without samples is a DataError.
Partition ReadPartitionFile(const std::string& path, std::int64_t num_samples,
                            int max_clients = 100'000);

}  // namespace fsd::data
