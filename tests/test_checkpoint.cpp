// Checkpoint reading/writing, the pickle reader and SHA-256, against files written by real
// torch.save (tests/python/make_checkpoints.py, run with BAGNET_PYTHON at test time).
#include <ATen/ATen.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lib/checkpoint.h"
#include "lib/error.h"
#include "lib/pickle.h"
#include "lib/sha256.h"

namespace fs = std::filesystem;
using bagnet::Error;
using bagnet::PickleValue;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string kScript = std::string(TEST_SOURCE_DIR) + "/python/make_checkpoints.py";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Runs the fixture script; returns its exit status, its output in *output.
int run_python(const std::string& args, std::string* output) {
  static int calls = 0;
  const fs::path log = fs::temp_directory_path() / ("bagnet_checkpoint_py_" + std::to_string(getpid()) + "_" +
                                                    std::to_string(calls++) + ".log");
  const std::string command =
      std::string(BAGNET_PYTHON) + " " + kScript + " " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  *output = read_file(log);
  fs::remove(log);
  return status;
}

// The fixtures, made once per test run in a private temporary folder.
class Fixtures {
 public:
  Fixtures() : dir_(fs::temp_directory_path() / ("bagnet_test_checkpoint_" + std::to_string(getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string output;
    // No torch in BAGNET_PYTHON is a failure, not a skip: these tests are the parity check.
    if (run_python("make " + dir_.string(), &output) != 0) {
      throw std::runtime_error(std::string(BAGNET_PYTHON) +
                               " could not write the checkpoint fixtures (is python3-torch "
                               "installed?):\n" +
                               output);
    }
  }
  ~Fixtures() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

const fs::path& fixtures() {
  static const Fixtures fixtures;
  return fixtures.dir();
}

std::string fixture(const std::string& name) { return (fixtures() / name).string(); }

fs::path scratch(const std::string& name) {
  const fs::path dir = fixtures() / "scratch";
  fs::create_directories(dir);
  return dir / name;
}

const char* python_dtype(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kHalf:
      return "float16";
    case at::kBFloat16:
      return "bfloat16";
    case at::kLong:
      return "int64";
    case at::kInt:
      return "int32";
    case at::kShort:
      return "int16";
    case at::kChar:
      return "int8";
    case at::kByte:
      return "uint8";
    case at::kBool:
      return "bool";
    default:
      return "?";
  }
}

struct Expected {
  std::string key;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

const std::vector<Expected>& expected_tensors() {
  static const std::vector<Expected> expected = [] {
    std::vector<Expected> list;
    std::istringstream manifest(read_file(fixtures() / "expected.txt"));
    std::string line;
    for (int i = 0; std::getline(manifest, line); ++i) {
      Expected e;
      std::istringstream fields(line);
      std::string dims;
      std::getline(fields, e.key, '\t');
      std::getline(fields, e.dtype, '\t');
      std::getline(fields, dims);
      std::istringstream dim_stream(dims);
      for (std::string d; std::getline(dim_stream, d, ',');) e.shape.push_back(std::stoll(d));
      e.bytes = read_file(fixtures() / "expected" / (std::to_string(i) + ".bin"));
      list.push_back(std::move(e));
    }
    return list;
  }();
  return expected;
}

// Exact equality of every tensor: keys and order, dtype, shape and every byte (NaNs included).
void check_matches_expected(const bagnet::StateDict& sd) {
  const std::vector<Expected>& expected = expected_tensors();
  REQUIRE(expected.size() == 25);
  REQUIRE(sd.tensors.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const Expected& e = expected[i];
    const auto& [key, tensor] = sd.tensors[i];
    INFO("tensor " << e.key);
    CHECK(key == e.key);
    CHECK(python_dtype(tensor.scalar_type()) == e.dtype);
    CHECK(tensor.sizes().vec() == e.shape);
    CHECK(tensor.device().is_cpu());
    CHECK(tensor.is_contiguous());
    REQUIRE(tensor.nbytes() == e.bytes.size());
    CHECK(std::memcmp(tensor.data_ptr(), e.bytes.data(), e.bytes.size()) == 0);
  }
}

// The error load_state_dict throws, checked to be one line starting with "path: ".
std::string load_error(const std::string& path) {
  try {
    bagnet::load_state_dict(path);
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK_THAT(message, StartsWith(path + ": "));
    CHECK(message.find('\n') == std::string::npos);
    CHECK(e.path() == path);
    return message;
  }
  FAIL("no error loading " << path);
  return "";
}

std::string pickle_error(const std::string& bytes) {
  std::istringstream in(bytes);
  try {
    bagnet::read_pickle(in, bytes.size(), "test.pkl", "the pickle");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK_THAT(message, StartsWith("test.pkl: "));
    CHECK(message.find('\n') == std::string::npos);
    return message;
  }
  FAIL("no error reading the pickle");
  return "";
}

bagnet::Pickle read_pickle_bytes(const std::string& bytes) {
  std::istringstream in(bytes);
  return bagnet::read_pickle(in, bytes.size(), "test.pkl", "the pickle");
}

}  // namespace

// ---- SHA-256 --------------------------------------------------------------------------------

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[sha256]") {
  CHECK(bagnet::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(bagnet::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(bagnet::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(bagnet::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 gives the same digest however the input is split", "[sha256]") {
  std::string message;
  for (int i = 0; i < 200; ++i) message.push_back(static_cast<char>(i * 37 + 11));
  const std::string whole = bagnet::sha256_hex(message);
  for (std::size_t split = 0; split <= message.size(); ++split) {
    bagnet::Sha256 sha;
    sha.update(message.data(), split);
    sha.update(message.data() + split, message.size() - split);
    CHECK(sha.hex_digest() == whole);
  }
}

TEST_CASE("sha256_file equals Python's hashlib", "[sha256]") {
  // Over 3 MiB and not a multiple of the chunk or block size.
  std::string data(3 * 1024 * 1024 + 17, '\0');
  std::mt19937 random(1234);
  for (char& c : data) c = static_cast<char>(random() & 0xff);
  const fs::path file = scratch("random.bin");
  write_file(file, data);
  std::string output;
  REQUIRE(run_python("sha256 " + file.string(), &output) == 0);
  CHECK(bagnet::sha256_file(file.string()) + "\n" == output);
  CHECK(bagnet::sha256_file(file.string()) == bagnet::sha256_hex(data));

  const std::string missing = scratch("missing.bin").string();
  CHECK_THROWS_AS(bagnet::sha256_file(missing), Error);
  CHECK_THROWS_AS(bagnet::sha256_file(fixtures().string()), Error);  // a directory
}

// ---- loading ----------------------------------------------------------------------------------

TEST_CASE("load_state_dict reads both torch.save formats exactly", "[checkpoint]") {
  for (const char* format : {"zip", "legacy"}) {
    SECTION(format) {
      const bagnet::StateDict sd = bagnet::load_state_dict(fixture(std::string("sd_") + format + ".pt"));
      CHECK(sd.format == format);
      CHECK_FALSE(sd.was_wrapped);
      CHECK_FALSE(sd.had_module_prefix);
      check_matches_expected(sd);
      REQUIRE(sd.find("1.num_batches_tracked") != nullptr);
      CHECK(sd.find("1.num_batches_tracked")->dim() == 0);
      CHECK(sd.find("1.num_batches_tracked")->item<std::int64_t>() == 7);
      CHECK(sd.find("nonexistent") == nullptr);
    }
  }
}

TEST_CASE("load_state_dict reads pickle protocol 4 and refuses protocol 0", "[checkpoint]") {
  for (const char* format : {"zip", "legacy"}) {
    INFO(format);
    const bagnet::StateDict sd = bagnet::load_state_dict(fixture(std::string("sd_p4_") + format + ".pt"));
    check_matches_expected(sd);
  }
  CHECK_THAT(load_error(fixture("sd_p0_zip.pt")), Contains("unsupported pickle content (data.pkl, byte "));
  CHECK_THAT(load_error(fixture("sd_p0_legacy.pt")), Contains("pickle protocol 0 or 1"));
}

TEST_CASE("load_state_dict unwraps training checkpoints", "[checkpoint]") {
  for (const char* format : {"zip", "legacy"}) {
    SECTION(std::string("state_dict with module. prefixes, ") + format) {
      const bagnet::StateDict sd = bagnet::load_state_dict(fixture(std::string("wrapped_") + format + ".pt"));
      CHECK(sd.format == format);
      CHECK(sd.was_wrapped);
      CHECK(sd.had_module_prefix);
      check_matches_expected(sd);  // the same keys, prefixes removed; 'epoch' ignored
    }
    SECTION(std::string("'model' next to an optimizer, ") + format) {
      const bagnet::StateDict sd = bagnet::load_state_dict(fixture(std::string("model_") + format + ".pt"));
      CHECK(sd.was_wrapped);
      CHECK_FALSE(sd.had_module_prefix);
      check_matches_expected(sd);
    }
  }
}

// ---- saving -----------------------------------------------------------------------------------

TEST_CASE("save_state_dict writes what torch.load reads", "[checkpoint]") {
  const bagnet::StateDict original = bagnet::load_state_dict(fixture("sd_legacy.pt"));
  const fs::path saved = scratch("saved.pt");
  bagnet::save_state_dict(saved.string(), original.tensors);
  CHECK_FALSE(fs::exists(saved.string() + ".tmp"));

  std::string output;
  const int status = run_python("check " + saved.string() + " " + fixture("sd_zip.pt"), &output);
  INFO(output);
  CHECK(status == 0);

  const bagnet::StateDict reloaded = bagnet::load_state_dict(saved.string());
  CHECK(reloaded.format == "zip");
  check_matches_expected(reloaded);
}

TEST_CASE("save_state_dict writes views as their values", "[checkpoint]") {
  const at::Tensor base = at::arange(12, at::kDouble).reshape({3, 4});
  const bagnet::TensorList views = {
      {"t", base.t()}, {"slice", base.slice(1, 1, 3)}, {"base", base}, {"i64", at::arange(5)}};
  const fs::path saved = scratch("views.pt");
  bagnet::save_state_dict(saved.string(), views);
  bagnet::save_state_dict(saved.string(), views);  // overwriting is fine
  const bagnet::StateDict back = bagnet::load_state_dict(saved.string());
  REQUIRE(back.tensors.size() == views.size());
  for (std::size_t i = 0; i < views.size(); ++i) {
    CHECK(back.tensors[i].first == views[i].first);
    CHECK(back.tensors[i].second.scalar_type() == views[i].second.scalar_type());
    CHECK(at::equal(back.tensors[i].second, views[i].second));
  }
}

TEST_CASE("save_state_dict refuses bad input without touching the file", "[checkpoint]") {
  const fs::path saved = scratch("keep.pt");
  const at::Tensor t = at::ones({2});
  const bagnet::TensorList good = {{"a", t}};
  bagnet::save_state_dict(saved.string(), good);
  const std::string before = read_file(saved);
  const bagnet::TensorList duplicate = {{"a", t}, {"a", t}};
  const bagnet::TensorList undefined = {{"a", at::Tensor()}};
  CHECK_THROWS_AS(bagnet::save_state_dict(saved.string(), duplicate), Error);
  CHECK_THROWS_AS(bagnet::save_state_dict(saved.string(), undefined), Error);
  CHECK(read_file(saved) == before);
  CHECK_FALSE(fs::exists(saved.string() + ".tmp"));
  CHECK_THROWS_AS(bagnet::save_state_dict((scratch("no_such_dir") / "x.pt").string(), good), Error);
}

// ---- bad input --------------------------------------------------------------------------------

TEST_CASE("load_state_dict refuses pickled code and never runs it", "[checkpoint][security]") {
  for (const char* format : {"zip", "legacy"}) {
    INFO(format);
    const std::string evil = fixture(std::string("evil_") + format + ".pt");
    CHECK_THAT(load_error(evil),
               Contains("refusing to load pickle global 'posix.system' (only tensors, dicts, "
                        "lists, numbers and strings are allowed)"));
    CHECK_FALSE(fs::exists(fixtures() / "pwned"));
    CHECK_THAT(load_error(fixture(std::string("module_") + format + ".pt")),
               Contains("refusing to load pickle global 'torch.nn.modules.linear.Linear'"));
  }
}

TEST_CASE("load_state_dict explains files that hold no state dict", "[checkpoint]") {
  for (const char* format : {"zip", "legacy"}) {
    INFO(format);
    CHECK_THAT(load_error(fixture(std::string("list_") + format + ".pt")),
               Contains("no state dict in this file (top-level object is a list)"));
    CHECK_THAT(load_error(fixture(std::string("no_tensors_") + format + ".pt")),
               Contains("holds no tensors; keys: 'epoch', 'arch'"));
  }
  CHECK_THAT(load_error(fixture("script.pt")), Contains("TorchScript"));
  CHECK_THAT(load_error(fixture("plain.pkl")), Contains("without torch's magic number"));
  CHECK_THAT(load_error(fixture("old.tar")),
             Contains("legacy tar checkpoint format of PyTorch < 0.4 is not supported"));
}

TEST_CASE("load_state_dict gives one-line errors for missing, empty and garbage files", "[checkpoint]") {
  CHECK_THAT(load_error(scratch("missing.pt").string()), Contains("no such file"));
  CHECK_THAT(load_error(fixtures().string()), Contains("directory"));

  const fs::path empty = scratch("empty.pt");
  write_file(empty, "");
  CHECK_THAT(load_error(empty.string()), Contains("empty file"));

  const fs::path text = scratch("text.pt");
  write_file(text, "this is not a checkpoint\n");
  CHECK_THAT(load_error(text.string()), Contains("not a torch.save checkpoint"));

  std::mt19937 random(42);
  for (const std::string start : {"", "\x80", "\x80\x02", "PK\x03\x04"}) {
    std::string bytes = start;
    while (bytes.size() < 4096) bytes.push_back(static_cast<char>(random() & 0xff));
    const fs::path garbage = scratch("garbage.pt");
    write_file(garbage, bytes);
    load_error(garbage.string());
  }
}

// Cut points or corrupted bytes to try: all of a legacy file (our own parser reads every byte
// of it), a sample of a zip (miniz reads those, and its CRCs guard the records).
std::vector<std::size_t> positions(const std::string& format, std::size_t size) {
  std::vector<std::size_t> list;
  const std::size_t step = format == "legacy" ? 1 : 13;
  for (std::size_t at = 0; at < size; at += step) list.push_back(at);
  for (std::size_t at = size > 64 ? size - 64 : 0; at < size; ++at) list.push_back(at);
  return list;
}

TEST_CASE("load_state_dict fails cleanly on truncated files", "[checkpoint]") {
  for (const char* format : {"zip", "legacy"}) {
    INFO(format);
    const std::string whole = read_file(fixture(std::string("sd_") + format + ".pt"));
    const fs::path cut = scratch(std::string("cut_") + format + ".pt");
    // Each must be an error (a zip loses its central directory, a legacy file at least its
    // last storage), never a crash or a partial result.
    for (const std::size_t size : positions(format, whole.size())) {
      if (size < 2) continue;  // 0 bytes is the empty file; "P" is no zip yet
      write_file(cut, whole.substr(0, size));
      INFO("cut at " << size << " of " << whole.size());
      const std::string message = load_error(cut.string());
      CHECK_THAT(message, Contains(std::string(format) == "zip" ? "not a valid torch.save zip archive"
                                                                : "truncated file"));
    }
  }
}

TEST_CASE("load_state_dict survives corrupted bytes anywhere", "[checkpoint]") {
  for (const char* format : {"zip", "legacy"}) {
    INFO(format);
    const std::string whole = read_file(fixture(std::string("sd_") + format + ".pt"));
    const fs::path corrupt = scratch(std::string("corrupt_") + format + ".pt");
    int loaded = 0;
    int tried = 0;
    for (const std::size_t at : positions(format, whole.size())) {
      for (const unsigned char flip : {0x01, 0xff}) {
        std::string bytes = whole;
        bytes[at] = static_cast<char>(bytes[at] ^ flip);
        write_file(corrupt, bytes);
        ++tried;
        // Either an error of ours or, where the byte was a value or an ignored field, a
        // state dict; anything else (a crash, another exception) fails the test.
        try {
          bagnet::load_state_dict(corrupt.string());
          ++loaded;
        } catch (const Error& e) {
          if (std::string(e.what()).find('\n') != std::string::npos) {
            FAIL("multi-line error at byte " << at << ": " << e.what());
          }
        }
      }
    }
    INFO(loaded << " of " << tried << " corrupted variants still loaded");
    CHECK(loaded < tried);
  }
}

// ---- the pickle reader ------------------------------------------------------------------------

TEST_CASE("pickle reader: writer round trip of ints, strings and containers", "[pickle]") {
  const std::vector<std::int64_t> ints = {
      0,    1,          255,           256,          65535,     65536,     -1,
      -256, 2147483647, -2147483648LL, 2147483648LL, INT64_MAX, INT64_MIN, -(1LL << 40)};
  bagnet::PickleWriter writer;
  writer.mark();
  for (const std::int64_t v : ints) writer.integer(v);
  writer.string("caf\xc3\xa9");
  writer.boolean(true);
  writer.none();
  writer.tuple_from_mark();
  writer.stop();
  const bagnet::Pickle pickle = read_pickle_bytes(writer.bytes());
  const PickleValue& tuple = pickle.root();
  REQUIRE(tuple.kind == PickleValue::Kind::kTuple);
  REQUIRE(tuple.items.size() == ints.size() + 3);
  for (std::size_t i = 0; i < ints.size(); ++i) {
    CHECK(tuple.items[i]->kind == PickleValue::Kind::kInt);
    CHECK(tuple.items[i]->integer == ints[i]);
  }
  CHECK(tuple.items[ints.size()]->text == "caf\xc3\xa9");
  CHECK(tuple.items[ints.size() + 1]->boolean);
  CHECK(tuple.items[ints.size() + 2]->kind == PickleValue::Kind::kNone);
}

TEST_CASE("pickle reader: hostile inputs are errors, not crashes", "[pickle][security]") {
  // Lengths far beyond the input must not be allocated.
  CHECK_THAT(pickle_error(std::string("\x80\x02X\xff\xff\xff\xff"
                                      "abc",
                                      10)),
             Contains("truncated"));
  CHECK_THAT(pickle_error(std::string("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f", 11)),
             Contains("truncated"));
  CHECK_THAT(pickle_error(std::string("\x80\x02\x8b\xff\xff\xff\x7f", 7)),
             Contains("integer of 2147483647 bytes"));
  CHECK_THAT(pickle_error("\x80\x02]q\x01"), Contains("truncated"));  // no STOP
  CHECK_THAT(pickle_error("\x80\x02h\x05."), Contains("memo key 5"));
  CHECK_THAT(pickle_error("\x80\x02"
                          "a."),
             Contains("stack underflow"));
  CHECK_THAT(pickle_error("\x80\x02\xf0."), Contains("unknown opcode"));
  CHECK_THAT(pickle_error("\x80\x02(K\x01u."), Contains("odd number"));
  CHECK_THAT(pickle_error("\x80\x02K\x01(\x85."), Contains("stack underflow"));  // MARK is a floor
  // A name smuggling a newline stays on one line.
  CHECK_THAT(pickle_error("\x80\x04\x8c\x02os\x8c\x07sys\ntem\x93."),
             Contains("refusing to load pickle global 'os.sys\\x0atem'"));
  CHECK_THAT(pickle_error("\x80\x02"
                          "cbuiltins\neval\n."),
             Contains("refusing to load pickle global 'builtins.eval'"));
  // An allowed global is still not callable with anything.
  CHECK_THAT(pickle_error("\x80\x02"
                          "ctorch\nFloatStorage\n)R."),
             Contains("refusing to call pickle global 'torch.FloatStorage'"));

  // A huge memo index is a map entry, not a 4G-slot table.
  CHECK(read_pickle_bytes(std::string("\x80\x02Nr\xff\xff\xff\xff.", 9)).root().kind ==
        PickleValue::Kind::kNone);

  // A list that contains itself (through the memo) and a million-deep nest: both free without
  // leaking or recursing.
  {
    const bagnet::Pickle cycle =
        read_pickle_bytes(std::string("\x80\x02]q\x00h\x00"
                                      "a.",
                                      9));
    REQUIRE(cycle.root().items.size() == 1);
    CHECK(cycle.root().items[0].get() == &cycle.root());
  }
  {
    const std::size_t depth = 1000000;
    const std::string deep =
        std::string("\x80\x02") + std::string(depth, ']') + std::string(depth - 1, 'a') + ".";
    const bagnet::Pickle nest = read_pickle_bytes(deep);
    CHECK(nest.root().items.size() == 1);
  }
  // Too many objects.
  {
    std::string many = "\x80\x02(";
    for (int i = 0; i < (1 << 20) + 10; ++i) many += "K\x07";
    many += "l.";
    CHECK_THAT(pickle_error(many), Contains("objects"));
  }
}
