#include "datasets/eval_dataset.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/sha256.h"

namespace fs = std::filesystem;

namespace bagnet {

namespace {

bool is_category(const std::vector<std::string>& categories, const std::string& s) {
  return std::find(categories.begin(), categories.end(), s) != categories.end();
}

int category_of(const std::vector<std::string>& categories, const std::string& s) {
  return static_cast<int>(std::find(categories.begin(), categories.end(), s) - categories.begin());
}

std::string alnum_lower(const std::string& s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Class of a folder name or list label in the model's label space, or -1: an index, a WordNet
// id or a name, where names also match when spelled as folder names often are ("ankle_boot"
// for "Ankle boot", "tshirt_top" for "T-shirt/top") if exactly one class fits.
int class_of(const Labels& labels, const std::string& name) {
  try {
    return labels.resolve(name);
  } catch (const Error&) {
  }
  const std::string key = alnum_lower(name);
  int found = -1;
  for (size_t i = 0; i < labels.names.size() && !key.empty(); ++i)
    if (alnum_lower(labels.names[i]) == key) {
      if (found >= 0) return -1;  // ambiguous
      found = static_cast<int>(i);
    }
  return found;
}

std::vector<std::string> subfolders(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  if (ec) throw Error(root.string(), "cannot list: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<fs::path> images_below(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file() && has_image_extension(it->path().string())) out.push_back(it->path());
  if (ec) throw Error(dir.string(), "cannot list: " + ec.message());
  return out;
}

bool has_idx_files(const fs::path& dir) {
  for (const char* f : {"t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte",
                        "train-images-idx3-ubyte.gz"})
    if (fs::exists(dir / f)) return true;
  return false;
}

// model-vs-human's dataset names for the stimulus folders of texture-vs-shape.
std::string default_name(const std::string& source) {
  std::string base = fs::path(source).lexically_normal().filename().string();
  if (base.empty()) base = fs::path(source).lexically_normal().parent_path().filename().string();
  if (base == "edges") return "edge";
  if (base == "filled-silhouettes" || base == "filled_silhouettes" || base == "silhouettes")
    return "silhouette";
  if (base == "cue_conflict") return "cue-conflict";
  return base;
}

void read_list(EvalDataset& d, const Labels& labels, const std::vector<std::string>& categories) {
  std::ifstream in(d.source);
  if (!in) throw Error(d.source, "cannot open the list file");
  const fs::path base = fs::path(d.source).parent_path();
  std::vector<std::pair<std::string, std::string>> rows;  // (path, label, origin)
  std::vector<int> lines;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const auto comma = line.rfind(',');
    if (comma == std::string::npos)
      throw Error(d.source + ":" + std::to_string(lineno), "expected path,label");
    if (rows.empty() && lines.empty() && line == "path,label") continue;  // header
    rows.emplace_back(line.substr(0, comma), line.substr(comma + 1));
    lines.push_back(lineno);
  }
  if (rows.empty()) throw Error(d.source, "the list has no entries (expected path,label lines)");
  // Labels are categories when every one of them is; otherwise classes of the model.
  d.categorical = !categories.empty() && std::all_of(rows.begin(), rows.end(), [&](const auto& r) {
    return is_category(categories, r.second);
  });
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& [p, label] = rows[i];
    EvalItem item;
    item.key = p;
    item.path = fs::path(p).is_absolute() ? p : (base / p).string();
    item.label = label;
    if (d.categorical) {
      item.category = category_of(categories, label);
    } else {
      item.target = class_of(labels, label);
      if (item.target < 0) {
        try {
          labels.resolve(label);  // for its message with near matches
        } catch (const Error& e) {
          throw Error(d.source + ":" + std::to_string(lines[i]), "label '" + label + "': " + e.reason());
        }
      }
    }
    d.items.push_back(std::move(item));
  }
}

void read_folders(EvalDataset& d, const Labels& labels, const std::vector<std::string>& categories,
                  DatasetKind requested) {
  const fs::path root(d.source);
  const auto folders = subfolders(root);
  if (folders.empty()) throw Error(d.source, "no class folders (expected ROOT/<class>/<image>)");
  auto all = [&](auto pred) { return std::all_of(folders.begin(), folders.end(), pred); };
  const bool as_categories = all([&](const std::string& f) { return is_category(categories, f); });
  if (requested == DatasetKind::ClassFolders || (requested != DatasetKind::CategoryFolders &&
                                                 requested != DatasetKind::CueConflict && !as_categories)) {
    for (const auto& f : folders)
      if (class_of(labels, f) < 0)
        throw Error((root / f).string(),
                    "folder name is neither a class of the model (WordNet id, name or index) nor a category "
                    "of the mapping");
    d.kind = DatasetKind::ClassFolders;
  } else {
    for (const auto& f : folders)
      if (!is_category(categories, f))
        throw Error((root / f).string(), categories.empty() ? "category folders need a category mapping"
                                                            : "unknown category (not in the mapping)");
    d.kind = requested == DatasetKind::CueConflict ? DatasetKind::CueConflict : DatasetKind::CategoryFolders;
    d.categorical = true;
  }
  std::vector<std::pair<std::string, std::string>> textures;  // per item, for the cue-conflict check
  for (const auto& f : folders) {
    for (const auto& p : images_below(root / f)) {
      EvalItem item;
      item.key = p.lexically_relative(root).generic_string();
      item.path = p.string();
      item.label = f;
      if (d.categorical)
        item.category = category_of(categories, f);
      else
        item.target = class_of(labels, f);
      std::string shape, texture;
      if (d.categorical && split_cue_conflict_name(p.filename().string(), &shape, &texture))
        item.texture = texture;
      d.items.push_back(std::move(item));
    }
  }
  // Auto: category folders whose files are all named <shape><i>-<texture><j>.png are cue-conflict.
  const bool all_parse =
      !d.items.empty() &&
      std::all_of(d.items.begin(), d.items.end(), [](const EvalItem& i) { return !i.texture.empty(); });
  if (d.categorical && requested == DatasetKind::CueConflict && !all_parse) {
    for (const auto& i : d.items)
      if (i.texture.empty())
        throw Error(i.path, "stimulus name does not parse as <shape><i>-<texture><j>.png");
  }
  if (d.categorical && all_parse && requested != DatasetKind::CategoryFolders)
    d.kind = DatasetKind::CueConflict;
  if (d.kind == DatasetKind::CueConflict) {
    for (const auto& i : d.items) {
      std::string shape, texture;
      split_cue_conflict_name(fs::path(i.path).filename().string(), &shape, &texture);
      if (shape != i.label)
        throw Error(i.path,
                    "shape category '" + shape + "' of the name differs from its folder '" + i.label + "'");
      if (!is_category(categories, i.texture))
        throw Error(i.path, "unknown texture category '" + i.texture + "'");
    }
  } else {
    for (auto& i : d.items) i.texture.clear();
  }
}

void read_idx_dir(EvalDataset& d, const std::string& split, const Labels& labels) {
  auto data = std::make_shared<IdxDataset>(read_mnist_dir(d.source, split));
  for (int n = 0; n < data->count; ++n) {
    EvalItem item;
    item.key = split + "/" + std::to_string(n);
    item.target = static_cast<int>(data->labels[n]);
    if (item.target >= static_cast<int>(labels.size()))
      throw Error(d.source, "label " + std::to_string(item.target) + " of image " + std::to_string(n) +
                                " is outside the model's " + std::to_string(labels.size()) + " classes");
    item.label = labels.name(item.target);
    item.row = n;
    d.items.push_back(std::move(item));
  }
  d.idx = std::move(data);
}

}  // namespace

std::string to_string(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::ClassFolders:
      return "class-folders";
    case DatasetKind::CategoryFolders:
      return "category-folders";
    case DatasetKind::CueConflict:
      return "cue-conflict";
    case DatasetKind::List:
      return "list";
    case DatasetKind::Idx:
      return "idx";
  }
  return "?";
}

