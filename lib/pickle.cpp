#include "lib/pickle.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include "lib/error.h"

namespace bagnet {
namespace {

using Kind = PickleValue::Kind;

// Caps on what one pickle may build. The pickle of a big network's state dict, even with an
// optimizer state beside it, makes well under a million objects; the caps only keep a hostile
// file from exhausting memory (each object costs ~200 bytes here).
constexpr std::uint64_t kMaxObjects = std::uint64_t{1} << 20;
constexpr std::size_t kMaxStack = std::size_t{1} << 20;
constexpr std::size_t kMaxMarks = std::size_t{1} << 16;
constexpr std::size_t kMaxLine = 4096;      // protocol-0 text arguments: GLOBAL names, INT, PUT
constexpr std::size_t kMaxLongBytes = 256;  // LONG4; torch never writes ints near this size
// Copying work (references copied into new containers, dict key bytes hashed) may grow only in
// proportion to the input read so far. A memoised tuple can be passed to torch.Size or
// OrderedDict once per 2-byte BINGET, and each call copies it whole: without this budget a 64 KB
// file costs gigabytes and minutes. A real state dict copies a few references per tensor,
// each tensor taking ~100 bytes of pickle.
constexpr std::uint64_t kWorkBase = std::uint64_t{1} << 20;
constexpr std::uint64_t kWorkPerByte = 16;

// Opcodes, as named in Python's Lib/pickle.py.
// clang-format off
enum Opcode : std::uint8_t {
  kMark = '(', kStop = '.', kPop = '0', kPopMark = '1', kDup = '2', kFloat = 'F', kInt = 'I',
  kBinInt = 'J', kBinInt1 = 'K', kLong = 'L', kBinInt2 = 'M', kNone = 'N', kPersId = 'P',
  kBinPersId = 'Q', kReduce = 'R', kString = 'S', kBinString = 'T', kShortBinString = 'U',
  kUnicode = 'V', kBinUnicode = 'X', kAppend = 'a', kBuild = 'b', kGlobal = 'c', kDict = 'd',
  kEmptyDict = '}', kAppends = 'e', kGet = 'g', kBinGet = 'h', kInst = 'i', kLongBinGet = 'j',
  kList = 'l', kEmptyList = ']', kObj = 'o', kPut = 'p', kBinPut = 'q', kLongBinPut = 'r',
  kSetItem = 's', kTuple = 't', kEmptyTuple = ')', kSetItems = 'u', kBinFloat = 'G',
  // Protocol 2.
  kProto = 0x80, kNewObj = 0x81, kExt1 = 0x82, kExt2 = 0x83, kExt4 = 0x84, kTuple1 = 0x85,
  kTuple2 = 0x86, kTuple3 = 0x87, kNewTrue = 0x88, kNewFalse = 0x89, kLong1 = 0x8a,
  kLong4 = 0x8b,
  // Protocol 3.
  kBinBytes = 'B', kShortBinBytes = 'C',
  // Protocol 4.
  kShortBinUnicode = 0x8c, kBinUnicode8 = 0x8d, kBinBytes8 = 0x8e, kEmptySet = 0x8f,
  kAddItems = 0x90, kFrozenSet = 0x91, kNewObjEx = 0x92, kStackGlobal = 0x93, kMemoize = 0x94,
  kFrame = 0x95,
  // Protocol 5.
  kByteArray8 = 0x96, kNextBuffer = 0x97, kReadOnlyBuffer = 0x98,
};
// clang-format on

// The names a torch.save file of tensors, dicts and numbers may contain. Anything else
// (classes of pickled modules, numpy, os.system, ...) is refused before it could matter.
bool is_allowed_global(const std::string& name) {
  static const std::unordered_set<std::string> allowed = [] {
    std::unordered_set<std::string> names = {
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
        "torch.Size",
    };
    for (const char* storage : {"Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte",
                                "Bool", "ComplexFloat", "ComplexDouble"}) {
      names.insert(std::string("torch.") + storage + "Storage");
      // Legacy files saved from a GPU name CUDA storage types; they load to the CPU.
      names.insert(std::string("torch.cuda.") + storage + "Storage");
    }
    // dtype objects pickle as globals of the torch module.
    for (const char* dtype :
         {"float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32",
          "int", "int16", "short", "int8", "uint8", "bool", "complex64", "complex128"}) {
      names.insert(std::string("torch.") + dtype);
    }
    return names;
  }();
  return allowed.count(name) > 0;
}

bool is_container(Kind kind) {
  return kind == Kind::kList || kind == Kind::kTuple || kind == Kind::kDict || kind == Kind::kPersistentId ||
         kind == Kind::kTensor;
}

std::string opcode_text(std::uint8_t code) {
  char text[8];
  if (code >= 0x21 && code < 0x7f) {
    std::snprintf(text, sizeof(text), "'%c'", code);
  } else {
    std::snprintf(text, sizeof(text), "0x%02x", code);
  }
  return text;
}

// Decodes LONG1/LONG4 payloads: little-endian two's complement, any width.
bool fits_int64(const std::string& bytes) {
  if (bytes.size() <= 8) return true;
  const bool negative = static_cast<std::uint8_t>(bytes[7]) & 0x80;
  for (std::size_t i = 8; i < bytes.size(); ++i) {
    if (static_cast<std::uint8_t>(bytes[i]) != (negative ? 0xff : 0x00)) return false;
  }
  return true;
}

std::int64_t decode_int64(const std::string& bytes) {
  if (bytes.empty()) return 0;
  const std::size_t n = std::min<std::size_t>(bytes.size(), 8);
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    value |= std::uint64_t{static_cast<std::uint8_t>(bytes[i])} << (8 * i);
  }
  const bool negative = static_cast<std::uint8_t>(bytes[n - 1]) & 0x80;
  if (negative && n < 8) value |= ~std::uint64_t{0} << (8 * n);  // sign-extend
  std::int64_t result;
  std::memcpy(&result, &value, sizeof(result));
  return result;
}

}  // namespace

