// Evaluation: 16-class decisions, accuracies, error consistency and shape bias on hand-made
// inputs; datasets (WordNet-id subsets, category folders, cue-conflict, lists, idx); and the
// tools on real stimuli: shards vs whole, merge, kill + resume, the model-vs-human CSV.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "datasets/eval_dataset.h"
#include "evaluation/categories.h"
#include "evaluation/compare.h"
#include "evaluation/evaluate.h"
#include "evaluation/metrics.h"
#include "evaluation/shape_bias.h"
#include "evaluation/trials_csv.h"
#include "lib/error.h"
#include "networks/labels.h"
#include "networks/registry.h"
#include "tool_helpers.h"

namespace fs = std::filesystem;
using namespace bagnet;
using namespace bagnet::evaluation;
using bagnet::test::read_file;
using bagnet::test::run_tool;
using bagnet::test::scratch_dir;
using bagnet::test::write_bytes;

namespace {

const std::string kShared = SHARED_DATA_DIR;

// Real data from ../shared/data; the test fails loudly (never passes silently) without it.
std::string shared(const std::string& rel) {
  const std::string p = kShared + "/" + rel;
  if (!fs::exists(p)) FAIL(p << " is missing: these tests need ../shared/data (see its README)");
  return p;
}

std::string fixture(const std::string& name) {
  const std::string path = std::string(FIXTURE_DIR) + "/" + name;
  if (!fs::exists(path)) FAIL("fixture " << path << " is missing (make_fixtures runs first under ctest)");
  return path;
}

std::vector<float> one_hot_mixture(std::initializer_list<std::pair<int, float>> mass) {
  std::vector<float> p(1000, 0.0f);
  for (auto [i, v] : mass) p[static_cast<size_t>(i)] += v;
  return p;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A 2x2 PNG (any content) so that folders hold decodable images.
void tiny_png(const fs::path& p) {
  static const unsigned char png[] = {0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
                                      0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
                                      0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00,
                                      0x0c, 0x49, 0x44, 0x41, 0x54, 0x08, 0xd7, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
                                      0x00, 0x03, 0x01, 0x01, 0x00, 0x18, 0xdd, 0x8d, 0xb0, 0x00, 0x00, 0x00,
                                      0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
  fs::create_directories(p.parent_path());
  write_bytes(p, std::string(reinterpret_cast<const char*>(png), sizeof png));
}

}  // namespace

TEST_CASE("The 16-class mapping is the table of Geirhos et al.", "[evaluation][categories]") {
  const CategoryMapping& m = sixteen_class_mapping();
  const std::vector<std::string> expected = {"airplane", "bear",  "bicycle", "bird",  "boat", "bottle",
                                             "car",      "cat",   "chair",   "clock", "dog",  "elephant",
                                             "keyboard", "knife", "oven",    "truck"};
  CHECK(m.categories == expected);
  size_t total = 0;
  for (const auto& idx : m.indices) total += idx.size();
  CHECK(total == 207);
  CHECK(m.indices[0] == std::vector<int>{404});
  CHECK(m.indices[1] == std::vector<int>{294, 295, 296, 297});
  CHECK(m.indices[2] == std::vector<int>{444, 671});
  CHECK(m.indices[7] == std::vector<int>{281, 282, 283, 284, 285, 286});
  CHECK(m.indices[13] == std::vector<int>{499});
  CHECK(m.indices[14] == std::vector<int>{766});
  CHECK(m.indices[15] == std::vector<int>{555, 569, 656, 675, 717, 734, 864, 867});
  CHECK(m.indices[10].size() == 109);  // dog: 152..268 without 192 204 227 242 251 258 260 264
  CHECK(m.indices[3].size() == 49);    // bird
}

TEST_CASE("Top-1, top-5 and 16-class decisions on hand-made probabilities", "[evaluation][metrics]") {
  const CategoryMapping& m = sixteen_class_mapping();
  // Class 404 (airliner) 0.30; class 7 0.20; 0.46 spread evenly over the 109 dog classes; the rest
  // on classes 0..4.
  std::vector<float> p =
      one_hot_mixture({{404, 0.30f}, {7, 0.20f}, {0, 0.01f}, {1, 0.01f}, {2, 0.01f}, {3, 0.01f}});
  for (int i : m.indices[10]) p[static_cast<size_t>(i)] += 0.46f / 109;
  auto s = score_trial(p, 7, 5, &m, Aggregation::Mean);
  CHECK(s.top == std::vector<int>{404, 7, 0, 1, 2});  // ties (0.01) in index order
  CHECK_FALSE(s.correct1);
  CHECK(s.correctk);
  CHECK(score_trial(p, 404, 5, &m, Aggregation::Mean).correct1);
  CHECK_FALSE(score_trial(p, 3, 5, &m, Aggregation::Mean).correctk);  // rank 6
  // Mean: airplane 0.30 > dog 0.46/109. Sum: dog 0.46 > airplane. Max: airplane 0.30.
  CHECK(m.categories[static_cast<size_t>(s.category)] == "airplane");
  CHECK(s.category_scores[10] == Approx(0.46 / 109).epsilon(1e-5));
  CHECK(m.categories[static_cast<size_t>(score_trial(p, -1, 5, &m, Aggregation::Sum).category)] == "dog");
  CHECK(m.categories[static_cast<size_t>(score_trial(p, -1, 5, &m, Aggregation::Max).category)] ==
        "airplane");
  // Max vs mean: bear 0.25 on one of its 4 classes (mean 0.0625) against airplane 0.2.
  const auto r = one_hot_mixture({{294, 0.25f}, {404, 0.20f}, {900, 0.55f}});
  CHECK(m.categories[static_cast<size_t>(m.decide(r.data(), Aggregation::Mean))] == "airplane");
  CHECK(m.categories[static_cast<size_t>(m.decide(r.data(), Aggregation::Max))] == "bear");
  CHECK_THROWS_AS(parse_aggregation("median"), Error);
}

TEST_CASE("Category mapping files are checked", "[evaluation][categories][errors]") {
  const fs::path d = scratch_dir("mapping");
  auto bad = [&](const std::string& text, const std::string& reason) {
    write_bytes(d / "m.json", text);
    try {
      load_category_mapping((d / "m.json").string());
      FAIL("accepted " << text);
    } catch (const Error& e) {
      CHECK(e.path() == (d / "m.json").string());
      CHECK_THAT(e.reason(), Catch::Contains(reason));
    }
  };
  bad(R"({"num_classes": 10, "categories": [{"category": "a", "indices": [3, 10]}]})", "outside [0, 10)");
  bad(R"({"num_classes": 10, "categories": [{"category": "a", "indices": [3]}, {"category": "b", "indices": [3]}]})",
      "two categories");
  bad(R"({"num_classes": 10, "categories": [{"category": "a", "indices": []}]})", "no class indices");
  bad(R"({"categories": []})", "expected");
  bad("{", "not valid JSON");
  write_bytes(d / "m.json",
              R"({"name": "two", "num_classes": 4, "categories": [{"category": "x", "indices": [0, 1]},
      {"category": "y", "indices": [3]}]})");
  const auto m = load_category_mapping((d / "m.json").string());
  const std::vector<float> p = {0.3f, 0.3f, 0.1f, 0.3f};
  CHECK(m.decide(p.data(), Aggregation::Mean) == 0);  // ties: the earlier category
  CHECK(m.decide(p.data(), Aggregation::Sum) == 0);
  fs::remove_all(d);
}

