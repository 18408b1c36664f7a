#pragma once
// A safe reader (and a small writer) for the part of Python's pickle format that torch.save
// uses: protocols 2 to 5, plus the few protocol-0 text opcodes old files contain.
//
// Python's unpickler runs whatever callable a file names; this one never calls anything.
// GLOBAL/STACK_GLOBAL names are checked against a short allow-list (OrderedDict, torch's
// tensor-rebuild functions, storage types, dtypes) and any other name is refused with a
// bagnet::Error. REDUCE on an allowed rebuild function records a TensorRecipe instead of
// making a tensor, so this file needs no torch headers: the caller (checkpoint.cpp) owns the
// storage bytes and turns recipes into tensors.
//
// Every length read from the input is checked against the bytes that remain before anything is
// allocated, the number of objects is capped, and the copying that memoised references can make
// (torch.Size or OrderedDict of one big tuple, again and again) is bounded by a budget
// proportional to the bytes read, so a truncated or hostile file gives an error, never a crash,
// a huge allocation or a hang.
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace bagnet {
namespace detail {
class PickleReader;
}  // namespace detail

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

// A call of torch._utils._rebuild_tensor_v2 (or an equivalent: _rebuild_tensor,
// _rebuild_parameter, _rebuild_from_type_v2), recorded rather than executed.
struct TensorRecipe {
  PickleRef storage;  // a kPersistentId value, e.g. ('storage', torch.FloatStorage, '0', 'cpu', 6)
  std::int64_t storage_offset = 0;  // in elements of the storage's type
  std::vector<std::int64_t> sizes;
  std::vector<std::int64_t> strides;  // in elements
  bool requires_grad = false;
};

struct PickleValue {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kBigInt,
    kFloat,
    kString,
    kBytes,
    kList,
    kTuple,
    kDict,
    kGlobal,
    kPersistentId,
    kTensor,
  };

  explicit PickleValue(Kind k) : kind(k) {}
  PickleValue(const PickleValue&) = delete;
  PickleValue& operator=(const PickleValue&) = delete;

  Kind kind;
  bool boolean = false;      // kBool
  std::int64_t integer = 0;  // kInt (also 0/1 for kBool, as in Python)
  double real = 0;           // kFloat
  // kString: the text (UTF-8, also for protocol-0/Python 2 byte strings, as torch.load decodes
  // them); kBytes: the bytes; kGlobal: "module.name"; kBigInt: an integer too large for int64,
  // as little-endian two's complement bytes (the legacy format's magic number is one).
  std::string text;
  // kList, kTuple: the elements. kDict: keys and values alternating (k0, v0, k1, v1, ...) in
  // insertion order, as Python 3.7+ dicts and OrderedDicts keep them. kPersistentId: one
  // element, the id object (for torch, a tuple beginning with 'storage').
  std::vector<PickleRef> items;
  std::unique_ptr<TensorRecipe> tensor;  // kTensor
  // kDict only: encoded key -> index of the key in `items`; kept by the reader so that
  // setting an existing key replaces its value (and a big dict does not cost quadratic time).
  std::unordered_map<std::string, std::size_t> dict_index;

  bool is_text() const { return kind == Kind::kString || kind == Kind::kBytes; }
  std::size_t dict_size() const { return kind == Kind::kDict ? items.size() / 2 : 0; }
  // The value stored under a string key of a dict; nullptr if absent or if this is no dict.
  const PickleValue* get(const std::string& key) const;
};

// Python's name for a kind, for messages: "None", "int", "str", "list", "dict", "tensor", ...
const char* kind_name(PickleValue::Kind kind);

// Makes file-derived text safe to put in a one-line message: control and non-ASCII bytes become
// \xNN and long text is cut.
std::string printable(const std::string& text, std::size_t max_length = 80);

// One unpickled object. It owns every value the reader made; references into it (PickleRef,
// pointers) are valid only while it lives. Pickles can build cycles and deep nests; its
// destructor unlinks all containers first so that neither leaks nor recurses.
class Pickle {
 public:
  Pickle() = default;
  Pickle(Pickle&& other) noexcept = default;
  Pickle& operator=(Pickle&& other) noexcept;
  ~Pickle();

  const PickleValue& root() const { return *root_; }
  const PickleRef& root_ref() const { return root_; }
  // Every persistent id in the order the pickle made them (the order in which torch.save met
  // the storages, which decides how the legacy format lays them out).
  const std::vector<PickleRef>& persistent_ids() const { return persistent_ids_; }

 private:
  friend class detail::PickleReader;
  void release();

  PickleRef root_;
  std::vector<PickleRef> containers_;  // every value that can hold references
  std::vector<PickleRef> persistent_ids_;
};

// Reads one pickle, up to and including its STOP opcode, from `in`, consuming nothing after it.
// At most `max_bytes` bytes are read (pass what remains of the file: lengths in the pickle are
// checked against it). Errors are bagnet::Error(path, reason); `what` names the pickle in
// messages ("data.pkl", "the object pickle").
Pickle read_pickle(std::istream& in, std::uint64_t max_bytes, const std::string& path,
                   const std::string& what);

// Writes a protocol-2 pickle opcode by opcode, as Python's pickler would for the same objects.
// Only what save_state_dict needs; no memo (opcodes repeat instead, which any reader accepts).
class PickleWriter {
 public:
  PickleWriter();  // starts with PROTO 2

  void none();
  void boolean(bool value);
  void integer(std::int64_t value);
  void string(const std::string& utf8);
  void global(const std::string& module, const std::string& name);
  void mark();
  void tuple_from_mark();         // TUPLE: everything since the last mark
  void tuple(std::size_t count);  // EMPTY_TUPLE/TUPLE1/2/3 from the top count items (count <= 3)
  void empty_dict();
  void setitems();       // SETITEMS: key/value pairs since the last mark into the dict below it
  void reduce();         // REDUCE: callable(*args)
  void persistent_id();  // BINPERSID: the top item becomes a persistent id
  void stop();           // STOP; the pickle is complete

  const std::string& bytes() const { return out_; }

 private:
  void op(std::uint8_t code) { out_.push_back(static_cast<char>(code)); }
  std::string out_;
};

}  // namespace bagnet
