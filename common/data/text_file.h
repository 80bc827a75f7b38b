// Next-character samples from plain text files, without LibTorch: the text
// task (docs/DATA.md), in the manner of LEAF's Shakespeare.
//
// `dir/train.txt` or `dir/test.txt` holds text over a fixed vocabulary —
// newline and the printable ASCII characters ' '..'~', 96 symbols, so every
// client and every process agrees on the classes without looking at its own
// text. A sample is a window of `window` consecutive symbols and its label
// the symbol that follows; windows start every `stride` symbols. The
// returned ImageArrays holds each window as a 1×1×window float image of
// symbol indices (exact in float32), ready for the char-gru model, which
// embeds them; the loader applies no normalization to them.
//
// Every file is untrusted: a byte outside the vocabulary (a tab, a carriage
// return, UTF-8) is a DataError naming the file, the byte and its offset; a
// file too short for one sample or larger than `max_bytes` is refused.
// Errors: IoError when the file cannot be opened; DataError as above.
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "common/data/image_arrays.h"

namespace fsd::data {

// The vocabulary's size: the class count of every text dataset.
inline constexpr int kTextSymbols = 96;

// The symbol of byte `c` (newline 0, ' '..'~' 1..95), or -1 outside the vocabulary.
int TextSymbol(unsigned char c);

struct TextWindows {
  int window = 80;  // symbols a sample reads
  int stride = 8;   // symbols between the starts of consecutive windows
  std::int64_t max_bytes = std::int64_t{1} << 30;
};

// The samples of `dir/<split>.txt` (split "train" or "test").
ImageArrays ReadTextSplit(const std::string& dir, const std::string& split,
                          const TextWindows& windows);

}  // namespace fsd::data
