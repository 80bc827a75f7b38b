#include "sim/report.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "aggregation/robust.h"
#include "common/errors.h"
#include "common/log.h"

namespace fsd::sim {
namespace {

// A run that committed no round has no median round time: 0.
double MedianOrZero(std::vector<double> values) {
  return values.empty() ? 0.0 : aggregation::Median(std::move(values));
}

// `attacked`: some round had injected attacks (fsd-sim [attack]); they are
// marked under the accuracy curves. `private_run`: privacy.dp was on
// (privacy.png: ε spent beside the main exit's accuracy).
void Plot(const std::string& out_dir, std::size_t exits, bool attacked, bool private_run) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    FSD_LOG(WARNING) << "gnuplot not found: no PNG plots (scripts/setup installs it)";
    return;
  }
  std::ofstream script(out_dir + "/plots.gp");
  script << "set terminal pngcairo size 900,540 noenhanced\nset datafile separator '\\t'\n"
         << "set key autotitle columnhead bottom right\nset grid\nset xlabel 'round'\n";
  if (exits > 0) {  // distillation-only runs have no global model to evaluate
    script << "set output '" << out_dir << "/accuracy.png'\nset ylabel 'test accuracy'\n"
           << "set title 'Test accuracy per exit'\nplot ";
    for (std::size_t k = 0; k < exits; ++k) {
      script << (k ? ", " : "") << "'" << out_dir << "/rounds.tsv' using 1:" << k + 2
             << " with linespoints lw 2";
    }
    if (attacked) {
      script << ", '" << out_dir << "/rounds.tsv' using 1:($" << exits + 13
             << " > 0 ? 0.02 : 1/0) title 'round with attackers' with points pt 9 ps 1.5 lc 'red'";
    }
  }
  const std::string tsv = "'" + out_dir + "/rounds.tsv'";
  script << "\nset output '" << out_dir << "/schedule.png'\nset ylabel 'T'\n"
         << "set y2label 'alpha, beta, lr factor'\nset ytics nomirror\nset y2tics\n"
         << "set title 'Temperature, alpha, beta and learning-rate factor per round'\n"
         << "set key top right\nplot " << tsv << " using 1:" << exits + 4
         << " title 'T' with linespoints lw 2 axes x1y1, " << tsv << " using 1:" << exits + 5
         << " title 'alpha' with linespoints lw 2 axes x1y2, " << tsv << " using 1:" << exits + 6
         << " title 'beta' with linespoints lw 2 axes x1y2, " << tsv << " using 1:" << exits + 20
         << " title 'lr factor' with linespoints lw 2 axes x1y2\n"
         << "unset y2tics\nunset y2label\nset ytics mirror\n";
  const auto line = [&](std::size_t column, const char* title) {
    return tsv + " using 1:($" + std::to_string(exits + column) + "/1e6) title '" + title +
           "' with linespoints lw 2";
  };
  script << "set output '" << out_dir << "/bytes.png'\nset ylabel 'MB per round'\n"
         << "set title 'Bytes on the wire per round, by what they carry'\nset key top right\n"
         << "plot " << line(2, "up: all") << ", " << line(8, "up: weights") << ", "
         << line(9, "up: summaries") << ", " << line(3, "down: all") << ", "
         << line(10, "down: weights") << ", " << line(11, "down: masks") << "\n";
  script << "set output '" << out_dir << "/sparsity.png'\nset ylabel 'sparsity'\n"
         << "set yrange [0:1]\nset title 'Sparsity of the prunable weights'\nplot " << tsv
         << " using 1:" << exits + 12 << " title 'sparsity' with linespoints lw 2\n";
  script
      << "set output '" << out_dir << "/clients.png'\nset autoscale y\nset ylabel 'clients'\n"
      << "set title 'Clients per round: sampled, reported, dropped out, late'\nset key top right\n"
      << "plot " << tsv << " using 1:" << exits + 15 << " title 'selected' with linespoints lw 2, "
      << tsv << " using 1:" << exits + 16 << " title 'reported' with linespoints lw 2, " << tsv
      << " using 1:" << exits + 17 << " title 'dropped' with linespoints lw 2, " << tsv
      << " using 1:" << exits + 18 << " title 'late' with linespoints lw 2\n";
  if (private_run) {
    script << "set output '" << out_dir << "/privacy.png'\nset autoscale y\nset ylabel 'epsilon'\n"
           << "set y2label 'test accuracy (main exit)'\nset ytics nomirror\nset y2tics\n"
           << "set title 'Privacy spent (epsilon at privacy.delta) and accuracy per round'\n"
           << "set key bottom right\nplot " << tsv << " using 1:" << exits + 14
           << " title 'epsilon' with linespoints lw 2 axes x1y1";
    if (exits > 0) {
      script << ", " << tsv << " using 1:" << exits + 1
             << " title 'accuracy' with linespoints lw 2 axes x1y2";
    }
    script << "\n";
  }
  script.close();
  const std::string command = "gnuplot '" + out_dir + "/plots.gp' 2> '" + out_dir + "/plots.log'";
  if (std::system(command.c_str()) != 0)
    FSD_LOG(WARNING) << "gnuplot failed; see " << out_dir << "/plots.log";
}