TEST_CASE("Error consistency (Cohen's kappa) against hand computations", "[evaluation][kappa]") {
  // p1 = p2 = 0.6; agreement on trials 0, 2, 4 -> c_obs 0.6; c_exp = 0.36 + 0.16 = 0.52;
  // kappa = 0.08 / 0.48.
  auto e = error_consistency({true, true, false, false, true}, {true, false, false, true, true});
  CHECK(e.accuracy1 == Approx(0.6));
  CHECK(e.observed == Approx(0.6));
  CHECK(e.expected == Approx(0.52));
  CHECK(e.kappa == Approx(0.08 / 0.48));
  // Identical, non-degenerate: kappa 1. Opposite at accuracy 0.5: c_exp 0.5, c_obs 0 -> -1.
  CHECK(error_consistency({true, false, true, false}, {true, false, true, false}).kappa == Approx(1.0));
  CHECK(error_consistency({true, false, true, false}, {false, true, false, true}).kappa == Approx(-1.0));
  // Degenerate: both always right or both always wrong -> c_exp = 1, kappa undefined.
  CHECK(std::isnan(error_consistency({true, true, true}, {true, true, true}).kappa));
  CHECK(std::isnan(error_consistency({false, false}, {false, false}).kappa));
  // One always right, the other always wrong: c_exp = 0 = c_obs -> kappa 0.
  CHECK(error_consistency({true, true}, {false, false}).kappa == Approx(0.0));
  // One always right, the other at 0.5: c_exp = 0.5 = c_obs -> 0.
  CHECK(error_consistency({true, true, true, true}, {true, false, true, false}).kappa == Approx(0.0));
  CHECK_THROWS(error_consistency({true}, {true, false}));
  CHECK_THROWS(error_consistency({}, {}));
}

