// Hostile and malformed files, as fuzzing (tests/fuzz) and an independent fuzzing run found
// them: each input, written here as bytes, must give bagnet::Error naming the file, never a
// crash, another exception, a huge allocation or a hang. The inputs libFuzzer found are kept in
// tests/fuzz/crashes/<target>/ and replayed by the last test through the harnesses' own code.
// Torch (and its glog CHECK macro) before Catch, whose CHECK must win.
// clang-format off
#include "lib/checkpoint.h"
#include "training/training.h"
// clang-format on

#include <zlib.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <limits>
#include <opencv2/imgcodecs.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "datasets/eval_dataset.h"
#include "datasets/idx.h"
#include "evaluation/categories.h"
#include "evaluation/evaluate.h"
#include "evaluation/results_file.h"
#include "evaluation/shape_bias.h"
#include "evaluation/trials_csv.h"
#include "lib/error.h"
#include "lib/image.h"
#include "lib/json_read.h"
#include "lib/npy.h"
#include "lib/pickle.h"
#include "networks/labels.h"
#include "networks/registry.h"
#include "tests/fuzz/targets.h"
#include "tests/tool_helpers.h"

namespace fs = std::filesystem;
using bagnet::Error;
using bagnet::test::read_file;
using bagnet::test::run_tool;
using bagnet::test::scratch_dir;
using bagnet::test::write_bytes;
using Catch::Contains;

namespace {

// The reason of the bagnet::Error `f` throws, checked to name `path`; FAIL if it throws nothing.
template <typename F>
std::string error_of(F&& f, const std::string& path) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_THAT(e.path(), Contains(path));
    CHECK(std::string(e.what()).find('\n') == std::string::npos);
    return e.reason();
  }
  FAIL("no bagnet::Error");
  return "";
}

// A string literal with its NUL bytes.
template <std::size_t N>
std::string bin(const char (&s)[N]) {
  return std::string(s, N - 1);
}

std::string le(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

struct ZipFile {
  std::string name, data;
  std::uint16_t method = 0;        // 0 stored; others only to test the directory checks
  std::uint64_t uncompressed = 0;  // 0: data.size()
};

// A zip archive written byte by byte (stored entries, as torch.save writes them), so that tests
// can make archives torch.save never would.
std::string make_zip(const std::vector<ZipFile>& files) {
  std::string out, directory;
  for (const ZipFile& f : files) {
    const auto crc = static_cast<std::uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(f.data.data()), static_cast<uInt>(f.data.size())));
    const std::uint64_t uncompressed = f.uncompressed ? f.uncompressed : f.data.size();
    const std::string sizes = le(crc, 4) + le(f.data.size(), 4) + le(uncompressed, 4);
    const std::size_t offset = out.size();
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(f.method, 2) + le(0, 4) + sizes +
           le(f.name.size(), 2) + le(0, 2) + f.name + f.data;
    directory += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(f.method, 2) + le(0, 4) + sizes +
                 le(f.name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) +
                 f.name;
  }
  const std::size_t cd_offset = out.size();
  out += directory;
  out += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(files.size(), 2) + le(files.size(), 2) +
         le(directory.size(), 4) + le(cd_offset, 4) + le(0, 2);
  return out;
}

// One tensor of a state dict pickle: _rebuild_tensor_v2 on storage `key` of `numel` floats.
struct TensorSpec {
  std::string name, key;
  std::int64_t numel, offset;
  std::vector<std::int64_t> sizes, strides;
};

