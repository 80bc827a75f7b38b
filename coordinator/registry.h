// ClientRegistry: who is enrolled (the allow-list: key → name), who has
// joined, on which connection, what they declared and when they were last
// heard from. Identity is the authenticated key (the ZAP User-Id); the name
// from the allow-list is what logs, metrics and the aggregation order use.
// In plaintext mode (--insecure) there is no allow-list: any sender is
// admitted, identified by its routing id and named by its JOIN.
// Thread-safety: not thread-safe; the coordinator thread owns it.
// Errors: none on peer input; Find/At return null for unknown keys.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "coordinator/clock.h"

namespace fsd::coordinator {

struct ClientRecord {
  std::string name;        // allow-list name (or the JOIN's in plaintext mode)
  std::string routing_id;  // the connection to answer on (the latest one heard)
  std::int64_t declared_samples = 0;  // from the last JOIN
  std::uint32_t max_exit = 0;         // from the last JOIN (0: the whole network)
  Clock::TimePoint last_seen{};
  std::uint64_t mask_round_sent = 0;  // the client has the mask of this round
  // Connections (routing ids) this key used, with when each was last heard.
  std::map<std::string, Clock::TimePoint> connections;
};

class ClientRegistry {
 public:
  // `allowed`: Z85 key → name; empty with `open` = plaintext mode.
  // `connection_idle_s`: a connection silent this long (a client's
  // heartbeats stopped on it: it crashed or reconnected) no longer counts
  // toward max_connections_per_key.
  ClientRegistry(std::map<std::string, std::string> allowed, bool open, int max_connections_per_key,
                 double client_timeout_s, double connection_idle_s);

  // Whether a message from `key` over `routing_id` may be handled: false when
  // the key is not enrolled, or already holds max_connections_per_key other
  // connections heard within the connection idle time. Records the
  // connection and refreshes last_seen of a joined client when true.
  enum class Admission { kAdmitted, kNotEnrolled, kTooManyConnections };
  Admission Admit(const std::string& key, const std::string& routing_id, Clock::TimePoint now);

  // Records a (re)JOIN: a new session with these declarations.
  ClientRecord& Join(const std::string& key, const std::string& routing_id,
                     std::int64_t declared_samples, const std::string& join_name,
                     Clock::TimePoint now);
  void Leave(const std::string& key);
  // Joined clients silent for longer than the timeout: removed and returned.
  std::vector<std::string> Expire(Clock::TimePoint now);

  ClientRecord* Find(const std::string& key);
  const ClientRecord* Find(const std::string& key) const;
  bool joined(const std::string& key) const { return joined_.contains(key); }
  std::size_t num_joined() const { return joined_.size(); }
  // The enrolled population: the allow-list's size (plaintext mode: those joined).
  std::size_t num_enrolled() const { return open_ ? joined_.size() : allowed_.size(); }
  // Joined keys ordered by name (then key): the fixed order of sampling and sums.
  std::vector<std::string> JoinedByName() const;
  // How logs and metrics call `key`: its allow-list name, else a short form.
  std::string NameOf(const std::string& key) const;

 private:
  std::map<std::string, std::string> allowed_;
  bool open_;
  std::size_t max_connections_;
  double timeout_s_;
  double connection_idle_s_;
  std::map<std::string, ClientRecord> joined_;
  // Connections of enrolled keys that have not joined (yet): bounded the same way.
  std::map<std::string, std::map<std::string, Clock::TimePoint>> pending_connections_;
};

}  // namespace fsd::coordinator