TEST_CASE("Shape bias on small hand-made decision tables", "[evaluation][shape-bias]") {
  const std::vector<std::string> cats = {"cat", "dog", "car", "boat"};
  // cat shape: 3 trials (shape, texture, na) + 1 same-category; dog shape: shape, shape, other
  // (car on a dog-boat stimulus); car shape: texture; boat: none at all.
  const std::vector<CueConflictTrial> t = {
      {"cat", "dog", "cat"}, {"cat", "car", "car"}, {"cat", "dog", "na"},   {"cat", "cat", "cat"},
      {"dog", "cat", "dog"}, {"dog", "car", "dog"}, {"dog", "boat", "car"}, {"car", "dog", "dog"},
  };
  const ShapeBias b = shape_bias(t, cats);
  CHECK(b.excluded == 1);
  CHECK(b.overall.trials == 7);
  CHECK(b.overall.shape == 3);
  CHECK(b.overall.texture == 2);
  CHECK(b.overall.shape_bias() == Approx(3.0 / 5));
  CHECK(b.overall.shape_fraction() == Approx(3.0 / 7));
  CHECK(b.overall.texture_fraction() == Approx(2.0 / 7));
  CHECK(b.per_category[0].shape_bias() == Approx(0.5));
  CHECK(b.per_category[1].shape_bias() == Approx(1.0));
  CHECK(b.per_category[1].shape_fraction() == Approx(2.0 / 3));
  CHECK(b.per_category[2].shape_bias() == Approx(0.0));
  CHECK(std::isnan(b.per_category[3].shape_bias()));  // no trials
  CHECK(std::isnan(b.per_category[3].shape_fraction()));
  const auto j = shape_bias_json(b, cats);
  CHECK(j["per_category"]["boat"]["shape_bias"].is_null());
  CHECK(j["excluded_same_category"] == 1);
  CHECK(j["other_decisions"] == 2);
}

TEST_CASE("Cue-conflict names and model-vs-human CSVs: parsing and clear errors",
          "[evaluation][csv][errors]") {
  const auto& cats = sixteen_class_mapping().categories;
  auto n = parse_cue_conflict_name("airplane1-bicycle2.png", cats, "x");
  CHECK(n.shape == "airplane");
  CHECK(n.texture == "bicycle");
  n = parse_cue_conflict_name("0001_s5n_s01_0_bird_00_bird3-clock2.png", cats, "x");
  CHECK(n.shape == "bird");
  CHECK(n.texture == "clock");
  CHECK(stimulus_name("0002_edg_s01_0_airplane_00_airplane4.png") == "airplane4.png");
  CHECK(stimulus_name("ILSVRC2012_val_00000001.JPEG") == "ILSVRC2012_val_00000001.JPEG");
  CHECK_THROWS_WITH(parse_cue_conflict_name("airplane1.png", cats, "f.csv:3"),
                    Catch::Contains("f.csv:3") && Catch::Contains("does not parse"));
  CHECK_THROWS_WITH(parse_cue_conflict_name("zebra1-cat2.png", cats, "f.csv:4"),
                    Catch::Contains("unknown category 'zebra'"));

  const fs::path d = scratch_dir("csv");
  write_bytes(d / "missing.csv",
              "subj,session,trial,rt,object_response,category,imagename\nm,1,1,NaN,cat,cat,cat1-dog1.png\n");
  CHECK_THROWS_WITH(read_trials_csv((d / "missing.csv").string()),
                    Catch::Contains("missing.csv:1") && Catch::Contains("condition"));
  write_bytes(d / "short.csv",
              std::string(format_trials_csv({})) + "m,1,1,NaN,cat,cat,NaN,cat1-dog1.png\nm,1,2,NaN,cat\n");
  CHECK_THROWS_WITH(read_trials_csv((d / "short.csv").string()), Catch::Contains("short.csv:3"));
  write_bytes(d / "resp.csv", format_trials_csv({}) + "m,1,1,NaN,zebra,cat,NaN,cat1-dog1.png\n");
  CHECK_THROWS_WITH(cue_conflict_trials(read_trials_csv((d / "resp.csv").string()), cats),
                    Catch::Contains("resp.csv:2") && Catch::Contains("zebra"));
  write_bytes(d / "name.csv", format_trials_csv({}) + "m,1,1,NaN,cat,cat,NaN,cat1.png\n");
  CHECK_THROWS_WITH(cue_conflict_trials(read_trials_csv((d / "name.csv").string()), cats),
                    Catch::Contains("name.csv:2"));
  // The analysis tool reports the same, in one line, with a non-zero exit.
  const auto r = run_tool("bagnet-shape-bias --from-csv " + (d / "missing.csv").string() + " -o " +
                          (d / "out").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("missing.csv:1: missing column"));
  fs::remove_all(d);
}