std::string state_dict_pickle(const std::vector<TensorSpec>& tensors) {
  bagnet::PickleWriter w;
  w.global("collections", "OrderedDict");
  w.tuple(0);
  w.reduce();
  w.mark();
  for (const TensorSpec& t : tensors) {
    w.string(t.name);
    w.global("torch._utils", "_rebuild_tensor_v2");
    w.mark();
    w.mark();
    w.string("storage");
    w.global("torch", "FloatStorage");
    w.string(t.key);
    w.string("cpu");
    w.integer(t.numel);
    w.tuple_from_mark();
    w.persistent_id();
    w.integer(t.offset);
    for (const auto* dims : {&t.sizes, &t.strides}) {
      w.mark();
      for (const std::int64_t d : *dims) w.integer(d);
      w.tuple_from_mark();
    }
    w.boolean(false);
    w.global("collections", "OrderedDict");
    w.tuple(0);
    w.reduce();
    w.tuple_from_mark();
    w.reduce();
  }
  w.setitems();
  w.stop();
  return w.bytes();
}

std::string floats(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const float v = static_cast<float>(i);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  return out;
}

std::string checkpoint_zip(const std::string& pickle, const std::string& storage, bool with_version = true) {
  std::vector<ZipFile> files = {{"archive/data.pkl", pickle}, {"archive/data/0", storage}};
  if (with_version) files.push_back({"archive/version", "3\n"});
  return make_zip(files);
}

std::string npy(const std::string& header_dict, const std::string& data = "") {
  std::string header = header_dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + data;
}

std::string results_header(const std::string& shard, const std::string& extra_run = "") {
  return R"({"format": "bagnet-eval results", "run": {"model": "m", "dataset": {"name": "d", "kind": "list",)"
         R"( "categorical": false, "images": 4})" +
         extra_run + R"(, "topk": 5}, "shard": )" + shard +
         R"(, "model": {"name": "m"}, "provenance": {"device": "cpu", "threads": 1}})";
}

std::string record(int position) {
  return R"({"position": )" + std::to_string(position) + R"(, "key": "k)" + std::to_string(position) +
         R"(", "label": "l", "target": 1, "top": [{"index": 1, "probability": 0.5}], "correct": true})";
}

}  // namespace

TEST_CASE("results files: every header field is checked, with the file and line", "[hardening][results]") {
  const std::string ok_shard = R"({"index": 0, "count": 1, "images": 1})";
  // Parses when well-formed.
  const auto f =
      bagnet::evaluation::parse_results(results_header(ok_shard) + "\n" + record(0) + "\n", "r.jsonl");
  CHECK(f.records.size() == 1);
  CHECK(f.records[0].top == std::vector<int>{1});

  auto reason = [](const std::string& text) {
    return error_of([&] { bagnet::evaluation::parse_results(text, "r.jsonl"); }, "r.jsonl:");
  };
  // The shard index out of range of the count (merge indexed a vector with it).
  CHECK_THAT(reason(results_header(R"({"index": 5, "count": 2, "images": 1})") + "\n"),
             Contains("shard.index"));
  // A count that would size a 4 TB vector.
  CHECK_THAT(reason(results_header(R"({"index": 0, "count": 4398046511104, "images": 1})") + "\n"),
             Contains("shard.count"));
  // Numbers beyond every integer type (get<size_t>() of 1e300 is undefined behaviour).
  CHECK_THAT(reason(results_header(R"({"index": 1e300, "count": 2, "images": 1})") + "\n"),
             Contains("shard.index"));
  CHECK_THAT(
      reason(results_header(ok_shard) + "\n" + R"({"position": 1e300, "key": "k", "label": "l"})" + "\n{}\n"),
      Contains("position"));
  CHECK_THAT(
      reason(
          results_header(ok_shard) + "\n" +
          R"({"position": 0, "key": "k", "label": "l", "top": [{"index": -1e300, "probability": 1}], "correct": true})" +
          "\n"),
      Contains("top[0].index"));
  CHECK_THAT(
      reason(
          results_header(ok_shard) + "\n" +
          R"({"position": 0, "key": "k", "label": "l", "top": [{"index": 1, "probability": 1e300}], "correct": true})" +
          "\n"),
      Contains("probability"));
  // Positions beyond the run's images, missing fields and wrong types name the field, not
  // "key 'run' not found" or a bare JSON type error.
  CHECK_THAT(reason(results_header(ok_shard) + "\n" + record(4) + "\n"),
             Contains("outside the run's 4 images"));
  CHECK_THAT(reason(R"({"format": "bagnet-eval results"})"
                    "\n"),
             Contains("missing field 'run'"));
  CHECK_THAT(reason(results_header(ok_shard, R"(, "categories": [1, 2])") + "\n"),
             Contains("run.categories[0]"));
  CHECK_THAT(reason(results_header(ok_shard) + "\n" + R"({"position": 0, "key": 7, "label": "l"})" + "\n"),
             Contains("'key' is a number"));
  CHECK_THAT(reason(std::string(100000, '[') + "\n" + record(0) + "\n"), Contains("not a JSON line"));
}

