#include "lib/checkpoint.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/versions.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "lib/error.h"
#include "lib/pickle.h"

namespace bagnet {
namespace {

namespace fs = std::filesystem;
using Kind = PickleValue::Kind;

// torch.<Name>Storage <-> dtype, the types a storage persistent id can name.
struct StorageType {
  const char* name;
  at::ScalarType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", at::kFloat},
    {"DoubleStorage", at::kDouble},
    {"HalfStorage", at::kHalf},
    {"BFloat16Storage", at::kBFloat16},
    {"LongStorage", at::kLong},
    {"IntStorage", at::kInt},
    {"ShortStorage", at::kShort},
    {"CharStorage", at::kChar},
    {"ByteStorage", at::kByte},
    {"BoolStorage", at::kBool},
    {"ComplexFloatStorage", at::kComplexFloat},
    {"ComplexDoubleStorage", at::kComplexDouble},
};

std::optional<at::ScalarType> storage_dtype(const std::string& global) {
  std::string name;
  for (const char* prefix : {"torch.cuda.", "torch."}) {
    if (global.rfind(prefix, 0) == 0) {
      name = global.substr(std::strlen(prefix));
      break;
    }
  }
  for (const StorageType& type : kStorageTypes) {
    if (name == type.name) return type.dtype;
  }
  return std::nullopt;
}

const char* storage_type_name(at::ScalarType dtype) {
  for (const StorageType& type : kStorageTypes) {
    if (type.dtype == dtype) return type.name;
  }
  return nullptr;
}

std::string first_line(const std::string& text) {
  const std::string line = text.substr(0, text.find('\n'));
  return printable(line, 200);
}

std::string in_quotes(const std::string& key) { return "'" + printable(key) + "'"; }

// ---- persistent ids ---------------------------------------------------------------------------

// ('storage', StorageType, key, location, numel) in zip files; legacy files add view_metadata,
// None or (view_key, offset, view_numel) for a tensor on a slice of a storage (PyTorch < 0.4).
struct StorageId {
  std::string key;
  at::ScalarType dtype = at::kFloat;
  std::int64_t numel = 0;
  bool is_view = false;
  std::int64_t view_offset = 0;  // elements
  std::int64_t view_numel = 0;
};

StorageId parse_storage_id(const PickleValue& persistent_id, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Error(path, "unexpected tensor storage reference in the pickle (" + why + ")");
  };
  if (persistent_id.items.size() != 1) throw bad("empty persistent id");
  const PickleValue& id = *persistent_id.items[0];
  if (id.kind != Kind::kTuple) throw bad(std::string("a ") + kind_name(id.kind));
  const std::vector<PickleRef>& f = id.items;
  if (f.empty() || !f[0]->is_text() || f[0]->text != "storage") throw bad("not a storage");
  if (f.size() != 5 && f.size() != 6) throw bad(std::to_string(f.size()) + " fields");
  StorageId result;
  if (f[1]->kind != Kind::kGlobal) throw bad("no storage type");
  const std::optional<at::ScalarType> dtype = storage_dtype(f[1]->text);
  if (!dtype) throw bad("storage type " + in_quotes(f[1]->text));
  result.dtype = *dtype;
  if (!f[2]->is_text()) throw bad("storage key is not a string");
  result.key = f[2]->text;
  if (!f[3]->is_text()) throw bad("location is not a string");  // device; we load to the CPU
  if (f[4]->kind != Kind::kInt || f[4]->integer < 0) throw bad("bad element count");
  result.numel = f[4]->integer;
  if (f.size() == 6 && f[5]->kind != Kind::kNone) {
    const PickleValue& view = *f[5];
    if (view.kind != Kind::kTuple || view.items.size() != 3 || !view.items[0]->is_text() ||
        view.items[1]->kind != Kind::kInt || view.items[2]->kind != Kind::kInt ||
        view.items[1]->integer < 0 || view.items[2]->integer < 0) {
      throw bad("bad storage view");
    }
    result.is_view = true;
    result.view_offset = view.items[1]->integer;
    result.view_numel = view.items[2]->integer;
  }
  return result;
}

// ---- choosing the state dict ------------------------------------------------------------------

struct Selection {
  std::vector<std::pair<std::string, const TensorRecipe*>> entries;  // file order
  std::string wrapper_key;  // "state_dict", "model" or "net" if the dict was wrapped
};

bool holds_tensors(const PickleValue& dict) {
  for (std::size_t i = 1; i < dict.items.size(); i += 2) {
    if (dict.items[i]->kind == Kind::kTensor) return true;
  }
  return false;
}

std::string key_summary(const PickleValue& dict) {
  std::string keys;
  const std::size_t shown = std::min<std::size_t>(dict.dict_size(), 8);
  for (std::size_t i = 0; i < shown; ++i) {
    const PickleValue& key = *dict.items[2 * i];
    if (!keys.empty()) keys += ", ";
    keys += key.is_text() ? in_quotes(key.text) : kind_name(key.kind);
  }
  if (dict.dict_size() > shown) keys += ", ...";
  return keys.empty() ? "it is empty" : "keys: " + keys;
}

Selection select_state_dict(const PickleValue& root, const std::string& path) {
  if (root.kind != Kind::kDict) {
    throw Error(
        path, std::string("no state dict in this file (top-level object is a ") + kind_name(root.kind) + ")");
  }
  Selection selection;
  const PickleValue* dict = &root;
  // Training scripts save {'state_dict': ..., 'epoch': ..., 'optimizer': ...}; others use
  // 'model' or 'net' (which may also hold a whole pickled module, refused earlier).
  const PickleValue* inner = root.get("state_dict");
  if (inner != nullptr && inner->kind == Kind::kDict) {
    dict = inner;
    selection.wrapper_key = "state_dict";
  } else {
    for (const char* name : {"model", "net"}) {
      inner = root.get(name);
      if (inner != nullptr && inner->kind == Kind::kDict && holds_tensors(*inner)) {
        dict = inner;
        selection.wrapper_key = name;
        break;
      }
    }
  }
  for (std::size_t i = 0; i + 1 < dict->items.size(); i += 2) {
    const PickleValue& key = *dict->items[i];
    const PickleValue& value = *dict->items[i + 1];
    if (value.kind != Kind::kTensor) continue;  // 'epoch', 'arch', ... beside the weights
    if (!key.is_text()) {
      throw Error(path, std::string("state dict key is a ") + kind_name(key.kind) + ", not a string");
    }
    selection.entries.emplace_back(key.text, value.tensor.get());
  }
  if (selection.entries.empty()) {
    const std::string where = selection.wrapper_key.empty()
                                  ? std::string("the top-level dict")
                                  : "its " + in_quotes(selection.wrapper_key) + " entry";
    throw Error(path,
                "no state dict in this file (" + where + " holds no tensors; " + key_summary(*dict) + ")");
  }
  return selection;
}

StateDict finish(Selection selection, std::vector<at::Tensor> tensors, const char* format) {
  StateDict result;
  result.format = format;
  result.was_wrapped = !selection.wrapper_key.empty();
  // nn.DataParallel saves every key as 'module.<name>'; strip only when all have it, so a
  // network that merely has a submodule called 'module' keeps its names.
  static const std::string kPrefix = "module.";
  result.had_module_prefix =
      std::all_of(selection.entries.begin(), selection.entries.end(),
                  [](const auto& entry) { return entry.first.rfind(kPrefix, 0) == 0; });
  for (std::size_t i = 0; i < selection.entries.size(); ++i) {
    std::string key = std::move(selection.entries[i].first);
    if (result.had_module_prefix) key.erase(0, kPrefix.size());
    result.tensors.emplace_back(std::move(key), std::move(tensors[i]));
  }
  return result;
}

// ---- tensors ----------------------------------------------------------------------------------

// The bytes a tensor may use: a whole storage, or (legacy views) a window of one.
struct StorageBytes {
  c10::Storage storage;
  std::size_t byte_offset = 0;
  std::size_t byte_size = 0;
};

// Bytes a file may make the loader copy beyond what it reads: non-contiguous tensors are copied
// out, and a zero-stride (expanded) one copies few stored elements into many.
struct CopyBudget {
  std::uint64_t left = 0;
  explicit CopyBudget(std::uint64_t file_size)
      : left(2 * std::min<std::uint64_t>(file_size, std::uint64_t{1} << 40) + (std::uint64_t{64} << 20)) {}
};

// Builds the tensor of a recipe on its storage, checking that every element it addresses lies
// inside. The result is contiguous. A contiguous tensor is a view of its storage, which is read
// once however many tensors use it (weights tied, or one flat buffer); others are copied out,
// within the copy budget.
at::Tensor make_tensor(const TensorRecipe& recipe, at::ScalarType dtype, const StorageBytes& bytes,
                       CopyBudget& budget, const std::string& path, const std::string& key) {
  const auto element_size = static_cast<std::uint64_t>(c10::elementSize(dtype));
  auto corrupt = [&](const std::string& why) {
    return Error(path, "tensor " + in_quotes(key) + " " + why + " (corrupt file?)");
  };
  if (bytes.byte_offset % element_size != 0) throw corrupt("has a misaligned storage view");
  const std::uint64_t capacity = bytes.byte_size / element_size;  // elements
  const auto offset = static_cast<std::uint64_t>(recipe.storage_offset);

  std::uint64_t numel = 1;
  for (const std::int64_t size : recipe.sizes) {
    const auto n = static_cast<std::uint64_t>(size);
    numel = (n != 0 && numel > std::numeric_limits<std::uint64_t>::max() / n) ? ~0ull : numel * n;
  }
  try {
    const auto options = at::TensorOptions().dtype(dtype);
    if (numel == 0) {
      if (offset > capacity) throw corrupt("starts past the end of its storage");
      return at::empty(recipe.sizes, options);
    }
    // The last element addressed is offset + sum((size - 1) * stride); sizes and strides are
    // non-negative (the reader checks), so each step can be checked against the capacity.
    if (offset >= capacity) throw corrupt("starts past the end of its storage");
    std::uint64_t last = offset;
    for (std::size_t d = 0; d < recipe.sizes.size(); ++d) {
      const auto span = static_cast<std::uint64_t>(recipe.sizes[d]) - 1;
      const auto stride = static_cast<std::uint64_t>(recipe.strides[d]);
      if (span == 0 || stride == 0) continue;
      if (stride > (capacity - 1 - last) / span) throw corrupt("reaches past the end of its storage");
      last += span * stride;
    }
    // Zero strides (an expanded tensor) address few elements but copy to many: bound the copy.
    constexpr std::uint64_t kMaxBroadcastBytes = std::uint64_t{1} << 30;
    if (numel > capacity && numel > kMaxBroadcastBytes / element_size) {
      throw corrupt("repeats its storage into " + std::to_string(numel) + " elements");
    }

    at::Tensor tensor = at::empty({0}, options);
    tensor.set_(bytes.storage, static_cast<std::int64_t>(bytes.byte_offset / element_size + offset),
                recipe.sizes, recipe.strides);
    if (tensor.is_contiguous()) return tensor;
    const std::uint64_t copy_bytes = numel * element_size;  // numel <= 2^30 / element_size or <= capacity
    if (copy_bytes > budget.left)
      throw Error(path, "tensor " + in_quotes(key) + " would make the copies of this " +
                            "checkpoint exceed twice its size plus 64 MiB (corrupt file?)");
    budget.left -= copy_bytes;
    return tensor.clone(at::MemoryFormat::Contiguous);
  } catch (const c10::Error& e) {
    throw Error(path,
                "cannot build tensor " + in_quotes(key) + ": " + first_line(e.what_without_backtrace()));
  }
}

// ---- the zip archive (PyTorch >= 1.6) -------------------------------------------------------------

// The archive is read here, not by LibTorch's PyTorchStreamReader: miniz allocates a record's
// size as the central directory states it before reading a byte, and the reader's constructor
// leaks miniz's state whenever it throws (LeakSanitizer finds it). Reading a zip of stored
// records (what torch.save writes) takes the central directory, local headers and CRCs; deflated
// records, which torch.save never writes, are inflated with zlib within their stated size.
struct ZipEntry {
  std::uint64_t compressed = 0, uncompressed = 0;
  std::uint16_t method = 0;  // 0 stored, 8 deflated
  std::uint16_t flags = 0;
  std::uint32_t crc = 0;
  std::uint64_t local_header = 0;  // offset of the entry's local header
};

// Deflate cannot expand data by more than about 1032:1 (RFC 1951: 258 bytes per 2-bit code).
constexpr std::uint64_t kMaxDeflateRatio = 1032;

std::uint64_t le(const std::string& b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(b[at + i]);
  return v;
}

class ZipArchive {
 public:
  ZipArchive(const std::string& path, std::uint64_t file_size)
      : path_(path), size_(file_size), in_(path, std::ios::binary), read_budget_(file_size) {
    if (!in_) throw Error(path, std::string("cannot open file: ") + std::strerror(errno));
    read_directory();
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(path_, "not a valid torch.save zip archive (" + why + ")");
  }

