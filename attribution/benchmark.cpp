#include "attribution/benchmark.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "attribution/scores.h"
#include "datasets/loader.h"
#include "figures/canvas.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/interrupt.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"
#include "lib/runtime.h"

namespace bagnet::attribution {
namespace {

namespace fs = std::filesystem;

// A scores file's lines that parse, its header first. A line torn by a crash is skipped: that
// image is redone by a resumed run and left out of the summary.
std::vector<nlohmann::json> read_scores(const std::string& file) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
    }
  }
  return lines;
}

std::string scores_name(size_t index, size_t count) {
  return count == 1 ? "scores.jsonl"
                    : "scores." + std::to_string(index) + "-of-" + std::to_string(count) + ".jsonl";
}

// What must agree between runs writing into one folder (shards included).
nlohmann::json run_identity(AttributionModel& model, const EvalDataset& d, const BenchmarkOptions& o,
                            const std::vector<std::string>& methods) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& m : methods) params[m] = model.parameters(m, o.method);
  const auto mj = model.model_json(o.no_resize);
  return {{"model", mj.value("name", "")},
          {"weights_sha256", mj.contains("weights") ? mj["weights"].value("sha256", "") : ""},
          {"dataset", d.source},
          {"dataset_fingerprint", d.fingerprint},
          {"methods", methods},
          {"parameters", params},
          {"target", o.target},
          {"cell", o.cell},
          {"top_k", o.top_k},
          {"curve_points", o.curve_points},
          {"limit", o.limit},
          {"subset_seed", o.subset_seed}};
}

// Fractions on which mean curves are drawn and averaged (curves of images with other cell
// counts are interpolated linearly onto them).
constexpr int kCurveGrid = 21;

std::vector<double> resample(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> out(kCurveGrid);
  for (int i = 0; i < kCurveGrid; ++i) {
    const double f = static_cast<double>(i) / (kCurveGrid - 1);
    size_t k = 1;
    while (k + 1 < x.size() && x[k] < f) ++k;
    const double t = x[k] == x[k - 1] ? 0 : std::clamp((f - x[k - 1]) / (x[k] - x[k - 1]), 0.0, 1.0);
    out[i] = y[k - 1] + t * (y[k] - y[k - 1]);
  }
  return out;
}

nlohmann::json summary_json(const Summary& s) {
  return {{"n", s.n},   {"mean", s.mean}, {"std", s.std}, {"median", s.median},
          {"q1", s.q1}, {"q3", s.q3},     {"min", s.min}, {"max", s.max}};
}

// ---------------------------------------------------------------------------------------------
// The figure: boxes of Spearman's rho per method, and the mean deletion curves.