TEST_CASE("bagnet-merge: bad shard headers are errors naming the file, not crashes", "[hardening][results]") {
  const fs::path d = scratch_dir("merge_hardening");
  auto shard = [&](const std::string& name, const std::string& header, const std::string& records) {
    fs::create_directories(d / name);
    write_bytes(d / name / "results.jsonl", header + "\n" + records);
    return (d / name).string();
  };
  // Index 5 of 2: read out of bounds before.
  const std::string a = shard("a", results_header(R"({"index": 5, "count": 2, "images": 0})"), "");
  const std::string b = shard("b", results_header(R"({"index": 1, "count": 2, "images": 0})"), "");
  CHECK_THAT(error_of(
                 [&] {
                   bagnet::evaluation::merge_runs({a, b}, (d / "out").string());
                 },
                 "results.jsonl:1"),
             Contains("shard.index"));
  // A large count is not allocated: the missing shards are named, a few of them.
  const std::string c = shard("c", results_header(R"({"index": 0, "count": 1000000, "images": 0})"), "");
  const std::string e = shard("e", results_header(R"({"index": 1, "count": 1000000, "images": 0})"), "");
  CHECK_THAT(error_of(
                 [&] {
                   bagnet::evaluation::merge_runs({c, e}, (d / "out").string());
                 },
                 "bagnet-merge"),
             Contains("missing shard(s) 2/1000000, 3/1000000") && Contains("and 999988 more"));
  // The tool: one line naming the file, exit code 1, no "internal error".
  const std::string no_run = shard("f", R"({"format": "bagnet-eval results", "shard": {}})", "");
  const auto r = run_tool("bagnet-merge " + no_run + " " + b + " -o " + (d / "out").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Contains(no_run + "/results.jsonl:1: missing field 'run'"));
  CHECK_THAT(r.err, !Contains("internal error"));
  fs::remove_all(d);
}

