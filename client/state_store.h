// ClientStateStore: a client's own weights between rounds in
// distillation-only mode (federation.mode = "distillation"), where the
// coordinator sends no model. One sealed file per client and round in a
// directory (`<name>.r<round>.state`; the two newest are kept), so a client
// resumed after a crash continues from the state of the last round the
// coordinator committed, not from a later round it never saw.
// Body: "FSDSTAT1" | u64 round | u64 schema fingerprint | u64 n | n × f32.
// Thread-safety: distinct client names may be used from different threads.
// Errors: IoError (directory or file access); DataError (corrupt file, other
// model), naming the file. Client names must be [A-Za-z0-9_.-]+.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fsd::client {

class ClientStateStore {
 public:
  // Creates `dir` if needed.
  ClientStateStore(std::string dir, std::uint64_t schema_fingerprint, std::size_t num_values);

  // Stores the weights after training in `round`.
  void Save(const std::string& client, std::uint64_t round, std::span<const float> values) const;
  // The newest weights saved for a round before `round`, if any.
  std::optional<std::vector<float>> LoadBefore(const std::string& client,
                                               std::uint64_t round) const;

 private:
  std::string PathFor(const std::string& client, std::uint64_t round) const;
  std::vector<std::uint64_t> SavedRounds(const std::string& client) const;

  std::string dir_;
  std::uint64_t schema_fingerprint_;
  std::size_t num_values_;
};

}  // namespace fsd::client
