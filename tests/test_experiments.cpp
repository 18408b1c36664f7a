// bagnet-experiment (experiments/): the operations checked by hand (greedy patch choice,
// masking, tile scrambling, correlations), and the tool on the embedded Fashion-MNIST BagNet:
// masks where the .npy map of bagnet-heatmap says, BagNet additivity for patches 2q - 1 apart,
// reproducible scrambles, per-class correlations against a hand computation, resume and shards
// against a whole run, one clear line for each kind of bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "experiments/ops.h"
#include "lib/npy.h"
#include "tool_helpers.h"

namespace fs = std::filesystem;
namespace xp = bagnet::experiments;
using bagnet::test::read_file;
using bagnet::test::run_tool;
using bagnet::test::scratch_dir;

namespace {

const std::string kExamples = std::string(BAGNET_SOURCE_DIR) + "/examples/fashion-mnist";
const std::string kModel = "bagnet11_fashion_mnist";  // q = 11, 28x28 inputs

struct Records {
  nlohmann::json header;
  std::vector<nlohmann::json> records;
  std::vector<std::string> lines;  // record lines as written
};

Records read_records(const fs::path& p) {
  Records r;
  std::istringstream in(read_file(p));
  std::string line;
  while (std::getline(in, line)) {
    if (r.header.is_null()) {
      r.header = nlohmann::json::parse(line);
      continue;
    }
    r.records.push_back(nlohmann::json::parse(line));
    r.lines.push_back(line);
  }
  return r;
}

nlohmann::json summary_of(const fs::path& dir) {
  return nlohmann::json::parse(read_file(dir / "summary.json"));
}

std::string experiment(const std::string& args) { return "bagnet-experiment " + args + " --threads 2 -q"; }

// Exactly one line on stderr, exit 1, naming `what`.
void check_one_line(const bagnet::test::Run& r, const std::string& what) {
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.rfind("bagnet-experiment: ", 0) == 0);
  CHECK(r.err.find(what) != std::string::npos);
}

}  // namespace

TEST_CASE("Greedy patch choice from a map equals a hand selection", "[experiments]") {
  // 6 x 7 map, q = 3: the largest is (2,3) = 9; (2,4) = 8 overlaps it; (5,0) = 7 does not;
  // (0,3) = 6 is 2 rows away (< q) and overlaps; (4,6) = 5 is 2 rows and 3 columns away: fits.
  std::vector<float> map(42, 0.f);
  auto at = [&](int y, int x) -> float& { return map[static_cast<size_t>(y) * 7 + x]; };
  at(2, 3) = 9;
  at(2, 4) = 8;
  at(5, 0) = 7;
  at(0, 3) = 6;
  at(4, 6) = 5;
  const auto p = xp::greedy_patches(map, 6, 7, 3, 3);
  REQUIRE(p.size() == 3);
  CHECK(p[0] == xp::Patch{2, 3});
  CHECK(p[1] == xp::Patch{5, 0});
  CHECK(p[2] == xp::Patch{4, 6});
  // Ties: the lower row-major index first.
  std::vector<float> flat(16, 1.f);
  const auto t = xp::greedy_patches(flat, 4, 4, 3, 2);
  REQUIRE(t.size() == 2);
  CHECK(t[0] == xp::Patch{0, 0});
  CHECK(t[1] == xp::Patch{0, 3});
  CHECK(xp::patch_capacity(28, 28, 11) == 9);
  CHECK(xp::patch_capacity(33, 22, 11) == 6);
}

TEST_CASE("Masking zeroes exactly the q x q patches, clipped at the border, in every channel",
          "[experiments]") {
  const int c = 3, h = 8, w = 9, q = 3;
  std::vector<float> img(static_cast<size_t>(c) * h * w, 1.f);
  const size_t n = xp::mask_patches(img, c, h, w, {{0, 0}, {4, 5}}, q);
  CHECK(n == 4 + 9);  // (0,0): rows/cols 0..1 inside; (4,5): rows 3..5, cols 4..6
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const bool in = (y <= 1 && x <= 1) || (y >= 3 && y <= 5 && x >= 4 && x <= 6);
        CHECK(img[(static_cast<size_t>(ch) * h + y) * w + x] == (in ? 0.f : 1.f));
      }
}