TEST_CASE("JSON numbers from files are range-checked", "[hardening][json]") {
  using bagnet::json_integer;
  CHECK(json_integer<int>(nlohmann::json(7), "f", "x") == 7);
  CHECK(json_integer<int>(nlohmann::json(7.0), "f", "x") == 7);
  CHECK(json_integer<std::size_t>(nlohmann::json(18446744073709551615ull), "f", "x") ==
        std::numeric_limits<std::size_t>::max());
  CHECK_THROWS_AS(json_integer<int>(nlohmann::json(2147483648LL), "f", "x"), Error);
  CHECK_THROWS_AS(json_integer<int>(nlohmann::json(1e300), "f", "x"), Error);
  CHECK_THROWS_AS(json_integer<int>(nlohmann::json(0.5), "f", "x"), Error);
  CHECK_THROWS_AS(json_integer<std::size_t>(nlohmann::json(-1), "f", "x"), Error);
  CHECK_THROWS_AS(json_integer<int>(nlohmann::json("7"), "f", "x"), Error);
  CHECK_THAT(
      error_of([] { json_integer<int>(nlohmann::json(1e300), "file.json", "a.b", 0, 10); }, "file.json"),
      Contains("'a.b'") && Contains("[0, 10]"));

  // Mappings (--mapping).
  auto mapping = [](const std::string& text) {
    return error_of([&] { bagnet::evaluation::parse_category_mapping(text, "m.json"); }, "m.json");
  };
  CHECK_THAT(mapping(R"({"num_classes": 1e300, "categories": [{"category": "a", "indices": [0]}]})"),
             Contains("num_classes"));
  CHECK_THAT(mapping(R"({"num_classes": 10, "categories": [{"category": "a", "indices": [1e300]}]})"),
             Contains("indices[0]"));
  CHECK_THAT(mapping(R"({"num_classes": 10, "categories": [{"category": "a", "indices": [4294967296]}]})"),
             Contains("outside [0, 10)"));
  CHECK_THAT(mapping(R"({"num_classes": 10, "categories": [{"category": 3, "indices": [1]}]})"),
             Contains("categories[0].category"));
  // The registry.
  auto registry = [](const std::string& text) {
    return error_of(
        [&] { bagnet::parse_model_registry(bagnet::parse_json(text, "models.json"), "models.json"); },
        "models.json");
  };
  const std::string pre =
      R"("preprocessing": {"p": {"resize": 256, "crop": 224, "mean": [0.5], "std": [0.5]}})";
  CHECK(
      bagnet::parse_model_registry(
          nlohmann::json::parse(
              "{" + pre + R"(, "models": [{"name": "m", "architecture": "bagnet", "preprocessing": "p"}]})"),
          "models.json")
          .size() == 1);
  CHECK_THAT(
      registry(
          "{" + pre +
          R"(, "models": [{"name": "m", "architecture": "bagnet", "preprocessing": "p", "num_classes": 1e300}]})"),
      Contains("models[0].num_classes"));
  CHECK_THAT(
      registry(
          R"({"preprocessing": {"p": {"resize": 4294967296, "mean": [0], "std": [1]}}, "models": [{"name": "m", "architecture": "a", "preprocessing": "p"}]})"),
      Contains("resize"));
  CHECK_THAT(registry(R"({"preprocessing": {}, "models": [{"name": 5}]})"), Contains("models[0].name"));
}

TEST_CASE("long names do not overflow the stack (no backtracking regex)", "[hardening][names]") {
  using bagnet::evaluation::stimulus_name;
  CHECK(stimulus_name("0001_s5n_s01_0_bird_00_bird3-bird2.png") == "bird3-bird2.png");
  CHECK(stimulus_name("0001_s5n_s01_0_bird_00_") == "0001_s5n_s01_0_bird_00_");
  CHECK(stimulus_name("bird3-bird2.png") == "bird3-bird2.png");
  const std::string long_name = "1_" + std::string(1000000, 'a') + "_b";
  CHECK(stimulus_name(long_name) == long_name);
  const std::string long_human = "1_a_b_2_" + std::string(1000000, 'c') + "_3_x.png";
  CHECK(stimulus_name(long_human) == "x.png");

  std::string shape, texture;
  CHECK(bagnet::split_cue_conflict_name("airplane1-bicycle22.png", &shape, &texture));
  CHECK((shape == "airplane" && texture == "bicycle"));
  for (const char* bad :
       {"airplane-bicycle2.png", "airplane1-bicycle2.jpg", "1-b2.png", "a1b2.png", "a1-b2.png.x"})
    CHECK_FALSE(bagnet::split_cue_conflict_name(bad, &shape, &texture));
  CHECK(bagnet::split_cue_conflict_name(std::string(500000, 'a') + "1-" + std::string(500000, 'b') + "2.png",
                                        &shape, &texture));
  CHECK(texture.size() == 500000);

  const std::vector<std::string> categories = {"airplane", "cat"};
  const std::string stray(1000000, 'x');
  CHECK_THAT(
      error_of([&] { bagnet::evaluation::parse_cue_conflict_name(stray, categories, "t.csv:2"); }, "t.csv:2"),
      Contains("does not parse"));

  // The same through the CSV reader and the shape-bias analysis (also reached by bagnet-compare).
  const fs::path d = scratch_dir("long_names");
  write_bytes(d / "t.csv",
              "subj,session,trial,rt,object_response,category,condition,imagename\n"
              "s,1,1,NaN,cat,airplane,NaN,airplane" +
                  std::string(300000, '1') + "-cat2.png\ns,1,2,NaN,cat,airplane,NaN," + stray + "\n");
  const auto rows = bagnet::evaluation::read_trials_csv((d / "t.csv").string());
  REQUIRE(rows.size() == 2);
  CHECK_THAT(error_of([&] { bagnet::evaluation::cue_conflict_trials(rows, categories); }, "t.csv:3"),
             Contains("does not parse"));
  fs::remove_all(d);

  // A .npy header's descr of any length.
  CHECK_THAT(error_of(
                 [] {
                   bagnet::parse_npy(npy("{'descr': '<" + std::string(60000, 'f') +
                                         "', 'fortran_order': False, 'shape': (1,), }"),
                                     "x.npy");
                 },
                 "x.npy"),
             Contains("not float32"));
}

