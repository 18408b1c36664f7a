// Image decoding (OpenCV) and torchvision's preprocessing on PIL images, reproduced bit for bit.
//
// References for the numerics, all of which the tests compare against the real thing:
//   Pillow 9.4   src/libImaging/Resample.c (precompute_coeffs, normalize_coeffs_8bpc,
//                ImagingResampleHorizontal_8bpc / Vertical_8bpc, ImagingResampleInner),
//                src/libImaging/Convert.c (rgb2l), src/PIL/Image.py (Image.resize).
//   torchvision 0.14  transforms/functional_pil.py (resize), transforms/functional.py
//                (center_crop, to_tensor, normalize).
#include "lib/image.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <system_error>

#include "lib/error.h"

namespace bagnet {
namespace {

using Bytes = std::vector<std::uint8_t>;

// ------------------------------------------------------------------------------------------
// Reading the file

std::string errno_message(int err) { return std::error_code(err, std::generic_category()).message(); }

Bytes read_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) throw Error(path, "file not found");
  if (ec) throw Error(path, "cannot access: " + ec.message());
  if (status.type() == fs::file_type::directory) throw Error(path, "is a directory, not an image file");

  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw Error(path, "cannot open: " + errno_message(errno));
  Bytes bytes;
  if (status.type() == fs::file_type::regular) {
    const std::uintmax_t size = fs::file_size(path, ec);
    if (!ec) bytes.reserve(static_cast<size_t>(size));
  }
  std::uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, file.get())) > 0)
    bytes.insert(bytes.end(), chunk, chunk + n);
  if (std::ferror(file.get())) throw Error(path, "read error: " + errno_message(errno));
  if (bytes.empty()) throw Error(path, "file is empty");
  // cv::imdecode takes the buffer as a one-row Mat, whose width is an int.
  if (bytes.size() > static_cast<size_t>(INT_MAX)) throw Error(path, "file is larger than 2 GiB");
  return bytes;
}

// ------------------------------------------------------------------------------------------
// Reading the image size from the header, without decoding

std::uint32_t be16(const Bytes& b, size_t i) { return (std::uint32_t{b[i]} << 8) | b[i + 1]; }
std::uint32_t be32(const Bytes& b, size_t i) { return (be16(b, i) << 16) | be16(b, i + 2); }
std::uint32_t le16(const Bytes& b, size_t i) { return b[i] | (std::uint32_t{b[i + 1]} << 8); }
std::uint32_t le24(const Bytes& b, size_t i) { return le16(b, i) | (std::uint32_t{b[i + 2]} << 16); }
std::uint32_t le32(const Bytes& b, size_t i) { return le16(b, i) | (le16(b, i + 2) << 16); }

bool starts_with(const Bytes& b, const char* magic, size_t n) {
  return b.size() >= n && std::memcmp(b.data(), magic, n) == 0;
}

enum class Format {
  kUnknown,
  kPng,
  kJpeg,
  kBmp,
  kGif,
  kTiff,
  kWebp,
  kPnm,
  kPam,
  kSunRaster,
  kFloat,
  kJpeg2000
};

const char* format_name(Format f) {
  switch (f) {
    case Format::kPng:
      return "PNG";
    case Format::kJpeg:
      return "JPEG";
    case Format::kBmp:
      return "BMP";
    case Format::kGif:
      return "GIF";
    case Format::kTiff:
      return "TIFF";
    case Format::kWebp:
      return "WebP";
    case Format::kPnm:
      return "PNM";
    case Format::kPam:
      return "PAM";
    case Format::kSunRaster:
      return "Sun raster";
    case Format::kFloat:
      return "floating-point image";
    case Format::kJpeg2000:
      return "JPEG 2000";
    case Format::kUnknown:
      break;
  }
  return "image";
}

// What the header says. width/height stay 0 where this file does not parse the header (e.g.
// JPEG 2000, OpenEXR, BigTIFF): then only the decoded size is checked, and OpenCV's own
// guard (OPENCV_IO_MAX_IMAGE_PIXELS, 2^30 by default, read once when the library loads)
// bounds the memory spent decoding.
struct Header {
  Format format = Format::kUnknown;
  long long width = 0;
  long long height = 0;
  int png_bit_depth = 0;    // PNG only
  int png_color_type = -1;  // PNG only: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
  int jpeg_components = 0;  // JPEG only: 1 gray, 3 YCbCr, 4 CMYK/YCCK
};

// PNG: the signature, then IHDR must be the first chunk (PNG spec 5.2, 11.2.2).
void read_png_header(const Bytes& b, Header* h) {
  if (b.size() < 26 || std::memcmp(&b[12], "IHDR", 4) != 0) return;
  h->width = be32(b, 16);
  h->height = be32(b, 20);
  h->png_bit_depth = b[24];
  h->png_color_type = b[25];
}

