#include "common/model/layout.h"

#include <algorithm>

#include "common/errors.h"

namespace fsd::model {

int NumExits(const ModelLayout& layout) {
  int exits = 1;
  for (const auto& range : layout) exits = std::max(exits, range.exit);
  return exits;
}

Subnetwork Resolve(const Subnetwork& subnet, const ModelLayout& layout) {
  const int exits = NumExits(layout);
  FSD_CHECK(subnet.exit >= 0 && subnet.exit <= exits)
      << "sub-network of exit " << subnet.exit << " in a network of " << exits;
  return {subnet.exit == 0 ? exits : subnet.exit, subnet.head_only};
}

bool Holds(const Subnetwork& resolved, const TensorRange& range) {
  if (range.exit == 0) return true;
  if (!range.head) return range.exit <= resolved.exit;
  return resolved.head_only ? range.exit == resolved.exit : range.exit <= resolved.exit;
}

bool IsWhole(const Subnetwork& subnet, const ModelLayout& layout) {
  const Subnetwork resolved = Resolve(subnet, layout);
  return std::all_of(layout.begin(), layout.end(),
                     [&](const TensorRange& range) { return Holds(resolved, range); });
}

}  // namespace fsd::model
