// fsd-bench-secagg: what secure aggregation costs per round, measured on its
// protocol core in one process (privacy/secagg/secagg_client.h,
// privacy/secagg/secagg_server.h; no sockets): each client's CPU seconds per
// stage (mean over clients), the coordinator's per stage, and the payload
// bytes one client sends and receives (keys, sealed shares, the bit-packed
// masked vector, unmask shares; message envelopes not counted) beside the
// plaintext upload of the same kept values in fp32 and in int8. One thread.
// Prints a markdown table and one JSON line.
#include <time.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "privacy/secagg/secagg_server.h"
#include "privacy/secagg/ring_vector.h"
#include "privacy/secagg/secagg_graph.h"

namespace {

double ThreadSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fsd;
  using privacy::SecAggId;
  CLI::App app{"fsd-bench-secagg: CPU and bytes of one secure aggregation round."};
  int clients = 100;
  std::size_t values = 48894;
  unsigned bits = 16;
  std::string graph_kind = "complete";
  int threshold = 0;
  double adversarial_rate = 0.05, dropout_rate = 0.1;
  int drop_after_sharing = 0;
  app.add_option("--clients", clients, "cohort size n")->check(CLI::Range(2, 100000));
  app.add_option("--values", values, "kept values per client")->check(CLI::PositiveNumber);
  app.add_option("--bits", bits, "fixed-point bits per value")->check(CLI::Range(1, 40));
  app.add_option("--graph", graph_kind, "complete | sparse (SecAgg+)")
      ->check(CLI::IsMember({"complete", "sparse"}));
  app.add_option("--threshold", threshold, "t for the complete graph (default n/2 + 1)");
  app.add_option("--adversarial-rate", adversarial_rate, "sparse: colluding clients' share");
  app.add_option("--dropout-rate", dropout_rate, "sparse: expected dropout share");
  app.add_option("--drop-after-sharing", drop_after_sharing,
                 "clients that drop after sharing keys (their masks are reconstructed)");
  CLI11_PARSE(app, argc, argv);

  std::vector<SecAggId> ids;
  for (int i = 1; i <= clients; ++i) ids.push_back(static_cast<SecAggId>(i));
  int degree = clients - 1;
  privacy::SecAggGraph graph = privacy::SecAggGraph::Complete(ids);
  if (graph_kind == "sparse") {
    const auto found = privacy::FindHararyParameters(clients, adversarial_rate, dropout_rate);
    degree = found.degree;
    threshold = found.threshold;
    graph = privacy::SecAggGraph::Harary(ids, degree, 1);
  } else if (threshold == 0) {
    threshold = clients / 2 + 1;
  }
  const unsigned ring_bits = privacy::RingBitsFor(bits, static_cast<std::size_t>(clients));
  const privacy::SecAggParameters parameters{1, threshold, ring_bits, values};

  std::mt19937_64 rng(3);
  std::map<SecAggId, privacy::SecAggClient> nodes;
  std::map<SecAggId, std::vector<std::uint64_t>> inputs;
  for (const auto id : ids) {
    nodes.emplace(id, privacy::SecAggClient(parameters, id, graph.Neighbours(id)));
    auto& input = inputs[id];
    for (std::size_t j = 0; j < values; ++j) input.push_back(rng() & ((1ULL << bits) - 1));
  }
  privacy::SecAggServer server(parameters, graph, {ids.begin(), ids.end()});
  double client_s[4] = {0, 0, 0, 0}, server_s[4] = {0, 0, 0, 0};
  std::map<SecAggId, double> up, down;  // payload bytes per client
  constexpr double kIdBytes = 4, kKeyBytes = 32;
  const double share_bytes = kIdBytes + 1 + 5 * 8;  // id, kind, one Shamir share of 32 bytes

