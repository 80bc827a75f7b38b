// Decoded<T>: the outcome of decoding untrusted bytes — a value, or a Reject
// that names the problem. Decoders return it instead of throwing.
#pragma once

#include <utility>
#include <variant>

#include "common/wire/messages.h"

namespace fsd::wire {

template <typename T>
class Decoded {
 public:
  Decoded(T value) : state_(std::move(value)) {}         // NOLINT: implicit by design
  Decoded(Reject reject) : state_(std::move(reject)) {}  // NOLINT
  bool ok() const { return std::holds_alternative<T>(state_); }
  const T& value() const { return std::get<T>(state_); }
  T& value() { return std::get<T>(state_); }
  const Reject& reject() const { return std::get<Reject>(state_); }

 private:
  std::variant<T, Reject> state_;
};

}  // namespace fsd::wire