  // Records by name inside the archive's folder (the folder of its first file, as LibTorch
  // takes it): "data.pkl", "data/0", "version".
  bool has(const std::string& name) const { return entries_.count(folder_ + name) > 0; }
  std::uint64_t size(const std::string& name) const { return entries_.at(folder_ + name).uncompressed; }

  // Reads record `name` into out[0 .. size(name)). Records that overlap in the file cannot make
  // the loader read more bytes than the file holds.
  void read(const std::string& name, char* out) {
    const ZipEntry& e = entries_.at(folder_ + name);
    const std::string shown = "'" + printable(folder_ + name) + "'";
    if (e.flags & 0x61) fail("record " + shown + " is encrypted or patched");
    if (e.method != 0 && e.method != 8)
      fail("record " + shown + " uses compression method " + std::to_string(e.method));
    if (e.compressed > read_budget_)
      fail("its records overlap: reading " + shown + " would read more than the file holds");
    read_budget_ -= e.compressed;
    if (e.local_header > size_ || size_ - e.local_header < 30) fail("record " + shown + " lies past the end");
    const std::string local = read_at(e.local_header, 30);
    if (local.compare(0, 4, "PK\x03\x04") != 0) fail("no local header for record " + shown);
    const std::uint64_t data_at = e.local_header + 30 + le(local, 26, 2) + le(local, 28, 2);
    if (data_at > size_ || size_ - data_at < e.compressed) fail("record " + shown + " is cut short");
    if (e.method == 0) {
      seek(data_at);
      if (!in_.read(out, static_cast<std::streamsize>(e.compressed))) fail("read error in record " + shown);
    } else {
      const std::string packed = read_at(data_at, e.compressed);
      inflate_raw(packed, out, e.uncompressed, shown);
    }
    const auto crc = crc32_of(out, e.uncompressed);
    if (crc != e.crc) fail("CRC mismatch in record " + shown);
  }