bool is_jpeg_sof(int marker) {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// JPEG: walk the marker segments up to the first start-of-frame (ITU T.81 B.2.2) the way
// libjpeg's next_marker() does, so that the size checked is the size libjpeg will decode: bytes
// other than 0xFF between segments are skipped (libjpeg warns "extraneous bytes"), as are fill
// bytes (0xFF 0xFF) and stuffed zeros (0xFF 0x00); TEM (0x01), RST0-7 and SOI have no length.
void read_jpeg_header(const Bytes& b, Header* h) {
  size_t i = 2;
  for (;;) {
    while (i < b.size() && b[i] != 0xFF) ++i;  // garbage before a marker
    while (i < b.size() && b[i] == 0xFF) ++i;  // the 0xFF and any fill bytes
    if (i >= b.size()) return;
    const int marker = b[i++];
    if (marker == 0x00) continue;                                        // a stuffed zero: garbage too
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length field
    if (marker == 0xDA || marker == 0xD9) return;  // scan or end before any frame header
    if (i + 2 > b.size()) return;
    const size_t length = be16(b, i);  // counts itself, not the marker
    if (is_jpeg_sof(marker)) {
      if (i + 8 > b.size()) return;
      h->height = be16(b, i + 3);  // 0 means "defined later by a DNL marker": then unknown
      h->width = be16(b, i + 5);
      h->jpeg_components = b[i + 7];
      return;
    }
    if (length < 2) return;  // libjpeg: "Bogus marker length"
    i += length;
  }
}

void read_bmp_header(const Bytes& b, Header* h) {
  if (b.size() < 26) return;
  if (le32(b, 14) == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    h->width = le16(b, 18);
    h->height = le16(b, 20);
  } else {  // BITMAPINFOHEADER and later: signed 32-bit, negative height = top-down rows
    h->width = std::llabs(static_cast<std::int32_t>(le32(b, 18)));
    h->height = std::llabs(static_cast<std::int32_t>(le32(b, 22)));
  }
}

// TIFF: the first IFD's ImageWidth (256) and ImageLength (257) tags (TIFF 6.0, section 2).
void read_tiff_header(const Bytes& b, Header* h) {
  const bool little = b[0] == 'I';
  auto u16 = [&](size_t i) { return little ? le16(b, i) : be16(b, i); };
  auto u32 = [&](size_t i) { return little ? le32(b, i) : be32(b, i); };
  const size_t ifd = u32(4);
  if (ifd + 2 > b.size()) return;
  const size_t entries = u16(ifd);
  for (size_t e = 0; e < entries; ++e) {
    const size_t at = ifd + 2 + 12 * e;
    if (at + 12 > b.size()) return;
    const std::uint32_t tag = u16(at), type = u16(at + 2);
    if (tag != 256 && tag != 257) continue;
    const long long value = type == 3 ? u16(at + 8) : type == 4 ? u32(at + 8) : 0;  // SHORT or LONG
    (tag == 256 ? h->width : h->height) = value;
  }
}

// WebP: the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended) (RFC 9649).
void read_webp_header(const Bytes& b, Header* h) {
  if (b.size() < 30) return;
  const size_t data = 20;
  if (std::memcmp(&b[12], "VP8 ", 4) == 0 && b[data + 3] == 0x9D && b[data + 4] == 0x01 &&
      b[data + 5] == 0x2A) {
    h->width = le16(b, data + 6) & 0x3FFF;
    h->height = le16(b, data + 8) & 0x3FFF;
  } else if (std::memcmp(&b[12], "VP8L", 4) == 0 && b[data] == 0x2F) {
    const std::uint32_t bits = le32(b, data + 1);
    h->width = (bits & 0x3FFF) + 1;
    h->height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (std::memcmp(&b[12], "VP8X", 4) == 0) {
    h->width = le24(b, data + 4) + 1;
    h->height = le24(b, data + 7) + 1;
  }
}

// PBM/PGM/PPM (P1..P6): magic, then width and height as ASCII, '#' comments allowed. Every
// digit counts (leading zeros must not hide the size); values saturate far above any limit.
void read_pnm_header(const Bytes& b, Header* h) {
  constexpr long long kSaturated = 1LL << 50;
  size_t i = 2;
  long long values[2] = {0, 0};
  for (long long& value : values) {
    while (i < b.size() && (std::isspace(b[i]) || b[i] == '#')) {
      if (b[i] == '#') {
        while (i < b.size() && b[i] != '\n') ++i;
      } else {
        ++i;
      }
    }
    int digits = 0;
    for (; i < b.size() && std::isdigit(b[i]); ++i, ++digits)
      value = std::min(kSaturated, value * 10 + (b[i] - '0'));
    if (digits == 0) return;
  }
  h->width = values[0];
  h->height = values[1];
}

// PAM (P7): "WIDTH n" and "HEIGHT n" lines before ENDHDR (netpbm's pam format).
void read_pam_header(const Bytes& b, Header* h) {
  constexpr long long kSaturated = 1LL << 50;
  size_t i = 3;
  while (i < b.size()) {
    size_t end = i;
    while (end < b.size() && b[end] != '\n') ++end;
    const std::string line(b.begin() + static_cast<std::ptrdiff_t>(i),
                           b.begin() + static_cast<std::ptrdiff_t>(end));
    if (line.rfind("ENDHDR", 0) == 0) return;
    for (auto [key, out] : {std::pair<const char*, long long*>{"WIDTH", &h->width}, {"HEIGHT", &h->height}}) {
      const size_t n = std::strlen(key);
      if (line.compare(0, n, key) != 0 || line.size() <= n ||
          !std::isspace(static_cast<unsigned char>(line[n])))
        continue;
      long long value = 0;
      size_t k = n;
      while (k < line.size() && std::isspace(static_cast<unsigned char>(line[k]))) ++k;
      for (; k < line.size() && std::isdigit(static_cast<unsigned char>(line[k])); ++k)
        value = std::min(kSaturated, value * 10 + (line[k] - '0'));
      *out = value;
    }
    i = end + 1;
  }
}

Header read_header(const Bytes& b) {
  Header h;
  if (starts_with(b, "\x89PNG\r\n\x1a\n", 8)) {
    h.format = Format::kPng;
    read_png_header(b, &h);
  } else if (starts_with(b, "\xFF\xD8\xFF", 3)) {
    h.format = Format::kJpeg;
    read_jpeg_header(b, &h);
  } else if (starts_with(b, "BM", 2)) {
    h.format = Format::kBmp;
    read_bmp_header(b, &h);
  } else if (starts_with(b, "GIF87a", 6) || starts_with(b, "GIF89a", 6)) {
    h.format = Format::kGif;
    if (b.size() >= 10) h.width = le16(b, 6), h.height = le16(b, 8);
  } else if (starts_with(b, "II*\0", 4) || starts_with(b, "MM\0*", 4)) {
    h.format = Format::kTiff;
    if (b.size() >= 8) read_tiff_header(b, &h);
  } else if (starts_with(b, "RIFF", 4) && b.size() >= 12 && std::memcmp(&b[8], "WEBP", 4) == 0) {
    h.format = Format::kWebp;
    read_webp_header(b, &h);
  } else if (b.size() >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && std::isspace(b[2])) {
    h.format = Format::kPnm;
    read_pnm_header(b, &h);
  } else if (b.size() >= 3 && b[0] == 'P' && b[1] == '7' && std::isspace(b[2])) {
    h.format = Format::kPam;
    read_pam_header(b, &h);
  } else if (starts_with(b, "\x59\xA6\x6A\x95", 4)) {
    h.format = Format::kSunRaster;
    if (b.size() >= 12) h.width = be32(b, 4), h.height = be32(b, 8);
  } else if (starts_with(b, "\x76\x2F\x31\x01", 4) || starts_with(b, "#?RADIANCE", 10) ||
             starts_with(b, "#?RGBE", 6) || starts_with(b, "PF", 2) || starts_with(b, "Pf", 2)) {
    h.format = Format::kFloat;  // OpenEXR, Radiance HDR, PFM
  } else if (starts_with(b, "\xFF\x4F\xFF\x51", 4) || starts_with(b, "\0\0\0\x0CjP  ", 8)) {
    h.format = Format::kJpeg2000;
  }
  return h;
}

void check_pixel_limit(const std::string& path, long long width, long long height, long long max_pixels) {
  // width * height > max_pixels, without overflowing for 32-bit header fields
  if (max_pixels > 0 && width > 0 && height > 0 && width > max_pixels / height)
    throw Error(path, "image is " + std::to_string(width) + "x" + std::to_string(height) +
                          " pixels, above the limit of " + std::to_string(max_pixels) +
                          " (use --max-pixels to raise it)");
}

// ------------------------------------------------------------------------------------------
// Completeness checks. libpng and libjpeg report truncation by printing to stderr (libjpeg
// then returns the image with its missing part grey), and PIL refuses such files ("image file
// is truncated"). Walking the file's structure first gives one clear error and keeps OpenCV
// from ever seeing them.

std::uint32_t crc32(const std::uint8_t* data, size_t n) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// PNG: every chunk complete with a matching CRC, up to IEND (PNG spec 5.3). libpng rejects a
// CRC error in a critical chunk and a missing IEND as well, and PIL any CRC error before IDAT.
// Returns the reason, or "" if the file is whole.
std::string png_problem(const Bytes& b) {
  size_t i = 8;
  while (i + 8 <= b.size()) {
    const std::uint32_t length = be32(b, i);
    const std::string type(reinterpret_cast<const char*>(&b[i + 4]), 4);
    if (length > 0x7FFFFFFFu) return "corrupt PNG file (bad length of chunk " + type + ")";
    if (b.size() - i < 12 || b.size() - i - 12 < length)
      return "truncated PNG file (chunk " + type + " is cut short)";
    if (crc32(&b[i + 4], length + 4) != be32(b, i + 8 + length))
      return "corrupt PNG file (CRC mismatch in chunk " + type + ")";
    if (type == "IEND") return "";
    i += 12 + length;
  }
  return "truncated PNG file (no IEND chunk)";
}

// JPEG: marker segments, entropy-coded data after each SOS (where 0xFF is followed by 0x00 or
// a restart marker RST0..7), until the EOI marker (ITU T.81 B.1.1). This is where libjpeg
// warns "Premature end of JPEG file"; bytes after EOI are ignored by libjpeg and by PIL.
std::string jpeg_problem(const Bytes& b) {
  size_t i = 2;
  while (i < b.size()) {
    if (b[i] != 0xFF) {  // stray bytes between segments: libjpeg skips them with a warning
      const void* next = std::memchr(&b[i], 0xFF, b.size() - i);
      if (!next) break;
      i = static_cast<const std::uint8_t*>(next) - b.data();
      continue;
    }
    if (i + 1 >= b.size()) break;
    const int marker = b[i + 1];
    if (marker == 0xD9) return "";
    if (marker == 0xFF) {
      ++i;
      continue;
    }
    if ((marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 || marker == 0xD8) {  // no length field
      i += 2;
      continue;
    }
    if (i + 4 > b.size()) break;
    const size_t end = i + 2 + be16(b, i + 2);
    if (end > b.size()) break;
    i = end;
    if (marker != 0xDA) continue;
    // Entropy-coded data: skip to the next marker that is neither stuffing nor a restart.
    while (i < b.size()) {
      const void* ff = std::memchr(&b[i], 0xFF, b.size() - i);
      if (!ff) {
        i = b.size();
        break;
      }
      i = static_cast<const std::uint8_t*>(ff) - b.data();
      if (i + 1 >= b.size()) break;
      const int next = b[i + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
        i += 2;
      } else if (next == 0xFF) {
        ++i;
      } else {
        break;
      }
    }
  }
  return "truncated JPEG file (no end-of-image marker)";
}

// ------------------------------------------------------------------------------------------
// Decoding

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// OpenCV's logger would otherwise print its own diagnostics for files we report anyway.
// A user who sets OPENCV_LOG_LEVEL keeps the level they chose. Not silenced: libpng/libjpeg
// warnings and OpenCV 4.6's "imdecode_(''): can't read header/data" lines, which go straight to
// stderr; the completeness checks above keep the common cases (truncated PNG/JPEG) from
// reaching them, and redirecting the process's stderr from a library is worse than the noise.
void quiet_opencv() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!std::getenv("OPENCV_LOG_LEVEL"))
      cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  });
}