const PickleValue* PickleValue::get(const std::string& key) const {
  if (kind != Kind::kDict) return nullptr;
  const auto it = dict_index.find("s" + key);
  return it == dict_index.end() ? nullptr : items[it->second + 1].get();
}

const char* kind_name(PickleValue::Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kBigInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kTuple:
      return "tuple";
    case Kind::kDict:
      return "dict";
    case Kind::kGlobal:
      return "global";
    case Kind::kPersistentId:
      return "persistent id";
    case Kind::kTensor:
      return "tensor";
  }
  return "?";
}

std::string printable(const std::string& text, std::size_t max_length) {
  std::string out;
  for (const char c : text) {
    if (out.size() >= max_length) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out.push_back(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    }
  }
  return out;
}

Pickle& Pickle::operator=(Pickle&& other) noexcept {
  if (this != &other) {
    release();
    root_ = std::move(other.root_);
    containers_ = std::move(other.containers_);
    persistent_ids_ = std::move(other.persistent_ids_);
    other.containers_.clear();
    other.persistent_ids_.clear();
  }
  return *this;
}

Pickle::~Pickle() { release(); }

void Pickle::release() {
  // Unlink every container before dropping any: containers_ keeps them all alive, so emptying
  // one never destroys another from inside it (no recursion however deep the nesting), and
  // cycles (a list appended to itself through the memo) are broken.
  for (const PickleRef& value : containers_) {
    value->items.clear();
    value->dict_index.clear();
    value->tensor.reset();
  }
  persistent_ids_.clear();
  containers_.clear();
  root_.reset();
}

namespace detail {

class PickleReader {
 public:
  PickleReader(std::istream& in, std::uint64_t max_bytes, const std::string& path, const std::string& what)
      : in_(in), remaining_(max_bytes), path_(path), what_(what) {
    const std::streamoff start = in.tellg();
    base_ = start > 0 ? static_cast<std::uint64_t>(start) : 0;
  }

  Pickle run() {
    for (;;) {
      op_pos_ = pos_;
      const std::uint8_t code = read_byte();
      if (code == kStop) break;
      step(code);
    }
    if (stack_.size() <= floor()) fail("STOP with nothing to return");
    result_.root_ = stack_.back();
    stack_.clear();
    memo_.clear();
    return std::move(result_);
  }

 private:
  // ---- errors -------------------------------------------------------------------------------
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(path_,
                "corrupt pickle (" + what_ + ", byte " + std::to_string(base_ + op_pos_) + "): " + why);
  }