TEST_CASE("Human observers' shape bias is what Geirhos et al. report", "[evaluation][shape-bias][real]") {
  const std::string dir = shared("human-raw-data/cue-conflict");
  const fs::path out = scratch_dir("humans");
  const auto r =
      run_tool("bagnet-shape-bias --format json -o " + out.string() + " --from-csv " + dir + "/*.csv");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["decision_makers"].size() == 1);
  const auto& humans = j["decision_makers"][0];
  CHECK(humans["name"] == "humans");
  CHECK(humans["observers"] == 10);
  // The paper: humans decide by shape in about 96% of the shape-or-texture decisions, every
  // observer between about 0.92 and 0.99.
  CHECK(humans["shape_bias"]["shape_bias"].get<double>() == Approx(0.96).margin(0.005));
  REQUIRE(j["human_observers"].size() == 10);
  for (const auto& o : j["human_observers"]) {
    CHECK(o["shape_bias"]["shape_bias"].get<double>() > 0.915);
    CHECK(o["shape_bias"]["shape_bias"].get<double>() < 0.99);
    CHECK(o["shape_bias"]["trials"] == 1200);  // 1280 stimuli, 80 with shape == texture
  }
  for (const char* f : {"shape_bias.json", "shape_bias.svg", "shape_bias.pdf", "shape_bias.png"})
    CHECK(fs::file_size(out / f) > 1000);
  fs::remove_all(out);
}

TEST_CASE("Datasets: WordNet-id subsets map through the id table, categories, lists, errors",
          "[evaluation][datasets]") {
  const Labels& labels = load_labels("imagenet");
  const auto& cats = sixteen_class_mapping().categories;
  const fs::path d = scratch_dir("datasets");
  // Three classes out of 1000, not folder order: tench 0, golden retriever 207, wing 908.
  for (const char* wnid : {"n01440764", "n02099601", "n04592741"}) {
    tiny_png(d / "imagenet" / wnid / "b.png");
    tiny_png(d / "imagenet" / wnid / "a.png");
  }
  auto ds = open_eval_dataset((d / "imagenet").string(), {}, labels, cats);
  CHECK(ds.kind == DatasetKind::ClassFolders);
  CHECK_FALSE(ds.categorical);
  REQUIRE(ds.items.size() == 6);
  CHECK(ds.items[0].key == "n01440764/a.png");
  CHECK(ds.items[0].target == 0);
  CHECK(ds.items[2].target == 207);
  CHECK(ds.items[5].target == 908);
  CHECK(ds.items[5].label == "n04592741");
  // Category folders, and cue-conflict names inside them.
  tiny_png(d / "edge" / "cat" / "cat1.png");
  tiny_png(d / "edge" / "dog" / "dog1.png");
  ds = open_eval_dataset((d / "edge").string(), {}, labels, cats);
  CHECK(ds.kind == DatasetKind::CategoryFolders);
  CHECK(ds.categorical);
  CHECK(ds.items[1].category == 10);
  tiny_png(d / "cc" / "cat" / "cat1-dog2.png");
  tiny_png(d / "cc" / "dog" / "dog3-cat1.png");
  ds = open_eval_dataset((d / "cc").string(), {}, labels, cats);
  CHECK(ds.kind == DatasetKind::CueConflict);
  CHECK(ds.items[0].texture == "dog");
  CHECK(ds.name == "cc");
  tiny_png(d / "bad" / "cat" / "dog1-cat2.png");  // shape in the name differs from the folder
  DatasetOptions cc;
  cc.kind = "cue-conflict";
  CHECK_THROWS_WITH(open_eval_dataset((d / "bad").string(), cc, labels, cats),
                    Catch::Contains("dog1-cat2.png"));
  tiny_png(d / "bad2" / "cat" / "cat1.png");
  CHECK_THROWS_WITH(open_eval_dataset((d / "bad2").string(), cc, labels, cats),
                    Catch::Contains("does not parse"));
  tiny_png(d / "mixed" / "n01440764" / "a.png");
  tiny_png(d / "mixed" / "zebras" / "a.png");
  CHECK_THROWS_WITH(open_eval_dataset((d / "mixed").string(), {}, labels, cats), Catch::Contains("zebras"));
  // A list: labels by index, WordNet id or name; relative paths against the list's folder.
  write_bytes(d / "list.csv",
              "path,label\nimagenet/n01440764/a.png,0\nimagenet/n02099601/a.png,n02099601\n"
              "imagenet/n04592741/a.png,wing\n");
  ds = open_eval_dataset((d / "list.csv").string(), {}, labels, cats);
  CHECK(ds.kind == DatasetKind::List);
  REQUIRE(ds.items.size() == 3);
  CHECK(ds.items[1].target == 207);
  CHECK(ds.items[2].target == 908);
  CHECK(fs::exists(ds.items[2].path));
  write_bytes(d / "list2.csv", "a.png,0\nb.png,not a class at all\n");
  CHECK_THROWS_WITH(open_eval_dataset((d / "list2.csv").string(), {}, labels, cats),
                    Catch::Contains("list2.csv:2"));
  CHECK_THROWS_WITH(open_eval_dataset((d / "nothing").string(), {}, labels, cats),
                    Catch::Contains("no such file"));
  // The fingerprint depends on content, not on where the dataset lives.
  fs::copy(d / "imagenet", d / "copy", fs::copy_options::recursive);
  CHECK(open_eval_dataset((d / "copy").string(), {}, labels, cats).fingerprint ==
        open_eval_dataset((d / "imagenet").string(), {}, labels, cats).fingerprint);
  fs::remove_all(d);
}