cv::Mat decode(const Bytes& bytes, const std::string& path, const Header& header) {
  quiet_opencv();
  cv::Mat mat;
  try {
    // IMREAD_UNCHANGED: keep depth and channels, and ignore EXIF orientation as PIL's open() does.
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8U, const_cast<std::uint8_t*>(bytes.data()));
    mat = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    // OpenCV's own guard, for a --max-pixels above it (validateInputImageSize in loadsave.cpp).
    if (e.err.find("CV_IO_MAX_IMAGE") != std::string::npos) {
      const std::string size =
          header.width > 0 && header.height > 0
              ? std::to_string(header.width) + "x" + std::to_string(header.height) + " pixels, "
              : "";
      throw Error(
          path, "image is " + size +
                    "above OpenCV's decoding limit (2^30 pixels, 2^20 a side; set OPENCV_IO_MAX_IMAGE_PIXELS "
                    "in the environment to raise it)");
    }
    throw Error(path, std::string("cannot decode ") + format_name(header.format) + ": " + one_line(e.err));
  }
  if (!mat.empty()) return mat;
  switch (header.format) {
    case Format::kUnknown:
      throw Error(path, "not a recognised image format");
    case Format::kGif:
      throw Error(path, "this OpenCV cannot decode GIF (4.6 has no GIF reader); convert it to PNG");
    default:
      throw Error(
          path, std::string("corrupt ") + format_name(header.format) + " file (OpenCV could not decode it)");
  }
}