TEST_CASE("Scrambling is a seeded permutation of tiles that keeps every pixel", "[experiments]") {
  const int c = 2, h = 13, w = 10, g = 3;  // 4 x 3 tiles; the last row and column stay
  std::vector<float> img(static_cast<size_t>(c) * h * w);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<float>(i);
  auto rng = xp::image_rng(7, 12, 103);
  const auto perm = xp::tile_permutation(rng, g);
  std::vector<int> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < g * g; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
  const auto out = xp::scramble_tiles(img, c, h, w, g, perm);
  std::multiset<float> a(img.begin(), img.end()), b(out.begin(), out.end());
  CHECK(a == b);
  const int th = h / g, tw = w / g;
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        int sy = y, sx = x;
        if (y < g * th && x < g * tw) {
          const int from = perm[static_cast<size_t>((y / th) * g + x / tw)];
          sy = (from / g) * th + y % th;
          sx = (from % g) * tw + x % tw;
        }
        CHECK(out[(static_cast<size_t>(ch) * h + y) * w + x] ==
              img[(static_cast<size_t>(ch) * h + sy) * w + sx]);
      }
  auto again = xp::image_rng(7, 12, 103);
  CHECK(xp::tile_permutation(again, g) == perm);
  bool differs = false;
  for (uint64_t seed = 8; seed < 12 && !differs; ++seed) {
    auto other = xp::image_rng(seed, 12, 103);
    differs = xp::tile_permutation(other, g) != perm;
  }
  CHECK(differs);
}

TEST_CASE("Pearson and Spearman equal a hand computation", "[experiments]") {
  // x = (.5, .7, .9), y = (.6, .6, .9): cov .06, var .08 and .06 -> r = .06 / sqrt(.0048) = sqrt(3)/2.
  // Ranks (1, 2, 3) and (1.5, 1.5, 3): cov 1.5, var 2 and 1.5 -> rho = sqrt(3)/2 as well.
  const std::vector<double> x{0.5, 0.7, 0.9}, y{0.6, 0.6, 0.9};
  CHECK(xp::pearson(x, y) == Approx(std::sqrt(3.0) / 2).epsilon(1e-12));
  CHECK(xp::ranks(y) == std::vector<double>{1.5, 1.5, 3});
  CHECK(xp::spearman(x, y) == Approx(std::sqrt(3.0) / 2).epsilon(1e-12));
  CHECK(xp::spearman({1, 2, 3, 4}, {10, 20, 30, 1000}) == Approx(1.0));
  CHECK(std::isnan(xp::pearson({1, 1, 1}, {1, 2, 3})));
  CHECK(xp::trapezoid_area({0, 1, 1}) == Approx(1.5));
}

TEST_CASE("bagnet-experiment mask: the masked patches are those a hand selection takes from the .npy map",
          "[experiments][tool]") {
  const fs::path d = scratch_dir("exp_mask");
  const auto r =
      run_tool(experiment("mask -m " + kModel + " --map-model " + kModel + " --k 4 --seed 3 --data " +
                          kExamples + " -o " + (d / "out").string() + " --format json"));
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto s = nlohmann::json::parse(r.out);
  CHECK(s["experiment"] == "masking");
  REQUIRE(s["models"].contains(kModel));
  CHECK(s["models"][kModel]["guided"]["top1"].size() == 5);
  const Records rec = read_records(d / "out" / "records.jsonl");
  REQUIRE(rec.records.size() == 30);
  // Hand selection on three images' maps written by bagnet-heatmap (stride 1, the true class).
  for (size_t i : {size_t{0}, size_t{11}, size_t{29}}) {
    const auto& record = rec.records[i];
    const std::string key = record["key"];
    const int target = record["target"];
    const fs::path out = d / ("map" + std::to_string(i));
    const auto h = run_tool("bagnet-heatmap -q --threads 2 -m " + kModel + " -s 1 --no-png -c " +
                            std::to_string(target) + " -o " + out.string() + " " + kExamples + "/" + key);
    INFO(h.err);
    REQUIRE(h.status == 0);
    const auto npy = bagnet::read_npy((out / fs::path(key).filename().replace_extension(".npy")).string());
    REQUIRE(npy.data.size() == 28 * 28);  // one class: 28 x 28 (or 1 x 28 x 28)
    std::vector<std::pair<int, int>> chosen;
    for (int k = 0; k < 4; ++k) {
      int best = -1;
      for (int p = 0; p < 28 * 28; ++p) {
        bool free = true;
        for (const auto& [y, x] : chosen)
          free = free && !(std::abs(p / 28 - y) < 11 && std::abs(p % 28 - x) < 11);
        if (free && (best < 0 || npy.data[static_cast<size_t>(p)] > npy.data[static_cast<size_t>(best)]))
          best = p;
      }
      REQUIRE(best >= 0);
      chosen.emplace_back(best / 28, best % 28);
    }
    INFO(key << ": " << record["guided"].dump());
    REQUIRE(record["guided"].size() == 4);
    for (size_t k = 0; k < 4; ++k) {
      CHECK(record["guided"][k][0] == chosen[k].first);
      CHECK(record["guided"][k][1] == chosen[k].second);
      CHECK(record["guided_map_logit"][k].get<double>() ==
            Approx(npy.data[static_cast<size_t>(chosen[k].first * 28 + chosen[k].second)]).margin(1e-4));
    }
    // The random control: 4 non-overlapping patches, other than the guided ones' positions.
    REQUIRE(record["random"].size() == 4);
  }
  // Masking the BagNet's own most predictive patches lowers its true-class logit more than random patches.
  CHECK(s["models"][kModel]["area_random_minus_guided"]["logit"].get<double>() > 0);
  CHECK(fs::exists(d / "out" / "masking.svg"));
}

