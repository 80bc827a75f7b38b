#include "privacy/secagg/secure_input.h"

#include <algorithm>
#include <cmath>

#include "common/errors.h"
#include "privacy/secagg/ring_vector.h"

namespace fsd::privacy {

unsigned SecureRingBits(unsigned bits, unsigned weight_bits, std::size_t cohort,
                        std::int64_t total_samples) {
  unsigned count_bits = 0;
  while (count_bits < 62 && (std::int64_t{1} << count_bits) <= total_samples) ++count_bits;
  return std::max(RingBitsFor(bits + weight_bits, cohort), count_bits);
}

SecureInput EncodeSecureInput(const SecureInputLayout& layout, std::span<const float> deltas,
                              std::uint32_t weight, std::span<const std::int64_t> counts,
                              std::span<const float> mean_logits, std::int64_t samples) {
  const std::size_t classes = layout.classes;
  FSD_CHECK(deltas.size() == layout.kept && counts.size() == classes &&
            mean_logits.size() == classes * classes && weight >= 1 && (classes == 0 || samples > 0))
      << "secure input of " << deltas.size() << " deltas, " << counts.size() << " classes";
  const FixedPoint values(layout.bits, layout.range);
  const FixedPoint logits(layout.bits, layout.logit_range);
  SecureInput input;
  input.elements.reserve(layout.length());
  FixedPoint::Encoded encoded = values.Encode(deltas);
  input.clamped += encoded.clamped;
  for (const auto u : encoded.values) input.elements.push_back(u * weight);
  for (const auto n : counts) input.elements.push_back(static_cast<std::uint64_t>(n));
  std::vector<std::uint64_t> class_weights(classes, 0);
  for (std::size_t c = 0; c < classes; ++c) {
    if (counts[c] <= 0) continue;
    const double share =
        static_cast<double>(weight) * static_cast<double>(counts[c]) / static_cast<double>(samples);
    class_weights[c] = std::max<std::uint64_t>(
        1, static_cast<std::uint64_t>(std::llround(std::min(share, static_cast<double>(weight)))));
  }
  input.elements.insert(input.elements.end(), class_weights.begin(), class_weights.end());
  encoded = logits.Encode(mean_logits);
  input.clamped += encoded.clamped;
  for (std::size_t i = 0; i < encoded.values.size(); ++i) {
    input.elements.push_back(encoded.values[i] * class_weights[i / classes]);
  }
  const std::uint64_t ring =
      layout.ring_bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << layout.ring_bits) - 1;
  for (auto& e : input.elements) e &= ring;
  return input;
}

SecureSum DecodeSecureSum(const SecureInputLayout& layout, std::span<const std::uint64_t> sum,
                          std::uint64_t total_weight) {
  FSD_CHECK(sum.size() == layout.length())
      << "secure sum of " << sum.size() << " elements, layout has " << layout.length();
  const std::size_t kept = layout.kept, classes = layout.classes;
  SecureSum out;
  out.weight = total_weight;
  out.weighted_deltas = FixedPoint(layout.bits, layout.range)
                            .DecodeSum(sum.subspan(0, kept), static_cast<std::size_t>(out.weight));
  for (std::size_t c = 0; c < classes; ++c) {
    out.counts.push_back(static_cast<std::int64_t>(sum[kept + c]));
    out.class_weights.push_back(sum[kept + classes + c]);
  }
  const FixedPoint logits(layout.bits, layout.logit_range);
  out.mean_logits.assign(classes * classes, 0.0);
  for (std::size_t c = 0; c < classes; ++c) {
    const std::uint64_t q = out.class_weights[c];
    if (q == 0) continue;
    const auto row = logits.DecodeSum(sum.subspan(kept + 2 * classes + c * classes, classes),
                                      static_cast<std::size_t>(q));
    for (std::size_t j = 0; j < classes; ++j) {
      out.mean_logits[c * classes + j] = row[j] / static_cast<double>(q);
    }
  }
  return out;
}

}  // namespace fsd::privacy