struct Rgb {
  double r, g, b;
};
Rgb hex(unsigned v) { return {((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0}; }
Rgb series_color(size_t i) {
  static const Rgb kTab10[] = {hex(0x1f77b4), hex(0xff7f0e), hex(0x2ca02c), hex(0xd62728), hex(0x9467bd),
                               hex(0x8c564b), hex(0xe377c2), hex(0x7f7f7f), hex(0xbcbd22), hex(0x17becf)};
  return kTab10[i % 10];
}

void write_figure(const std::string& path, const std::vector<std::string>& methods,
                  const std::map<std::string, Summary>& rho,
                  const std::map<std::string, std::vector<double>>& curves, const std::string& caption) {
  using namespace figures::canvas;
  const double box_w = 34, plot_h = 200, left = 52, top = 36, gap = 70, curve_w = 260;
  const double boxes_w = box_w * methods.size() + 10;
  const double width = left + boxes_w + gap + curve_w + 150, height = top + plot_h + 140;
  auto draw = [&](cairo_t* cr) {
    prepare_text(cr);
    cairo_set_line_width(cr, 1);
    // Panel 1: Spearman's rho, -1..1.
    const double x0 = left, y0 = top;
    auto y_of = [&](double v) { return y0 + plot_h * (1 - (v + 1) / 2); };
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, kLabelFont);
    draw_text(cr, "Spearman's rho with the exact map", x0 + boxes_w / 2, top - 18, Align::center);
    cairo_rectangle(cr, x0, y0, boxes_w, plot_h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, kTickFont);
    for (double v : {-1.0, -0.5, 0.0, 0.5, 1.0}) {
      cairo_move_to(cr, x0 - 4, y_of(v));
      cairo_line_to(cr, x0, y_of(v));
      cairo_stroke(cr);
      draw_text(cr, format_fixed(v, 1), x0 - 6, y_of(v), Align::right);
    }
    cairo_set_source_rgb(cr, 0.8, 0.8, 0.8);
    cairo_move_to(cr, x0, y_of(0));
    cairo_line_to(cr, x0 + boxes_w, y_of(0));
    cairo_stroke(cr);
    for (size_t i = 0; i < methods.size(); ++i) {
      const auto it = rho.find(methods[i]);
      const double cx = x0 + 5 + box_w * (i + 0.5);
      if (it != rho.end() && it->second.n > 0) {
        const Summary& s = it->second;
        const Rgb c = series_color(i);
        // Whiskers at 1.5 IQR, clipped to the data (matplotlib's boxplot).
        const double iqr = s.q3 - s.q1;
        const double lo = std::max(s.min, s.q1 - 1.5 * iqr), hi = std::min(s.max, s.q3 + 1.5 * iqr);
        cairo_set_source_rgb(cr, c.r, c.g, c.b);
        cairo_move_to(cr, cx, y_of(lo));
        cairo_line_to(cr, cx, y_of(s.q1));
        cairo_move_to(cr, cx, y_of(s.q3));
        cairo_line_to(cr, cx, y_of(hi));
        cairo_stroke(cr);
        cairo_rectangle(cr, cx - box_w * 0.35, y_of(s.q3), box_w * 0.7, y_of(s.q1) - y_of(s.q3));
        cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.35);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, c.r, c.g, c.b);
        cairo_stroke(cr);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, cx - box_w * 0.35, y_of(s.median));
        cairo_line_to(cr, cx + box_w * 0.35, y_of(s.median));
        cairo_stroke(cr);
        cairo_set_line_width(cr, 1);
        cairo_arc(cr, cx, y_of(s.mean), 2, 0, 2 * kPi);  // the mean as a dot
        cairo_fill(cr);
      }
      // Method names written downwards under their boxes.
      cairo_save(cr);
      cairo_set_source_rgb(cr, 0, 0, 0);
      cairo_translate(cr, cx, y0 + plot_h + 6);
      cairo_rotate(cr, kPi / 2);
      draw_text(cr, methods[i], 0, 0, Align::left);
      cairo_restore(cr);
    }
    // Panel 2: mean deletion curves.
    const double cx0 = x0 + boxes_w + gap;
    double ymin = 1e300, ymax = -1e300;
    for (const auto& [m, c] : curves)
      for (double v : c) ymin = std::min(ymin, v), ymax = std::max(ymax, v);
    if (!(ymax > ymin)) ymax = ymin + 1;
    const double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    auto cy = [&](double v) { return y0 + plot_h * (1 - (v - ymin) / (ymax - ymin)); };
    auto cxf = [&](double f) { return cx0 + curve_w * f; };
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, kLabelFont);
    draw_text(cr, "deletion: true logit vs masked fraction", cx0 + curve_w / 2, top - 18, Align::center);
    draw_text(cr, "fraction of cells masked (method's order)", cx0 + curve_w / 2, y0 + plot_h + 30,
              Align::center);
    cairo_rectangle(cr, cx0, y0, curve_w, plot_h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, kTickFont);
    for (double f : {0.0, 0.25, 0.5, 0.75, 1.0}) {
      cairo_move_to(cr, cxf(f), y0 + plot_h);
      cairo_line_to(cr, cxf(f), y0 + plot_h + 4);
      cairo_stroke(cr);
      draw_text(cr, format_fixed(f, 2), cxf(f), y0 + plot_h + 12, Align::center);
    }
    for (int t = 0; t <= 4; ++t) {
      const double v = ymin + (ymax - ymin) * t / 4;
      cairo_move_to(cr, cx0 - 4, cy(v));
      cairo_line_to(cr, cx0, cy(v));
      cairo_stroke(cr);
      draw_text(cr, format_fixed(v, 2), cx0 - 6, cy(v), Align::right);
    }
    double legend_y = y0 + 6;
    auto draw_curve = [&](const std::string& name, const std::vector<double>& c, Rgb col, bool dashed) {
      cairo_set_source_rgb(cr, col.r, col.g, col.b);
      cairo_set_line_width(cr, dashed ? 2 : 1.5);
      if (dashed) {
        const double d[] = {5, 3};
        cairo_set_dash(cr, d, 2, 0);
      }
      for (size_t i = 0; i < c.size(); ++i) {
        const double f = static_cast<double>(i) / (c.size() - 1);
        if (i == 0)
          cairo_move_to(cr, cxf(f), cy(c[i]));
        else
          cairo_line_to(cr, cxf(f), cy(c[i]));
      }
      cairo_stroke(cr);
      cairo_move_to(cr, cx0 + curve_w + 10, legend_y);
      cairo_line_to(cr, cx0 + curve_w + 28, legend_y);
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
      cairo_set_line_width(cr, 1);
      cairo_set_source_rgb(cr, 0, 0, 0);
      draw_text(cr, name, cx0 + curve_w + 32, legend_y, Align::left);
      legend_y += 14;
    };
    if (curves.count("exact")) draw_curve("exact (reference)", curves.at("exact"), {0, 0, 0}, true);
    for (size_t i = 0; i < methods.size(); ++i)
      if (curves.count(methods[i])) draw_curve(methods[i], curves.at(methods[i]), series_color(i), false);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_font_size(cr, kSmallFont);
    draw_text(cr, caption, 8, height - 10, Align::left);
  };
  write_atomically(path, render(path, format_of(path), width, height, draw));
}

}  // namespace

