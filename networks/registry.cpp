#include "networks/registry.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lib/error.h"

namespace fs = std::filesystem;

namespace bagnet {
namespace {

nlohmann::json read_registry_file();

Preprocessing parse_preprocessing(const nlohmann::json& j, const std::string& where) {
  Preprocessing p;
  try {
    p.resize = j.value("resize", 0);
    p.crop = j.value("crop", 0);
    p.interpolation = j.value("interpolation", "bilinear");
    p.grayscale = j.value("grayscale", false);
    auto mean = j.at("mean").get<std::vector<float>>();
    auto stdv = j.at("std").get<std::vector<float>>();
    if (mean.size() != stdv.size() || (mean.size() != 3 && mean.size() != 1))
      throw Error(where, "mean and std need 3 (RGB) or 1 (grayscale) values");
    for (size_t c = 0; c < 3; ++c) {
      p.mean[c] = mean[std::min(c, mean.size() - 1)];
      p.std[c] = stdv[std::min(c, stdv.size() - 1)];
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(where, std::string("bad preprocessing entry: ") + e.what());
  }
  return p;
}

nlohmann::json read_registry_file() {
  const std::string path = registry_path();
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the model registry (set BAGNET_CONFIG_DIR to the configs/ folder)");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("not valid JSON: ") + e.what());
  }
  return j;
}

std::vector<ModelSpec> load_registry() {
  const std::string path = registry_path();
  const nlohmann::json& j = registry_json();
  std::vector<ModelSpec> specs;
  try {
    const auto& pre = j.at("preprocessing");
    for (const auto& row : j.at("models")) {
      ModelSpec s;
      s.name = row.at("name").get<std::string>();
      s.architecture = row.at("architecture").get<std::string>();
      s.patch_size = row.value("patch_size", 0);
      s.num_classes = row.value("num_classes", 1000);
      s.in_channels = row.value("in_channels", 3);
      s.labels = row.value("labels", "imagenet");
      s.preprocessing_name = row.at("preprocessing").get<std::string>();
      if (!pre.contains(s.preprocessing_name))
        throw Error(path, "model " + s.name + ": unknown preprocessing '" + s.preprocessing_name + "'");
      s.preprocessing = parse_preprocessing(pre.at(s.preprocessing_name), path);
      s.weights_file = row.value("weights", "");
      s.sha256_prefix = row.value("sha256", "");
      s.url = row.value("url", "");
      s.paper = row.value("paper", "");
      s.embedded = row.value("embedded", false);
      s.raw = row;
      specs.push_back(std::move(s));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("malformed registry: ") + e.what());
  }
  return specs;
}

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
