// Secure aggregation end to end in one process: SecAggClients and a
// SecAggServer pass their messages by hand (no sockets), so every dropout
// pattern and every misbehaviour can be staged exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "common/errors.h"
#include "privacy/secagg/ring_vector.h"
#include "privacy/secagg/secagg_server.h"

namespace fsd::privacy {
namespace {

enum class DropStage { kAfterAdvertising, kAfterSharingKeys, kAfterMaskedInput, kDuringUnmasking };

constexpr std::size_t kLength = 500;
constexpr unsigned kRingBits = 24;

// n clients with random inputs in the ring; `drop` of them (the highest ids)
// stop answering from `stage` on.
class SecAggRound {
 public:
  // degree 0: the complete graph; otherwise a Harary graph of that degree.
  SecAggRound(int n, int threshold, std::uint64_t seed = 1, int degree = 0) {
    parameters_ = {7, threshold, kRingBits, kLength};
    std::mt19937_64 rng(seed);
    std::vector<SecAggId> ids;
    for (int i = 1; i <= n; ++i) ids.push_back(static_cast<SecAggId>(i));
    const auto graph = degree == 0 ? privacy::SecAggGraph::Complete(ids)
                                   : privacy::SecAggGraph::Harary(ids, degree, seed);
    for (const auto id : ids) {
      clients_.emplace(id, SecAggClient(parameters_, id, graph.Neighbours(id)));
      auto& input = inputs_[id];
      for (std::size_t j = 0; j < kLength; ++j) input.push_back(rng() & ((1u << 20) - 1));
    }
    server_ = std::make_unique<SecAggServer>(parameters_, graph,
                                             std::set<SecAggId>(ids.begin(), ids.end()));
  }

  static void Advertise(SecAggServer& server, SecAggClient& client) {
    const auto keys = client.AdvertiseKeys();
    server.AcceptKeys(keys, client.self_mask_commitment());
  }

  // Runs the round; true when the server released a sum. `tamper` may edit
  // an answer to the unmask request before the server takes it.
  bool Run(int drop, DropStage stage,
           const std::function<void(privacy::UnmaskShares&)>& tamper = {}) {
    const auto active = [&](SecAggId id, DropStage from) {
      return !(id > clients_.size() - static_cast<std::size_t>(drop) && stage <= from);
    };
    for (auto& [id, client] : clients_) Advertise(*server_, client);
    if (!server_->CloseAdvertise()) return false;
    for (auto& [id, client] : clients_) {
      if (active(id, DropStage::kAfterAdvertising)) {
        server_->AcceptShares(id, client.ShareKeys(server_->RosterFor(id)));
      }
    }
    if (!server_->CloseShareKeys()) return false;
    for (auto& [id, client] : clients_) {
      if (!active(id, DropStage::kAfterSharingKeys)) continue;
      masked_[id] = client.MaskInput(inputs_[id], Delivered(id));
      server_->AcceptMaskedInput(id, masked_[id]);
      summed_.insert(id);
    }
    if (!server_->CloseMaskedInput()) return false;
    for (auto& [id, client] : clients_) {
      if (!summed_.contains(id)) continue;
      auto answer = client.Unmask(server_->survivors());
      if (tamper) tamper(answer);
      if (active(id, std::max(stage, DropStage::kAfterMaskedInput))) server_->AcceptUnmask(answer);
    }
    return server_->Finish();
  }

  // The first two stages with every client taking part.
  bool ShareKeysAmongAll() {
    for (auto& [id, client] : clients_) Advertise(*server_, client);
    if (!server_->CloseAdvertise()) return false;
    for (auto& [id, client] : clients_) {
      server_->AcceptShares(id, client.ShareKeys(server_->RosterFor(id)));
    }
    return server_->CloseShareKeys();
  }

  std::vector<privacy::SealedShares> Delivered(SecAggId id) { return server_->SharesFor(id); }

  // The plaintext ring sum over the clients whose masked inputs were used.
  std::vector<std::uint64_t> PlainSum() const {
    std::vector<std::uint64_t> sum(kLength, 0);
    for (const auto id : summed_) privacy::RingAdd(sum, inputs_.at(id), kRingBits);
    return sum;
  }

