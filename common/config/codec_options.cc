#include "common/config/codec_options.h"

namespace fsd::config {

codec::EncodeOptions EncodeOptionsFor(ValueCodec codec, const CompressionConfig& compression) {
  codec::EncodeOptions options;
  switch (codec) {
    case ValueCodec::kFp32:
      options.dtype = codec::Dtype::kFp32;
      break;
    case ValueCodec::kFp16:
      options.dtype = codec::Dtype::kFp16;
      break;
    case ValueCodec::kInt8:
      options.dtype = codec::Dtype::kInt8;
      break;
  }
  options.zstd = compression.zstd;
  options.zstd_level = compression.zstd_level;
  options.stochastic_rounding = compression.stochastic_rounding;
  return options;
}

}  // namespace fsd::config