TEST_CASE(
    "bagnet-experiment interactions: a BagNet's joint change equals the sum of single changes 2q - 1 apart",
    "[experiments][tool]") {
  const fs::path d = scratch_dir("exp_inter");
  // Default distance 2q - 1 = 21: no 11 x 11 receptive field sees both patches, so the pooled logit
  // (a mean of patch logits) changes by the sum of both changes up to float rounding.
  const auto r = run_tool(experiment("interactions -m " + kModel + " --pairs 3 --seed 5 --data " + kExamples +
                                     " -o " + (d / "far").string() + " --format json"));
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto s = nlohmann::json::parse(r.out);
  CHECK(s["parameters"]["distance"] == 21);
  const Records rec = read_records(d / "far" / "records.jsonl");
  REQUIRE(rec.records.size() == 30);
  double worst = 0, largest = 0;
  for (const auto& record : rec.records) {
    const auto& l = record["models"][kModel]["logit"];
    REQUIRE(l.size() == 10);
    for (const auto& pair : record["pairs"]) {
      const int dy = std::abs(pair[0][0].get<int>() - pair[1][0].get<int>());
      const int dx = std::abs(pair[0][1].get<int>() - pair[1][1].get<int>());
      CHECK(std::max(dy, dx) == 21);
    }
    for (size_t p = 0; p < 3; ++p) {
      const double l0 = l[0], a = l[1 + 3 * p].get<double>() - l0, b = l[2 + 3 * p].get<double>() - l0,
                   ab = l[3 + 3 * p].get<double>() - l0;
      worst = std::max(worst, std::abs(ab - (a + b)));
      largest = std::max(largest, std::abs(ab));
    }
  }
  CHECK(largest > 0.01);  // the masks do change the logit
  CHECK(worst < 1e-4);    // float32 rounding of logits of magnitude ~10
  CHECK(s["models"][kModel]["max_abs_difference"].get<double>() < 1e-4);
  // Closer than 2q - 1 the receptive fields see both patches: no longer additive.
  const auto near =
      run_tool(experiment("interactions -m " + kModel + " --pairs 3 --seed 5 --distance 11 --data " +
                          kExamples + " -o " + (d / "near").string() + " --format json"));
  REQUIRE(near.status == 0);
  CHECK(nlohmann::json::parse(near.out)["models"][kModel]["max_abs_difference"].get<double>() > 1e-3);
}

