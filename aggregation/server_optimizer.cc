#include "aggregation/server_optimizer.h"

#include <cmath>

#include "common/errors.h"

namespace fsd::aggregation {

const char* ServerOptimizerName(ServerOptimizerKind kind) {
  switch (kind) {
    case ServerOptimizerKind::kNone:
      return "none";
    case ServerOptimizerKind::kMomentum:
      return "momentum";
    case ServerOptimizerKind::kAdam:
      return "adam";
    case ServerOptimizerKind::kYogi:
      return "yogi";
    case ServerOptimizerKind::kAdagrad:
      return "adagrad";
  }
  return "unknown";
}

ServerOptimizer::ServerOptimizer(ServerOptimizerOptions options, std::size_t size)
    : options_(options), size_(size) {
  FSD_CHECK(options.lr > 0.0 && options.momentum >= 0.0 && options.momentum < 1.0 &&
            options.beta1 >= 0.0 && options.beta1 < 1.0 && options.beta2 >= 0.0 &&
            options.beta2 < 1.0 && options.tau > 0.0)
      << "server optimizer options";
  state_.kind = options.kind;
  if (options.kind == ServerOptimizerKind::kNone) return;
  state_.m.assign(size, 0.0f);
  if (options.kind != ServerOptimizerKind::kMomentum) {
    state_.v.assign(size, static_cast<float>(options.tau * options.tau));
  }
}

void ServerOptimizer::Step(std::span<const float> before, std::span<float> global,
                           std::span<const std::uint8_t> stepped) {
  FSD_CHECK(before.size() == size_ && global.size() == size_ && stepped.size() == size_)
      << "server optimizer of " << size_ << " values given " << before.size() << ", "
      << global.size() << ", " << stepped.size();
  const ServerOptimizerKind kind = options_.kind;
  if (kind == ServerOptimizerKind::kNone) return;
  const double lr = options_.lr, b1 = options_.beta1, b2 = options_.beta2, tau = options_.tau;
  std::vector<float>& m = state_.m;
  std::vector<float>& v = state_.v;
  for (std::size_t i = 0; i < size_; ++i) {
    if (stepped[i] == 0) continue;
    const double delta = static_cast<double>(global[i]) - before[i];
    if (kind == ServerOptimizerKind::kMomentum) {
      m[i] = static_cast<float>(options_.momentum * m[i] + delta);
      global[i] = static_cast<float>(before[i] + lr * m[i]);
      continue;
    }
    m[i] = static_cast<float>(b1 * m[i] + (1.0 - b1) * delta);
    const double square = delta * delta;
    double second = v[i];
    switch (kind) {
      case ServerOptimizerKind::kAdam:
        second = b2 * second + (1.0 - b2) * square;
        break;
      case ServerOptimizerKind::kYogi: {
        const double difference = second - square;
        const double sign = difference > 0.0 ? 1.0 : (difference < 0.0 ? -1.0 : 0.0);
        second = second - (1.0 - b2) * square * sign;
        break;
      }
      default:  // kAdagrad
        second = second + square;
        break;
    }
    v[i] = static_cast<float>(second);
    global[i] = static_cast<float>(before[i] + lr * m[i] / (std::sqrt(second) + tau));
  }
}

void ServerOptimizer::Restore(ServerOptimizerState state) {
  if (state.kind != options_.kind) {
    throw DataError(std::string("server optimizer state is for \"") +
                    ServerOptimizerName(state.kind) + "\", this run uses \"" +
                    ServerOptimizerName(options_.kind) + "\"");
  }
  const std::size_t m_size = options_.kind == ServerOptimizerKind::kNone ? 0 : size_;
  const std::size_t v_size =
      options_.kind == ServerOptimizerKind::kNone || options_.kind == ServerOptimizerKind::kMomentum
          ? 0
          : size_;
  if (state.m.size() != m_size || state.v.size() != v_size) {
    throw DataError("server optimizer state holds " + std::to_string(state.m.size()) + " + " +
                    std::to_string(state.v.size()) + " moments, this run needs " +
                    std::to_string(m_size) + " + " + std::to_string(v_size));
  }
  for (const float x : state.m) {
    if (!std::isfinite(x)) throw DataError("server optimizer first moment holds NaN or Inf");
  }
  for (const float x : state.v) {
    if (!(x >= 0.0f) || !std::isfinite(x))
      throw DataError("server optimizer second moment holds a negative, NaN or Inf value");
  }
  state_ = std::move(state);
}

}  // namespace fsd::aggregation
