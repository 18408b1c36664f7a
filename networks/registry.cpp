#include "networks/registry.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/json_read.h"

namespace fs = std::filesystem;

namespace bagnet {
namespace {

nlohmann::json read_registry_file();

// The registry's numbers, range-checked: a typo must not become a 2^31-pixel resize.
constexpr int kMaxSide = 1 << 16;

Preprocessing parse_preprocessing(const nlohmann::json& j, const std::string& path,
                                  const std::string& where) {
  if (!j.is_object()) throw Error(path, "preprocessing '" + where + "' is not an object");
  Preprocessing p;
  auto optional_int = [&](const char* key, int fallback) {
    const auto it = j.find(key);
    return it == j.end() ? fallback : json_integer<int>(*it, path, where + "." + key, 0, kMaxSide);
  };
  p.resize = optional_int("resize", 0);
  p.crop = optional_int("crop", 0);
  if (const auto it = j.find("interpolation"); it != j.end())
    p.interpolation = json_string(*it, path, where + ".interpolation");
  if (const auto it = j.find("grayscale"); it != j.end())
    p.grayscale = json_bool(*it, path, where + ".grayscale");
  std::vector<float> mean, stdv;
  for (auto [key, out] : {std::pair<const char*, std::vector<float>*>{"mean", &mean}, {"std", &stdv}}) {
    const nlohmann::json& list = json_field(j, key, path, where);
    if (!list.is_array()) throw Error(path, "'" + where + "." + key + "' is not an array");
    for (size_t i = 0; i < list.size() && i < 4; ++i)
      out->push_back(static_cast<float>(
          json_number(list[i], path, where + "." + key + "[" + std::to_string(i) + "]", -1e6, 1e6)));
    if (list.size() > 3) out->clear();  // reported below
  }
  if (mean.size() != stdv.size() || (mean.size() != 3 && mean.size() != 1))
    throw Error(path, where + ": mean and std need 3 (RGB) or 1 (grayscale) values");
  for (size_t c = 0; c < 3; ++c) {
    p.mean[c] = mean[std::min(c, mean.size() - 1)];
    p.std[c] = stdv[std::min(c, stdv.size() - 1)];
    if (p.std[c] == 0.0f) throw Error(path, where + ": std must not be zero");
  }
  return p;
}

nlohmann::json read_registry_file() {
  const std::string path = registry_path();
  return parse_json(
      read_file(path, "cannot open the model registry (set BAGNET_CONFIG_DIR to the configs/ folder)"), path);
}

std::vector<ModelSpec> load_registry() { return parse_model_registry(registry_json(), registry_path()); }

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::vector<ModelSpec> parse_model_registry(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw Error(path, "malformed registry: the top level is not an object");
  const nlohmann::json& pre = json_field(j, "preprocessing", path);
  if (!pre.is_object()) throw Error(path, "malformed registry: 'preprocessing' is not an object");
  const nlohmann::json& models = json_field(j, "models", path);
  if (!models.is_array()) throw Error(path, "malformed registry: 'models' is not an array");
  if (const auto it = j.find("labels"); it != j.end()) {
    if (!it->is_object()) throw Error(path, "malformed registry: 'labels' is not an object");
    for (const auto& [key, entry] : it->items()) {
      json_string(json_field(entry, "names", path, "labels." + key), path, "labels." + key + ".names");
      if (entry.contains("wnids")) json_string(entry["wnids"], path, "labels." + key + ".wnids");
    }
  }
  std::vector<ModelSpec> specs;
  for (size_t i = 0; i < models.size(); ++i) {
    const nlohmann::json& row = models[i];
    const std::string where = "models[" + std::to_string(i) + "]";
    auto text = [&](const char* key, const char* fallback) {
      const auto it = row.find(key);
      if (it == row.end()) {
        if (fallback) return std::string(fallback);
        throw Error(path, "malformed registry: " + where + " has no '" + key + "'");
      }
      return json_string(*it, path, where + "." + key);
    };
    auto number = [&](const char* key, int fallback, int lo, int hi) {
      const auto it = row.find(key);
      return it == row.end() ? fallback : json_integer<int>(*it, path, where + "." + key, lo, hi);
    };
    if (!row.is_object()) throw Error(path, "malformed registry: " + where + " is not an object");
    ModelSpec s;
    s.name = text("name", nullptr);
    s.architecture = text("architecture", nullptr);
    s.patch_size = number("patch_size", 0, 0, kMaxSide);
    s.num_classes = number("num_classes", 1000, 1, 1 << 24);
    s.in_channels = number("in_channels", 3, 1, 3);
    s.labels = text("labels", "imagenet");
    s.preprocessing_name = text("preprocessing", nullptr);
    const auto p = pre.find(s.preprocessing_name);
    if (p == pre.end())
      throw Error(path, "model " + s.name + ": unknown preprocessing '" + s.preprocessing_name + "'");
    s.preprocessing = parse_preprocessing(*p, path, "preprocessing." + s.preprocessing_name);
    s.weights_file = text("weights", "");
    s.sha256_prefix = text("sha256", "");
    s.url = text("url", "");
    s.paper = text("paper", "");
    if (const auto it = row.find("embedded"); it != row.end())
      s.embedded = json_bool(*it, path, where + ".embedded");
    s.raw = row;
    specs.push_back(std::move(s));
  }
  return specs;
}

std::string config_dir() {
  if (const char* env = std::getenv("BAGNET_CONFIG_DIR"); env && *env) return env;
  return std::string(BAGNET_SOURCE_DIR) + "/configs";
}

std::string registry_path() { return config_dir() + "/models.json"; }

const nlohmann::json& registry_json() {
  static const nlohmann::json j = read_registry_file();
  return j;
}

const std::vector<ModelSpec>& model_registry() {
  static const std::vector<ModelSpec> specs = load_registry();
  return specs;
}

std::vector<std::string> near_matches(const std::string& name, const std::vector<std::string>& candidates,
                                      size_t max_results) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& c : candidates) {
    size_t d = edit_distance(name, c);
    // A substring match is as good as a near spelling ("resnet" -> "resnet50").
    std::string lc = c, ln = name;
    std::transform(lc.begin(), lc.end(), lc.begin(), ::tolower);
    std::transform(ln.begin(), ln.end(), ln.begin(), ::tolower);
    if (!ln.empty() && lc.find(ln) != std::string::npos) d = std::min<size_t>(d, 1);
    scored.emplace_back(d, c);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (const auto& [d, c] : scored) {
    if (out.size() >= max_results) break;
    if (d <= std::max<size_t>(2, name.size() / 2)) out.push_back(c);
  }
  return out;
}

const ModelSpec& find_model(const std::string& name) {
  const auto& specs = model_registry();
  std::vector<std::string> names;
  for (const auto& s : specs) {
    if (s.name == name) return s;
    names.push_back(s.name);
  }
  std::string msg = "unknown model";
  auto near = near_matches(name, names);
  if (!near.empty()) {
    msg += "; did you mean";
    for (size_t i = 0; i < near.size(); ++i) msg += (i ? ", " : " ") + near[i];
    msg += "?";
  }
  msg += " (bagnet-models lists all)";
  throw Error(name, msg);
}

std::vector<std::string> weights_search_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("BAGNET_WEIGHTS"); env && *env) dirs.emplace_back(env);
  if (const char* home = std::getenv("HOME"); home && *home)
    dirs.push_back(std::string(home) + "/.cache/bagnet");
  return dirs;
}

std::string find_weights(const ModelSpec& spec, const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(explicit_path, ec)) throw Error(explicit_path, "weights file not found");
    return explicit_path;
  }
  if (spec.weights_file.empty()) return "";
  // A shipped model's weights live in the repository (relative to configs/).
  const fs::path shipped = fs::path(config_dir()) / spec.weights_file;
  std::error_code ec;
  if (fs::is_regular_file(shipped, ec)) return shipped.string();
  for (const auto& d : weights_search_dirs()) {
    const fs::path p = fs::path(d) / spec.weights_file;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

std::string missing_weights_message(const ModelSpec& spec) {
  std::string dirs;
  for (const auto& d : weights_search_dirs()) dirs += (dirs.empty() ? "" : " or ") + d;
  std::string msg = "weights not found: " + spec.weights_file;
  if (!spec.url.empty()) msg += "; download it from " + spec.url;
  msg += " and put it in " + (dirs.empty() ? std::string("$BAGNET_WEIGHTS") : dirs) +
         " (or pass --weights FILE)";
  for (const auto& s : model_registry())
    if (s.embedded) {
      msg += "; to try the toolkit without a download, the embedded model needs none: --model " + s.name;
      break;
    }
  return msg;
}

}  // namespace bagnet