  std::string read_string(const std::string& name) {
    std::string text(static_cast<std::size_t>(size(name)), '\0');
    read(name, text.data());
    return text;
  }

 private:
  static std::uint32_t crc32_of(const char* data, std::uint64_t n) {
    uLong crc = crc32(0, Z_NULL, 0);
    while (n > 0) {  // zlib takes 32-bit lengths
      const auto chunk = static_cast<uInt>(std::min<std::uint64_t>(n, 1u << 30));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(data), chunk);
      data += chunk;
      n -= chunk;
    }
    return static_cast<std::uint32_t>(crc);
  }

  void inflate_raw(const std::string& packed, char* out, std::uint64_t size, const std::string& shown) {
    if (packed.size() > (1u << 31) || size > (1u << 31)) fail("deflated record " + shown + " is too large");
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) fail("zlib cannot start");
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
    z.avail_in = static_cast<uInt>(packed.size());
    z.next_out = reinterpret_cast<Bytef*>(out);
    z.avail_out = static_cast<uInt>(size);
    const int rc = inflate(&z, Z_FINISH);
    const std::uint64_t produced = z.total_out;
    inflateEnd(&z);
    if (rc != Z_STREAM_END || produced != size) fail("corrupt deflated record " + shown);
  }

  void seek(std::uint64_t offset) {
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
  }

  std::string read_at(std::uint64_t offset, std::uint64_t size) {
    std::string out(static_cast<std::size_t>(size), '\0');
    seek(offset);
    if (!in_.read(out.data(), static_cast<std::streamsize>(size))) fail("cut short");
    return out;
  }

  void read_directory() {
    // The end-of-central-directory record: the last "PK\5\6" within its 22 bytes plus a comment.
    const std::uint64_t tail_size = std::min<std::uint64_t>(size_, 22 + 0xFFFF);
    const std::string tail = read_at(size_ - tail_size, tail_size);
    std::size_t eocd = std::string::npos;
    for (std::size_t i = tail.size() >= 22 ? tail.size() - 22 + 1 : 0; i-- > 0;)
      if (tail.compare(i, 4, "PK\x05\x06") == 0) {
        eocd = i;
        break;
      }
    if (eocd == std::string::npos) fail("no end of central directory");
    std::uint64_t entries = le(tail, eocd + 10, 2), cd_size = le(tail, eocd + 12, 4),
                  cd_offset = le(tail, eocd + 16, 4);
    const std::uint64_t eocd_offset = size_ - tail_size + eocd;
    if (eocd_offset >= 20) {  // a zip64 locator right before it: the zip64 fields then count
      const std::string locator = read_at(eocd_offset - 20, 20);
      if (locator.compare(0, 4, "PK\x06\x07") == 0) {
        const std::uint64_t at = le(locator, 8, 8);
        if (at > size_ || size_ - at < 56) fail("zip64 directory past the end");
        const std::string z = read_at(at, 56);
        if (z.compare(0, 4, "PK\x06\x06") != 0) fail("bad zip64 directory");
        if (entries == 0xFFFF) entries = le(z, 32, 8);
        if (cd_size == 0xFFFFFFFF) cd_size = le(z, 40, 8);
        if (cd_offset == 0xFFFFFFFF) cd_offset = le(z, 48, 8);
      }
    }
    if (cd_offset > size_ || cd_size > size_ - cd_offset) fail("central directory past the end");
    if (entries > cd_size / 46) fail("more entries than the central directory holds");
    if (entries == 0) fail("archive does not contain any files");
    const std::string cd = read_at(cd_offset, cd_size);
    std::size_t p = 0;
    for (std::uint64_t n = 0; n < entries; ++n) {
      if (cd.size() - p < 46 || cd.compare(p, 4, "PK\x01\x02") != 0) fail("corrupt central directory");
      ZipEntry e;
      e.flags = static_cast<std::uint16_t>(le(cd, p + 8, 2));
      e.method = static_cast<std::uint16_t>(le(cd, p + 10, 2));
      e.crc = static_cast<std::uint32_t>(le(cd, p + 16, 4));
      e.compressed = le(cd, p + 20, 4);
      e.uncompressed = le(cd, p + 24, 4);
      e.local_header = le(cd, p + 42, 4);
      const std::size_t name_len = le(cd, p + 28, 2), extra_len = le(cd, p + 30, 2),
                        comment_len = le(cd, p + 32, 2);
      if (cd.size() - p - 46 < name_len + extra_len + comment_len) fail("corrupt central directory");
      const std::string name = cd.substr(p + 46, name_len);
      const bool big_uncompressed = e.uncompressed == 0xFFFFFFFF, big_compressed = e.compressed == 0xFFFFFFFF;
      const bool big_offset = e.local_header == 0xFFFFFFFF;
      if (big_uncompressed || big_compressed || big_offset) {  // the zip64 extra field (id 1) holds them
        const std::size_t extra_end = p + 46 + name_len + extra_len;
        bool found = false;
        for (std::size_t x = p + 46 + name_len; x + 4 <= extra_end;) {
          const std::size_t id = le(cd, x, 2), length = le(cd, x + 2, 2);
          if (x + 4 + length > extra_end) break;
          if (id == 1) {
            std::size_t f = x + 4;
            if (big_uncompressed && f + 8 <= x + 4 + length) e.uncompressed = le(cd, f, 8), f += 8;
            if (big_compressed && f + 8 <= x + 4 + length) e.compressed = le(cd, f, 8), f += 8;
            if (big_offset && f + 8 <= x + 4 + length) e.local_header = le(cd, f, 8);
            found = true;
            break;
          }
          x += 4 + length;
        }
        if (!found) fail("zip64 sizes missing for '" + printable(name) + "'");
      }
      if (e.compressed > size_) fail("record '" + printable(name) + "' is larger than the file");
      if (e.method == 0 && e.uncompressed != e.compressed)
        fail("stored record '" + printable(name) + "' with two different sizes");
      const std::uint64_t limit = e.method == 0 ? e.compressed : e.compressed * kMaxDeflateRatio + 1024;
      if (e.uncompressed > limit)
        fail("record '" + printable(name) + "' claims " + std::to_string(e.uncompressed) + " bytes from " +
             std::to_string(e.compressed) + " stored");
      if (n == 0) {
        const std::size_t slash = name.find('/');
        if (slash == std::string::npos) fail("the first file of the archive is not in a folder");
        folder_ = name.substr(0, slash + 1);
      }
      entries_.emplace(name, e);  // a name twice: the first one
      p += 46 + name_len + extra_len + comment_len;
    }
    // LibTorch's own check: a version record it can read (.data/version in newer files).
    const std::string version_name = has(".data/version") ? ".data/version" : "version";
    if (!has(version_name)) fail("no version record");
    if (size(version_name) > 64) fail("version record of " + std::to_string(size(version_name)) + " bytes");
    const std::string text = read_string(version_name);
    std::size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::uint64_t number = 0;
    const std::size_t digits_at = i;
    for (; i < text.size() && i < digits_at + 18 && text[i] >= '0' && text[i] <= '9'; ++i)
      number = number * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (i == digits_at || number < caffe2::serialize::kMinSupportedFileFormatVersion ||
        number > caffe2::serialize::kMaxSupportedFileFormatVersion)
      fail("version record '" + printable(text) + "' is not a version this LibTorch reads");
  }

  const std::string path_;
  const std::uint64_t size_;
  std::ifstream in_;
  std::uint64_t read_budget_;  // bytes of the file records may still read
  std::string folder_;
  std::unordered_map<std::string, ZipEntry> entries_;  // by full name
};