TEST_CASE(".npy reader: numbers checked before use", "[hardening][npy]") {
  auto reason = [](const std::string& bytes) {
    return error_of([&] { bagnet::parse_npy(bytes, "m.npy"); }, "m.npy");
  };
  const std::string head = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  CHECK_THAT(reason(npy(head + "(99999999999999999999,), }")), Contains("too large"));  // escaped std::stoll
  CHECK_THAT(reason(npy(head + "(4294967296, 4294967296), }")),
             Contains("does not match"));  // product wraps to 0
  CHECK_THAT(reason(npy(head + "(4611686018427387904,), }")),
             Contains("does not match"));  // count * 4 wraps to 0
  CHECK_THAT(reason(npy(head + "(2, 3), }", floats(5))), Contains("does not match"));
  CHECK_THAT(reason(npy(head + "(2, x), }")), Contains("malformed"));
  CHECK_THAT(reason(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", floats(1))),
             Contains("Fortran"));
  CHECK_THAT(reason(std::string("\x93NUMPY\x01\x00\xff\xff", 10)), Contains("truncated"));
  // np.save(np.zeros((0, 3), np.float32)): valid and empty (memcpy to a null pointer before).
  const auto empty = bagnet::parse_npy(npy(head + "(0, 3), }"), "e.npy");
  CHECK(empty.shape == std::vector<std::int64_t>{0, 3});
  CHECK(empty.data.empty());
  CHECK_THAT(reason(npy(head + "(0, 3), }", floats(1))), Contains("does not match"));
  // What numpy writes, round trip.
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  const auto a = bagnet::parse_npy(bagnet::npy_bytes(values.data(), {2, 3}), "a.npy");
  CHECK(a.shape == std::vector<std::int64_t>{2, 3});
  CHECK(a.data == values);
}

TEST_CASE("class indices of any length are errors, not std::out_of_range", "[hardening][labels]") {
  bagnet::Labels labels;
  labels.names = {"a", "b", "c"};
  CHECK(labels.resolve("2") == 2);
  CHECK(labels.resolve("0002") == 2);
  CHECK_THAT(error_of([&] { labels.resolve("99999999999999999999999"); }, "99999"),
             Contains("class index out of range"));
  CHECK_THAT(error_of([&] { labels.resolve(std::string(100000, '7')); }, "777"), Contains("out of range"));
  // The tool with such a --class: its one-line error and exit code, no abort.
  const auto r =
      run_tool("bagnet-patches --model bagnet11_fashion_mnist --class 99999999999999999999999 -o " +
               (fs::temp_directory_path() / "bagnet_patches_none").string() + " " + BAGNET_SOURCE_DIR +
               "/examples/fashion-mnist");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Contains("class index out of range"));
}

