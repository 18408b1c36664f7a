#include "reports/heatmap_report.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/json_read.h"
#include "reports/html.h"

namespace bagnet::reports {
namespace {

namespace fs = std::filesystem;

// Cards show at most this many classes (a --all run lists every class in its sidecars).
constexpr size_t kRowsPerCard = 5;

// A sidecar's class entry, as far as the report needs it.
struct ClassEntry {
  int index = -1;
  std::string name, wnid;
  double logit = 0, probability = -1;
  int rank = 0;  // 0: unknown (the run computed no pooled logits)
  bool has_logit = false;
};

ClassEntry class_entry(const nlohmann::json& j, const std::string& file) {
  ClassEntry c;
  c.index = json_integer<int>(json_field(j, "index", file, "classes[]"), file, "classes[].index", 0);
  c.name = json_string(json_field(j, "name", file, "classes[]"), file, "classes[].name");
  if (const auto it = j.find("wnid"); it != j.end()) c.wnid = json_string(*it, file, "classes[].wnid");
  if (const auto it = j.find("pooled_logit"); it != j.end()) {
    c.logit = json_number(*it, file, "classes[].pooled_logit");
    c.has_logit = true;
  }
  if (const auto it = j.find("probability"); it != j.end())
    c.probability = json_number(*it, file, "classes[].probability", 0, 1);
  if (const auto it = j.find("rank"); it != j.end())
    c.rank = json_integer<int>(*it, file, "classes[].rank", 1);
  return c;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One card from one sidecar; `model` and `provenance` keep the first sidecar's, for the header.
nlohmann::json card(const fs::path& sidecar, const nlohmann::json& side, const fs::path& root,
                    std::set<std::string>& class_names, bool& any_target) {
  const std::string file = sidecar.string();
  if (!side.is_object() || !side.contains("map") || !side.contains("classes"))
    throw Error(file, "not a bagnet-heatmap sidecar (no 'map' or 'classes')");
  const std::string image = json_string(json_field(side, "image", file), file, "image");
  const fs::path dir = sidecar.parent_path();
  const fs::path rel_dir = dir.lexically_relative(root);
  const std::string title =
      (rel_dir.empty() || rel_dir == "." ? fs::path(image).filename() : rel_dir / fs::path(image).filename())
          .generic_string();

  const nlohmann::json& classes_json = json_field(side, "classes", file);
  if (!classes_json.is_array()) throw Error(file, "'classes' is not an array");
  std::vector<ClassEntry> classes;
  for (const auto& c : classes_json) classes.push_back(class_entry(c, file));
  // Best first: by rank when known, else by pooled logit, else as listed.
  std::stable_sort(classes.begin(), classes.end(), [](const ClassEntry& a, const ClassEntry& b) {
    if (a.rank && b.rank) return a.rank < b.rank;
    if (a.has_logit && b.has_logit) return a.logit > b.logit;
    return false;
  });

  int target = -1;
  std::string target_name;
  if (const auto it = side.find("target"); it != side.end()) {
    target = json_integer<int>(json_field(*it, "index", file, "target"), file, "target.index", 0);
    target_name = json_string(json_field(*it, "name", file, "target"), file, "target.name");
    any_target = true;
  }
  // The top-1 class: the sidecar's "top" list when the run computed it, else a rank-1 class.
  int top1 = -1;
  if (const auto it = side.find("top"); it != side.end() && it->is_array() && !it->empty())
    top1 = json_integer<int>(json_field((*it)[0], "index", file, "top[0]"), file, "top[0].index", 0);
  const ClassEntry* best = nullptr;
  for (const auto& c : classes)
    if ((top1 >= 0 && c.index == top1) || (top1 < 0 && c.rank == 1)) best = &c;

  nlohmann::json rows = nlohmann::json::array();
  std::string search = lower(title);
  for (size_t i = 0; i < classes.size(); ++i) {
    const auto& c = classes[i];
    search += "\n" + lower(c.name) + (c.wnid.empty() ? "" : " " + c.wnid);
    if (i < kRowsPerCard || c.index == target)
      rows.push_back({c.name, c.probability >= 0 ? nlohmann::json(c.probability) : nlohmann::json(nullptr),
                      c.index == target ? "target" : ""});
  }
  nlohmann::json j = {{"t", title}, {"rows", rows}, {"s", search}};
  nlohmann::json cls = nlohmann::json::array();
  nlohmann::json notes = nlohmann::json::array();
  nlohmann::json v = nlohmann::json::object();
  if (best) {
    cls.push_back(best->name);
    class_names.insert(best->name);
    if (best->has_logit) {
      v["logit"] = best->logit;
      char buf[64];
      std::snprintf(buf, sizeof buf, "top-1 logit %.3g", best->logit);
      notes.push_back(buf);
    }
    if (best->probability >= 0) v["prob"] = best->probability;
  }
  if (target >= 0) {
    notes.insert(notes.begin(), "true: " + target_name);
    if (std::find(cls.begin(), cls.end(), target_name) == cls.end()) cls.push_back(target_name);
    class_names.insert(target_name);
    search += "\n" + lower(target_name);
    j["s"] = search;
    const auto t =
        std::find_if(classes.begin(), classes.end(), [&](const ClassEntry& c) { return c.index == target; });
    if (best)
      j["ok"] = best->index == target;
    else if (t != classes.end() && t->rank)
      j["ok"] = t->rank == 1;
    if (t != classes.end() && t->has_logit) v["target_logit"] = t->logit;
  }
  j["cls"] = cls;
  j["notes"] = notes;
  j["v"] = v;

  // The full-size figure: the panel when drawn, else the first rendering.
  std::string shown;
  nlohmann::json links = nlohmann::json::array();
  if (const auto r = side.find("rendering"); r != side.end() && r->is_object()) {
    if (const auto files = r->find("files"); files != r->end() && files->is_array()) {
      for (const auto& f : *files) {
        const std::string name =
            json_string(json_field(f, "file", file, "rendering.files[]"), file, "rendering.files[].file");
        const std::string url = relative_url((dir / name).string(), root.string());
        const bool panel = name.size() > 10 && name.compare(name.size() - 10, 10, "_panel.png") == 0;
        if (shown.empty() || panel) shown = url;
        links.push_back({name, url});
      }
    }
  }
  if (!shown.empty()) {
    j["img"] = shown;
    j["href"] = shown;
  }
  const auto map_file = side["map"].is_object() ? side["map"].value("file", std::string()) : std::string();
  if (!map_file.empty()) links.push_back({map_file, relative_url((dir / map_file).string(), root.string())});
  links.push_back({sidecar.filename().string(), relative_url(file, root.string())});
  j["links"] = links;
  return j;
}

std::string model_line(const nlohmann::json& side, size_t images) {
  std::string out;
  if (const auto m = side.find("model"); m != side.end() && m->is_object()) {
    out += m->value("name", std::string("model"));
    if (const auto w = m->find("weights"); w != m->end() && w->is_object()) {
      const std::string sha = w->value("sha256", std::string());
      out += sha.empty() ? ", random weights" : ", weights " + sha.substr(0, 8);
    }
  }
  if (side.contains("stride") && side["stride"].is_number())
    out += ", stride " + std::to_string(side["stride"].get<int>());
  if (side.contains("method") && side["method"].is_string())
    out += " (" + side["method"].get<std::string>() + ")";
  return out + ", " + std::to_string(images) + (images == 1 ? " image" : " images");
}

}  // namespace

ReportOutput write_heatmap_report(const std::string& output_dir) {
  const fs::path root(output_dir);
  if (!fs::is_directory(root)) throw Error(output_dir, "no such directory");
  // Every sidecar below the folder, in path order (the order of the input tree).
  std::vector<fs::path> sidecars;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->path().extension() == ".json" && it->is_regular_file(ec)) sidecars.push_back(it->path());
  if (ec) throw Error(output_dir, "cannot list: " + ec.message());
  std::sort(sidecars.begin(), sidecars.end());

