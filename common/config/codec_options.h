// The codec settings a [compression] config implies for one direction.
// Thread-safety: free function.
#pragma once

#include "common/codec/values.h"
#include "common/config/config.h"

namespace fsd::config {

// `codec` is compression.uplink or compression.downlink.
codec::EncodeOptions EncodeOptionsFor(ValueCodec codec, const CompressionConfig& compression);

}  // namespace fsd::config