StateDict load_zip(const std::string& path, std::uint64_t file_size) {
  ZipArchive zip(path, file_size);
  if (zip.has("constants.pkl")) {
    throw Error(path,
                "a TorchScript archive (torch.jit.save), not a torch.save state dict; "
                "save model.state_dict() with torch.save instead");
  }
  if (zip.has("byteorder")) {  // only newer PyTorch writes it
    const std::string order = zip.size("byteorder") <= 64 ? zip.read_string("byteorder") : "?";
    if (order != "little")
      throw Error(path, "big-endian checkpoint (byteorder '" + printable(order) + "') is not supported");
  }
  if (!zip.has("data.pkl")) throw Error(path, "not a torch.save archive (no data.pkl record)");
  const std::string data_pkl = zip.read_string("data.pkl");
  std::istringstream pickle_stream(data_pkl);
  const Pickle pickle = read_pickle(pickle_stream, data_pkl.size(), path, "data.pkl");
  Selection selection = select_state_dict(pickle.root(), path);

  std::vector<StorageId> ids;
  for (const auto& entry : selection.entries) ids.push_back(parse_storage_id(*entry.second->storage, path));
  std::unordered_map<std::string, StorageBytes> storages;
  std::vector<at::Tensor> tensors;
  CopyBudget budget(file_size);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const StorageId& id = ids[i];
    auto it = storages.find(id.key);
    if (it == storages.end()) {
      const std::string name = "data/" + id.key;
      if (!zip.has(name)) throw Error(path, "storage " + in_quotes(id.key) + " is missing from the archive");
      const std::uint64_t nbytes = zip.size(name);
      at::Tensor buffer = at::empty({static_cast<std::int64_t>(nbytes)}, at::kByte);
      zip.read(name, static_cast<char*>(buffer.data_ptr()));
      it =
          storages.emplace(id.key, StorageBytes{buffer.storage(), 0, static_cast<std::size_t>(nbytes)}).first;
    }
    const auto element_size = static_cast<std::uint64_t>(c10::elementSize(id.dtype));
    if (static_cast<std::uint64_t>(id.numel) > it->second.byte_size / element_size) {
      throw Error(path, "storage " + in_quotes(id.key) + " holds " + std::to_string(it->second.byte_size) +
                            " bytes, fewer than its " + std::to_string(id.numel) +
                            " elements need (corrupt file?)");
    }
    StorageBytes view = it->second;
    view.byte_size = static_cast<std::size_t>(id.numel * element_size);
    tensors.push_back(
        make_tensor(*selection.entries[i].second, id.dtype, view, budget, path, selection.entries[i].first));
  }
  return finish(std::move(selection), std::move(tensors), "zip");
}