  // Valid pickle, but beyond what a checkpoint needs (and so what this reader implements).
  [[noreturn]] void unsupported(const std::string& why) const {
    throw Error(path_, "unsupported pickle content (" + what_ + ", byte " + std::to_string(base_ + op_pos_) +
                           "): " + why);
  }

  [[noreturn]] void truncated() const {
    throw Error(path_, "truncated file: " + what_ + " ends early (opcode at byte " +
                           std::to_string(base_ + op_pos_) + " runs past the end)");
  }

  [[noreturn]] void refuse_global(const std::string& name) const {
    throw Error(path_, "refusing to load pickle global '" + printable(name) +
                           "' (only tensors, dicts, lists, numbers and strings are allowed)");
  }

  [[noreturn]] void refuse_call(const std::string& name) const {
    throw Error(path_, "refusing to call pickle global '" + printable(name) +
                           "' (only tensors, dicts, lists, numbers and strings are allowed)");
  }

  // ---- input --------------------------------------------------------------------------------
  void read_raw(void* dst, std::uint64_t n) {
    if (n > remaining_) truncated();
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(in_.gcount()) != n) truncated();
    remaining_ -= n;
    pos_ += n;
  }

  std::uint8_t read_byte() {
    std::uint8_t byte;
    read_raw(&byte, 1);
    return byte;
  }

  std::uint64_t read_uint(int bytes) {  // little-endian
    std::uint8_t buf[8];
    read_raw(buf, static_cast<std::uint64_t>(bytes));
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= std::uint64_t{buf[i]} << (8 * i);
    return value;
  }

  std::int32_t read_int32() {
    const auto bits = static_cast<std::uint32_t>(read_uint(4));
    std::int32_t value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }

  std::string read_bytes(std::uint64_t n) {
    // Checked before allocating: a corrupt length must not become a huge allocation.
    if (n > remaining_) truncated();
    std::string bytes(static_cast<std::size_t>(n), '\0');
    read_raw(bytes.data(), n);
    return bytes;
  }

  std::string read_line() {
    std::string line;
    for (;;) {
      const char c = static_cast<char>(read_byte());
      if (c == '\n') return line;
      if (line.size() >= kMaxLine) fail("text argument longer than " + std::to_string(kMaxLine));
      line.push_back(c);
    }
  }

  std::int64_t parse_int(std::string text) {
    if (!text.empty() && text.back() == 'L') text.pop_back();  // protocol-0 LONG: "123L"
    if (text.empty()) fail("empty integer");
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (errno == ERANGE) unsupported("integer too large: " + printable(text));
    if (*end != '\0') fail("bad integer '" + printable(text) + "'");
    return value;
  }

  // ---- objects ------------------------------------------------------------------------------
  void count_object() {
    if (++objects_ > kMaxObjects) {
      fail("more than " + std::to_string(kMaxObjects) + " objects; not a checkpoint");
    }
  }

  // Charges `units` of copying work (one per reference copied, one per 16 key bytes hashed).
  void count_work(std::uint64_t units) {
    work_ += units;
    if (work_ > kWorkBase + kWorkPerByte * pos_) {
      fail("more copying than a pickle of " + std::to_string(pos_) +
           " bytes can need (repeated references to large containers); not a checkpoint");
    }
  }

  PickleRef make(Kind kind) {
    count_object();
    auto value = std::make_shared<PickleValue>(kind);
    if (is_container(kind)) result_.containers_.push_back(value);
    return value;
  }

  PickleRef make_int(std::int64_t v) {
    PickleRef value = make(Kind::kInt);
    value->integer = v;
    return value;
  }

  PickleRef make_text(Kind kind, std::string text) {
    PickleRef value = make(kind);
    value->text = std::move(text);
    return value;
  }

  PickleRef make_sequence(Kind kind, std::vector<PickleRef> items) {
    PickleRef value = make(kind);
    value->items = std::move(items);
    return value;
  }

  // Python compares dict keys by value; strings, bytes and ints (bools equal 0/1, as in
  // Python) are the keys torch writes. Other keys are kept but never merged, which is all a
  // state-dict reader needs from them.
  std::string dict_key(const PickleValue& key) const {
    switch (key.kind) {
      case Kind::kString:
        return "s" + key.text;
      case Kind::kBytes:
        return "b" + key.text;
      case Kind::kInt:
      case Kind::kBool:
        return "i" + std::to_string(key.integer);
      case Kind::kBigInt:
        return "L" + key.text;
      case Kind::kNone:
        return "n";
      default:
        return "@" + std::to_string(reinterpret_cast<std::uintptr_t>(&key));
    }
  }

  void dict_set(PickleValue& dict, PickleRef key, PickleRef value) {
    count_work(1 + key->text.size() / 16);
    const auto inserted = dict.dict_index.emplace(dict_key(*key), dict.items.size());
    if (inserted.second) {
      dict.items.push_back(std::move(key));
      dict.items.push_back(std::move(value));
    } else {
      dict.items[inserted.first->second + 1] = std::move(value);
    }
  }

  // ---- stack, marks and memo ----------------------------------------------------------------
  // As in Python 3, a MARK starts a new stack: nothing below it can be popped until POP_MARK.
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  void push(PickleRef value) {
    if (stack_.size() >= kMaxStack) fail("stack deeper than " + std::to_string(kMaxStack));
    stack_.push_back(std::move(value));
  }

  PickleRef pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    PickleRef value = std::move(stack_.back());
    stack_.pop_back();
    return value;
  }

  PickleValue& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return *stack_.back();
  }

  std::vector<PickleRef> pop_mark() {
    if (marks_.empty()) fail("no MARK to pop to");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleRef> items(std::make_move_iterator(stack_.begin() + mark),
                                 std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  void memo_put(std::uint64_t index) {
    if (stack_.size() <= floor()) fail("memo store with an empty stack");
    // A map, not a vector indexed by the key: LONG_BINPUT 0xffffffff must not allocate 4G slots.
    const auto it = memo_.find(index);
    if (it == memo_.end()) {
      count_object();
      memo_.emplace(index, stack_.back());
    } else {
      it->second = stack_.back();
    }
  }

  void memo_get(std::uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo key " + std::to_string(index) + " was never stored");
    push(it->second);
  }

  // ---- globals and calls --------------------------------------------------------------------
  PickleRef global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!is_allowed_global(full)) refuse_global(full);
    return make_text(Kind::kGlobal, full);
  }

  static bool is_tensor_rebuild(const std::string& name) {
    return name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor" ||
           name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state";
  }

  std::int64_t int_arg(const PickleValue& value, const char* what) {
    if (value.kind != Kind::kInt && value.kind != Kind::kBool) {
      fail(std::string(what) + " is a " + kind_name(value.kind) + ", not an int");
    }
    return value.integer;
  }

  std::vector<std::int64_t> int_tuple_arg(const PickleValue& value, const char* what) {
    if (value.kind != Kind::kTuple && value.kind != Kind::kList) {
      fail(std::string(what) + " is a " + kind_name(value.kind) + ", not a tuple");
    }
    count_work(value.items.size());
    std::vector<std::int64_t> ints;
    for (const PickleRef& item : value.items) {
      const std::int64_t v = int_arg(*item, what);
      if (v < 0) fail(std::string(what) + " has a negative entry");
      ints.push_back(v);
    }
    return ints;
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
  // [, metadata]) and the older _rebuild_tensor(storage, storage_offset, size, stride).
  PickleRef rebuild_tensor(const std::vector<PickleRef>& args, bool v2) {
    if (v2 ? (args.size() < 6 || args.size() > 7) : args.size() != 4) {
      fail("tensor rebuild with " + std::to_string(args.size()) + " arguments");
    }
    if (args[0]->kind != Kind::kPersistentId) {
      fail(std::string("tensor storage is a ") + kind_name(args[0]->kind) + ", not a persistent id");
    }
    auto recipe = std::make_unique<TensorRecipe>();
    recipe->storage = args[0];
    recipe->storage_offset = int_arg(*args[1], "storage offset");
    if (recipe->storage_offset < 0) fail("negative storage offset");
    recipe->sizes = int_tuple_arg(*args[2], "tensor size");
    recipe->strides = int_tuple_arg(*args[3], "tensor stride");
    if (recipe->sizes.size() != recipe->strides.size()) fail("size and stride differ in length");
    if (v2) recipe->requires_grad = int_arg(*args[4], "requires_grad") != 0;
    PickleRef tensor = make(Kind::kTensor);
    tensor->tensor = std::move(recipe);
    return tensor;
  }

  PickleRef tensor_arg(const PickleRef& value, const char* what) {
    if (value->kind != Kind::kTensor) {
      fail(std::string(what) + " got a " + kind_name(value->kind) + ", not a tensor");
    }
    return value;
  }

  // REDUCE: callable(*args), for the few callables a state dict needs. Nothing is executed:
  // each case builds the value Python would have.
  PickleRef call(const PickleValue& callable, const PickleValue& args_tuple) {
    if (callable.kind != Kind::kGlobal) {
      fail(std::string("REDUCE on a ") + kind_name(callable.kind) + ", not a function");
    }
    if (args_tuple.kind != Kind::kTuple) {
      fail(std::string("REDUCE arguments are a ") + kind_name(args_tuple.kind) + ", not a tuple");
    }
    const std::string& name = callable.text;
    const std::vector<PickleRef>& args = args_tuple.items;

    if (name == "collections.OrderedDict") {
      PickleRef dict = make(Kind::kDict);
      if (args.empty()) return dict;  // what torch.save writes; items follow by SETITEMS
      if (args.size() == 1 && (args[0]->kind == Kind::kList || args[0]->kind == Kind::kTuple)) {
        count_work(args[0]->items.size());
        for (const PickleRef& pair : args[0]->items) {
          if ((pair->kind != Kind::kTuple && pair->kind != Kind::kList) || pair->items.size() != 2) {
            fail("OrderedDict item is not a (key, value) pair");
          }
          dict_set(*dict, pair->items[0], pair->items[1]);
        }
        return dict;
      }
      fail("unexpected arguments to OrderedDict");
    }
    if (name == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(args, true);
    if (name == "torch._utils._rebuild_tensor") return rebuild_tensor(args, false);
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      // (data, requires_grad, backward_hooks[, state]): a Parameter is its data here.
      if (args.size() < 3 || args.size() > 4) fail("_rebuild_parameter with wrong arguments");
      return tensor_arg(args[0], "_rebuild_parameter");
    }
    if (name == "torch.nn.parameter.Parameter") {
      if (args.empty() || args.size() > 2) fail("Parameter with wrong arguments");
      return tensor_arg(args[0], "Parameter");
    }
    if (name == "torch._tensor._rebuild_from_type_v2") {
      // (func, type, args, state): tensor subclasses; only plain tensors and Parameters pass,
      // and func may only be a tensor rebuild (which also keeps this from recursing).
      if (args.size() != 4) fail("_rebuild_from_type_v2 with wrong arguments");
      const PickleValue& func = *args[0];
      const PickleValue& type = *args[1];
      if (func.kind != Kind::kGlobal || !is_tensor_rebuild(func.text)) {
        fail("_rebuild_from_type_v2 with an unexpected function");
      }
      if (type.kind != Kind::kGlobal ||
          (type.text != "torch.Tensor" && type.text != "torch.nn.parameter.Parameter")) {
        fail("_rebuild_from_type_v2 of an unsupported tensor type");
      }
      return tensor_arg(call(func, *args[2]), "_rebuild_from_type_v2");
    }
    if (name == "torch.Size") {
      if (args.size() != 1) fail("torch.Size with wrong arguments");
      int_tuple_arg(*args[0], "torch.Size");
      return make_sequence(Kind::kTuple, args[0]->items);
    }
    refuse_call(name);
  }

  // NEWOBJ/NEWOBJ_EX: cls.__new__(cls, ...). Only an empty OrderedDict can be made so.
  PickleRef new_object(const PickleValue& cls) {
    if (cls.kind == Kind::kGlobal && cls.text == "collections.OrderedDict") {
      return make(Kind::kDict);
    }
    if (cls.kind == Kind::kGlobal) refuse_call(cls.text);
    fail(std::string("NEWOBJ on a ") + kind_name(cls.kind));
  }

  PickleRef persistent_id(PickleRef id) {
    PickleRef value = make(Kind::kPersistentId);
    value->items.push_back(std::move(id));
    result_.persistent_ids_.push_back(value);
    return value;
  }

  // ---- the opcodes --------------------------------------------------------------------------
  void step(std::uint8_t code) {
    switch (code) {
      case kProto: {
        const std::uint8_t version = read_byte();
        if (version > 5) unsupported("pickle protocol " + std::to_string(version));
        break;
      }
      case kFrame:  // protocol 4 framing is only a hint for buffering
        if (read_uint(8) > remaining_) truncated();
        break;
      case kMark:
        if (marks_.size() >= kMaxMarks) fail("MARKs nested too deeply");
        marks_.push_back(stack_.size());
        break;
      case kPop:
        // Python pops the mark itself when the stack above it is empty.
        if (stack_.size() > floor()) {
          stack_.pop_back();
        } else {
          pop_mark();
        }
        break;
      case kPopMark:
        pop_mark();
        break;
      case kDup: {
        PickleRef value = pop();
        push(value);
        push(std::move(value));
        break;
      }

      case kNone:
        push(make(Kind::kNone));
        break;
      case kNewTrue:
      case kNewFalse: {
        PickleRef value = make(Kind::kBool);
        value->boolean = code == kNewTrue;
        value->integer = value->boolean ? 1 : 0;
        push(std::move(value));
        break;
      }
      case kBinInt:
        push(make_int(read_int32()));
        break;
      case kBinInt1:
        push(make_int(static_cast<std::int64_t>(read_uint(1))));
        break;
      case kBinInt2:
        push(make_int(static_cast<std::int64_t>(read_uint(2))));
        break;
      case kLong1:
      case kLong4: {
        const std::int64_t length = code == kLong1 ? static_cast<std::int64_t>(read_uint(1)) : read_int32();
        if (length < 0) fail("negative LONG4 length");
        if (static_cast<std::uint64_t>(length) > kMaxLongBytes) {
          unsupported("integer of " + std::to_string(length) + " bytes");
        }
        std::string bytes = read_bytes(static_cast<std::uint64_t>(length));
        if (fits_int64(bytes)) {
          push(make_int(decode_int64(bytes)));
        } else {
          push(make_text(Kind::kBigInt, std::move(bytes)));
        }
        break;
      }
      case kInt: {
        const std::string text = read_line();
        // Protocol 0 writes booleans as I01 / I00.
        if (text == "01" || text == "00") {
          PickleRef value = make(Kind::kBool);
          value->boolean = text == "01";
          value->integer = value->boolean ? 1 : 0;
          push(std::move(value));
        } else {
          push(make_int(parse_int(text)));
        }
        break;
      }
      case kLong:
        push(make_int(parse_int(read_line())));
        break;
      case kFloat: {
        const std::string text = read_line();
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0') fail("bad float '" + printable(text) + "'");
        PickleRef value = make(Kind::kFloat);
        value->real = v;
        push(std::move(value));
        break;
      }
      case kBinFloat: {
        std::uint8_t be[8];
        read_raw(be, 8);
        std::uint64_t bits = 0;
        for (const std::uint8_t b : be) bits = (bits << 8) | b;  // big-endian, unlike the ints
        PickleRef value = make(Kind::kFloat);
        std::memcpy(&value->real, &bits, sizeof(double));
        push(std::move(value));
        break;
      }

      // Strings. torch.load decodes Python 2 byte strings (BINSTRING) as text, so do we.
      case kBinUnicode:
        push(make_text(Kind::kString, read_bytes(read_uint(4))));
        break;
      case kShortBinUnicode:
        push(make_text(Kind::kString, read_bytes(read_uint(1))));
        break;
      case kBinUnicode8:
        push(make_text(Kind::kString, read_bytes(read_uint(8))));
        break;
      case kBinString: {
        const std::int32_t length = read_int32();
        if (length < 0) fail("negative BINSTRING length");
        push(make_text(Kind::kString, read_bytes(static_cast<std::uint64_t>(length))));
        break;
      }
      case kShortBinString:
        push(make_text(Kind::kString, read_bytes(read_uint(1))));
        break;
      case kBinBytes:
        push(make_text(Kind::kBytes, read_bytes(read_uint(4))));
        break;
      case kShortBinBytes:
        push(make_text(Kind::kBytes, read_bytes(read_uint(1))));
        break;
      case kBinBytes8:
        push(make_text(Kind::kBytes, read_bytes(read_uint(8))));
        break;

      // Containers.
      case kEmptyDict:
        push(make(Kind::kDict));
        break;
      case kEmptyList:
        push(make(Kind::kList));
        break;
      case kEmptyTuple:
        push(make(Kind::kTuple));
        break;
      case kTuple:
        push(make_sequence(Kind::kTuple, pop_mark()));
        break;
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        const std::size_t n = code - kTuple1 + 1;
        std::vector<PickleRef> items(n);
        for (std::size_t i = n; i-- > 0;) items[i] = pop();
        push(make_sequence(Kind::kTuple, std::move(items)));
        break;
      }
      case kList:
        push(make_sequence(Kind::kList, pop_mark()));
        break;
      case kDict: {
        std::vector<PickleRef> items = pop_mark();
        if (items.size() % 2 != 0) fail("DICT with an odd number of items");
        PickleRef dict = make(Kind::kDict);
        for (std::size_t i = 0; i < items.size(); i += 2) dict_set(*dict, items[i], items[i + 1]);
        push(std::move(dict));
        break;
      }
      case kAppend: {
        PickleRef value = pop();
        PickleValue& list = top();
        if (list.kind != Kind::kList) fail(std::string("APPEND to a ") + kind_name(list.kind));
        list.items.push_back(std::move(value));
        break;
      }
      case kAppends: {
        std::vector<PickleRef> values = pop_mark();
        PickleValue& list = top();
        if (list.kind != Kind::kList) fail(std::string("APPENDS to a ") + kind_name(list.kind));
        for (PickleRef& value : values) list.items.push_back(std::move(value));
        break;
      }
      case kSetItem: {
        PickleRef value = pop();
        PickleRef key = pop();
        PickleValue& dict = top();
        if (dict.kind != Kind::kDict) fail(std::string("SETITEM on a ") + kind_name(dict.kind));
        dict_set(dict, std::move(key), std::move(value));
        break;
      }
      case kSetItems: {
        std::vector<PickleRef> items = pop_mark();
        if (items.size() % 2 != 0) fail("SETITEMS with an odd number of items");
        PickleValue& dict = top();
        if (dict.kind != Kind::kDict) fail(std::string("SETITEMS on a ") + kind_name(dict.kind));
        for (std::size_t i = 0; i < items.size(); i += 2) dict_set(dict, items[i], items[i + 1]);
        break;
      }

      // Memo.
      case kBinPut:
        memo_put(read_uint(1));
        break;
      case kLongBinPut:
        memo_put(read_uint(4));
        break;
      case kPut:
        memo_put(static_cast<std::uint64_t>(parse_int(read_line())));
        break;
      case kMemoize:
        memo_put(memo_.size());
        break;
      case kBinGet:
        memo_get(read_uint(1));
        break;
      case kLongBinGet:
        memo_get(read_uint(4));
        break;
      case kGet:
        memo_get(static_cast<std::uint64_t>(parse_int(read_line())));
        break;

      // Globals, calls, persistent ids.
      case kGlobal: {
        const std::string module = read_line();
        const std::string name = read_line();
        push(global(module, name));
        break;
      }
      case kStackGlobal: {
        PickleRef name = pop();
        PickleRef module = pop();
        if (module->kind != Kind::kString || name->kind != Kind::kString) {
          fail("STACK_GLOBAL with non-string names");
        }
        push(global(module->text, name->text));
        break;
      }
      case kReduce: {
        PickleRef args = pop();
        PickleRef callable = pop();
        push(call(*callable, *args));
        break;
      }
      case kNewObj: {
        pop();  // args: OrderedDict.__new__ ignores them
        PickleRef cls = pop();
        push(new_object(*cls));
        break;
      }
      case kNewObjEx: {
        pop();  // kwargs
        pop();  // args
        PickleRef cls = pop();
        push(new_object(*cls));
        break;
      }
      case kBuild: {
        pop();  // the state
        const PickleValue& target = top();
        // A state dict's OrderedDict carries _metadata (module versions) as its state, and
        // tensors may carry Python attributes: neither matters for the weights.
        if (target.kind != Kind::kDict && target.kind != Kind::kTensor) {
          fail(std::string("BUILD on a ") + kind_name(target.kind));
        }
        break;
      }
      case kBinPersId:
        push(persistent_id(pop()));
        break;
      case kPersId:
        push(persistent_id(make_text(Kind::kString, read_line())));
        break;

      case kInst:
      case kObj:
        unsupported("opcode " + opcode_text(code) + " builds arbitrary objects");
      case kExt1:
      case kExt2:
      case kExt4:
        unsupported("extension-registry opcode " + opcode_text(code));
      case kEmptySet:
      case kAddItems:
      case kFrozenSet:
        unsupported("a set");
      case kString:
      case kUnicode:
        unsupported("protocol-0 string opcode " + opcode_text(code) +
                    "; re-save with torch.save's default pickle protocol");
      case kByteArray8:
      case kNextBuffer:
      case kReadOnlyBuffer:
        unsupported("protocol-5 out-of-band buffer opcode " + opcode_text(code));
      default:
        fail("unknown opcode " + opcode_text(code) + " (not a pickle, or a corrupt one)");
    }
  }

  std::istream& in_;
  std::uint64_t remaining_;
  const std::string& path_;
  const std::string& what_;
  std::uint64_t base_ = 0;    // stream offset of the pickle, for messages
  std::uint64_t pos_ = 0;     // bytes read so far
  std::uint64_t op_pos_ = 0;  // where the current opcode started
  std::uint64_t objects_ = 0;
  std::uint64_t work_ = 0;  // see count_work

  // result_ is declared first so that it is destroyed last: the stack and memo only drop
  // references, and result_ then unlinks everything without recursion.
  Pickle result_;
  std::vector<PickleRef> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PickleRef> memo_;
};

}  // namespace detail