heatmaps::RunCounts run_benchmark(AttributionModel& model, const EvalDataset& d, const BenchmarkOptions& o,
                                  const std::string& output_dir) {
  if (!model.is_bagnet())
    throw Error(model.model_json(o.no_resize).value("name", ""),
                "the benchmark needs a BagNet: its exact evidence map is the ground truth");
  if (o.cell < 1) throw Error("--cell " + std::to_string(o.cell), "must be at least 1");
  if (o.target != "label" && o.target != "predicted")
    throw Error("--benchmark-target " + o.target, "must be label or predicted");
  const std::vector<std::string> methods = o.methods.empty() ? method_names() : o.methods;
  MethodOptions mo = o.method;
  mo.channels = false;
  for (const auto& m : methods) model.check(m, mo);

  RunLockOptions lock_options;
  lock_options.shard_index = o.shard_index;
  lock_options.shard_count = o.shard_count;
  const RunLock lock(output_dir, "bagnet-attribute", lock_options);
  install_interrupt_handlers();

  // Which images: every one, or a seeded random subset (sorted, so shards split it alike).
  std::vector<size_t> chosen(d.items.size());
  for (size_t i = 0; i < chosen.size(); ++i) chosen[i] = i;
  if (o.limit > 0 && o.limit < chosen.size()) {
    std::mt19937_64 rng(o.subset_seed);
    std::shuffle(chosen.begin(), chosen.end(), rng);
    chosen.resize(o.limit);
    std::sort(chosen.begin(), chosen.end());
  }
  std::vector<size_t> mine;
  for (size_t k : shard_positions(chosen.size(), o.shard_index, o.shard_count)) mine.push_back(chosen[k]);

  const nlohmann::json identity = run_identity(model, d, o, methods);
  const std::string file = (fs::path(output_dir) / scores_name(o.shard_index, o.shard_count)).string();
  std::set<std::string> done;
  if (o.overwrite) {
    std::error_code ec;
    fs::remove(file, ec);
  }
  if (fs::exists(file)) {
    const auto lines = read_scores(file);
    if (!lines.empty() && lines[0].value("header", nlohmann::json()) != identity)
      throw Error(file,
                  "holds another benchmark (model, weights, dataset or options differ); use another "
                  "--output-dir or --overwrite");
    for (size_t i = 1; i < lines.size(); ++i) done.insert(lines[i].value("key", ""));
  }
  heatmaps::RunCounts counts;
  std::vector<size_t> todo;
  for (size_t k : mine) {
    if (done.count(d.items[k].key))
      ++counts.skipped;
    else
      todo.push_back(k);
  }
  LineAppender out(file);
  if (!fs::exists(file) || fs::file_size(file) == 0)
    out.append(nlohmann::json(
                   {{"header", identity},
                    {"provenance", provenance_json("bagnet-attribute", model.device(), runtime_threads())},
                    {"model", model.model_json(o.no_resize)}})
                   .dump());
  std::cerr << "bagnet-attribute --benchmark: " << identity["model"].get<std::string>() << " on " << d.source
            << ", " << todo.size() << " images"
            << (counts.skipped ? ", " + std::to_string(counts.skipped) + " already done" : "") << "\n";

  Preprocessing prep = model.preprocessing(o.no_resize);
  ImageLoader loader(
      todo.size(), [&](size_t i) { return load_eval_item(d, d.items[todo[i]], prep, o.max_pixels); }, 2, 8);
  Progress progress("benchmark", todo.size(), o.progress && todo.size() > 1);
  LoadedImage item;
  while (!interrupted() && loader.next(item)) {
    try {
      if (!item.error.empty()) throw Error(item.path, item.error);
      const EvalItem& ei = d.items[todo[item.index]];
      const int h = item.height, w = item.width;
      const auto logits = model.classify(item.chw, h, w);
      const int predicted = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const int target = o.target == "predicted" || ei.target < 0 ? predicted : ei.target;
      const auto exact = model.exact_map(item.chw, h, w, target);
      const std::vector<double> exact_px(exact.begin(), exact.end());
      const auto exact_cells = cell_sums(exact.data(), h, w, o.cell);
      const int cells = static_cast<int>(exact_cells.size());
      const int k = o.top_k > 0 ? o.top_k : std::max(1, (cells + 5) / 10);
      const auto counts_masked = deletion_counts(cells, o.curve_points);
      std::vector<double> fractions;
      for (int c : counts_masked) fractions.push_back(static_cast<double>(c) / cells);
      auto curve_of = [&](const std::vector<double>& cell_scores) {
        const auto masks = deletion_masks(ranking(cell_scores), counts_masked, h, w, o.cell);
        const auto y = model.masked_logits(item.chw, h, w, target, masks);
        return std::vector<double>(y.begin(), y.end());
      };
      nlohmann::json line = {{"key", ei.key},          {"label", ei.label},       {"target", target},
                             {"predicted", predicted}, {"logit", logits[target]}, {"top_k", k},
                             {"fractions", fractions}};
      const auto exact_curve = curve_of(exact_cells);
      line["exact"] = {{"deletion_auc", area_under_curve(fractions, exact_curve)}, {"curve", exact_curve}};
      for (const auto& m : methods) {
        const auto a = model.attribute(item.chw, h, w, target, m, mo);
        const std::vector<double> px(a.data.begin(), a.data.end());
        const auto a_cells = cell_sums(a.data.data(), h, w, o.cell);
        const auto curve = curve_of(a_cells);
        nlohmann::json mj = {{"spearman", spearman(px, exact_px)},
                             {"pearson", pearson(px, exact_px)},
                             {"top_k_overlap", top_k_overlap(a_cells, exact_cells, k)},
                             {"deletion_auc", area_under_curve(fractions, curve)},
                             {"curve", curve}};
        if (a.details.contains("completeness")) mj["completeness"] = a.details["completeness"];
        for (const char* key : {"spearman", "pearson"})
          if (std::isnan(mj[key].get<double>())) mj[key] = nullptr;  // a constant map
        line[m] = mj;
      }
      out.append(line.dump());
      ++counts.done;
    } catch (const OutputError&) {
      progress.finish();
      throw;
    } catch (const Error& e) {
      std::cerr << (e.path() == item.path ? std::string(e.what()) : item.path + ": " + e.what()) << "\n";
      ++counts.failed;
    }
    progress.advance();
  }
  progress.finish();
  if (interrupted()) {
    counts.interrupted = true;
    counts.left = todo.size() - counts.done - counts.failed;
  }
  return counts;
}

