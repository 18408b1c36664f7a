#include "stylize/assign.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"
#include "lib/sha256.h"

namespace bagnet::stylize {
namespace fs = std::filesystem;

StyleSet open_style_set(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(dir, "style folder not found (--styles wants a folder of images)");
  StyleSet set;
  set.root = dir;
  const InputList list = expand_inputs({dir});
  set.files = list.files;
  if (set.files.empty())
    throw Error(dir,
                "no style images in this folder (jpg, jpeg, png, bmp, tif, tiff, webp, ppm, pgm, pbm, pnm)");
  std::string listing;
  for (const auto& f : set.files) {
    const std::string key = fs::path(f).lexically_relative(dir).generic_string();
    set.keys.push_back(key);
    listing += key + "\t" + std::to_string(fs::file_size(f, ec)) + "\n";
  }
  set.fingerprint = sha256_hex(listing);
  return set;
}

std::vector<std::size_t> assign_styles(std::uint64_t seed, const std::string& key, std::size_t style_count,
                                       int per_image) {
  if (per_image < 1 || static_cast<std::size_t>(per_image) > style_count)
    throw Error("--num-styles", std::to_string(per_image) + " styles per image, but the style folder has " +
                                    std::to_string(style_count));
  std::vector<std::size_t> out;
  for (std::uint64_t draw = 0; out.size() < static_cast<std::size_t>(per_image); ++draw) {
    const std::string h =
        sha256_hex("bagnet-stylize/1\n" + std::to_string(seed) + "\n" + key + "\n" + std::to_string(draw));
    // 64 bits of the hash: the modulo's bias is below style_count / 2^64.
    const std::size_t index = std::stoull(h.substr(0, 16), nullptr, 16) % style_count;
    if (std::find(out.begin(), out.end(), index) == out.end()) out.push_back(index);
  }
  return out;
}

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

}  // namespace

std::string manifest_line(const ManifestRow& r) {
  return csv_field(r.content) + "," + csv_field(r.style) + "," + csv_field(r.alpha) + "," +
         csv_field(r.output);
}

std::string manifest_csv(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  std::string out = std::string(kManifestHeader) + "\n";
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string shard_suffix(std::size_t index, std::size_t count) {
  return count <= 1 ? "" : "-" + std::to_string(index) + "-of-" + std::to_string(count);
}

std::size_t merge_manifests(const std::string& output_dir) {
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) throw Error(output_dir, "no such output folder");
  // The shards present: manifest-I-of-N.json.
  std::map<std::size_t, fs::path> shards;
  std::size_t count = 0;
  for (const auto& e : fs::directory_iterator(output_dir, ec)) {
    const std::string name = e.path().filename().string();
    std::smatch m;
    static const std::regex pattern(R"(manifest-(\d{1,9})-of-(\d{1,9})\.json)");
    if (!std::regex_match(name, m, pattern)) continue;
    const std::size_t i = std::stoul(m[1]), n = std::stoul(m[2]);
    if (count && n != count)
      throw Error(output_dir, "shard manifests of different shard counts (" + std::to_string(count) +
                                  " and " + std::to_string(n) + "): remove those of the other run");
    count = n;
    shards[i] = e.path();
  }
  if (!count) {
    // An unsharded run (or a one-task array) has written manifest.csv itself.
    if (fs::exists(fs::path(output_dir) / "manifest.csv", ec) &&
        fs::exists(fs::path(output_dir) / "manifest.json", ec)) {
      const auto lines = lines_of(read_file(output_dir + "/manifest.csv"));
      return lines.empty() ? 0 : lines.size() - 1;
    }
    throw Error(output_dir, "no shard manifests (manifest-I-of-N.json) to merge");
  }
  nlohmann::json dataset, shard_info = nlohmann::json::array();
  std::vector<std::string> rows, skipped;
  for (std::size_t i = 0; i < count; ++i) {
    const auto it = shards.find(i);
    if (it == shards.end())
      throw Error(output_dir, "shard " + std::to_string(i) + "/" + std::to_string(count) +
                                  " has no manifest: run it (bagnet-stylize ... --shard " +
                                  std::to_string(i) + "/" + std::to_string(count) + "), then merge");
    const std::string json_path = it->second.string();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(json_path));
    } catch (const nlohmann::json::exception& e) {
      throw Error(json_path, std::string("not a bagnet-stylize manifest: ") + e.what());
    }
    if (!j.contains("dataset") || !j.contains("progress"))
      throw Error(json_path, "not a bagnet-stylize manifest (no 'dataset' or 'progress')");
    if (dataset.is_null())
      dataset = j["dataset"];
    else if (dataset != j["dataset"])
      throw Error(json_path,
                  "made with other settings (seed, options, weights, styles or content) than shard 0");
    const auto& p = j["progress"];
    if (!p.value("complete", false))
      throw Error(json_path, "shard " + std::to_string(i) + "/" + std::to_string(count) +
                                 " is not finished (" + std::to_string(p.value("written", 0)) + " of " +
                                 std::to_string(p.value("images", 0)) +
                                 " images written): run it again, then merge");
    shard_info.push_back({{"shard", i}, {"progress", p}, {"provenance", j["provenance"]}});
    const std::string csv_path = output_dir + "/manifest" + shard_suffix(i, count) + ".csv";
    const auto lines = lines_of(read_file(csv_path, "cannot open the shard's manifest"));
    if (lines.empty() || lines[0] != kManifestHeader)
      throw Error(csv_path, "not a bagnet-stylize manifest CSV");
    rows.insert(rows.end(), lines.begin() + 1, lines.end());
    const std::string skipped_path = output_dir + "/skipped" + shard_suffix(i, count) + ".txt";
    if (fs::exists(skipped_path, ec))
      for (const auto& l : lines_of(read_file(skipped_path))) skipped.push_back(l);
  }
  std::sort(rows.begin(), rows.end());
  if (std::adjacent_find(rows.begin(), rows.end()) != rows.end())
    throw Error(output_dir, "a row appears in two shards' manifests: the shards overlap");
  const nlohmann::json merged = {{"tool", "bagnet-stylize --merge"},
                                 {"dataset", dataset},
                                 {"progress", {{"complete", true}, {"written", rows.size()}}},
                                 {"shards", shard_info},
                                 {"provenance", provenance_json("bagnet-stylize", "", 0)}};
  atomic_write(output_dir + "/manifest.csv", manifest_csv(rows));
  atomic_write(output_dir + "/manifest.json", merged.dump(2) + "\n");
  std::sort(skipped.begin(), skipped.end());
  if (!skipped.empty()) {
    std::string text;
    for (const auto& s : skipped) text += s + "\n";
    atomic_write(output_dir + "/skipped.txt", text);
  }
  return rows.size();
}

}  // namespace bagnet::stylize