  privacy::SecAggParameters parameters_;
  std::map<SecAggId, SecAggClient> clients_;
  std::map<SecAggId, std::vector<std::uint64_t>> inputs_;
  std::unique_ptr<SecAggServer> server_;
  std::set<SecAggId> summed_;
  std::map<SecAggId, std::vector<std::uint64_t>> masked_;  // what the server saw
};

TEST(SecAggTest, WithoutDropoutsTheServerGetsExactlyThePlaintextSum) {
  SecAggRound round(10, 6);
  ASSERT_TRUE(round.Run(0, DropStage::kAfterAdvertising)) << round.server_->failure_reason();
  EXPECT_EQ(round.summed_.size(), 10u);
  EXPECT_EQ(round.server_->sum(), round.PlainSum());
  // What the server saw of each client is masked: inputs are below 2^20, the
  // masked values spread over the whole ring of 2^24.
  for (const auto& [id, masked] : round.masked_) {
    const auto large = std::count_if(masked.begin(), masked.end(),
                                     [](std::uint64_t v) { return v >= (1u << 20); });
    EXPECT_GT(large, static_cast<long>(kLength) * 8 / 10) << "client " << id;
  }
}

TEST(SecAggTest, UpToNMinusTDropoutsAtAnyStageLeaveTheSumOfExactlyTheSurvivors) {
  // n = 10, t = 6: k = 1..4 clients drop at each stage; the sum is that of
  // the clients whose masked inputs the server used, exact in the ring.
  for (const auto stage : {DropStage::kAfterAdvertising, DropStage::kAfterSharingKeys,
                           DropStage::kAfterMaskedInput, DropStage::kDuringUnmasking}) {
    for (int k = 1; k <= 4; ++k) {
      SecAggRound round(10, 6, 100 + static_cast<std::uint64_t>(k));
      ASSERT_TRUE(round.Run(k, stage)) << "stage " << static_cast<int>(stage) << " k " << k << ": "
                                       << round.server_->failure_reason();
      const bool dropped_before_input = stage <= DropStage::kAfterSharingKeys;
      EXPECT_EQ(round.summed_.size(), dropped_before_input ? 10u - k : 10u);
      EXPECT_EQ(round.server_->sum(), round.PlainSum())
          << "stage " << static_cast<int>(stage) << " k " << k;
    }
  }
}

TEST(SecAggTest, FewerThanThresholdLeftFailsTheRoundWithItsReason) {
  for (const auto stage : {DropStage::kAfterAdvertising, DropStage::kAfterSharingKeys,
                           DropStage::kAfterMaskedInput, DropStage::kDuringUnmasking}) {
    SecAggRound round(10, 6);
    EXPECT_FALSE(round.Run(5, stage)) << static_cast<int>(stage);
    EXPECT_NE(round.server_->failure_reason().find("fewer than the threshold 6"), std::string::npos)
        << round.server_->failure_reason();
    EXPECT_TRUE(round.server_->sum().empty());
  }
}

TEST(SecAggTest, SparseGraphSumsExactlyThroughDropoutsWithKNeighboursEach) {
  // SecAgg+: 40 clients, each sharing with 12 neighbours of a Harary graph
  // (threshold 5 of 13); 3 drop after sharing keys, or 3 after masking.
  for (const auto stage : {DropStage::kAfterSharingKeys, DropStage::kAfterMaskedInput}) {
    SecAggRound round(40, 5, 9, /*degree=*/12);
    ASSERT_TRUE(round.Run(3, stage)) << round.server_->failure_reason();
    EXPECT_EQ(round.server_->sum(), round.PlainSum());
    EXPECT_EQ(round.server_->RosterFor(1).size(), 13u) << "12 neighbours and itself";
  }
}

TEST(SecAggTest, ClientRefusesToRevealBothSharesOfOnePeer) {
  // A coordinator that first calls client 10 a survivor and then asks again
  // with client 10 dropped would get 10's self-mask share and then its mask
  // key share: with both it could unmask 10's input.
  SecAggRound round(10, 6);
  ASSERT_TRUE(round.ShareKeysAmongAll()) << round.server_->failure_reason();
  auto& client = round.clients_.at(1);
  client.MaskInput(round.inputs_[1], round.Delivered(1));
  std::vector<SecAggId> all = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const auto first = client.Unmask(all);
  EXPECT_EQ(first.self_mask.size(), 10u);
  EXPECT_TRUE(first.mask_key.empty());
  EXPECT_EQ(client.Unmask(all), first) << "the same request again: the same answer";
  std::vector<SecAggId> without_ten(all.begin(), all.end() - 1);
  try {
    client.Unmask(without_ten);
    ADD_FAILURE() << "revealed client 10's mask key after its self-mask share";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("would reveal both shares"), std::string::npos)
        << e.what();
  }
  // Too few survivors among its neighbours, or a list that leaves it out: refused too.
  auto& two = round.clients_.at(2);
  two.MaskInput(round.inputs_[2], round.Delivered(2));
  EXPECT_THROW(two.Unmask(std::vector<SecAggId>{1, 2, 3, 4, 5}), DataError);
  EXPECT_THROW(two.Unmask(std::vector<SecAggId>{1, 3, 4, 5, 6, 7, 8}), DataError);
}

TEST(SecAggTest, ClientRefusesARosterItCannotTrust) {
  const privacy::SecAggParameters parameters{3, 3, kRingBits, kLength};
  const auto roster_of = [&](int n) {
    std::vector<SecAggClient> clients;
    std::vector<privacy::AdvertisedKeys> roster;
    std::vector<SecAggId> everyone;
    for (int i = 1; i <= n; ++i) everyone.push_back(static_cast<SecAggId>(i));
    for (int i = 1; i <= n; ++i) {
      clients.emplace_back(parameters, static_cast<SecAggId>(i), everyone);
      roster.push_back(clients.back().AdvertiseKeys());
    }
    return std::make_pair(std::move(clients), roster);
  };
  const auto refused = [](SecAggClient& client, const std::vector<privacy::AdvertisedKeys>& roster,
                          const std::string& needle) {
    try {
      client.ShareKeys(roster);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  {
    auto [clients, roster] = roster_of(2);
    refused(clients[0], roster, "fewer than the threshold 3");
  }
  {
    auto [clients, roster] = roster_of(4);
    roster[0].mask_key = roster[3].mask_key;  // the coordinator swaps in another key
    refused(clients[0], roster, "repeats a public key");
  }
  {
    auto [clients, roster] = roster_of(4);
    auto others = std::vector(roster.begin() + 1, roster.end());
    refused(clients[0], others, "does not hold this client's own keys");
  }
  {
    auto [clients, roster] = roster_of(4);
    SecAggClient sparse(parameters, 1, {1, 2, 3});  // 4 is not its neighbour
    roster[0] = sparse.AdvertiseKeys();
    refused(sparse, roster, "client 4, not a neighbour of this client");
  }
  {
    auto [clients, roster] = roster_of(4);
    EXPECT_THROW(clients[0].MaskInput(std::vector<std::uint64_t>(kLength), {}), DataError)
        << "masking before sharing keys is out of order";
  }
}

// A sealed share that does not open (tampered in transit, or sealed wrong by
// its sender) is disputed, not fatal: the recipient still masks with its
// sender, reveals nothing for it, and the sum comes out — also when the
// accused drops and its mask key is rebuilt without the accuser's share.
TEST(SecAggTest, ShareThatDoesNotOpenIsDisputedAndTheSumStillComesOut) {
  for (const bool accused_drops : {false, true}) {
    SCOPED_TRACE(accused_drops ? "the accused drops" : "the accused survives");
    SecAggRound round(6, 4);
    ASSERT_TRUE(round.ShareKeysAmongAll()) << round.server_->failure_reason();
    auto delivered = round.Delivered(1);
    ASSERT_EQ(delivered.size(), 5u);
    const SecAggId accused = delivered[2].from;
    delivered[2].sealed[20] ^= 0x40;
    for (auto& [id, client] : round.clients_) {
      if (accused_drops && id == accused) continue;
      const auto masked =
          client.MaskInput(round.inputs_[id], id == 1 ? delivered : round.Delivered(id));
      round.server_->AcceptMaskedInput(id, masked, client.disputed());
      round.summed_.insert(id);
    }
    EXPECT_EQ(round.clients_.at(1).disputed(), std::set<SecAggId>{accused});
    EXPECT_TRUE(round.clients_.at(2).disputed().empty());
    ASSERT_TRUE(round.server_->CloseMaskedInput());
    for (const auto id : round.summed_) {
      const auto answer = round.clients_.at(id).Unmask(round.server_->survivors());
      if (id == 1) {  // nothing for the disputed sender
        EXPECT_FALSE(answer.self_mask.contains(accused));
        EXPECT_FALSE(answer.mask_key.contains(accused));
      }
      round.server_->AcceptUnmask(answer);
    }
    ASSERT_TRUE(round.server_->Finish()) << round.server_->failure_reason();
    EXPECT_EQ(round.server_->sum(), round.PlainSum());
    const std::map<SecAggId, std::set<SecAggId>> disputes = {{1, {accused}}};
    EXPECT_EQ(round.server_->disputes(), disputes);
  }
}

TEST(SecAggTest, ServerRefusesADisputeOfAClientThatSentNoShares) {
  SecAggRound round(6, 4);
  ASSERT_TRUE(round.ShareKeysAmongAll()) << round.server_->failure_reason();
  const auto masked = round.clients_.at(1).MaskInput(round.inputs_[1], round.Delivered(1));
  EXPECT_THROW(round.server_->AcceptMaskedInput(1, masked, {1}), DataError);  // itself
  EXPECT_THROW(round.server_->AcceptMaskedInput(1, masked, {9}), DataError);  // not in U2
  round.server_->AcceptMaskedInput(1, masked, {2});  // a neighbour in U2: accepted
}

// A colluding client reveals a wrong share: the other shares outvote it, the
// sum is still exact, and the client is named.
TEST(SecAggTest, WrongSelfMaskShareIsNamedAndTheSumStillComesOut) {
  SecAggRound round(10, 6);
  ASSERT_TRUE(round.Run(0, DropStage::kAfterAdvertising, [](privacy::UnmaskShares& answer) {
    if (answer.from == 3) answer.self_mask.at(5).y[0] ^= 1;
  })) << round.server_->failure_reason();
  EXPECT_EQ(round.server_->sum(), round.PlainSum());
  EXPECT_EQ(round.server_->culprits(), std::vector<SecAggId>{3});
}

TEST(SecAggTest, WrongMaskKeyShareOfADroppedClientIsNamed) {
  SecAggRound round(10, 6);
  // Clients 9 and 10 drop after sharing keys: the others reveal shares of their mask keys.
  ASSERT_TRUE(round.Run(2, DropStage::kAfterSharingKeys, [](privacy::UnmaskShares& answer) {
    if (answer.from == 1 || answer.from == 4) answer.mask_key.at(10).y[2] ^= 7;
  })) << round.server_->failure_reason();
  EXPECT_EQ(round.server_->sum(), round.PlainSum());
  EXPECT_EQ(round.server_->culprits(), (std::vector<SecAggId>{1, 4}));
}

// With exactly t answers a wrong share cannot be told from the right ones:
// the round fails (never a wrong sum) and names nobody.
TEST(SecAggTest, WrongShareAmongExactlyThresholdAnswersFailsTheRound) {
  SecAggRound round(6, 6);
  EXPECT_FALSE(round.Run(0, DropStage::kAfterAdvertising, [](privacy::UnmaskShares& answer) {
    if (answer.from == 2) answer.self_mask.at(1).y[0] ^= 1;
  }));
  EXPECT_NE(round.server_->failure_reason().find("self-mask seed of client 1 does not reconstruct"),
            std::string::npos)
      << round.server_->failure_reason();
  EXPECT_TRUE(round.server_->sum().empty());
  EXPECT_TRUE(round.server_->culprits().empty());
}

TEST(SecAggTest, ServerRefusesMessagesThatBreakTheProtocolAndKeepsGoing) {
  SecAggRound round(6, 4);
  auto& server = *round.server_;
  auto& one = round.clients_.at(1);
  const auto keys = one.AdvertiseKeys();
  const auto commitment = one.self_mask_commitment();
  server.AcceptKeys(keys, commitment);
  EXPECT_THROW(server.AcceptKeys(keys, commitment), DataError);  // twice
  auto stranger = keys;
  stranger.id = 99;
  EXPECT_THROW(server.AcceptKeys(stranger, commitment), DataError);  // not in the cohort
  auto copycat = round.clients_.at(2).AdvertiseKeys();
  copycat.mask_key = keys.mask_key;
  EXPECT_THROW(server.AcceptKeys(copycat, commitment), DataError);  // someone else's key
  for (SecAggId id = 3; id <= 6; ++id) SecAggRound::Advertise(server, round.clients_.at(id));
  ASSERT_TRUE(server.CloseAdvertise());
  EXPECT_EQ(server.RosterFor(1).size(), 5u);
  auto shares = one.ShareKeys(server.RosterFor(1));
  auto short_list = shares;
  short_list.pop_back();
  EXPECT_THROW(server.AcceptShares(1, short_list), DataError);
  EXPECT_THROW(server.AcceptShares(2, shares), DataError);  // labelled as from 1
  server.AcceptShares(1, shares);
  for (SecAggId id = 3; id <= 6; ++id) {
    server.AcceptShares(id, round.clients_.at(id).ShareKeys(server.RosterFor(id)));
  }
  ASSERT_TRUE(server.CloseShareKeys());
  EXPECT_THROW(server.AcceptMaskedInput(1, std::vector<std::uint64_t>(kLength - 1)), DataError);
  EXPECT_THROW(server.AcceptMaskedInput(1, std::vector<std::uint64_t>(kLength, 1u << kRingBits)),
               DataError);
  EXPECT_THROW(server.AcceptMaskedInput(2, std::vector<std::uint64_t>(kLength)), DataError);
}

}  // namespace
}  // namespace fsd::privacy