const char* const kFaultKeys[] = {"faults_dropped_before_train",
                                  "faults_dropped_during_train",
                                  "faults_dropped_after_upload",
                                  "faults_dropped",
                                  "faults_crashed",
                                  "faults_garbage_frames",
                                  "faults_straggling"};

// Sampled clients the round closed without, less those known to have
// dropped out before uploading: the ones that were merely late.
int Late(const nlohmann::json& record) {
  return std::max(0, record.value("clients_unreported", 0) -
                         record.value("faults_dropped_before_train", 0) -
                         record.value("faults_dropped_during_train", 0));
}

std::size_t AttackersIn(const nlohmann::json& record) {
  return record.contains("attackers") ? record["attackers"].size() : 0;
}

}  // namespace

nlohmann::json WriteReport(const std::string& out_dir) {
  std::ifstream in(out_dir + "/metrics.jsonl");
  if (!in) throw IoError(out_dir + "/metrics.jsonl: cannot open");
  std::vector<nlohmann::json> records;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  }
  nlohmann::json summary;
  summary["rounds"] = records.size();
  if (records.empty()) return summary;

  const std::size_t exits = records.back()["acc"].size();
  std::ofstream tsv(out_dir + "/rounds.tsv");
  tsv << "round";
  // Exits are numbered from 1, shallow to deep, as max_exit and fsd-export --exit count them.
  for (std::size_t k = 0; k < exits; ++k)
    tsv << "\texit" << k + 1 << (k + 1 == exits ? " (main)" : "");
  tsv << "\tbytes_up\tbytes_down\ttemperature\talpha\tbeta\tround_s\tbytes_up_weights"
         "\tbytes_up_summary\tbytes_down_weights\tbytes_down_mask\tsparsity\tattackers\tepsilon"
         "\tselected\treported\tdropped\tlate\tcoordinator_cpu_s\tlr_factor\n";
  std::vector<double> round_s, collect_s, eval_s, coordinator_cpu_s;
  nlohmann::json faults = nlohmann::json::object();
  double bytes_up = 0, bytes_down = 0;
  int attack_rounds = 0;
  for (const auto& r : records) {
    tsv << r["round"].get<int>();
    for (const auto& a : r["acc"]) tsv << "\t" << a.get<double>();
    tsv << "\t" << r["bytes_up"].get<double>() << "\t" << r["bytes_down"].get<double>() << "\t"
        << r["temperature"].get<double>() << "\t" << r["alpha"].get<double>() << "\t"
        << r["beta"].get<double>() << "\t" << r["round_s"].get<double>() << "\t"
        << r.value("bytes_up_weights", 0.0) << "\t" << r.value("bytes_up_summary", 0.0) << "\t"
        << r.value("bytes_down_weights", 0.0) << "\t" << r.value("bytes_down_mask", 0.0) << "\t"
        << r.value("sparsity", 0.0) << "\t" << AttackersIn(r) << "\t"
        << (r.contains("epsilon") && r["epsilon"].is_number() ? r["epsilon"].get<double>() : 0.0)
        << "\t" << r.value("clients_selected", 0) << "\t" << r.value("clients_reported", 0) << "\t"
        << r.value("faults_dropped", 0) << "\t" << Late(r) << "\t"
        << r.value("coordinator_cpu_s", 0.0) << "\t" << r.value("lr_factor", 1.0) << "\n";
    for (const char* key : kFaultKeys) faults[key] = faults.value(key, 0) + r.value(key, 0);
    coordinator_cpu_s.push_back(r.value("coordinator_cpu_s", 0.0));
    attack_rounds += AttackersIn(r) > 0 ? 1 : 0;
    round_s.push_back(r["round_s"].get<double>());
    collect_s.push_back(r["collect_s"].get<double>());
    eval_s.push_back(r["eval_s"].get<double>());
    bytes_up += r["bytes_up"].get<double>();
    bytes_down += r["bytes_down"].get<double>();
  }
  tsv.close();
  // Mean accuracy per exit over the last rounds (single rounds swing).
  const auto mean_of_last = [&](std::size_t rounds) {
    std::vector<double> mean(exits, 0.0);
    const std::size_t tail = std::min(rounds, records.size());
    for (std::size_t i = records.size() - tail; i < records.size(); ++i) {
      for (std::size_t k = 0; k < exits; ++k)
        mean[k] += records[i]["acc"][k].get<double>() / static_cast<double>(tail);
    }
    return mean;
  };
  summary["final_acc"] = records.back()["acc"];
  summary["acc_mean_last3"] = mean_of_last(3);
  summary["acc_mean_last5"] = mean_of_last(5);
  const auto& last = records.back();
  const double reported = std::max(1.0, last["clients_reported"].get<double>());
  summary["bytes_up_per_client_last_round"] = last["bytes_up"].get<double>() / reported;
  summary["bytes_up_weights_per_client_last_round"] =
      last.value("bytes_up_weights", 0.0) / reported;
  summary["sparsity_final"] = last.value("sparsity", 0.0);
  summary["bytes_up_total"] = bytes_up;
  summary["bytes_down_total"] = bytes_down;
  summary["round_s_median"] = MedianOrZero(round_s);
  summary["collect_s_median"] = MedianOrZero(collect_s);
  summary["eval_s_median"] = MedianOrZero(eval_s);
  summary["coordinator_cpu_s_median"] = MedianOrZero(coordinator_cpu_s);
  if (last.contains("faults_dropped")) summary["faults"] = faults;
  summary["attack_rounds"] = attack_rounds;
  const bool private_run = last.contains("epsilon");
  if (private_run) {
    summary["epsilon"] = last["epsilon"];
    summary["delta"] = last["delta"];
    summary["privacy_steps"] = last["privacy_steps"];
  }
  Plot(out_dir, exits, attack_rounds > 0, private_run);
  return summary;
}

std::string Percentages(const nlohmann::json& fractions) {
  if (fractions.empty()) return "none (no global model)";
  std::string out;
  char cell[32];
  for (const auto& fraction : fractions) {
    std::snprintf(cell, sizeof(cell), "%.2f", 100.0 * fraction.get<double>());
    out += (out.empty() ? "" : " / ") + std::string(cell);
  }
  return out + " %";
}

std::string ExitNames(std::size_t exits) {
  std::string out;
  for (std::size_t k = 1; k <= exits; ++k)
    out += (k > 1 ? " / exit " : "exit ") + std::to_string(k);
  return exits > 0 ? out + " (main)" : out;
}

}  // namespace fsd::sim