TEST_CASE("Shards partition the dataset for any count", "[evaluation][shards]") {
  for (size_t items : {1, 7, 160, 1280})
    for (size_t n : {1, 2, 3, 7, 16, 161}) {
      std::vector<int> seen(items, 0);
      for (size_t i = 0; i < n; ++i)
        for (size_t p : shard_positions(items, i, n)) ++seen[p];
      CHECK(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
    }
  CHECK(parse_shard("3/8") == std::pair<size_t, size_t>{3, 8});
  CHECK_THROWS_AS(parse_shard("8/8"), Error);
  CHECK_THROWS_AS(parse_shard("1/0"), Error);
  CHECK_THROWS_AS(parse_shard("1-2"), Error);
}

TEST_CASE("bagnet-compare: accuracy, agreement and kappa of hand-made CSVs", "[evaluation][kappa][cli]") {
  const fs::path d = scratch_dir("compare");
  // a: right on 1, 2, 5; b: right on 1, 4, 5 (model-vs-human names for b, plain for a).
  write_bytes(d / "a.csv", format_trials_csv({}) +
                               "ma,1,1,NaN,cat,cat,NaN,cat1-dog1.png\nma,1,2,NaN,dog,dog,NaN,dog1-cat1.png\n"
                               "ma,1,3,NaN,car,cat,NaN,cat2-car1.png\nma,1,4,NaN,car,dog,NaN,dog2-car1.png\n"
                               "ma,1,5,NaN,boat,boat,NaN,boat1-car1.png\n");
  write_bytes(d / "b.csv", format_trials_csv({}) +
                               "subject-01,1,1,0.5,cat,cat,0,0001_s5n_s01_0_cat_00_cat1-dog1.png\n"
                               "subject-01,1,2,0.5,cat,dog,0,0002_s5n_s01_0_dog_00_dog1-cat1.png\n"
                               "subject-01,1,3,0.5,dog,cat,0,0003_s5n_s01_0_cat_00_cat2-car1.png\n"
                               "subject-01,1,4,0.5,dog,dog,0,0004_s5n_s01_0_dog_00_dog2-car1.png\n"
                               "subject-01,1,5,0.5,boat,boat,0,0005_s5n_s01_0_boat_00_boat1-car1.png\n");
  const auto r = run_tool("bagnet-compare --format json " + (d / "a.csv").string() + " " +
                          (d / "b.csv").string() + " -o " + (d / "out").string());
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["pairs"].size() == 1);
  const auto& p = j["pairs"][0];
  CHECK(p["trials"] == 5);
  CHECK(p["accuracy_a"].get<double>() == Approx(0.6));
  CHECK(p["accuracy_b"].get<double>() == Approx(0.6));
  CHECK(p["observed_agreement"].get<double>() == Approx(0.6));  // trials 1, 3, 5
  CHECK(p["kappa"].get<double>() == Approx(0.08 / 0.48));
  CHECK(fs::file_size(d / "out" / "error_consistency.png") > 1000);
  CHECK(fs::exists(d / "out" / "compare.json"));
  const auto bad = run_tool("bagnet-compare " + (d / "a.csv").string() + " " + (d / "nope.csv").string());
  CHECK(bad.status == 1);
  CHECK_THAT(bad.err, Catch::Contains("nope.csv: no such file"));
  fs::remove_all(d);
}