Pickle read_pickle(std::istream& in, std::uint64_t max_bytes, const std::string& path,
                   const std::string& what) {
  return detail::PickleReader(in, max_bytes, path, what).run();
}

// ---- writer ---------------------------------------------------------------------------------

PickleWriter::PickleWriter() {
  op(kProto);
  op(2);
}

void PickleWriter::none() { op(kNone); }

void PickleWriter::boolean(bool value) { op(value ? kNewTrue : kNewFalse); }

void PickleWriter::integer(std::int64_t value) {
  // The smallest opcode that holds the value, as Python's pickler chooses.
  if (value >= 0 && value < 0x100) {
    op(kBinInt1);
    op(static_cast<std::uint8_t>(value));
  } else if (value >= 0 && value < 0x10000) {
    op(kBinInt2);
    op(static_cast<std::uint8_t>(value));
    op(static_cast<std::uint8_t>(value >> 8));
  } else if (value >= std::numeric_limits<std::int32_t>::min() &&
             value <= std::numeric_limits<std::int32_t>::max()) {
    op(kBinInt);
    const auto bits = static_cast<std::uint32_t>(value);
    for (int i = 0; i < 4; ++i) op(static_cast<std::uint8_t>(bits >> (8 * i)));
  } else {
    // LONG1: little-endian two's complement, without redundant sign bytes.
    std::uint8_t bytes[8];
    const auto bits = static_cast<std::uint64_t>(value);
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(bits >> (8 * i));
    int n = 8;
    while (n > 1 && ((bytes[n - 1] == 0x00 && !(bytes[n - 2] & 0x80)) ||
                     (bytes[n - 1] == 0xff && (bytes[n - 2] & 0x80)))) {
      --n;
    }
    op(kLong1);
    op(static_cast<std::uint8_t>(n));
    for (int i = 0; i < n; ++i) op(bytes[i]);
  }
}