// ---- legacy format (PyTorch <= 1.5) -----------------------------------------------------------

// The first pickle of a legacy file: the long 0x1950a86a20f9469cfc6c, little-endian.
bool is_legacy_magic(const PickleValue& value) {
  static const unsigned char kMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return value.kind == Kind::kBigInt && value.text.size() == sizeof(kMagic) &&
         std::memcmp(value.text.data(), kMagic, sizeof(kMagic)) == 0;
}

StateDict load_legacy(const std::string& path, std::uint64_t file_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, std::string("cannot open file: ") + std::strerror(errno));
  auto left = [&]() -> std::uint64_t {
    const std::streamoff at = in.tellg();
    if (at < 0) throw Error(path, "read error");
    return file_size - std::min<std::uint64_t>(file_size, static_cast<std::uint64_t>(at));
  };

  const Pickle magic = read_pickle(in, left(), path, "the magic number pickle");
  if (!is_legacy_magic(magic.root())) {
    throw Error(path, "not a torch.save checkpoint (a pickle without torch's magic number)");
  }
  const Pickle protocol = read_pickle(in, left(), path, "the protocol pickle");
  if (protocol.root().kind != Kind::kInt || protocol.root().integer != 1001) {
    throw Error(path, "unsupported legacy torch.save protocol version");
  }
  const Pickle sys_info = read_pickle(in, left(), path, "the sys_info pickle");
  const PickleValue* little_endian = sys_info.root().get("little_endian");
  if (little_endian != nullptr && little_endian->kind == Kind::kBool && !little_endian->boolean) {
    throw Error(path, "written on a big-endian machine; not supported");
  }
  const Pickle object = read_pickle(in, left(), path, "the object pickle");
  Selection selection = select_state_dict(object.root(), path);
  const Pickle key_list = read_pickle(in, left(), path, "the storage key pickle");
  if (key_list.root().kind != Kind::kList) {
    throw Error(path, "corrupt file (the storage key pickle is not a list)");
  }

  // The raw storages follow in key-list order, each an int64 element count and the elements.
  // The element size is that of the type named by the storage's first persistent id, as
  // torch.save wrote it, so walk all ids (also those of tensors outside the state dict).
  std::unordered_map<std::string, at::ScalarType> root_dtype;
  for (const PickleRef& id : object.persistent_ids()) {
    const StorageId parsed = parse_storage_id(*id, path);
    root_dtype.emplace(parsed.key, parsed.dtype);
  }
  std::vector<StorageId> ids;
  std::unordered_map<std::string, int> users;
  for (const auto& entry : selection.entries) {
    ids.push_back(parse_storage_id(*entry.second->storage, path));
    ++users[ids.back().key];
  }

  std::unordered_map<std::string, StorageBytes> roots;
  std::unordered_set<std::string> seen;
  for (const PickleRef& key_value : key_list.root().items) {
    if (!key_value->is_text()) throw Error(path, "corrupt file (a storage key is not a string)");
    const std::string& key = key_value->text;
    const auto dtype = root_dtype.find(key);
    if (dtype == root_dtype.end()) {
      throw Error(path, "corrupt file (storage " + in_quotes(key) + " is listed but never used)");
    }
    if (!seen.insert(key).second) {
      throw Error(path, "corrupt file (storage " + in_quotes(key) + " is listed twice)");
    }
    const auto element_size = static_cast<std::uint64_t>(c10::elementSize(dtype->second));
    std::uint8_t count_bytes[8];
    if (left() < sizeof(count_bytes) || !in.read(reinterpret_cast<char*>(count_bytes), 8)) {
      throw Error(path, "truncated file (ends before storage " + in_quotes(key) + ")");
    }
    std::uint64_t count = 0;
    for (int i = 0; i < 8; ++i) count |= std::uint64_t{count_bytes[i]} << (8 * i);
    const std::uint64_t available = left();
    if (count > available / element_size) {
      throw Error(path, "truncated file (storage " + in_quotes(key) + " needs " + std::to_string(count) +
                            " elements of " + std::to_string(element_size) + " bytes, only " +
                            std::to_string(available) + " bytes remain)");
    }
    const std::uint64_t nbytes = count * element_size;
    if (users.count(key) == 0) {
      in.seekg(static_cast<std::streamoff>(nbytes), std::ios::cur);  // not in the state dict
      continue;
    }
    at::Tensor buffer = at::empty({static_cast<std::int64_t>(nbytes)}, at::kByte);
    if (!in.read(static_cast<char*>(buffer.data_ptr()), static_cast<std::streamsize>(nbytes))) {
      throw Error(path, "truncated file (inside storage " + in_quotes(key) + ")");
    }
    roots.emplace(key, StorageBytes{buffer.storage(), 0, static_cast<std::size_t>(nbytes)});
  }

  std::vector<at::Tensor> tensors;
  CopyBudget budget(file_size);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const StorageId& id = ids[i];
    const auto root = roots.find(id.key);
    if (root == roots.end()) {
      throw Error(path, "corrupt file (storage " + in_quotes(id.key) + " is missing)");
    }
    StorageBytes bytes = root->second;
    if (id.is_view) {
      const auto element_size = static_cast<std::uint64_t>(c10::elementSize(id.dtype));
      const std::uint64_t root_elements = bytes.byte_size / element_size;
      const auto view_offset = static_cast<std::uint64_t>(id.view_offset);
      const auto view_numel = static_cast<std::uint64_t>(id.view_numel);
      if (view_offset > root_elements || view_numel > root_elements - view_offset) {
        throw Error(path, "corrupt file (a view of storage " + in_quotes(id.key) + " reaches past its end)");
      }
      bytes.byte_offset = static_cast<std::size_t>(view_offset * element_size);
      bytes.byte_size = static_cast<std::size_t>(view_numel * element_size);
    }
    tensors.push_back(
        make_tensor(*selection.entries[i].second, id.dtype, bytes, budget, path, selection.entries[i].first));
  }
  return finish(std::move(selection), std::move(tensors), "legacy");
}

}  // namespace