// PIL's convert('RGB'): gray replicated; alpha dropped, not composited (Convert.c la2rgb,
// rgba2rgb); palettes were already expanded by OpenCV's PNG reader. 16-bit samples keep their
// high byte (v >> 8, not OpenCV's rounding convertTo), which is what Pillow's "RGB;16B" and
// "LA;16B" unpackers do.
template <typename T>
void copy_to_rgb(const cv::Mat& mat, Image* out) {
  const int channels = mat.channels();
  constexpr int kShift = sizeof(T) == 1 ? 0 : 8;
  for (int y = 0; y < mat.rows; ++y) {
    const T* src = mat.ptr<T>(y);
    std::uint8_t* dst = &out->rgb[static_cast<size_t>(y) * mat.cols * 3];
    for (int x = 0; x < mat.cols; ++x, src += channels, dst += 3) {
      if (channels <= 2) {
        dst[0] = dst[1] = dst[2] = static_cast<std::uint8_t>(src[0] >> kShift);
      } else {  // OpenCV's BGR(A) order
        dst[0] = static_cast<std::uint8_t>(src[2] >> kShift);
        dst[1] = static_cast<std::uint8_t>(src[1] >> kShift);
        dst[2] = static_cast<std::uint8_t>(src[0] >> kShift);
      }
    }
  }
}