EvalDataset open_eval_dataset(const std::string& source, const DatasetOptions& options, const Labels& labels,
                              const std::vector<std::string>& categories) {
  EvalDataset d;
  d.source = source;
  d.name = options.name.empty() ? default_name(source) : options.name;
  std::error_code ec;
  if (!fs::exists(source, ec)) throw Error(source, "no such file or directory");
  const std::string& k = options.kind;
  static const std::set<std::string> kinds = {"auto",         "class-folders", "category-folders",
                                              "cue-conflict", "list",          "idx"};
  if (!kinds.count(k))
    throw Error("--data-kind " + k,
                "expected auto, class-folders, category-folders, cue-conflict, list or idx");
  if (k == "list" || (k == "auto" && fs::is_regular_file(source, ec))) {
    d.kind = DatasetKind::List;
    read_list(d, labels, categories);
  } else if (k == "idx" || (k == "auto" && has_idx_files(source))) {
    d.kind = DatasetKind::Idx;
    read_idx_dir(d, options.split, labels);
  } else {
    if (!fs::is_directory(source, ec)) throw Error(source, "not a directory");
    const DatasetKind requested = k == "class-folders"      ? DatasetKind::ClassFolders
                                  : k == "category-folders" ? DatasetKind::CategoryFolders
                                  : k == "cue-conflict"     ? DatasetKind::CueConflict
                                                            : DatasetKind::List;  // List here means "auto"
    read_folders(d, labels, categories, requested);
  }
  if (d.items.empty()) throw Error(source, "no images");
  std::sort(d.items.begin(), d.items.end(),
            [](const EvalItem& a, const EvalItem& b) { return a.key < b.key; });
  for (size_t i = 1; i < d.items.size(); ++i)
    if (d.items[i].key == d.items[i - 1].key) throw Error(source, "'" + d.items[i].key + "' is listed twice");
  std::set<std::string> classes;
  Sha256 h;
  const std::string head = to_string(d.kind) + "\n";
  h.update(head.data(), head.size());
  for (const auto& i : d.items) {
    classes.insert(i.label);
    const std::string line = i.key + "\t" + i.label + "\n";
    h.update(line.data(), line.size());
  }
  d.classes.assign(classes.begin(), classes.end());
  d.fingerprint = h.hex_digest();
  return d;
}