  for (auto& [id, node] : nodes) {
    double start = ThreadSeconds();
    const auto keys = node.AdvertiseKeys();
    client_s[0] += ThreadSeconds() - start;
    up[id] += 3 * kKeyBytes;  // two public keys and the self-mask commitment
    start = ThreadSeconds();
    server.AcceptKeys(keys, node.self_mask_commitment());
    server_s[0] += ThreadSeconds() - start;
  }
  double start = ThreadSeconds();
  if (!server.CloseAdvertise()) return 1;
  server_s[0] += ThreadSeconds() - start;
  for (auto& [id, node] : nodes) {
    const auto roster = server.RosterFor(id);
    down[id] += static_cast<double>(roster.size()) * (kIdBytes + 2 * kKeyBytes);
    start = ThreadSeconds();
    auto shares = node.ShareKeys(roster);
    client_s[1] += ThreadSeconds() - start;
    for (const auto& s : shares) up[id] += kIdBytes + static_cast<double>(s.sealed.size());
    start = ThreadSeconds();
    server.AcceptShares(id, std::move(shares));
    server_s[1] += ThreadSeconds() - start;
  }
  start = ThreadSeconds();
  if (!server.CloseShareKeys()) return 1;
  server_s[1] += ThreadSeconds() - start;
  std::size_t masked_bytes = 0;
  for (auto& [id, node] : nodes) {
    if (id > static_cast<SecAggId>(clients - drop_after_sharing)) continue;
    const auto delivered = server.SharesFor(id);
    for (const auto& s : delivered) down[id] += kIdBytes + static_cast<double>(s.sealed.size());
    start = ThreadSeconds();
    auto masked = node.MaskInput(inputs[id], delivered);
    const auto packed = privacy::PackBits(masked, ring_bits);
    client_s[2] += ThreadSeconds() - start;
    masked_bytes = packed.size();
    up[id] += static_cast<double>(packed.size());
    start = ThreadSeconds();
    server.AcceptMaskedInput(id, privacy::UnpackBits(packed, ring_bits, values));
    server_s[2] += ThreadSeconds() - start;
  }
  start = ThreadSeconds();
  if (!server.CloseMaskedInput()) return 1;
  server_s[2] += ThreadSeconds() - start;
  const auto survivors = server.survivors();
  for (auto& [id, node] : nodes) {
    if (id > static_cast<SecAggId>(clients - drop_after_sharing)) continue;
    down[id] += static_cast<double>(survivors.size()) * kIdBytes;
    start = ThreadSeconds();
    const auto answer = node.Unmask(survivors);
    client_s[3] += ThreadSeconds() - start;
    up[id] += share_bytes * static_cast<double>(answer.self_mask.size() + answer.mask_key.size());
    start = ThreadSeconds();
    server.AcceptUnmask(answer);
    server_s[3] += ThreadSeconds() - start;
  }
  start = ThreadSeconds();
  const bool ok = server.Finish();
  server_s[3] += ThreadSeconds() - start;
  if (!ok) {
    std::fprintf(stderr, "fsd-bench-secagg: %s\n", server.failure_reason().c_str());
    return 1;
  }
  const double survivors_n = static_cast<double>(survivors.size());
  const double n = clients;
  const double up_mean = [&] {
    double total = 0;
    for (const auto id : survivors) total += up[id];
    return total / survivors_n;
  }();
  const double down_mean = [&] {
    double total = 0;
    for (const auto id : survivors) total += down[id];
    return total / survivors_n;
  }();
  const double fp32 = 4.0 * static_cast<double>(values), int8 = static_cast<double>(values);
  const char* stages[] = {"advertise keys", "share keys", "masked input", "unmask"};
  std::printf(
      "n = %d, %s graph (k = %d neighbours, t = %d), %zu values, %u-bit fixed point in "
      "a %u-bit ring, %d dropped after sharing keys\n\n",
      clients, graph_kind.c_str(), degree, threshold, values, bits, ring_bits, drop_after_sharing);
  std::printf("| stage | client CPU s (mean) | coordinator CPU s |\n|---|---|---|\n");
  nlohmann::json json = {{"clients", clients},     {"graph", graph_kind},
                         {"degree", degree},       {"threshold", threshold},
                         {"values", values},       {"bits", bits},
                         {"ring_bits", ring_bits}, {"dropped", drop_after_sharing}};
  for (int s = 0; s < 4; ++s) {
    const double per_client = client_s[s] / (s < 2 ? n : survivors_n);
    std::printf("| %s | %.5f | %.4f |\n", stages[s], per_client, server_s[s]);
    json["client_s"].push_back(per_client);
    json["coordinator_s"].push_back(server_s[s]);
  }
  std::printf(
      "\nper surviving client: up %.0f B (masked vector %zu B), down %.0f B; plaintext "
      "upload fp32 %.0f B, int8 %.0f B; up / fp32 = %.3f, up / int8 = %.3f\n",
      up_mean, masked_bytes, down_mean, fp32, int8, up_mean / fp32, up_mean / int8);
  json["up_bytes"] = up_mean;
  json["down_bytes"] = down_mean;
  json["masked_bytes"] = masked_bytes;
  json["up_over_fp32"] = up_mean / fp32;
  json["up_over_int8"] = up_mean / int8;
  std::printf("%s\n", json.dump().c_str());
  return 0;
}
