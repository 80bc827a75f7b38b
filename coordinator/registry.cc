#include "coordinator/registry.h"

#include <algorithm>

namespace fsd::coordinator {
namespace {

// A peer-chosen name made safe for logs: [A-Za-z0-9_.-], at most 64 characters.
std::string Sanitize(const std::string& text) {
  std::string out;
  for (const char c : text.substr(0, 64)) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    out += plain ? c : '?';
  }
  return out.empty() ? "unnamed" : out;
}

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes.substr(0, 8)) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

}  // namespace

ClientRegistry::ClientRegistry(std::map<std::string, std::string> allowed, bool open,
                               int max_connections_per_key, double client_timeout_s,
                               double connection_idle_s)
    : allowed_(std::move(allowed)),
      open_(open),
      max_connections_(static_cast<std::size_t>(std::max(1, max_connections_per_key))),
      timeout_s_(client_timeout_s),
      connection_idle_s_(std::min(client_timeout_s, connection_idle_s)) {}

ClientRegistry::Admission ClientRegistry::Admit(const std::string& key,
                                                const std::string& routing_id,
                                                Clock::TimePoint now) {
  if (!open_ && !allowed_.contains(key)) return Admission::kNotEnrolled;
  auto joined = joined_.find(key);
  auto& connections =
      joined != joined_.end() ? joined->second.connections : pending_connections_[key];
  if (!connections.contains(routing_id)) {
    std::erase_if(connections, [&](const auto& entry) {
      return SecondsBetween(entry.second, now) > connection_idle_s_;
    });
    if (connections.size() >= max_connections_) return Admission::kTooManyConnections;
  }
  connections[routing_id] = now;
  if (joined != joined_.end()) {
    joined->second.last_seen = now;
    joined->second.routing_id = routing_id;
  }
  return Admission::kAdmitted;
}

ClientRecord& ClientRegistry::Join(const std::string& key, const std::string& routing_id,
                                   std::int64_t declared_samples, const std::string& join_name,
                                   Clock::TimePoint now) {
  auto [it, inserted] = joined_.try_emplace(key);
  ClientRecord& record = it->second;
  if (inserted) {
    record.connections = std::move(pending_connections_[key]);
    pending_connections_.erase(key);
  }
  const auto allowed = allowed_.find(key);
  record.name = allowed != allowed_.end() ? allowed->second : "peer:" + Sanitize(join_name);
  record.routing_id = routing_id;
  record.declared_samples = declared_samples;
  record.last_seen = now;
  record.connections[routing_id] = now;
  record.mask_round_sent = 0;  // a (re)joined client gets the mask again
  return record;
}

void ClientRegistry::Leave(const std::string& key) {
  const auto it = joined_.find(key);
  if (it == joined_.end()) return;
  // Its connections stay counted until they fall silent: BYE and JOIN again
  // must not reset the connection limit.
  pending_connections_[key] = std::move(it->second.connections);
  joined_.erase(it);
}

std::vector<std::string> ClientRegistry::Expire(Clock::TimePoint now) {
  std::vector<std::string> expired;
  for (auto it = joined_.begin(); it != joined_.end();) {
    if (SecondsBetween(it->second.last_seen, now) > timeout_s_) {
      expired.push_back(it->first);
      it = joined_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = pending_connections_.begin(); it != pending_connections_.end();) {
    std::erase_if(it->second, [&](const auto& connection) {
      return SecondsBetween(connection.second, now) > timeout_s_;
    });
    it = it->second.empty() ? pending_connections_.erase(it) : std::next(it);
  }
  return expired;
}

ClientRecord* ClientRegistry::Find(const std::string& key) {
  const auto it = joined_.find(key);
  return it != joined_.end() ? &it->second : nullptr;
}

const ClientRecord* ClientRegistry::Find(const std::string& key) const {
  const auto it = joined_.find(key);
  return it != joined_.end() ? &it->second : nullptr;
}

std::vector<std::string> ClientRegistry::JoinedByName() const {
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& [key, record] : joined_) named.emplace_back(record.name, key);
  std::sort(named.begin(), named.end());
  std::vector<std::string> keys;
  for (auto& [name, key] : named) keys.push_back(std::move(key));
  return keys;
}

std::string ClientRegistry::NameOf(const std::string& key) const {
  if (const auto it = allowed_.find(key); it != allowed_.end()) return it->second;
  if (const auto* record = Find(key)) return record->name;
  return open_ ? "peer:" + Hex(key) : "key:" + key.substr(0, 8);
}

}  // namespace fsd::coordinator