std::string describe_conversion(const cv::Mat& mat, const Header& h) {
  std::vector<std::string> notes;
  const int channels = mat.channels();
  if (h.png_color_type == 3) notes.push_back("palette expanded to RGB");
  if (channels <= 2 || h.png_color_type == 0 || h.png_color_type == 4)
    notes.push_back("grayscale expanded to RGB");
  if (h.jpeg_components == 4) notes.push_back("CMYK converted to RGB by OpenCV (PIL's formula differs)");
  if (channels == 2 || channels == 4) notes.push_back("alpha channel dropped");
  if (mat.depth() == CV_16U) {
    // Pillow opens 16-bit grayscale PNG as mode 'I' and convert('RGB') clips it at 255
    // (Convert.c i2rgb), which turns nearly every pixel white; the high byte is kept instead.
    notes.push_back(h.png_color_type == 0 && h.png_bit_depth == 16
                        ? "16-bit reduced to 8-bit (high byte; PIL's convert('RGB') would clip at 255)"
                        : "16-bit reduced to 8-bit (high byte)");
  }
  std::string joined;
  for (const std::string& note : notes) joined += (joined.empty() ? "" : ", ") + note;
  return joined;
}

Image to_rgb(const cv::Mat& mat, const Header& header, const std::string& path) {
  if (mat.dims != 2 || mat.channels() < 1 || mat.channels() > 4)
    throw Error(path, "unsupported image layout (" + std::to_string(mat.channels()) + " channels)");
  Image img;
  img.width = mat.cols;
  img.height = mat.rows;
  img.rgb.resize(static_cast<size_t>(img.width) * img.height * 3);
  switch (mat.depth()) {
    case CV_8U:
      copy_to_rgb<std::uint8_t>(mat, &img);
      break;
    case CV_16U:
      copy_to_rgb<std::uint16_t>(mat, &img);
      break;
    default:  // float HDR/EXR/PFM/TIFF, signed integers: PIL's convert('RGB') has no faithful match
      throw Error(path, "unsupported sample type (" + cv::typeToString(mat.type()) +
                            "); only 8- and 16-bit images are read");
  }
  img.conversion = describe_conversion(mat, header);
  return img;
}

// ------------------------------------------------------------------------------------------
// Pillow's resampling (Resample.c)

struct Filter {
  double (*kernel)(double x);
  double support;  // at scale 1; widened by the downscale factor (antialiasing)
};