namespace {

// Record lines of a results.jsonl (without the header, which holds times and command lines).
std::vector<std::string> record_lines(const fs::path& results) {
  auto l = lines_of(read_file(results));
  REQUIRE(!l.empty());
  l.erase(l.begin());
  return l;
}

nlohmann::json summary_of(const fs::path& dir) {
  return nlohmann::json::parse(read_file(dir / "summary.json"));
}

// The parts of a summary that must not depend on sharding: counts, accuracies, per class.
nlohmann::json metrics_of(const nlohmann::json& s) {
  return {{"images", s["images"]},       {"evaluated", s["evaluated"]}, {"accuracy", s["accuracy"]},
          {"per_class", s["per_class"]}, {"failures", s["failures"]},   {"dataset", s["dataset"]}};
}

// The decision and correctness per image, from record lines.
std::vector<std::string> decisions(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    const auto j = nlohmann::json::parse(l);
    out.push_back(j["key"].get<std::string>() + " " + j["decision"].get<std::string>() + " " +
                  (j["correct"].get<bool>() ? "1" : "0") + " " +
                  std::to_string(j["top"][0]["index"].get<int>()));
  }
  return out;
}

}  // namespace

TEST_CASE("bagnet-eval on the real edge set: shards, merge, kill and resume",
          "[evaluation][cli][shards][real]") {
  const std::string edges = shared("stimuli/edges");
  const std::string weights = fixture("bagnet9.pt");
  const fs::path d = scratch_dir("eval");
  const std::string common = "bagnet-eval -q -m bagnet9 -w " + weights + " --threads 2 -b 8 --data " + edges;

  // The whole set in one run.
  auto r = run_tool(common + " -o " + (d / "whole").string() + " --format json");
  REQUIRE(r.status == 0);
  const auto whole = summary_of(d / "whole");
  CHECK(whole["images"] == 160);
  CHECK(whole["evaluated"] == 160);
  CHECK(whole["dataset"]["kind"] == "category-folders");
  CHECK(whole["model"]["preprocessing"]["no_resize"] == true);  // 224x224 stimuli are fed as they are
  const auto whole_lines = record_lines(d / "whole" / "results.jsonl");
  REQUIRE(whole_lines.size() == 160);
  // The model-vs-human CSV: one row per image, read back by the analysis; its accuracy recomputed
  // from the rows equals the summary's.
  const auto csv = read_trials_csv((d / "whole" / "edge_bagnet9_session-1.csv").string());
  REQUIRE(csv.size() == 160);
  long right = 0;
  std::set<std::string> names;
  for (const auto& row : csv) {
    CHECK(row.subj == "bagnet9");
    CHECK(row.rt == "NaN");
    CHECK(sixteen_class_mapping().category_index(row.object_response) >= 0);
    right += row.object_response == row.category;
    names.insert(row.imagename);
  }
  CHECK(names.size() == 160);
  CHECK(whole["accuracy"].get<double>() == Approx(right / 160.0));
  // Each decision is the arg-max of the stored category probabilities.
  for (const auto& l : whole_lines) {
    const auto j = nlohmann::json::parse(l);
    const auto p = j["category_probabilities"].get<std::vector<double>>();
    CHECK(sixteen_class_mapping().categories[std::max_element(p.begin(), p.end()) - p.begin()] ==
          j["decision"]);
  }

  {  // The union of shards is the dataset, and merging them gives the unsharded result.
    for (int n : {3, 2}) {
      std::vector<std::string> dirs;
      std::set<std::string> keys;
      size_t total = 0;
      for (int i = 0; i < n; ++i) {
        dirs.push_back((d / ("s" + std::to_string(n)) / std::to_string(i)).string());
        REQUIRE(run_tool(common + " --shard " + std::to_string(i) + "/" + std::to_string(n) + " -o " +
                         dirs.back())
                    .status == 0);
        for (const auto& l : record_lines(fs::path(dirs.back()) / "results.jsonl")) {
          keys.insert(nlohmann::json::parse(l)["key"].get<std::string>());
          ++total;
        }
      }
      CHECK(total == 160);
      CHECK(keys.size() == 160);
      std::string all_dirs;
      for (const auto& x : dirs) all_dirs += " " + x;
      const fs::path merged = d / ("merged" + std::to_string(n));
      REQUIRE(run_tool("bagnet-merge -o " + merged.string() + all_dirs).status == 0);
      CHECK(metrics_of(summary_of(merged)) == metrics_of(whole));
      CHECK(decisions(record_lines(merged / "results.jsonl")) == decisions(whole_lines));
      CHECK(read_file(merged / "edge_bagnet9_session-1.csv") ==
            read_file(d / "whole" / "edge_bagnet9_session-1.csv"));
      if (n == 3) {
        // Refusals: a missing shard, a shard given twice, a shard of other weights, an incomplete shard.
        r = run_tool("bagnet-merge -o " + (d / "m").string() + " " + dirs[0] + " " + dirs[1]);
        CHECK(r.status == 1);
        CHECK_THAT(r.err, Catch::Contains("missing shard(s) 2/3"));
        r = run_tool("bagnet-merge -o " + (d / "m").string() + all_dirs + " " + dirs[0]);
        CHECK(r.status == 1);
        CHECK_THAT(r.err, Catch::Contains("shard 0 is also in"));
        const fs::path other = d / "other";
        fs::copy(dirs[2], other);
        std::string text = read_file(other / "results.jsonl");
        const auto sha = whole["model"]["weights"]["sha256"].get<std::string>();
        for (size_t at = text.find(sha); at != std::string::npos; at = text.find(sha, at))
          text.replace(at, 8, "00000000");
        write_bytes(other / "results.jsonl", text);
        r = run_tool("bagnet-merge -o " + (d / "m").string() + " " + dirs[0] + " " + dirs[1] + " " +
                     other.string());
        CHECK(r.status == 1);
        CHECK_THAT(r.err,
                   Catch::Contains("not a shard of the same run") && Catch::Contains("weights_sha256"));
        auto lines = lines_of(read_file(fs::path(dirs[2]) / "results.jsonl"));
        std::string cut;
        for (size_t i = 0; i + 1 < lines.size(); ++i) cut += lines[i] + "\n";
        write_bytes(other / "results.jsonl", cut);
        r = run_tool("bagnet-merge -o " + (d / "m").string() + " " + dirs[0] + " " + dirs[1] + " " +
                     other.string());
        CHECK(r.status == 1);
        CHECK_THAT(r.err, Catch::Contains("incomplete"));
      }
    }
  }

  {  // A run killed part-way and resumed equals an uninterrupted one, to the last bit.
    const fs::path out = d / "killed";
    const std::string cmd = std::string(BAGNET_BIN_DIR) + "/" + common + " -o " + out.string();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Kill it once some, but not all, results are written.
    size_t lines = 0;
    for (int i = 0; i < 1200 && lines < 50; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      lines = fs::exists(out / "results.jsonl") ? lines_of(read_file(out / "results.jsonl")).size() : 0;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    lines = lines_of(read_file(out / "results.jsonl")).size();
    INFO("killed with " << lines - 1 << " records written");
    REQUIRE(lines > 1);
    REQUIRE(lines < 161);
    CHECK_FALSE(fs::exists(out / "summary.json"));
    // A write cut short by the kill: half a record at the end.
    {
      std::ofstream f(out / "results.jsonl", std::ios::app);
      f << whole_lines[100].substr(0, 40);
    }
    r = run_tool(common + " -o " + out.string());
    REQUIRE(r.status == 0);
    CHECK_THAT(r.err, Catch::Contains("resuming"));
    CHECK(record_lines(out / "results.jsonl") == whole_lines);
    CHECK(metrics_of(summary_of(out)) == metrics_of(whole));
    // Other arguments do not resume this run.
    r = run_tool(common + " -o " + out.string() + " --topk 3");
    CHECK(r.status == 1);
    CHECK_THAT(r.err, Catch::Contains("different run") && Catch::Contains("topk"));
  }
  fs::remove_all(d);
}

TEST_CASE("bagnet-shape-bias on real cue-conflict stimuli: one CSV row per stimulus, read back",
          "[evaluation][shape-bias][real]") {
  const std::string stimuli = shared("stimuli/cue-conflict");
  const fs::path d = scratch_dir("shape_bias");
  // A subset: the first 3 stimuli of every category (48), linked into the same layout.
  for (const auto& cat : sixteen_class_mapping().categories) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(fs::path(stimuli) / cat)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    fs::create_directories(d / "cue-conflict" / cat);
    for (size_t i = 0; i < 3; ++i)
      fs::create_symlink(files[i], d / "cue-conflict" / cat / files[i].filename());
  }
  const std::string cmd = "bagnet-shape-bias -q -m bagnet9 -w " + fixture("bagnet9.pt") +
                          " --threads 2 --stimuli " + (d / "cue-conflict").string() +
                          " --cue-conflict-only -o " + (d / "out").string();
  auto r = run_tool(cmd + " --format json");
  REQUIRE(r.status == 0);
  const auto report = nlohmann::json::parse(r.out);
  const fs::path csv = d / "out" / "bagnet9" / "cue-conflict" / "cue-conflict_bagnet9_session-1.csv";
  const auto rows = read_trials_csv(csv.string());
  CHECK(rows.size() == 48);
  std::set<std::string> names;
  for (const auto& row : rows) names.insert(row.imagename);
  CHECK(names.size() == 48);
  // The analysis of the written CSV gives the report's numbers.
  r = run_tool("bagnet-shape-bias --format json --no-figure -o " + (d / "again").string() + " --from-csv " +
               csv.string());
  REQUIRE(r.status == 0);
  const auto again = nlohmann::json::parse(r.out);
  REQUIRE(report["decision_makers"].size() == 1);
  CHECK(again["decision_makers"][0]["name"] == "bagnet9");
  CHECK(again["decision_makers"][0]["shape_bias"] == report["decision_makers"][0]["shape_bias"]);
  CHECK(fs::file_size(d / "out" / "shape_bias.svg") > 1000);
  // A stimulus whose name does not parse: one line naming it, exit 1.
  tiny_png(d / "cue-conflict" / "cat" / "cat-without-texture.png");
  r = run_tool(cmd);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("cat-without-texture.png") && Catch::Contains("does not parse"));
  fs::remove_all(d);
}

