#include "monitor/prometheus.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <vector>

namespace fsd::monitor {
namespace {

// Label values escape backslash, double quote and newline (the format's rules).
std::string Escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string Format(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

class Writer {
 public:
  // Starts metric family `name` of `type` (gauge or counter).
  void Family(const std::string& name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
    name_ = name;
  }
  void Sample(double value, const Labels& labels = {}) {
    out_ << name_;
    if (!labels.empty()) {
      out_ << '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        out_ << (i ? "," : "") << labels[i].first << "=\"" << Escape(labels[i].second) << '"';
      }
      out_ << '}';
    }
    out_ << ' ' << Format(value) << '\n';
  }
  // A family with a single unlabelled sample.
  void One(const std::string& name, const char* type, const char* help, double value) {
    Family(name, type, help);
    Sample(value);
  }
  std::string Take() { return out_.str(); }

 private:
  std::ostringstream out_;
  std::string name_;
};

double Number(const nlohmann::json& record, const char* key) {
  return NumberField(record, key, NAN);
}

}  // namespace

std::string RenderPrometheus(const Snapshot& snapshot) {
  const RunInfo& run = snapshot.run;
  const Live& live = snapshot.live;
  const nlohmann::json& last = snapshot.last_round;
  Writer w;
  w.Family("fsd_info", "gauge", "The program serving these metrics and its model (always 1).");
  w.Sample(1, {{"program", run.program}, {"model", run.model_fingerprint}});
  w.One("fsd_rounds_configured", "gauge", "federation.rounds.",
        static_cast<double>(run.rounds_configured));
  w.One("fsd_rounds_committed_total", "counter",
        "Rounds committed, failed secure rounds and rolled-back rounds included.",
        static_cast<double>(live.committed));
  w.One("fsd_rounds_failed_total", "counter",
        "Committed rounds whose model was not updated (failed secure round, rolled back).",
        static_cast<double>(snapshot.totals.rounds_failed));
  w.One("fsd_round_attempt", "gauge", "Retries of the round in progress (0: first attempt).",
        static_cast<double>(live.attempt));
  w.Family("fsd_phase", "gauge", "The round loop's phase now (1 for the current one).");
  w.Sample(1, {{"phase", live.phase}});
  w.One("fsd_finished", "gauge", "1 once the run has stopped.", live.finished ? 1 : 0);
  w.One("fsd_clients_enrolled", "gauge", "Admitted client keys (plaintext mode: joined clients).",
        static_cast<double>(live.enrolled));
  w.One("fsd_clients_connected", "gauge", "Clients joined now.",
        static_cast<double>(live.connected));
  w.One("fsd_clients_sampled", "gauge", "Clients sampled in the attempt in progress.",
        static_cast<double>(live.sampled));
  w.One("fsd_clients_reported", "gauge",
        "Sampled clients that reported in the attempt in progress.",
        static_cast<double>(live.reported));
  w.Family("fsd_bytes_total", "counter",
           "Frame bytes of committed rounds by direction (up: client to coordinator) and kind.");
  for (const auto& [key, bytes] : snapshot.totals.bytes) {
    w.Sample(static_cast<double>(bytes), {{"direction", key.first}, {"kind", key.second}});
  }
  w.Family("fsd_rejects_total", "counter", "REJECTs sent, by code.");
  for (const auto& [code, count] : live.rejects)
    w.Sample(static_cast<double>(count), {{"code", code}});
  w.Family("fsd_exit_accuracy", "gauge",
           "Test accuracy of each exit (1: shallowest) after the last committed round.");
  if (const auto acc = last.find("acc"); last.is_object() && acc != last.end() && acc->is_array()) {
    for (std::size_t i = 0; i < acc->size(); ++i) {
      w.Sample((*acc)[i].is_number() ? (*acc)[i].get<double>() : NAN,
               {{"exit", std::to_string(i + 1)}});
    }
  }
  if (last.is_object()) {
    w.One("fsd_round_loss", "gauge",
          "Mean training loss of the last committed round (NaN when withheld).",
          Number(last, "loss"));
    w.Family("fsd_last_round_seconds", "gauge",
             "Wall time of the last committed round: all of it, collecting updates, evaluating.");
    w.Sample(Number(last, "round_s"), {{"part", "round"}});
    w.Sample(Number(last, "collect_s"), {{"part", "collect"}});
    w.Sample(Number(last, "eval_s"), {{"part", "eval"}});
    if (const auto secure = last.find("secure_aggregation");
        secure != last.end() && secure->is_object() && secure->contains("stages")) {
      w.Family("fsd_last_secure_stage_seconds", "gauge",
               "Wall time of each secure-aggregation stage in the last committed round.");
      for (const auto& [stage, figures] : (*secure)["stages"].items()) {
        w.Sample(Number(figures, "seconds"), {{"stage", stage}});
      }
    }
  }
  w.One("fsd_secagg_dropouts_total", "counter",
        "Members of committed secure rounds whose masked input is not in the sum.",
        static_cast<double>(snapshot.totals.secagg_dropouts));
  w.One("fsd_secagg_clamped_total", "counter",
        "Values clamped to the secure range in committed secure rounds.",
        static_cast<double>(snapshot.totals.secagg_clamped));
  if (run.delta > 0) {
    w.One("fsd_privacy_epsilon_spent", "gauge",
          "Epsilon spent so far (every sampling draw charged).", live.epsilon_spent);
    w.One("fsd_privacy_epsilon_budget", "gauge", "privacy.target_epsilon (0: no budget).",
          run.epsilon_budget);
    w.One("fsd_privacy_delta", "gauge", "privacy.delta of the epsilon figures.", run.delta);
  }
  return w.Take();
}

}  // namespace fsd::monitor
