#include "common/data/npy_file.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/data/binary_file.h"
#include "common/errors.h"

namespace fsd::data {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::uint64_t kMaxHeaderBytes = 1 << 16;
constexpr std::int64_t kMaxDimension = std::int64_t{1} << 40;

[[noreturn]] void Fail(const std::string& path, const std::string& problem) {
  throw DataError(path + ": " + problem);
}

// The parsed header of one .npy file.
struct NpyHeader {
  std::string descr;  // e.g. "<f4"
  bool fortran_order = false;
  std::vector<std::int64_t> shape;  // () for a scalar
  std::uint64_t data_offset = 0;    // where the array's bytes start
};

// A strict reader of the Python dict literal numpy writes as the header.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, std::string_view text) : path_(path), text_(text) {}

  NpyHeader Parse() {
    NpyHeader header;
    bool has_descr = false, has_order = false, has_shape = false;
    Expect('{');
    while (true) {
      SkipSpace();
      if (Peek() == '}') break;
      const std::string key = QuotedString();
      Expect(':');
      if (key == "descr") {
        header.descr = QuotedString();
        has_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = Boolean();
        has_order = true;
      } else if (key == "shape") {
        header.shape = Shape();
        has_shape = true;
      } else {
        Fail(path_, "header has an unknown key '" + key +
                        "' (a .npy header holds descr, "
                        "fortran_order and shape)");
      }
      SkipSpace();
      if (Peek() == ',') ++at_;
    }
    Expect('}');
    for (; at_ < text_.size(); ++at_) {
      if (!std::isspace(static_cast<unsigned char>(text_[at_])))
        Fail(path_, "header has text after its closing brace");
    }
    if (!has_descr || !has_order || !has_shape)
      Fail(path_, "header lacks one of descr, fortran_order, shape");
    return header;
  }

 private:
  void SkipSpace() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  char Peek() {
    if (at_ >= text_.size()) Fail(path_, "header ends inside its dict");
    return text_[at_];
  }
  void Expect(char c) {
    SkipSpace();
    if (Peek() != c)
      Fail(path_, std::string("header: expected '") + c + "' at byte " + std::to_string(at_) +
                      " of the dict");
    ++at_;
  }
  std::string QuotedString() {
    SkipSpace();
    const char quote = Peek();
    if (quote != '\'' && quote != '"') Fail(path_, "header: expected a quoted string");
    const auto end = text_.find(quote, at_ + 1);
    if (end == std::string_view::npos) Fail(path_, "header: unterminated string");
    std::string value(text_.substr(at_ + 1, end - at_ - 1));
    at_ = end + 1;
    return value;
  }
  bool Boolean() {
    SkipSpace();
    for (const auto& [word, value] :
         {std::pair{std::string_view("True"), true}, std::pair{std::string_view("False"), false}}) {
      if (text_.substr(at_, word.size()) == word) {
        at_ += word.size();
        return value;
      }
    }
    Fail(path_, "header: fortran_order must be True or False");
  }
  std::vector<std::int64_t> Shape() {
    Expect('(');
    std::vector<std::int64_t> shape;
    while (true) {
      SkipSpace();
      if (Peek() == ')') break;
      std::int64_t value = 0;
      const std::size_t start = at_;
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
        value = value * 10 + (text_[at_] - '0');
        if (value > kMaxDimension) Fail(path_, "header: a dimension above 2^40");
        ++at_;
      }
      if (at_ == start) Fail(path_, "header: shape must be a tuple of non-negative integers");
      shape.push_back(value);
      if (shape.size() > 8) Fail(path_, "header: shape has more than 8 dimensions");
      SkipSpace();
      if (Peek() == ',') {
        ++at_;
      } else if (Peek() != ')') {
        Fail(path_, "header: shape must be a tuple of non-negative integers");
      }
    }
    ++at_;  // ')'
    return shape;
  }

  const std::string& path_;
  std::string_view text_;
  std::size_t at_ = 0;
};

enum class Kind { kUnsigned, kSigned, kFloat };
struct Dtype {
  std::string_view descr;
  Kind kind;
  std::size_t size;
};
constexpr Dtype kDtypes[] = {
    {"|u1", Kind::kUnsigned, 1}, {"|i1", Kind::kSigned, 1},   {"<u2", Kind::kUnsigned, 2},
    {"<i2", Kind::kSigned, 2},   {"<u4", Kind::kUnsigned, 4}, {"<i4", Kind::kSigned, 4},
    {"<u8", Kind::kUnsigned, 8}, {"<i8", Kind::kSigned, 8},   {"<f4", Kind::kFloat, 4},
};

const Dtype* FindDtype(const std::string& descr) {
  for (const Dtype& dtype : kDtypes) {
    if (dtype.descr == descr) return &dtype;
  }
  return nullptr;
}