TEST_CASE("bagnet-eval on the Fashion-MNIST idx test set reproduces the embedded model's recorded accuracy",
          "[evaluation][embedded]") {
  const std::string fashion = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fashion + "/t10k-images-idx3-ubyte.gz"))
    FAIL("Fashion-MNIST is missing: scripts/setup.sh installs dataset-fashion-mnist");
  const ModelSpec& spec = find_model("bagnet11_fashion_mnist");
  const fs::path d = scratch_dir("fashion");
  const auto r = run_tool("bagnet-eval -q -m " + spec.name + " --threads 2 -b 256 --data " + fashion +
                          " -o " + d.string() + " --format json");
  REQUIRE(r.status == 0);
  const auto s = nlohmann::json::parse(r.out);
  CHECK(s["dataset"]["kind"] == "idx");
  CHECK(s["evaluated"] == 10000);
  CHECK(s["top1"].get<double>() == Approx(spec.raw.at("accuracy").at("test").get<double>()).margin(1e-9));
  for (const auto& [name, acc] : spec.raw.at("accuracy").at("per_class").items()) {
    INFO(name);
    CHECK(s["per_class"][name]["top1"].get<double>() == Approx(acc.get<double>()).margin(5e-4));
  }
  fs::remove_all(d);
}

TEST_CASE("bagnet-eval lists and excludes unreadable images and goes on", "[evaluation][cli][errors]") {
  const fs::path d = scratch_dir("unreadable");
  // The example images (class folders spelled as file names: ankle_boot, tshirt_top, ...), a
  // truncated PNG, and a 1x1 image smaller than the network's first convolution.
  fs::copy(fs::path(BAGNET_SOURCE_DIR) / "examples" / "fashion-mnist", d / "data",
           fs::copy_options::recursive);
  size_t images = 0;
  for (const auto& e : fs::recursive_directory_iterator(d / "data")) images += e.is_regular_file();
  write_bytes(d / "data" / "shirt" / "broken.png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
  tiny_png(d / "data" / "bag" / "tiny.png");
  const auto r = run_tool("bagnet-eval -q -m bagnet11_fashion_mnist --threads 2 --data " +
                          (d / "data").string() + " -o " + (d / "out").string() + " --format json");
  CHECK(r.status == 3);
  CHECK_THAT(r.err, Catch::Contains("broken.png: ") && Catch::Contains("tiny.png: "));
  const auto s = nlohmann::json::parse(r.out);
  CHECK(s["images"] == images + 2);
  CHECK(s["evaluated"] == images);
  CHECK(s["failed"] == 2);
  REQUIRE(s["failures"].size() == 2);
  CHECK(s["failures"][0]["key"] == "bag/tiny.png");
  CHECK(s["failures"][1]["key"] == "shirt/broken.png");
  CHECK(s["dataset"]["kind"] == "class-folders");
  CHECK(s["per_class"].size() == 10);
  CHECK(s["top1"].get<double>() > 0.6);  // a 92% model on real test images
  fs::remove_all(d);
}