void PickleWriter::string(const std::string& utf8) {
  if (utf8.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("pickle string longer than 4 GiB");
  }
  op(kBinUnicode);
  const auto length = static_cast<std::uint32_t>(utf8.size());
  for (int i = 0; i < 4; ++i) op(static_cast<std::uint8_t>(length >> (8 * i)));
  out_ += utf8;
}

void PickleWriter::global(const std::string& module, const std::string& name) {
  op(kGlobal);
  out_ += module + "\n" + name + "\n";
}

void PickleWriter::mark() { op(kMark); }

void PickleWriter::tuple_from_mark() { op(kTuple); }

void PickleWriter::tuple(std::size_t count) {
  static constexpr std::uint8_t kSmallTuples[] = {kEmptyTuple, kTuple1, kTuple2, kTuple3};
  if (count > 3) throw std::invalid_argument("PickleWriter::tuple: use mark() + tuple_from_mark()");
  op(kSmallTuples[count]);
}

void PickleWriter::empty_dict() { op(kEmptyDict); }

void PickleWriter::setitems() { op(kSetItems); }

void PickleWriter::reduce() { op(kReduce); }

void PickleWriter::persistent_id() { op(kBinPersId); }

void PickleWriter::stop() { op(kStop); }

}  // namespace bagnet
