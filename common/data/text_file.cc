#include "common/data/text_file.h"

#include <cstdio>
#include <vector>

#include "common/data/binary_file.h"
#include "common/errors.h"

namespace fsd::data {

int TextSymbol(unsigned char c) {
  if (c == '\n') return 0;
  if (c >= ' ' && c <= '~') return c - ' ' + 1;
  return -1;
}

ImageArrays ReadTextSplit(const std::string& dir, const std::string& split,
                          const TextWindows& windows) {
  FSD_CHECK(windows.window >= 1 && windows.stride >= 1)
      << "window " << windows.window << ", stride " << windows.stride;
  BinaryFile file(dir + "/" + split + ".txt");
  if (file.size() > static_cast<std::uint64_t>(windows.max_bytes)) {
    file.Fail("holds " + std::to_string(file.size()) + " bytes, more than the " +
              std::to_string(windows.max_bytes) + " a text split may hold");
  }
  const auto length = static_cast<std::int64_t>(file.size());
  if (length < windows.window + 1) {
    file.Fail("holds " + std::to_string(length) + " characters; one sample needs " +
              std::to_string(windows.window + 1) + " (data.text_window + 1)");
  }
  std::vector<unsigned char> text(static_cast<std::size_t>(length));
  file.Read(text.data(), text.size());
  std::vector<float> symbols(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const int symbol = TextSymbol(text[i]);
    if (symbol < 0) {
      char byte[8];
      std::snprintf(byte, sizeof(byte), "0x%02X", text[i]);
      file.Fail("byte " + std::string(byte) + " at offset " + std::to_string(i) +
                " is outside the text vocabulary (newline and printable ASCII ' '..'~')");
    }
    symbols[i] = static_cast<float>(symbol);
  }

  ImageArrays samples;
  samples.count = (length - windows.window - 1) / windows.stride + 1;
  // Windows overlap when stride < window: bound what they expand to.
  constexpr std::int64_t kMaxValues = std::int64_t{1} << 28;  // 1 GiB of float32
  if (samples.count > ImageLimits{}.max_items || samples.count * windows.window > kMaxValues) {
    file.Fail(std::to_string(samples.count) + " windows of " + std::to_string(windows.window) +
              " symbols exceed the " + std::to_string(ImageLimits{}.max_items) + " samples or " +
              std::to_string(kMaxValues) + " values a split may expand to; raise data.text_stride");
  }
  samples.channels = samples.height = 1;
  samples.width = windows.window;
  samples.num_classes = kTextSymbols;
  samples.images_path = samples.labels_path = file.path();
  samples.floats.reserve(static_cast<std::size_t>(samples.count * windows.window));
  samples.labels.reserve(static_cast<std::size_t>(samples.count));
  for (std::int64_t n = 0; n < samples.count; ++n) {
    const auto start = symbols.begin() + n * windows.stride;
    samples.floats.insert(samples.floats.end(), start, start + windows.window);
    samples.labels.push_back(static_cast<std::int64_t>(start[windows.window]));
  }
  return samples;
}

}  // namespace fsd::data