  ReportOutput out;
  nlohmann::json items = nlohmann::json::array(), first;
  std::set<std::string> class_names;
  bool any_target = false;
  size_t with_target = 0, correct = 0;
  for (const auto& p : sidecars) {
    try {
      const nlohmann::json side = parse_json(read_file(p.string(), "cannot read"), p.string());
      nlohmann::json c = card(p, side, root, class_names, any_target);
      if (first.is_null()) first = side;
      if (c.contains("ok")) {
        ++with_target;
        correct += c["ok"].get<bool>();
      }
      items.push_back(std::move(c));
    } catch (const Error& e) {
      std::cerr << (e.path() == p.string() ? std::string(e.what()) : p.string() + ": " + e.what())
                << " (left out of the report)\n";
      ++out.skipped;
    }
  }
  out.items = items.size();

  Page page;
  page.title = "Evidence maps: " + fs::absolute(root).lexically_normal().filename().string();
  if (page.title == "Evidence maps: ") page.title = "Evidence maps";
  page.subtitle = first.is_null() ? "no sidecars yet" : model_line(first, items.size());
  std::string body = "<div class=\"stats\">" + stat_box(std::to_string(items.size()), "images");
  if (with_target) {
    body +=
        stat_box(percent(static_cast<double>(correct) / with_target),
                 "top-1 correct (" + std::to_string(correct) + " of " + std::to_string(with_target) + ")");
    body += stat_box(std::to_string(with_target - correct), "wrong");
  }
  body += "</div>\n<h2>Images</h2>\n";
  nlohmann::json config = {
      {"sorts",
       {{{"key", "name"}, {"label", "Sort: file name"}, {"dir", 1}},
        {{"key", "logit"}, {"label", "Sort: top-1 logit, highest first"}, {"dir", -1}},
        {{"key", "logit_low"}, {"label", "Sort: top-1 logit, lowest first"}, {"dir", 1}},
        {{"key", "prob"}, {"label", "Sort: top-1 probability, lowest first"}, {"dir", 1}}}},
      {"class_label", "classes (top-1 or true)"},
      {"classes", class_names},
      {"correct", any_target},
      {"per_page", 100},
      {"empty", "No image matches the filters."}};
  if (any_target)
    config["sorts"].push_back(
        {{"key", "target_logit"}, {"label", "Sort: true class's logit, lowest first"}, {"dir", 1}});
  for (auto& item : items)  // the lowest-first sort reads the same value
    if (item["v"].contains("logit")) item["v"]["logit_low"] = item["v"]["logit"];
  body += gallery("images", items, config);
  body +=
      "<p class=\"note\">Each card: the image's panel (image | evidence map of the top class | second "
      "class, one colour scale) or its first map; classes with their probabilities (softmax of the pooled "
      "logits), \u2713 the true class. Click a card for the full-size figure, its maps, the raw .npy "
      "and the sidecar.</p>\n";
  page.body = body;
  if (!first.is_null() && first.contains("provenance")) page.footer = provenance_footer(first["provenance"]);
  out.path = write_page(output_dir, page);
  return out;
}

}  // namespace bagnet::reports