nlohmann::json summarise_benchmark(const std::string& output_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(output_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("scores", 0) == 0 && e.path().extension() == ".jsonl") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw Error(output_dir, "no benchmark scores (scores*.jsonl) here");
  nlohmann::json identity, model_json, provenance;
  std::map<std::string, nlohmann::json> lines;  // by key: shards and resumed runs counted once
  for (const auto& f : files) {
    auto scores = read_scores(f);
    if (scores.empty()) continue;
    const auto id = scores[0].value("header", nlohmann::json());
    if (identity.is_null()) {
      identity = id;
      model_json = scores[0].value("model", nlohmann::json());
      provenance = scores[0].value("provenance", nlohmann::json());
    } else if (id != identity) {  // shards differ in nothing but their positions
      throw Error(f, "is from another benchmark than " + files.front());
    }
    for (size_t i = 1; i < scores.size(); ++i) {
      const std::string key = scores[i].value("key", "");
      lines[key] = std::move(scores[i]);
    }
  }
  const auto methods = identity.value("methods", std::vector<std::string>{});
  std::map<std::string, std::map<std::string, std::vector<double>>> values;  // method -> metric -> values
  std::map<std::string, std::vector<double>> curve_sums;
  size_t correct = 0;
  for (const auto& [key, j] : lines) {
    if (j.value("target", -1) == j.value("predicted", -2)) ++correct;
    const auto fractions = j.value("fractions", std::vector<double>{});
    auto add_curve = [&](const std::string& m, const nlohmann::json& mj) {
      const auto c = resample(fractions, mj.value("curve", std::vector<double>{}));
      auto& s = curve_sums[m];
      if (s.empty()) s.assign(c.size(), 0.0);
      for (size_t i = 0; i < c.size(); ++i) s[i] += c[i];
    };
    values["exact"]["deletion_auc"].push_back(j["exact"].value("deletion_auc", 0.0));
    add_curve("exact", j["exact"]);
    for (const auto& m : methods) {
      if (!j.contains(m)) continue;
      const auto& mj = j[m];
      for (const char* metric : {"spearman", "pearson", "top_k_overlap", "deletion_auc"})
        values[m][metric].push_back(mj[metric].is_number() ? mj[metric].get<double>()
                                                           : std::numeric_limits<double>::quiet_NaN());
      if (mj.contains("completeness"))
        values[m]["completeness_abs_delta"].push_back(std::abs(mj["completeness"].value("delta", 0.0)));
      add_curve(m, mj);
    }
  }
  nlohmann::json per_method = nlohmann::json::object();
  std::map<std::string, Summary> rho;
  std::map<std::string, std::vector<double>> mean_curves;
  for (auto& [m, metrics] : values) {
    nlohmann::json mj = nlohmann::json::object();
    for (auto& [metric, v] : metrics) {
      const Summary s = summarise(v);
      mj[metric] = summary_json(s);
      if (metric == "spearman") rho[m] = s;
    }
    std::vector<double> c = curve_sums[m];
    for (auto& v : c) v /= static_cast<double>(lines.size());
    mj["mean_deletion_curve"] = c;
    mean_curves[m] = c;
    per_method[m] = mj;
  }
  nlohmann::json summary = {
      {"benchmark", identity},
      {"images", lines.size()},
      {"accuracy", lines.empty() ? 0.0 : static_cast<double>(correct) / lines.size()},
      {"curve_fractions", resample({0, 1}, {0, 1})},
      {"methods", per_method},
      {"model", model_json},
      {"provenance", provenance},
      {"summary_written", utc_now_iso()},
      {"files", {{"scores", files}, {"csv", "summary.csv"}, {"figure", "benchmark.png"}}},
  };
  atomic_write((fs::path(output_dir) / "summary.json").string(), summary.dump(2) + "\n");
  std::ostringstream csv;
  csv << "method,metric,n,mean,std,median,q1,q3,min,max\n";
  for (const auto& [m, mj] : per_method.items())
    for (const auto& [metric, s] : mj.items()) {
      if (metric == "mean_deletion_curve") continue;
      csv << m << "," << metric << "," << s["n"] << "," << s["mean"] << "," << s["std"] << "," << s["median"]
          << "," << s["q1"] << "," << s["q3"] << "," << s["min"] << "," << s["max"] << "\n";
    }
  atomic_write((fs::path(output_dir) / "summary.csv").string(), csv.str());
  const std::string sha = identity.value("weights_sha256", "");
  const std::string caption = identity.value("model", "") + ", weights " +
                              (sha.empty() ? "random" : sha.substr(0, 8)) + ", " +
                              std::to_string(lines.size()) + " images of " + identity.value("dataset", "") +
                              ", cells " + std::to_string(identity.value("cell", 0)) +
                              " px; boxes: quartiles, " + "median line, mean dot, whiskers 1.5 IQR";
  write_figure((fs::path(output_dir) / "benchmark.png").string(), methods, rho, mean_curves, caption);
  return summary;
}