const at::Tensor* StateDict::find(const std::string& key) const {
  for (const auto& entry : tensors) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

StateDict load_state_dict(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw Error(path, "no such file");
  if (fs::is_directory(status)) throw Error(path, "is a directory, not a checkpoint file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, std::string("cannot open file: ") + std::strerror(errno));
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error(path, "cannot read the file size: " + ec.message());
  if (size == 0) throw Error(path, "empty file (0 bytes), not a torch.save checkpoint");

  char head[262] = {};
  in.read(head, sizeof(head));
  const auto got = static_cast<std::size_t>(in.gcount());
  in.close();
  // "PK": a zip archive, or what is left of one (miniz then says what is wrong).
  if (got >= 2 && std::memcmp(head, "PK", 2) == 0) return load_zip(path, size);
  if (got >= 262 && std::memcmp(head + 257, "ustar", 5) == 0) {
    throw Error(path,
                "legacy tar checkpoint format of PyTorch < 0.4 is not supported; "
                "re-save it with torch.save");
  }
  if (static_cast<unsigned char>(head[0]) == 0x80) return load_legacy(path, size);  // PROTO
  // The legacy magic number as pickle protocols 0 and 1 write it (torch.save(pickle_protocol=0)).
  static const char kTextMagic[] = "L119547037146038801333356L\n";
  if (std::strncmp(head, kTextMagic, sizeof(kTextMagic) - 1) == 0) {
    throw Error(path,
                "torch.save file in pickle protocol 0 or 1, which is not supported; "
                "re-save it with torch.save's default protocol");
  }
  throw Error(path, "not a torch.save checkpoint (neither a zip archive nor a pickle)");
}

// ---- writing ----------------------------------------------------------------------------------

void save_state_dict(const std::string& path, const TensorList& tensors) {
  // Everything that can fail on the input is done before the zip writer exists: its destructor
  // finishes the archive and must not meet an exception half way.
  std::vector<at::Tensor> data;
  std::unordered_set<std::string> keys;
  PickleWriter pickle;
  // OrderedDict() filled by SETITEMS, then per key
  //   _rebuild_tensor_v2(persistent_id(('storage', torch.<T>Storage, '<i>', 'cpu', numel)),
  //                      0, size, stride, False, OrderedDict())
  // exactly as torch.save writes a state dict.
  pickle.global("collections", "OrderedDict");
  pickle.tuple(0);
  pickle.reduce();
  pickle.mark();
  for (const auto& [key, tensor] : tensors) {
    if (!keys.insert(key).second) throw Error(path, "cannot save: key " + in_quotes(key) + " twice");
    if (!tensor.defined()) throw Error(path, "cannot save: tensor " + in_quotes(key) + " is undefined");
    const char* type_name = storage_type_name(tensor.scalar_type());
    if (type_name == nullptr) {
      throw Error(path, "cannot save: tensor " + in_quotes(key) + " has unsupported dtype " +
                            std::string(c10::toString(tensor.scalar_type())));
    }
    at::Tensor cpu = tensor.detach().to(at::kCPU).contiguous();
    const std::string storage_key = std::to_string(data.size());

    pickle.string(key);
    pickle.global("torch._utils", "_rebuild_tensor_v2");
    pickle.mark();
    pickle.mark();
    pickle.string("storage");
    pickle.global("torch", type_name);
    pickle.string(storage_key);
    pickle.string("cpu");
    pickle.integer(cpu.numel());
    pickle.tuple_from_mark();
    pickle.persistent_id();
    pickle.integer(0);
    for (const at::IntArrayRef dims : {cpu.sizes(), cpu.strides()}) {
      if (dims.size() <= 3) {
        for (const std::int64_t d : dims) pickle.integer(d);
        pickle.tuple(dims.size());
      } else {
        pickle.mark();
        for (const std::int64_t d : dims) pickle.integer(d);
        pickle.tuple_from_mark();
      }
    }
    pickle.boolean(false);
    pickle.global("collections", "OrderedDict");
    pickle.tuple(0);
    pickle.reduce();
    pickle.tuple_from_mark();
    pickle.reduce();
    data.push_back(std::move(cpu));
  }
  pickle.setitems();
  pickle.stop();

  const std::string temp = path + ".tmp";
  std::ofstream out(temp, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(path, "cannot create " + temp + ": " + std::strerror(errno));
  bool write_failed = false;
  std::error_code ec;
  try {
    // The writer callback reports every byte as written, so miniz never fails half way; a
    // failed write is remembered and reported once the archive is closed.
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* buf, std::size_t n) {
      if (!write_failed && !out.write(static_cast<const char*>(buf), static_cast<std::streamsize>(n))) {
        write_failed = true;
      }
      return n;
    });
    writer.writeRecord("data.pkl", pickle.bytes().data(), pickle.bytes().size());
    writer.writeRecord("byteorder", "little", 6);
    static const char kEmpty = 0;
    for (std::size_t i = 0; i < data.size(); ++i) {
      const std::size_t nbytes = data[i].nbytes();
      const void* bytes = nbytes > 0 ? data[i].data_ptr() : &kEmpty;
      writer.writeRecord("data/" + std::to_string(i), bytes, nbytes);
    }
    writer.writeEndOfFile();  // also writes the 'version' record
  } catch (const c10::Error& e) {
    out.close();
    fs::remove(temp, ec);
    throw Error(path, "cannot write the zip archive: " + first_line(e.what_without_backtrace()));
  }
  out.close();
  if (write_failed || !out) {
    fs::remove(temp, ec);
    throw Error(path, "write failed (disk full?)");
  }
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw Error(path, "cannot rename " + temp + " into place: " + ec.message());
  }
}

}  // namespace bagnet
