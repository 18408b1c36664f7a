#include "networks/labels.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "lib/error.h"
#include "lib/json_read.h"
#include "networks/registry.h"

namespace bagnet {

std::string Labels::name(int index) const {
  return index >= 0 && static_cast<size_t>(index) < names.size() ? names[index] : std::to_string(index);
}

std::string Labels::wnid(int index) const {
  return index >= 0 && static_cast<size_t>(index) < wnids.size() ? wnids[index] : "";
}

int Labels::resolve(const std::string& ref) const {
  if (!ref.empty() && std::all_of(ref.begin(), ref.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // Digit by digit, stopping once past the label count: any length of digits is just out of
    // range (std::stol would throw std::out_of_range past 19 digits).
    size_t v = 0;
    for (const char c : ref) {
      v = v * 10 + static_cast<size_t>(c - '0');
      if (v >= names.size()) break;
    }
    if (v < names.size()) return static_cast<int>(v);
    throw Error(ref.size() > 40 ? ref.substr(0, 40) + "..." : ref,
                "class index out of range (0.." + std::to_string(names.size() - 1) + ")");
  }
  for (size_t i = 0; i < wnids.size(); ++i)
    if (wnids[i] == ref) return static_cast<int>(i);
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s;
  };
  const std::string lref = lower(ref);
  for (size_t i = 0; i < names.size(); ++i)
    if (lower(names[i]) == lref) return static_cast<int>(i);
  std::string msg = "unknown class";
  auto near = near_matches(ref, names, 5);
  if (!near.empty()) {
    msg += "; did you mean";
    for (size_t i = 0; i < near.size(); ++i) msg += (i ? ", '" : " '") + near[i] + "'";
    msg += "?";
  }
  throw Error(ref, msg);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

const Labels& load_labels(const std::string& key) {
  static std::mutex mutex;
  static std::map<std::string, Labels> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;

  const nlohmann::json& j = registry_json();
  if (!j.contains("labels") || !j["labels"].is_object() || !j["labels"].contains(key))
    throw Error(registry_path(), "no label set '" + key + "'");
  const auto& entry = j["labels"][key];
  Labels labels;
  const std::string where = "labels." + key;
  labels.names = read_lines(
      config_dir() + "/" +
      json_string(json_field(entry, "names", registry_path(), where), registry_path(), where + ".names"));
  if (entry.contains("wnids")) {
    const std::string wpath =
        config_dir() + "/" + json_string(entry["wnids"], registry_path(), where + ".wnids");
    labels.wnids = read_lines(wpath);
    if (labels.wnids.size() != labels.names.size())
      throw Error(wpath, "has " + std::to_string(labels.wnids.size()) + " ids for " +
                             std::to_string(labels.names.size()) + " names");
  }
  return cache.emplace(key, std::move(labels)).first->second;
}

}  // namespace bagnet