std::string format_benchmark(const nlohmann::json& summary) {
  std::ostringstream t;
  char buf[256];
  t << summary.value("images", 0) << " images; accuracy " << summary.value("accuracy", 0.0) << "\n";
  t << "| method | Spearman | Pearson | top-k overlap | deletion AUC |\n|---|---|---|---|---|\n";
  const auto& methods = summary["methods"];
  auto cell = [&](const nlohmann::json& mj, const char* metric) {
    if (!mj.contains(metric) || !mj[metric]["mean"].is_number()) return std::string("");
    std::snprintf(buf, sizeof buf, "%.3f \u00b1 %.3f", mj[metric]["mean"].get<double>(),
                  mj[metric]["std"].get<double>());
    return std::string(buf);
  };
  std::vector<std::string> order = summary["benchmark"].value("methods", std::vector<std::string>{});
  order.push_back("exact");
  for (const auto& m : order) {
    if (!methods.contains(m)) continue;
    const auto& mj = methods[m];
    t << "| " << (m == "exact" ? "exact map (reference)" : m) << " | " << cell(mj, "spearman") << " | "
      << cell(mj, "pearson") << " | " << cell(mj, "top_k_overlap") << " | " << cell(mj, "deletion_auc")
      << " |\n";
  }
  return t.str();
}

}  // namespace bagnet::attribution