// ^([A-Za-z]+)\d+-([A-Za-z]+)\d+\.png$ by hand: std::regex backtracks recursively and overflows
// the stack on long names. Letters and digits do not overlap, so one pass decides.
bool split_cue_conflict_name(const std::string& file, std::string* shape, std::string* texture) {
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  size_t i = 0;
  std::string parts[2];
  for (int part = 0; part < 2; ++part) {
    const size_t start = i;
    while (i < file.size() && alpha(file[i])) ++i;
    if (i == start) return false;
    parts[part] = file.substr(start, i - start);
    const size_t digits = i;
    while (i < file.size() && digit(file[i])) ++i;
    if (i == digits) return false;
    if (part == 0) {
      if (i >= file.size() || file[i] != '-') return false;
      ++i;
    }
  }
  if (file.compare(i, std::string::npos, ".png") != 0) return false;
  *shape = std::move(parts[0]);
  *texture = std::move(parts[1]);
  return true;
}

std::vector<size_t> shard_positions(size_t items, size_t index, size_t count) {
  std::vector<size_t> out;
  for (size_t p = index; p < items; p += count) out.push_back(p);
  return out;
}

std::pair<size_t, size_t> parse_shard(const std::string& s) {
  size_t i = 0, n = 1;
  char slash = 0, rest = 0;
  if (std::sscanf(s.c_str(), "%zu%c%zu%c", &i, &slash, &n, &rest) != 3 || slash != '/' || n == 0 || i >= n)
    throw Error("--shard " + s, "expected i/n with 0 <= i < n, e.g. 0/4");
  return {i, n};
}

LoadedImage load_eval_item(const EvalDataset& d, const EvalItem& item, const Preprocessing& prep,
                           long long max_pixels) {
  if (!d.idx) {
    LoadedImage r = load_and_preprocess(item.path, prep, max_pixels);
    r.path = item.key;
    return r;
  }
  LoadedImage r;
  r.path = item.key;
  Image img;
  img.height = d.idx->height;
  img.width = d.idx->width;
  const size_t plane = static_cast<size_t>(img.height) * img.width;
  img.rgb.resize(plane * 3);
  const uint8_t* src = &d.idx->images[static_cast<size_t>(item.row) * plane];
  for (size_t i = 0; i < plane; ++i) img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = src[i];
  r.source_height = img.height;
  r.source_width = img.width;
  try {
    r.chw = preprocess(img, prep, &r.height, &r.width, max_pixels);
  } catch (const Error& e) {
    r.error = e.reason();
  }
  return r;
}

}  // namespace bagnet