std::string ShapeText(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

// One array: its header and its raw little-endian bytes, the size checked
// against the header before anything is allocated.
struct NpyArray {
  NpyHeader header;
  const Dtype* dtype = nullptr;
  std::vector<std::uint8_t> data;
};

NpyArray ReadNpyFile(const std::string& path) {
  BinaryFile file(path);
  std::string prefix(12, '\0');
  file.Read(prefix.data(), 10);
  if (std::string_view(prefix).substr(0, 6) != kMagic) Fail(path, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(prefix[6]);
  if (major < 1 || major > 3) {
    Fail(path, "unknown .npy format version " + std::to_string(major) + "." +
                   std::to_string(static_cast<unsigned char>(prefix[7])) +
                   " (known: 1.0, 2.0, 3.0)");
  }
  std::uint64_t header_bytes =
      static_cast<unsigned char>(prefix[8]) | (static_cast<unsigned char>(prefix[9]) << 8);
  if (major >= 2) {
    file.Read(prefix.data() + 10, 2);
    header_bytes |= (std::uint64_t{static_cast<unsigned char>(prefix[10])} << 16) |
                    (std::uint64_t{static_cast<unsigned char>(prefix[11])} << 24);
  }
  if (header_bytes > kMaxHeaderBytes) {
    Fail(path, "header of " + std::to_string(header_bytes) + " bytes, more than the limit of " +
                   std::to_string(kMaxHeaderBytes));
  }
  std::string text(static_cast<std::size_t>(header_bytes), '\0');
  file.Read(text.data(), text.size());
  NpyArray array;
  array.header = HeaderParser(path, text).Parse();
  array.header.data_offset = file.position();
  if (array.header.fortran_order)
    Fail(path,
         "Fortran-ordered array (fortran_order: True); save it with C order "
         "(numpy.ascontiguousarray)");
  array.dtype = FindDtype(array.header.descr);
  if (array.dtype == nullptr) {
    Fail(path, "dtype '" + array.header.descr +
                   "' is not supported (uint8 '|u1' or little-endian float32 '<f4' images; "
                   "little-endian integer labels)");
  }
  std::uint64_t elements = 1;
  for (const std::int64_t dim : array.header.shape) {
    if (dim != 0 &&
        elements > std::numeric_limits<std::uint64_t>::max() / 8 / static_cast<std::uint64_t>(dim))
      Fail(path, "shape " + ShapeText(array.header.shape) + " is too large");
    elements *= static_cast<std::uint64_t>(dim);
  }
  const std::uint64_t announced = elements * array.dtype->size;
  const std::uint64_t present = file.size() - file.position();
  if (announced != present) {
    Fail(path, "header announces shape " + ShapeText(array.header.shape) + " of '" +
                   array.header.descr + "' = " + std::to_string(announced) +
                   " data bytes, the file holds " + std::to_string(present));
  }
  array.data.resize(static_cast<std::size_t>(announced));
  file.Read(array.data.data(), array.data.size());
  return array;
}

template <typename T>
T LoadLittleEndian(const std::uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));  // the build targets little-endian machines only
  return value;
}

std::int64_t LabelAt(const NpyArray& array, std::size_t i, const std::string& path) {
  const std::uint8_t* p = array.data.data() + i * array.dtype->size;
  const bool is_signed = array.dtype->kind == Kind::kSigned;
  switch (array.dtype->size) {
    case 1:
      return is_signed ? LoadLittleEndian<std::int8_t>(p) : LoadLittleEndian<std::uint8_t>(p);
    case 2:
      return is_signed ? LoadLittleEndian<std::int16_t>(p) : LoadLittleEndian<std::uint16_t>(p);
    case 4:
      return is_signed ? LoadLittleEndian<std::int32_t>(p) : LoadLittleEndian<std::uint32_t>(p);
    default: {
      if (is_signed) return LoadLittleEndian<std::int64_t>(p);
      const auto value = LoadLittleEndian<std::uint64_t>(p);
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        Fail(path, "label at index " + std::to_string(i) + " is above 2^63");
      return static_cast<std::int64_t>(value);
    }
  }
}