TEST_CASE("bagnet-experiment scramble: the same seed gives the same images and numbers",
          "[experiments][tool]") {
  const fs::path d = scratch_dir("exp_scramble");
  auto run = [&](const std::string& seed, const std::string& dir) {
    const auto r =
        run_tool(experiment("scramble -m " + kModel + " -g 1 -g 2 -g 4 --seed " + seed + " --data " +
                            kExamples + " -o " + (d / dir).string() + " --format json"));
    INFO(r.err);
    REQUIRE(r.status == 0);
    return read_records(d / dir / "records.jsonl");
  };
  const Records a = run("9", "a"), b = run("9", "b"), c = run("10", "c");
  CHECK(a.lines == b.lines);
  CHECK(a.lines != c.lines);
  const auto s = summary_of(d / "a");
  const auto& m = s["models"][kModel];
  // g = 1 is the image itself.
  CHECK(m["top1"][0] == m["top1_original"]);
  CHECK(m["mean_abs_logit_change"][0].get<double>() == 0);
  CHECK(m["mean_abs_logit_change"][2].get<double>() > 0);
  for (const auto& r : a.records) {
    const auto perm = r["permutations"]["4"].get<std::vector<int>>();
    std::vector<int> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (int i = 0; i < 16; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
  }
}

TEST_CASE("bagnet-experiment errors: per-class correlations and kappa equal a hand computation",
          "[experiments][tool]") {
  const fs::path d = scratch_dir("exp_errors");
  const auto e = run_tool("bagnet-eval -q --threads 2 -m " + kModel + " --data " + kExamples + " -o " +
                          (d / "a").string());
  INFO(e.err);
  REQUIRE(e.status == 0);
  // A second decision maker on the same images: the first run with every third record's outcome flipped.
  fs::create_directories(d / "b");
  std::istringstream in(read_file(d / "a" / "results.jsonl"));
  std::string line, text;
  std::vector<nlohmann::json> ra, rb;
  for (int n = 0; std::getline(in, line); ++n) {
    auto j = nlohmann::json::parse(line);
    if (n == 0) {
      j["run"]["model"] = "other";
    } else {
      ra.push_back(j);
      if (n % 3 == 0) j["correct"] = !j["correct"].get<bool>();
      rb.push_back(j);
    }
    text += j.dump() + "\n";
  }
  bagnet::test::write_bytes(d / "b" / "results.jsonl", text);
  const auto r = run_tool(experiment("errors " + (d / "a").string() + " " + (d / "b").string() + " -o " +
                                     (d / "out").string() + " --format json"));
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto s = nlohmann::json::parse(r.out);
  // By hand: per-class accuracies, then Pearson from its definition and Spearman from ranks.
  std::map<std::string, std::pair<double, double>> acc;  // label -> (a, b) correct counts
  std::map<std::string, int> count;
  double both = 0, ca = 0, cb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    const bool a = ra[i]["correct"], b = rb[i]["correct"];
    acc[ra[i]["label"]].first += a;
    acc[ra[i]["label"]].second += b;
    ++count[ra[i]["label"]];
    both += a == b;
    ca += a;
    cb += b;
  }
  std::vector<double> xa, xb;
  for (const auto& [label, v] : acc) {
    xa.push_back(v.first / count[label]);
    xb.push_back(v.second / count[label]);
  }
  const size_t n = xa.size();
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) ma += xa[i] / n, mb += xb[i] / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (xa[i] - ma) * (xb[i] - mb);
    saa += (xa[i] - ma) * (xa[i] - ma);
    sbb += (xb[i] - mb) * (xb[i] - mb);
  }
  const auto& p = s["pairs"][0];
  CHECK(p["classes"] == n);
  CHECK(p["pearson"].get<double>() == Approx(sab / std::sqrt(saa * sbb)).epsilon(1e-9));
  // Spearman by the rank-difference formula needs no ties; with ties it is Pearson of mean ranks:
  // computed here with a plain O(n^2) ranking.
  auto rank = [](const std::vector<double>& v) {
    std::vector<double> r(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      double below = 0, equal = 0;
      for (double w : v) below += w < v[i], equal += w == v[i];
      r[i] = below + (equal + 1) / 2;
    }
    return r;
  };
  const auto ya = rank(xa), yb = rank(xb);
  double ra_m = 0, rb_m = 0, rab = 0, raa = 0, rbb = 0;
  for (size_t i = 0; i < n; ++i) ra_m += ya[i] / n, rb_m += yb[i] / n;
  for (size_t i = 0; i < n; ++i) {
    rab += (ya[i] - ra_m) * (yb[i] - rb_m);
    raa += (ya[i] - ra_m) * (ya[i] - ra_m);
    rbb += (yb[i] - rb_m) * (yb[i] - rb_m);
  }
  CHECK(p["spearman"].get<double>() == Approx(rab / std::sqrt(raa * rbb)).epsilon(1e-9));
  // Cohen's kappa (Geirhos et al. 2020) from the same trials.
  const double t = static_cast<double>(ra.size()), pa = ca / t, pb = cb / t;
  const double expected = pa * pb + (1 - pa) * (1 - pb);
  CHECK(p["kappa"].get<double>() == Approx((both / t - expected) / (1 - expected)).epsilon(1e-9));
  CHECK(s["models"]["other"]["accuracy"].get<double>() == Approx(pb));
  CHECK(fs::exists(d / "out" / "errors.svg"));
  CHECK(fs::exists(d / "out" / "classes.jsonl"));
}