TEST_CASE("idx reader: dimensions and gzip bombs", "[hardening][idx]") {
  const fs::path d = scratch_dir("idx_hardening");
  auto header = [](std::vector<std::uint32_t> dims) {
    std::string out = std::string("\0\0\x08", 3) + static_cast<char>(dims.size());
    for (const std::uint32_t v : dims)
      for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
    return out;
  };
  // 2^31 x 0 x 5: no data needed, but 2^31 was cast to a negative int.
  write_bytes(d / "big.idx", header({0x80000000u, 0, 5}));
  CHECK_THAT(error_of([&] { bagnet::read_idx((d / "big.idx").string()); }, "big.idx"),
             Contains("implausible"));
  write_bytes(d / "wide.idx", header({0, 0xffffffffu, 0xffffffffu}));
  CHECK_THAT(error_of([&] { bagnet::read_idx((d / "wide.idx").string()); }, "wide.idx"),
             Contains("implausible"));
  // Zero images of 0x0 pixels is an empty dataset; images of 0 pixels are not.
  write_bytes(d / "t10k-images-idx3-ubyte", header({2, 0, 28}));
  write_bytes(d / "t10k-labels-idx1-ubyte", header({2}) + std::string(2, '\0'));
  CHECK_THAT(error_of([&] { bagnet::read_mnist_dir(d.string(), "test"); }, "t10k-images"),
             Contains("pixels"));
  // A 64 MB inflation bomb (64 KB gzipped) after a header promising 10 bytes: stopped early.
  {
    gzFile f = gzopen((d / "bomb.idx.gz").c_str(), "wb9");
    REQUIRE(f != nullptr);
    const std::string h = header({10});
    gzwrite(f, h.data(), static_cast<unsigned>(h.size()));
    const std::string zeros(1 << 20, '\0');
    for (int i = 0; i < 64; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
    gzclose(f);
  }
  CHECK(fs::file_size(d / "bomb.idx.gz") < (1 << 20));
  CHECK_THAT(error_of([&] { bagnet::read_idx((d / "bomb.idx.gz").string()); }, "bomb.idx.gz"),
             Contains("trailing"));
  // An empty idx pair: training and evaluation need at least one label (max of none before).
  write_bytes(d / "t10k-images-idx3-ubyte", header({0, 28, 28}));
  write_bytes(d / "t10k-labels-idx1-ubyte", header({0}));
  CHECK(bagnet::read_mnist_dir(d.string(), "test").count == 0);
  CHECK_THAT(error_of([&] { bagnet::evaluate_idx("bagnet11_fashion_mnist", "", d.string(), 0, "cpu", 8); },
                      d.string()),
             Contains("no images"));
  fs::remove_all(d);
}

TEST_CASE("images: the pixel limit holds before decoding and resizing", "[hardening][image]") {
  auto bytes = [](std::initializer_list<int> v) {
    std::vector<std::uint8_t> out;
    for (const int b : v) out.push_back(static_cast<std::uint8_t>(b));
    return out;
  };
  auto sof = [](int height, int width) {
    return std::vector<std::uint8_t>{0xFF,
                                     0xC0,
                                     0x00,
                                     0x11,
                                     0x08,
                                     static_cast<std::uint8_t>(height >> 8),
                                     static_cast<std::uint8_t>(height & 0xff),
                                     static_cast<std::uint8_t>(width >> 8),
                                     static_cast<std::uint8_t>(width & 0xff),
                                     0x03,
                                     1,
                                     0x11,
                                     0,
                                     2,
                                     0x11,
                                     0,
                                     3,
                                     0x11,
                                     0};
  };
  // TEM and RST0 have no length field, stray bytes and fill bytes come before the frame header:
  // libjpeg skips them and decodes the 2048x2048 frame; the size check must see it too.
  std::vector<std::uint8_t> jpeg = bytes({0xFF, 0xD8, 0xFF, 0x01, 0xFF, 0xD0, 0x12, 0x34, 0xFF, 0x00, 0xFF});
  const auto frame = sof(2048, 2048);
  jpeg.insert(jpeg.end(), frame.begin(), frame.end());
  CHECK(error_of([&] { bagnet::decode_image(jpeg, "tem.jpg", 1000000); }, "tem.jpg") ==
        "image is 2048x2048 pixels, above the limit of 1000000 (use --max-pixels to raise it)");
  // No frame header before the scan: refused before decoding, not decoded unchecked.
  const auto no_sof = bytes({0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9});
  CHECK_THAT(error_of([&] { bagnet::decode_image(no_sof, "nosof.jpg", 1000000); }, "nosof.jpg"),
             Contains("no image size"));
  // PNM sizes with leading zeros.
  const std::string pnm = "P6\n000000000000000000100000 000000000000000000100000\n255\n";
  CHECK_THAT(error_of(
                 [&] {
                   bagnet::decode_image({pnm.begin(), pnm.end()}, "zeros.ppm", 1000000);
                 },
                 "zeros.ppm"),
             Contains("image is 100000x100000 pixels"));
  // Formats whose size is not read here are not decoded (OpenCV's own limit is 2^30 pixels).
  const std::string ras_like = "\x59\xA6\x6A\x95";
  CHECK_THAT(error_of(
                 [&] {
                   bagnet::decode_image({ras_like.begin(), ras_like.end()}, "x.ras", 1000000);
                 },
                 "x.ras"),
             Contains("no image size"));
  const std::string exr = "\x76\x2F\x31\x01 rest";
  CHECK_THAT(error_of(
                 [&] {
                   bagnet::decode_image({exr.begin(), exr.end()}, "x.exr", 1000000);
                 },
                 "x.exr"),
             Contains("unsupported sample type"));
  // A 20000x1 strip is within the limit, but resizing it for an ImageNet model would make
  // 5,120,000x256 pixels: refused before any work.
  std::vector<std::uint8_t> png;
  REQUIRE(cv::imencode(".png", cv::Mat(1, 20000, CV_8UC3, cv::Scalar::all(90)), png));
  const bagnet::Image strip = bagnet::decode_image(png, "strip.png");
  CHECK(strip.width == 20000);
  bagnet::Preprocessing p;
  int h = 0, w = 0;
  try {
    bagnet::preprocess(strip, p, &h, &w);
    FAIL("resized");
  } catch (const Error& e) {
    CHECK_THAT(e.reason(), Contains("gives 5120000x256 pixels, above the limit"));
  }
  // Without resizing the same strip goes through (then the crop refuses it as too small).
  p.resize = 0;
  CHECK_THROWS_WITH(bagnet::preprocess(strip, p, &h, &w), Contains("smaller than the 224x224 centre crop"));
}

TEST_CASE("checkpoints: memory is bounded by the file, not by what it claims", "[hardening][checkpoint]") {
  const fs::path d = scratch_dir("checkpoint_hardening");
  auto load = [&](const std::string& name, const std::string& bytes) {
    write_bytes(d / name, bytes);
    return bagnet::load_state_dict((d / name).string());
  };
  auto reason = [&](const std::string& name, const std::string& bytes) {
    return error_of([&] { load(name, bytes); }, name);
  };
  // Five zero-stride tensors of 2^28 - 1 floats on one stored float: 5 GB of copies from 1.7 KB.
  std::vector<TensorSpec> expanded;
  for (int i = 0; i < 5; ++i) expanded.push_back({"t" + std::to_string(i), "0", 1, 0, {(1 << 28) - 1}, {0}});
  CHECK_THAT(reason("expanded.pt", checkpoint_zip(state_dict_pickle(expanded), floats(1))),
             Contains("copies"));
  // A small expanded tensor still loads, as its values.
  const auto small =
      load("small.pt", checkpoint_zip(state_dict_pickle({{"e", "0", 2, 1, {4}, {0}}}), floats(2)));
  REQUIRE(small.tensors.size() == 1);
  CHECK(small.tensors[0].second.is_contiguous());
  CHECK(small.tensors[0].second.sum().item<float>() == 4.0f);
  // Tensors sharing one storage are views of it (one copy in memory, not one per tensor), and a
  // transposed one is copied out, contiguous.
  const auto shared = load("shared.pt", checkpoint_zip(state_dict_pickle({{"a", "0", 8, 0, {4}, {1}},
                                                                          {"b", "0", 8, 4, {4}, {1}},
                                                                          {"t", "0", 8, 0, {2, 2}, {1, 2}}}),
                                                       floats(8)));
  REQUIRE(shared.tensors.size() == 3);
  const at::Tensor& a = shared.tensors[0].second;
  const at::Tensor& b = shared.tensors[1].second;
  const at::Tensor& t = shared.tensors[2].second;
  CHECK(a.storage().is_alias_of(b.storage()));
  CHECK(static_cast<const float*>(b.data_ptr()) == static_cast<const float*>(a.data_ptr()) + 4);
  CHECK(b[0].item<float>() == 4.0f);
  CHECK(t.is_contiguous());
  CHECK(t[0][1].item<float>() == 2.0f);
  // A record claiming far more bytes than its compressed data can hold is refused before
  // anything is allocated.
  CHECK_THAT(
      reason("claims.pt", make_zip({{"archive/data.pkl", "x", 8, 0xFFFFFFF0u}, {"archive/version", "3\n"}})),
      Contains("claims 4294967280 bytes"));
  // A zip without a version record: one clean line, without PyTorch's plea for bug reports.
  const std::string no_version =
      reason("noversion.pt", checkpoint_zip(state_dict_pickle({}), floats(1), false));
  CHECK_THAT(no_version, Contains("not a valid torch.save zip archive"));
  CHECK_THAT(no_version, !Contains("Could this error message be improved"));
  fs::remove_all(d);
}

TEST_CASE("pickle: copying work is bounded by the input size", "[hardening][pickle]") {
  // torch.Size(memoised 10000-tuple) repeated 8000 times in 68 KB: 80 million copied references
  // (3.4 GB and half a minute for a 64 KB file before).
  std::string p =
      bin("\x80\x02"
          "ctorch\nSize\nq\x00(");
  for (int i = 0; i < 10000; ++i) p += bin("K\x01");
  p += bin("tq\x01");
  for (int i = 0; i < 8000; ++i) p += bin("h\x00h\x01\x85R0");
  p += bin("N.");
  std::istringstream in(p);
  CHECK_THAT(error_of([&] { bagnet::read_pickle(in, p.size(), "size.pkl", "the pickle"); }, "size.pkl"),
             Contains("more copying than a pickle of"));
  // The same call a few times is fine.
  std::string few =
      bin("\x80\x02"
          "ctorch\nSize\nq\x00(K\x01K\x02tq\x01");
  for (int i = 0; i < 3; ++i) few += bin("h\x00h\x01\x85R0");
  few += bin("h\x00h\x01\x85R.");
  std::istringstream in2(few);
  const bagnet::Pickle ok = bagnet::read_pickle(in2, few.size(), "few.pkl", "the pickle");
  CHECK(ok.root().items.size() == 2);
}

TEST_CASE("inputs found by fuzzing are errors, not crashes", "[hardening][fuzz]") {
  const fs::path root = fs::path(TEST_SOURCE_DIR) / "fuzz" / "crashes";
  REQUIRE(fs::is_directory(root));
  int replayed = 0;
  for (const auto& target_dir : fs::directory_iterator(root)) {
    if (!target_dir.is_directory()) continue;
    const std::string target = target_dir.path().filename().string();
    for (const auto& input : fs::directory_iterator(target_dir.path())) {
      if (input.path().filename().string()[0] == '.') continue;
      INFO(input.path().string());
      const std::string bytes = read_file(input.path());
      const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
      try {
        if (target == "checkpoint")
          bagnet::fuzz::run_checkpoint_target(data, bytes.size());
        else
          bagnet::fuzz::run_parser_target(target, data, bytes.size());
      } catch (const Error&) {
      }
      ++replayed;
    }
  }
  CHECK(replayed > 0);
}