double bilinear_kernel(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_kernel(double x) {
  constexpr double a = -0.5;  // Pillow's choice (Keys' cubic convolution)
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Pillow's lanczos_filter: sinc windowed by sinc(x / 3), truncated at +-3 (Image.LANCZOS, alias ANTIALIAS).
double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}
double lanczos_kernel(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

constexpr Filter kBilinear{bilinear_kernel, 1.0};
constexpr Filter kLanczos{lanczos_kernel, 3.0};
constexpr Filter kBicubic{bicubic_kernel, 2.0};

const Filter& filter_named(const std::string& name) {
  if (name == "bilinear") return kBilinear;
  if (name == "bicubic") return kBicubic;
  throw Error("", "interpolation '" + name + "' is not supported (bilinear or bicubic)");
}

// 8-bit images use 22-bit fixed-point weights: 8 bits of sample, 22 of weight and 2 spare, so
// that the int accumulator cannot overflow (Resample.c PRECISION_BITS).
constexpr int kPrecisionBits = 32 - 8 - 2;

// Weights of one axis: output pixel i reads inputs first[i] .. first[i] + count[i] - 1 with
// weights[i * ksize + 0 .. count[i] - 1].
struct AxisWeights {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<std::int32_t> weights;
};

// Resample.c precompute_coeffs followed by normalize_coeffs_8bpc, for the default box
// (0, size): same expressions in the same order and types, so the doubles round the same way.
AxisWeights precompute_weights(int in_size, int out_size, const Filter& filter) {
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);  // Pillow's box is float
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = filter.support * filterscale;

  AxisWeights w;
  w.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  w.first.resize(out_size);
  w.count.resize(out_size);
  w.weights.assign(static_cast<size_t>(out_size) * w.ksize, 0);
  std::vector<double> k(w.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // The (int) casts truncate towards zero, as in C; negative values are clamped anyway.
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = filter.kernel((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      const double scaled = k[x] * (1 << kPrecisionBits);
      w.weights[static_cast<size_t>(xx) * w.ksize + x] =
          static_cast<std::int32_t>(scaled < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    w.first[xx] = xmin;
    w.count[xx] = xmax;
  }
  return w;
}

// Accumulators start at one half (rounding) and are clipped to 0..255 (Resample.c clip8).
constexpr std::int32_t kHalf = 1 << (kPrecisionBits - 1);

std::uint8_t clip8(std::int32_t acc) {
  const std::int32_t v = acc >> kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// ImagingResampleHorizontal_8bpc on input rows row0 .. row0 + rows - 1.
void resample_horizontal(const Image& in, int row0, int rows, const AxisWeights& w, Image* out) {
  const int out_width = static_cast<int>(w.first.size());
  out->width = out_width;
  out->height = rows;
  out->rgb.resize(static_cast<size_t>(out_width) * rows * 3);
  for (int y = 0; y < rows; ++y) {
    const std::uint8_t* src = &in.rgb[static_cast<size_t>(row0 + y) * in.width * 3];
    std::uint8_t* dst = &out->rgb[static_cast<size_t>(y) * out_width * 3];
    for (int xx = 0; xx < out_width; ++xx, dst += 3) {
      const std::int32_t* k = &w.weights[static_cast<size_t>(xx) * w.ksize];
      const std::uint8_t* p = src + static_cast<size_t>(w.first[xx]) * 3;
      std::int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int x = 0; x < w.count[xx]; ++x, p += 3) {
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      dst[0] = clip8(s0);
      dst[1] = clip8(s1);
      dst[2] = clip8(s2);
    }
  }
}

// ImagingResampleVertical_8bpc. The sums are exact integers, so accumulating a whole row at a
// time (cache-friendly) gives Pillow's per-pixel result.
void resample_vertical(const Image& in, const AxisWeights& w, Image* out) {
  const int out_height = static_cast<int>(w.first.size());
  const size_t row_size = static_cast<size_t>(in.width) * 3;
  out->width = in.width;
  out->height = out_height;
  out->rgb.resize(row_size * out_height);
  std::vector<std::int32_t> acc(row_size);
  for (int yy = 0; yy < out_height; ++yy) {
    std::fill(acc.begin(), acc.end(), kHalf);
    const std::int32_t* k = &w.weights[static_cast<size_t>(yy) * w.ksize];
    for (int y = 0; y < w.count[yy]; ++y) {
      const std::uint8_t* src = &in.rgb[static_cast<size_t>(w.first[yy] + y) * row_size];
      for (size_t i = 0; i < row_size; ++i) acc[i] += src[i] * k[y];
    }
    std::uint8_t* dst = &out->rgb[static_cast<size_t>(yy) * row_size];
    for (size_t i = 0; i < row_size; ++i) dst[i] = clip8(acc[i]);
  }
}

void check_image(const Image& in, const char* what) {
  if (in.width <= 0 || in.height <= 0 || in.rgb.size() != static_cast<size_t>(in.width) * in.height * 3)
    throw Error("", std::string(what) + ": empty or malformed image");
}

// ImagingResampleInner: horizontal pass first (only over the rows the vertical pass will read),
// then vertical, each only if it changes the size. Image.resize() with reducing_gap=None (as
// torchvision calls it) does not reduce() first.
Image resize_pil(const Image& in, int out_width, int out_height, const Filter& filter) {
  check_image(in, "resize");
  if (out_width <= 0 || out_height <= 0)
    throw Error("",
                "resize: bad output size " + std::to_string(out_width) + "x" + std::to_string(out_height));
  const bool need_horizontal = out_width != in.width;
  const bool need_vertical = out_height != in.height;
  if (!need_horizontal && !need_vertical) return in;  // Image.resize returns a copy

  Image out;
  out.conversion = in.conversion;
  AxisWeights vertical = precompute_weights(in.height, out_height, filter);
  if (!need_horizontal) {
    resample_vertical(in, vertical, &out);
    return out;
  }
  const AxisWeights horizontal = precompute_weights(in.width, out_width, filter);
  int row0 = 0, rows = in.height;
  if (need_vertical) {
    row0 = vertical.first.front();
    rows = vertical.first.back() + vertical.count.back() - row0;
    for (int& first : vertical.first) first -= row0;
  }
  if (!need_vertical) {
    resample_horizontal(in, row0, rows, horizontal, &out);
    return out;
  }
  Image temp;
  resample_horizontal(in, row0, rows, horizontal, &temp);
  resample_vertical(temp, vertical, &out);
  return out;
}

// int(shorter * long / short) as torchvision computes it, in a type that cannot overflow:
// shorter and the sides are ints, so the quotient is below 2^62.
long long resized_long_side(int width, int height, int shorter) {
  const bool portrait = width <= height;
  const int short_side = portrait ? width : height;
  const int long_side = portrait ? height : width;
  return static_cast<long long>(static_cast<double>(static_cast<long long>(shorter) * long_side) /
                                static_cast<double>(short_side));
}

// torchvision 0.14 functional_pil.resize with an int size: the short side becomes `shorter`,
// the long side int(shorter * long / short) (a double division, truncated), and an image whose
// short side already has that length is returned as is.
Image resize_shorter_side_with(const Image& in, int shorter, const Filter& filter) {
  check_image(in, "resize");
  if (shorter <= 0)
    throw Error("", "resize: the shorter side must be positive, not " + std::to_string(shorter));
  const bool portrait = in.width <= in.height;
  const int short_side = portrait ? in.width : in.height;
  if (short_side == shorter) return in;
  const long long new_long = resized_long_side(in.width, in.height, shorter);
  if (new_long > INT_MAX)
    throw Error("", "resizing " + std::to_string(in.width) + "x" + std::to_string(in.height) +
                        " to a shorter side of " + std::to_string(shorter) +
                        " makes a side longer than 2^31");
  const int n = static_cast<int>(new_long);
  return portrait ? resize_pil(in, shorter, n, filter) : resize_pil(in, n, shorter, filter);
}

// Python's int(round(d / 2.0)) for an integer d >= 0: halves go to the even neighbour.
int half_round_even(int d) {
  const int q = d / 2;
  return (d % 2 == 1 && q % 2 == 1) ? q + 1 : q;
}

// PIL's convert('L') (Convert.c rgb2l): ITU-R 601-2 luma in 16-bit fixed point, rounded.
std::uint8_t luma(const std::uint8_t* rgb) {
  return static_cast<std::uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

// Grayscale kept in RGB layout (R = G = B = L). Resampling is per channel, so this resamples
// exactly as Pillow resamples an 'L' image, and luma() of it gives L back: 19595 + 38470 + 7471
// = 65536.
Image gray_as_rgb(const Image& in) {
  Image out = in;
  for (size_t i = 0; i < out.rgb.size(); i += 3)
    out.rgb[i] = out.rgb[i + 1] = out.rgb[i + 2] = luma(&in.rgb[i]);
  return out;
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Public functions

// The size limit is checked on the header before decoding where the header is parsed above, and
// on the decoded size always; max_pixels <= 0 turns it off.
Image load_image(const std::string& path, long long max_pixels) {
  return decode_image(read_file(path), path, max_pixels);
}

// Only formats whose size is read from the header here reach a decoder, so that the pixel limit
// holds before any memory is spent (OpenCV's own guard allows 2^30 pixels).
Image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& path, long long max_pixels) {
  if (bytes.empty()) throw Error(path, "file is empty");
  if (bytes.size() > static_cast<size_t>(INT_MAX)) throw Error(path, "file is larger than 2 GiB");
  const Header header = read_header(bytes);
  switch (header.format) {
    case Format::kUnknown:
      throw Error(path, "not a recognised image format (PNG, JPEG, BMP, TIFF, WebP, PNM, PAM, Sun raster)");
    case Format::kFloat:
      throw Error(path,
                  "unsupported sample type (a floating-point format: OpenEXR, Radiance HDR or PFM); only "
                  "8- and 16-bit images are read");
    case Format::kJpeg2000:
      throw Error(path, "JPEG 2000 is not supported; convert it to PNG");
    default:
      break;
  }
  const bool sized = header.width > 0 && header.height > 0;
  if (sized) check_pixel_limit(path, header.width, header.height, max_pixels);
  std::string problem;
  if (header.format == Format::kPng) problem = png_problem(bytes);
  if (header.format == Format::kJpeg) problem = jpeg_problem(bytes);
  if (!problem.empty()) throw Error(path, problem);  // e.g. a file cut before its size
  if (!sized)
    throw Error(path,
                std::string("corrupt ") + format_name(header.format) + " file (no image size in its header)");
  const cv::Mat mat = decode(bytes, path, header);
  check_pixel_limit(path, mat.cols, mat.rows, max_pixels);  // should the decoder disagree with the header
  return to_rgb(mat, header, path);
}

Image resize_bilinear_pil(const Image& in, int out_width, int out_height) {
  return resize_pil(in, out_width, out_height, kBilinear);
}

Image resize_lanczos_pil(const Image& in, int out_width, int out_height) {
  return resize_pil(in, out_width, out_height, kLanczos);
}

Image resize_shorter_side(const Image& in, int shorter) {
  return resize_shorter_side_with(in, shorter, kBilinear);
}

// torchvision.transforms.functional.center_crop, except that a crop larger than the image is
// refused: torchvision pads with zeros, which would feed the network black borders silently.
Image center_crop(const Image& in, int crop_width, int crop_height) {
  check_image(in, "center crop");
  if (crop_width <= 0 || crop_height <= 0)
    throw Error("",
                "center crop: bad size " + std::to_string(crop_width) + "x" + std::to_string(crop_height));
  if (crop_width > in.width || crop_height > in.height)
    throw Error("", "image is " + std::to_string(in.width) + "x" + std::to_string(in.height) +
                        ", smaller than the " + std::to_string(crop_width) + "x" +
                        std::to_string(crop_height) + " centre crop (torchvision would pad it with zeros)");
  const int top = half_round_even(in.height - crop_height);
  const int left = half_round_even(in.width - crop_width);
  Image out;
  out.width = crop_width;
  out.height = crop_height;
  out.conversion = in.conversion;
  out.rgb.resize(static_cast<size_t>(crop_width) * crop_height * 3);
  const size_t row_bytes = static_cast<size_t>(crop_width) * 3;
  for (int y = 0; y < crop_height; ++y)
    std::memcpy(&out.rgb[y * row_bytes], &in.rgb[(static_cast<size_t>(top + y) * in.width + left) * 3],
                row_bytes);
  return out;
}

// ToTensor: img.float().div(255); Normalize: tensor.sub_(mean).div_(std). Each step is one
// float32 operation, correctly rounded like torch's CPU kernels (true division, not a
// multiplication by 1/255), so every value matches bit for bit. Only 256 inputs exist per
// channel, hence the table. Grayscale uses mean[0] and std[0].
std::vector<float> to_normalized_chw(const Image& img, const Preprocessing& p) {
  check_image(img, "normalize");
  const int channels = p.grayscale ? 1 : 3;
  std::array<std::array<float, 256>, 3> table{};
  for (int c = 0; c < channels; ++c) {
    if (p.std[c] == 0.0f) throw Error("", "normalize: std must not be zero");
    for (int x = 0; x < 256; ++x) {
      const float v = static_cast<float>(x) / 255.0f;
      table[c][x] = (v - p.mean[c]) / p.std[c];
    }
  }
  const size_t plane = static_cast<size_t>(img.width) * img.height;
  std::vector<float> out(plane * channels);
  for (size_t i = 0; i < plane; ++i) {
    const std::uint8_t* px = &img.rgb[i * 3];
    if (p.grayscale) {
      out[i] = table[0][luma(px)];
    } else {
      for (int c = 0; c < 3; ++c) out[c * plane + i] = table[c][px[c]];
    }
  }
  return out;
}

// Resize, centre crop, normalise. With grayscale the image is converted first, as
// Image.open(p).convert('L') followed by the same transforms would do.
std::vector<float> preprocess(const Image& img, const Preprocessing& p, int* out_height, int* out_width,
                              long long max_pixels) {
  const Filter& filter = filter_named(p.interpolation);
  // The resize's output is bounded like a decoded image: a 20000x1 strip within the limit would
  // otherwise become 5,120,000x256 (1.3 gigapixels) on its way to a 224x224 crop.
  if (p.resize > 0 && max_pixels > 0 && img.width > 0 && img.height > 0) {
    const bool portrait = img.width <= img.height;
    const long long new_long = resized_long_side(img.width, img.height, p.resize);
    if (new_long > max_pixels / p.resize)
      throw Error("", "image is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                          " pixels; resizing it to a shorter side of " + std::to_string(p.resize) +
                          " gives " +
                          (portrait ? std::to_string(p.resize) + "x" + std::to_string(new_long)
                                    : std::to_string(new_long) + "x" + std::to_string(p.resize)) +
                          " pixels, above the limit of " + std::to_string(max_pixels) +
                          " (use --max-pixels to raise it)");
  }
  Image gray, resized, cropped;
  const Image* current = &img;
  if (p.grayscale) {
    gray = gray_as_rgb(*current);
    current = &gray;
  }
  if (p.resize > 0) {
    resized = resize_shorter_side_with(*current, p.resize, filter);
    current = &resized;
  }
  if (p.crop > 0) {
    cropped = center_crop(*current, p.crop, p.crop);
    current = &cropped;
  }
  if (out_height) *out_height = current->height;
  if (out_width) *out_width = current->width;
  return to_normalized_chw(*current, p);
}

}  // namespace bagnet