// Images of `array` into `out` as N×C×H×W bytes or floats.
void TakeImages(NpyArray& array, const std::string& path, NpyLayout layout,
                const ImageLimits& limits, ImageArrays& out) {
  const auto& shape = array.header.shape;
  if (array.dtype->kind == Kind::kSigned ||
      (array.dtype->kind == Kind::kUnsigned && array.dtype->size != 1)) {
    Fail(path, "images of dtype '" + array.header.descr +
                   "': images must be uint8 ('|u1') or float32 ('<f4')");
  }
  if (shape.size() != 3 && shape.size() != 4) {
    Fail(path, "images of shape " + ShapeText(shape) +
                   ": expected N×H×W, N×H×W×C or N×C×H×W (data.npy_layout)");
  }
  const bool nchw = shape.size() == 4 && layout == NpyLayout::kNchw;
  out.count = shape[0];
  out.channels = shape.size() == 3 ? 1 : nchw ? shape[1] : shape[3];
  out.height = nchw ? shape[2] : shape[1];
  out.width = nchw ? shape[3] : shape[2];
  if (shape.size() == 4 && out.channels > limits.max_channels) {
    const std::int64_t other = nchw ? shape[3] : shape[1];
    Fail(path, "images of shape " + ShapeText(shape) + " read as " +
                   (nchw ? "N×C×H×W" : "N×H×W×C") + " (data.npy_layout = \"" +
                   (nchw ? "nchw" : "nhwc") + "\") have " + std::to_string(out.channels) +
                   " channels, above the limit of " + std::to_string(limits.max_channels) +
                   (other <= limits.max_channels
                        ? std::string("; the shape looks like data.npy_layout = \"") +
                              (nchw ? "nhwc" : "nchw") + "\""
                        : std::string()));
  }
  if (out.count < 1 || out.count > limits.max_items)
    Fail(path,
         std::to_string(out.count) + " images, allowed 1.." + std::to_string(limits.max_items));
  for (const std::int64_t side : {out.height, out.width}) {
    if (side < 1 || side > limits.max_side) {
      Fail(path, "images of shape " + ShapeText(shape) + ": a side of " + std::to_string(side) +
                     ", allowed 1.." + std::to_string(limits.max_side));
    }
  }
  if (out.channels < 1) Fail(path, "images of shape " + ShapeText(shape) + " have no channel");
  const std::int64_t plane = out.height * out.width, per_image = out.pixels_per_image();
  const bool is_float = array.dtype->kind == Kind::kFloat;
  if (is_float) {
    out.floats.resize(static_cast<std::size_t>(out.count * per_image));
    for (std::size_t i = 0; i < out.floats.size(); ++i) {
      const float value = LoadLittleEndian<float>(array.data.data() + 4 * i);
      if (!std::isfinite(value))
        Fail(path, "non-finite value (NaN or Inf) at element " + std::to_string(i));
      out.floats[i] = value;
    }
    std::vector<std::uint8_t>().swap(array.data);  // the raw bytes are no longer needed
  } else {
    out.bytes = std::move(array.data);
  }
  if (nchw || out.channels == 1) return;
  // N×H×W×C to N×C×H×W, one image at a time.
  const auto transpose = [&](auto& values) {
    using T = std::decay_t<decltype(values[0])>;
    std::vector<T> image(static_cast<std::size_t>(per_image));
    for (std::int64_t n = 0; n < out.count; ++n) {
      T* base = values.data() + n * per_image;
      for (std::int64_t p = 0; p < plane; ++p) {
        for (std::int64_t c = 0; c < out.channels; ++c)
          image[c * plane + p] = base[p * out.channels + c];
      }
      std::copy(image.begin(), image.end(), base);
    }
  };
  if (is_float) {
    transpose(out.floats);
  } else {
    transpose(out.bytes);
  }
}

}  // namespace

ImageArrays ReadNpySplit(const std::string& dir, const std::string& split, NpyLayout layout,
                         const ImageLimits& limits) {
  ImageArrays out;
  out.images_path = dir + "/x_" + split + ".npy";
  out.labels_path = dir + "/y_" + split + ".npy";
  NpyArray images = ReadNpyFile(out.images_path);
  TakeImages(images, out.images_path, layout, limits, out);
  const NpyArray labels = ReadNpyFile(out.labels_path);
  const auto& shape = labels.header.shape;
  if (labels.dtype->kind == Kind::kFloat) {
    Fail(out.labels_path, "labels of dtype '" + labels.header.descr + "': labels must be integers");
  }
  if (!(shape.size() == 1 || (shape.size() == 2 && shape[1] == 1))) {
    Fail(out.labels_path, "labels of shape " + ShapeText(shape) + ": expected (N,) or (N, 1)");
  }
  if (shape[0] != out.count) {
    throw DataError(out.images_path + " holds " + std::to_string(out.count) + " images but " +
                    out.labels_path + " holds " + std::to_string(shape[0]) + " labels");
  }
  out.labels.resize(static_cast<std::size_t>(out.count));
  for (std::size_t i = 0; i < out.labels.size(); ++i) {
    const std::int64_t label = LabelAt(labels, i, out.labels_path);
    if (label < 0 || label >= limits.max_classes) {
      Fail(out.labels_path, "label " + std::to_string(label) + " at index " + std::to_string(i) +
                                " is outside [0, " + std::to_string(limits.max_classes) + ")");
    }
    out.labels[i] = label;
  }
  return out;
}

}  // namespace fsd::data