TEST_CASE("bagnet-experiment: resumed and sharded runs equal a whole run", "[experiments][tool]") {
  const fs::path d = scratch_dir("exp_resume");
  const std::string base =
      "mask -m " + kModel + " --map-model " + kModel + " --k 3 --seed 4 --data " + kExamples;
  auto run = [&](const std::string& extra) {
    const auto r = run_tool(experiment(base + " " + extra));
    INFO(r.err);
    REQUIRE(r.status == 0);
    return r;
  };
  run("-o " + (d / "whole").string());
  const Records whole = read_records(d / "whole" / "records.jsonl");
  // Resume: the header, 7 records and a line torn by an interruption.
  fs::create_directories(d / "resumed");
  std::string text = whole.header.dump() + "\n";
  for (size_t i = 0; i < 7; ++i) text += whole.lines[i] + "\n";
  text += whole.lines[7].substr(0, 40);
  bagnet::test::write_bytes(d / "resumed" / "records.jsonl", text);
  const auto resumed = run("-o " + (d / "resumed").string());
  CHECK(resumed.err.find("resuming") != std::string::npos);
  const Records r = read_records(d / "resumed" / "records.jsonl");
  CHECK(r.lines == whole.lines);
  CHECK(r.header["resumed"] == 1);
  CHECK(summary_of(d / "resumed")["models"] == summary_of(d / "whole")["models"]);
  // Shards 0/3, 1/3, 2/3, merged.
  for (int i = 0; i < 3; ++i)
    run("--shard " + std::to_string(i) + "/3 -o " + (d / ("s" + std::to_string(i))).string());
  const auto m = run_tool(experiment("merge " + (d / "s0").string() + " " + (d / "s1").string() + " " +
                                     (d / "s2").string() + " -o " + (d / "merged").string()));
  INFO(m.err);
  REQUIRE(m.status == 0);
  CHECK(read_records(d / "merged" / "records.jsonl").lines == whole.lines);
  const auto ms = summary_of(d / "merged");
  CHECK(ms["models"] == summary_of(d / "whole")["models"]);
  CHECK(ms["merged_shards"] == 3);
  // The figure drawn again from the records, as a PNG.
  const auto f =
      run_tool("bagnet-experiment figure " + (d / "merged").string() + " " + (d / "again.png").string());
  INFO(f.err);
  CHECK(f.status == 0);
  CHECK(read_file(d / "again.png").substr(1, 3) == "PNG");
  // A missing shard, and a run with other options, are refused in one line.
  check_one_line(run_tool(experiment("merge " + (d / "s0").string() + " " + (d / "s1").string() + " -o " +
                                     (d / "m2").string())),
                 "missing shard(s) 2/3");
  check_one_line(
      run_tool(experiment("mask -m " + kModel + " --map-model " + kModel + " --k 2 --seed 4 --data " +
                          kExamples + " -o " + (d / "whole").string())),
      "parameters.k differs");
}

TEST_CASE("bagnet-experiment: bad input gives one clear line", "[experiments][tool]") {
  const fs::path d = scratch_dir("exp_bad");
  const std::string data = " --data " + kExamples + " -o " + (d / "out").string();
  check_one_line(run_tool(experiment("scramble -m nosuchmodel" + data)), "nosuchmodel");
  check_one_line(run_tool(experiment("mask -m " + kModel + " --map-model resnet50" + data)),
                 "the map model must be a BagNet");
  check_one_line(
      run_tool(experiment("mask -m " + kModel + " --map-model " + kModel + " --k 10" + data)),
      "more patches than the image holds: a 28x28 input has room for at most 9 non-overlapping 11x11");
  fs::create_directories(d / "empty" / "bag");  // a class folder without images
  check_one_line(run_tool(experiment("scramble -m " + kModel + " --data " + (d / "empty").string() + " -o " +
                                     (d / "out2").string())),
                 "no images");
  check_one_line(run_tool(experiment("errors " + (d / "empty").string() + " " + (d / "empty").string() +
                                     " -o " + (d / "out3").string())),
                 "no results.jsonl");
  CHECK_FALSE(fs::exists(d / "out" / "records.jsonl"));
}
