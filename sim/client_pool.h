// ClientPool: fsd-sim's registered population, on the hub thread. Every
// registered client is a small record (its id, shard size and check-in
// count); only the checked-in ones hold a ClientNode (a DEALER socket with
// its CURVE handshake, and a protocol session) — the cross-device check-in
// model, so memory and per-round work grow with `checked_in`, not with the
// population. With checked_in below the population, a client that uploaded
// checks out (BYE) and a client drawn at random (seeded) from those
// offline checks in; the coordinator samples its cohort among the clients
// checked in. A client that left during round r checks in again only after
// r committed, or faults.offline_s after it left (a round that is retried
// may need it back).
//
// Faults (sim/faults.h) are injected here. A client that drops out abandons
// its round: no upload, no answer to that round's secure-aggregation
// messages; it stays connected and takes part when sampled again (a retry,
// a later round) — or, with check-in, it leaves without a word (socket
// closed, no BYE). A crash closes the socket the same way and starts the
// client again (new connection, JOIN) restart_after_s later; a garbage
// frame goes out before the upload; a straggler's upload waits
// (factor − 1) × its training time. Each is counted for the round it hit
// (TakeRoundFigures).
// Thread-safety: one owner thread (the hub), except OnCommitted and
// TakeRoundFigures, which any thread may call.
// Errors: zmq::error_t / ConfigError from building a node.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>
#include <zmq.hpp>

#include "client/client_node.h"
#include "common/random/streams.h"
#include "sim/faults.h"
#include "sim/worker_pool.h"

namespace fsd::sim {

class ClientPool {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  // Builds client k's node (not started): its keys, limits and session.
  using MakeNode = std::function<client::ClientNode(std::size_t client)>;

  // `shard_sizes[k]`: client k's samples (0: it never checks in);
  // `checked_in`: how many stay connected; `seed`: the check-in draws.
  ClientPool(std::vector<std::int64_t> shard_sizes, std::size_t checked_in, std::uint64_t seed,
             MakeNode make_node, const FaultPlan& faults);

  // Checks clients in until `checked_in` are (or restarts are due), waits up
  // to `timeout` for frames and handles them; the rounds to train.
  std::vector<RoundJob> Poll(std::chrono::milliseconds timeout);
  // A trained round: uploaded now, held (straggler), or lost to a fault.
  void Upload(RoundResult result);
  // Heartbeats and JOIN retries, held uploads that are due, and the secure
  // rounds' after-upload dropouts and check-outs.
  void Tick();

  // The coordinator committed `round` (any thread). A ROUND_START for round
  // r tells the pool the same of r − 1.
  void OnCommitted(std::uint64_t round) { committed_ = round; }
  // Round `round`'s figures for metrics.jsonl: clients checked in now and,
  // when faults are injected, what was injected in it (any thread).
  nlohmann::json TakeRoundFigures(std::uint64_t round);

  // Every round's figures so far, by round (a client pool in its own process
  // writes them to its summary).
  nlohmann::json AllRoundFigures();
  // The coordinator said BYE to one of these clients: the federation is over.
  bool finished() const { return finished_; }

  std::size_t population() const { return population_; }
  std::size_t checked_in_target() const { return checked_in_; }
  std::int64_t check_ins() const { return check_ins_; }

 private:
  struct Online {
    std::uint64_t incarnation = 0;
    client::ClientNode node;
    // Churn: the round this client uploaded; it checks out once that
    // round's secure protocol is done (plain rounds check out at once).
    std::optional<std::uint64_t> leave_after;
    std::uint64_t secure_decided = 0;  // secure rounds whose after-upload dropout was drawn
  };
  struct Held {
    TimePoint due;
    RoundResult result;
  };

  bool churn() const { return checked_in_ < population_; }
  void Refill(TimePoint now);
  void CheckIn(std::size_t client, TimePoint now);
  // Takes the client offline; it may check in again once `round` committed
  // or faults.offline_s later, whichever comes first.
  // `deliver`: frames already queued still go out (else dropped, as in a crash).
  void Vanish(std::size_t client, std::uint64_t round, bool deliver);
  void CheckOut(std::size_t client, std::uint64_t round);
  // The client drops out of `round` (see above); true when it went offline.
  bool DropOut(std::size_t client, std::uint64_t round);
  void Deliver(RoundResult result, bool released);
  void Count(std::uint64_t round, int FaultCounts::*fault);  // one more of `fault` in `round`

  std::vector<std::int64_t> shard_sizes_;
  std::size_t population_ = 0;
  std::size_t checked_in_;
  MakeNode make_node_;
  const FaultPlan& faults_;
  random::Engine rng_;

  std::map<std::size_t, Online> online_;
  std::vector<std::size_t> offline_;           // clients that may be drawn to check in
  std::vector<std::uint64_t> eligible_after_;  // per client: may check in once this committed
  std::vector<TimePoint> back_at_;             // ... or at this time
  std::vector<std::uint64_t> incarnations_;    // per client: check-ins so far
  std::vector<std::pair<TimePoint, std::size_t>> restarts_;  // crashed clients and when they start
  std::vector<Held> held_;
  // ROUND_START deliveries per (client, round): the fault draws' last input.
  std::map<std::pair<std::size_t, std::uint64_t>, std::uint64_t> deliveries_;
  std::uint64_t pruned_through_ = 0;  // deliveries_ of rounds up to this are gone
  std::int64_t check_ins_ = 0;
  bool finished_ = false;

  std::vector<zmq::pollitem_t> items_;
  std::vector<std::size_t> item_clients_;
  bool items_stale_ = true;

  std::atomic<std::uint64_t> committed_{0};
  std::atomic<std::size_t> online_count_{0};
  std::mutex counts_mutex_;
  std::map<std::uint64_t, FaultCounts> counts_;
};

}  // namespace fsd::sim
