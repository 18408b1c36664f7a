#include "stylize/run.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "datasets/eval_dataset.h"
#include "datasets/loader.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/interrupt.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"
#include "lib/runtime.h"
#include "lib/sha256.h"
#include "networks/registry.h"
#include "stylize/adain.h"
#include "stylize/assign.h"

namespace bagnet::stylize {
namespace {

namespace fs = std::filesystem;

// The content images and the root their relative paths (the manifest's keys) start from.
struct ContentList {
  std::string root;
  std::vector<std::string> files, keys;
  std::vector<std::pair<std::string, std::string>> failures;
};

bool is_list_file(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return ext == ".txt" || ext == ".csv" || ext == ".lst";
}

// A folder (its tree below it keeps its names: WordNet-id folders stay class folders), files and
// globs (relative to their common folder), or a list file: one path per line (relative to the
// list's folder unless absolute; a "path,label" line's label is ignored; '#' lines skipped).
ContentList list_content(const std::vector<std::string>& inputs) {
  ContentList c;
  std::error_code ec;
  std::vector<std::string> paths = inputs;
  fs::path root;
  if (inputs.size() == 1 && fs::is_regular_file(inputs[0], ec) && is_list_file(inputs[0])) {
    paths.clear();
    const fs::path base = fs::path(inputs[0]).parent_path();
    std::size_t lineno = 0;
    for (std::string line : [&] {
           std::vector<std::string> lines;
           std::string text = read_file(inputs[0], "cannot open the content list");
           std::size_t start = 0;
           while (start < text.size()) {
             const auto end = text.find('\n', start);
             lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
             start = end == std::string::npos ? text.size() : end + 1;
           }
           return lines;
         }()) {
      ++lineno;
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      if (const auto comma = line.rfind(','); comma != std::string::npos && !fs::exists(base / line, ec))
        line = line.substr(0, comma);
      if (lineno == 1 && (line == "path" || line == "content")) continue;  // a header
      paths.push_back(fs::path(line).is_absolute() ? line : (base / line).string());
    }
    if (paths.empty()) throw Error(inputs[0], "the content list names no images");
  } else if (inputs.size() == 1 && fs::is_directory(inputs[0], ec)) {
    root = fs::absolute(inputs[0]).lexically_normal();
  }
  const InputList list = expand_inputs(paths);
  c.failures = list.failures;
  if (list.files.empty()) throw Error(inputs.empty() ? "--content" : inputs[0], "no content images found");
  if (root.empty()) root = common_folder(list.files);
  c.root = root.string();
  for (const auto& f : list.files) {
    c.files.push_back(f);
    c.keys.push_back(fs::absolute(f).lexically_normal().lexically_relative(root).generic_string());
  }
  return c;
}

// One output image.
struct Unit {
  std::size_t content = 0, style = 0;
  std::string output;  // relative to the output folder
};

std::string format_alpha(double alpha) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", alpha);
  return buf;
}

std::string png_bytes(const Image& img, const std::string& path) {
  cv::Mat rgb(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> buf;
  if (!cv::imencode(".png", bgr, buf)) throw OutputError(path, "PNG encoding failed");
  return std::string(buf.begin(), buf.end());
}

LoadedImage as_loaded(const Image& img, std::size_t index, const std::string& path) {
  LoadedImage out;
  out.index = index;
  out.path = path;
  out.width = img.width;
  out.height = img.height;
  Preprocessing plain;  // ToTensor: x / 255, no mean/std
  plain.mean = {0, 0, 0};
  plain.std = {1, 1, 1};
  out.chw = to_normalized_chw(img, plain);
  return out;
}

at::Tensor batch_tensor(const std::vector<const LoadedImage*>& items) {
  const auto& first = *items[0];
  at::Tensor t = at::empty({static_cast<int64_t>(items.size()), 3, first.height, first.width});
  for (std::size_t b = 0; b < items.size(); ++b)
    std::copy(items[b]->chw.begin(), items[b]->chw.end(), t[b].data_ptr<float>());
  return t;
}

}  // namespace

Image square_thumbnail(const Image& in, int size) {
  const int n = std::min(in.width, in.height);
  const int left = (in.width - n) / 2, top = (in.height - n) / 2;
  Image sq;
  sq.width = sq.height = n;
  sq.conversion = in.conversion;
  sq.rgb.resize(static_cast<std::size_t>(n) * n * 3);
  for (int y = 0; y < n; ++y)
    std::copy_n(&in.rgb[(static_cast<std::size_t>(top + y) * in.width + left) * 3],
                static_cast<std::size_t>(n) * 3, &sq.rgb[static_cast<std::size_t>(y) * n * 3]);
  if (size <= 0 || n <= size) return sq;  // thumbnail never enlarges
  return resize_lanczos_pil(sq, size, size);
}

std::string find_adain_weights(const std::string& which, const std::string& explicit_path) {
  const std::string flag = which == "vgg" ? "--vgg" : "--decoder";
  std::error_code ec;
  if (!explicit_path.empty()) {
    if (!fs::is_regular_file(explicit_path, ec))
      throw Error(explicit_path, "weights file not found (" + flag + ")");
    return explicit_path;
  }
  const auto& reg = registry_json();
  if (!reg.contains("style_transfer") || !reg["style_transfer"].is_array())
    throw Error(registry_path(), "no 'style_transfer' rows (the AdaIN weights); pass " + flag + " FILE");
  for (const auto& row : reg["style_transfer"]) {
    if (row.value("role", "") != which) continue;
    ModelSpec spec;
    spec.name = row.value("name", "");
    spec.architecture = "adain";
    spec.weights_file = row.value("weights", "");
    spec.url = row.value("url", "");
    spec.paper = row.value("paper", "");
    const std::string found = find_weights(spec);
    if (!found.empty()) return found;
    std::string dirs;
    for (const auto& d : weights_search_dirs()) dirs += (dirs.empty() ? "" : " or ") + d;
    throw Error(flag, "weights not found: " + spec.weights_file + "; download it from " + spec.url +
                          " and put it in " + (dirs.empty() ? std::string("$BAGNET_WEIGHTS") : dirs) +
                          " (or pass " + flag + " FILE)");
  }
  throw Error(registry_path(), "no style_transfer row with role '" + which + "'; pass " + flag + " FILE");
}

StylizeCounts run_stylize(const StylizeOptions& o) {
  if (!(o.alpha >= 0.0 && o.alpha <= 1.0))
    throw Error("--alpha " + format_alpha(o.alpha), "must be between 0 and 1 (1 = full style)");
  if (o.num_styles < 1) throw Error("--num-styles", "must be at least 1");
  if (o.batch_size < 1) throw Error("--batch-size", "must be at least 1");
  if (o.output_dir.empty()) throw Error("--output-dir", "required");
  const StyleSet styles = open_style_set(o.styles);
  if (static_cast<std::size_t>(o.num_styles) > styles.files.size())
    throw Error("--num-styles", std::to_string(o.num_styles) + " styles per image, but " + o.styles +
                                    " has " + std::to_string(styles.files.size()));
  const ContentList content = list_content(o.content);
  const std::string vgg_path = find_adain_weights("vgg", o.vgg);
  const std::string decoder_path = find_adain_weights("decoder", o.decoder);
  const c10::Device device = resolve_device(o.device);
  AdainNet net(vgg_path, decoder_path, device);
  net.set_reference_ops(o.reference_ops);
  net.set_channels_last(o.channels_last);

  RunLockOptions lock_options;
  lock_options.shard_index = o.shard_index;
  lock_options.shard_count = o.shard_count;
  const RunLock lock(o.output_dir, "bagnet-stylize", lock_options);
  install_interrupt_handlers();

  // This shard's outputs, each with its style: a function of the seed and the content key only.
  StylizeCounts counts;
  std::vector<Unit> units;
  std::map<std::string, std::string> owner;  // output -> content key, for name clashes
  std::vector<std::string> skipped;          // "key<TAB>reason"
  for (const auto& [in, why] : content.failures) skipped.push_back(in + "\t" + why);
  for (std::size_t p : shard_positions(content.files.size(), o.shard_index, o.shard_count)) {
    const fs::path key(content.keys[p]);
    for (std::size_t s : assign_styles(o.seed, content.keys[p], styles.files.size(), o.num_styles)) {
      std::string name = key.stem().string();
      if (o.num_styles > 1)
        name += "-stylized-" + fs::path(styles.keys[s]).stem().string();  // stylize-datasets
      const std::string out = (key.parent_path() / (name + ".png")).generic_string();
      if (auto [it, fresh] = owner.emplace(out, content.keys[p]); !fresh) {
        skipped.push_back(content.keys[p] + "\toutput name " + out + " is taken by " + it->second);
        std::cerr << content.files[p] << ": output name " << out << " is taken by " << it->second << "\n";
        continue;
      }
      units.push_back({p, s, out});
    }
  }
  counts.images = units.size();
  std::vector<const Unit*> todo;
  std::error_code ec;
  for (const auto& u : units) {
    if (!o.overwrite && fs::exists(fs::path(o.output_dir) / u.output, ec))
      ++counts.already;
    else
      todo.push_back(&u);
  }
  std::cerr << "bagnet-stylize: " << content.files.size() << " content images, " << styles.files.size()
            << " styles, alpha " << format_alpha(o.alpha) << ", on " << describe_device(device) << ", "
            << runtime_threads() << " threads; " << todo.size() << " to write"
            << (counts.already ? ", " + std::to_string(counts.already) + " already done" : "") << "\n";

  Preprocessing content_prep;
  content_prep.resize = o.content_size;
  content_prep.crop = o.crop;
  content_prep.mean = {0, 0, 0};
  content_prep.std = {1, 1, 1};
  const long long max_pixels = o.max_pixels;
  ImageLoader content_loader(
      todo.size(),
      [&](std::size_t i) {
        LoadedImage item = load_and_preprocess(content.files[todo[i]->content], content_prep, max_pixels);
        item.index = i;
        return item;
      },
      2, 16);
  ImageLoader style_loader(
      todo.size(),
      [&](std::size_t i) {
        const std::string& path = styles.files[todo[i]->style];
        try {
          const Image img = load_image(path, max_pixels);
          const Image prepared = o.square_styles    ? square_thumbnail(img, o.style_size)
                                 : o.style_size > 0 ? resize_shorter_side(img, o.style_size)
                                                    : img;
          return as_loaded(prepared, i, path);
        } catch (const Error& e) {
          LoadedImage bad;
          bad.index = i;
          bad.path = path;
          bad.error = e.reason();
          return bad;
        }
      },
      1, 16);

  const c10::InferenceMode inference;
  std::map<std::size_t, std::pair<at::Tensor, at::Tensor>> style_cache;  // style -> (mean, std) of relu4_1
  const std::size_t kCacheSize = 256;
  auto style_stats = [&](const std::vector<std::pair<std::size_t, const LoadedImage*>>& wanted) {
    // Encoded in groups of equal size (a batch each); the statistics are all AdaIN needs.
    std::map<std::pair<int, int>, std::vector<std::pair<std::size_t, const LoadedImage*>>> by_size;
    for (const auto& w : wanted)
      if (!style_cache.count(w.first)) by_size[{w.second->height, w.second->width}].push_back(w);
    for (auto& [size, group] : by_size) {
      std::vector<const LoadedImage*> imgs;
      std::vector<std::size_t> ids;
      for (const auto& [id, img] : group)
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id), imgs.push_back(img);
      const auto [mean, std] = mean_std(net.encode(batch_tensor(imgs)));
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (style_cache.size() >= kCacheSize) style_cache.erase(style_cache.begin());
        style_cache[ids[k]] = {mean[k], std[k]};
      }
    }
  };

  const std::string suffix = shard_suffix(o.shard_index, o.shard_count);
  Progress progress("stylize", todo.size(), o.progress && todo.size() > 1);
  struct Pending {
    LoadedImage content, style;
  };
  std::vector<Pending> batch;
  auto fail = [&](const Unit& u, const std::string& reason) {
    skipped.push_back(content.keys[u.content] + "\t" + reason);
    std::cerr << content.files[u.content] << ": " << reason << "\n";
    ++counts.failed;
    progress.advance();
  };
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<const LoadedImage*> imgs;
    std::vector<std::pair<std::size_t, const LoadedImage*>> wanted;
    for (const auto& p : batch) {
      imgs.push_back(&p.content);
      wanted.emplace_back(todo[p.content.index]->style, &p.style);
    }
    style_stats(wanted);
    std::vector<at::Tensor> means, stds;
    for (const auto& w : wanted) {
      means.push_back(style_cache.at(w.first).first);
      stds.push_back(style_cache.at(w.first).second);
    }
    const at::Tensor features = net.encode(batch_tensor(imgs));
    const at::Tensor t = adaptive_instance_normalization(features, at::stack(means), at::stack(stds));
    const at::Tensor images = net.decode(blend(t, features, o.alpha)).to(at::kCPU);
    for (std::size_t b = 0; b < batch.size(); ++b) {
      const Unit& u = *todo[batch[b].content.index];
      const fs::path out = fs::path(o.output_dir) / u.output;
      fs::create_directories(out.parent_path(), ec);
      atomic_write(out.string(), png_bytes(to_image(images[b]), out.string()));
      ++counts.written;
      progress.advance();
    }
    batch.clear();
  };

  for (std::size_t i = 0; i < todo.size() && !interrupted(); ++i) {
    Pending p;
    if (!content_loader.next(p.content) || !style_loader.next(p.style)) break;
    const Unit& u = *todo[i];
    try {
      if (!p.content.error.empty()) throw Error(p.content.path, p.content.error);
      if (!p.style.error.empty())
        throw Error(p.style.path, "style " + styles.keys[u.style] + ": " + p.style.error);
      check_size(p.content.width, p.content.height, content.files[u.content], "content image");
      check_size(p.style.width, p.style.height, styles.files[u.style], "style image " + styles.keys[u.style]);
    } catch (const Error& e) {
      fail(u, e.path() == content.files[u.content] ? e.reason() : e.what());
      continue;
    }
    if (!batch.empty() &&
        (batch[0].content.height != p.content.height || batch[0].content.width != p.content.width))
      flush();
    batch.push_back(std::move(p));
    if (static_cast<int>(batch.size()) >= o.batch_size) flush();
  }
  if (!interrupted()) flush();
  progress.finish();
  counts.interrupted = interrupted();
  counts.left = todo.size() - counts.written - counts.failed;

  // The manifest lists this shard's outputs that exist: the same rows however the run went.
  std::vector<std::string> rows;
  std::size_t present = 0;
  const std::string alpha = format_alpha(o.alpha);
  for (const auto& u : units)
    if (fs::exists(fs::path(o.output_dir) / u.output, ec)) {
      rows.push_back(manifest_line({content.keys[u.content], styles.keys[u.style], alpha, u.output}));
      ++present;
    }
  std::string content_listing;
  for (const auto& k : content.keys) content_listing += k + "\n";
  const nlohmann::json dataset = {
      {"seed", o.seed},
      {"preset", o.preset},
      {"alpha", o.alpha},
      {"num_styles", o.num_styles},
      {"content_size", o.content_size},
      {"crop", o.crop},
      {"style_size", o.style_size},
      {"style_preparation", o.square_styles ? "centre square, Lanczos thumbnail (Stylized-ImageNet)"
                                            : "shorter side resized (torchvision Resize, bilinear)"},
      {"output", "PNG as torchvision save_image: x*255 + 0.5, clamped, truncated; size 8*ceil(side/8)"},
      {"assignment", "style = SHA-256('bagnet-stylize/1', seed, content path, draw) mod styles"},
      {"content",
       {{"root", content.root},
        {"images", content.files.size()},
        {"fingerprint", sha256_hex(content_listing)}}},
      {"styles",
       {{"root", styles.root}, {"images", styles.files.size()}, {"fingerprint", styles.fingerprint}}},
      {"encoder", {{"file", fs::path(net.vgg().path).filename().string()}, {"sha256", net.vgg().sha256}}},
      {"decoder",
       {{"file", fs::path(net.decoder().path).filename().string()}, {"sha256", net.decoder().sha256}}},
  };
  const nlohmann::json header = {
      {"tool", "bagnet-stylize"},
      {"dataset", dataset},
      {"shard", {{"index", o.shard_index}, {"count", o.shard_count}}},
      {"progress",
       {{"images", counts.images},
        {"written", present},
        {"failed", counts.failed},
        {"complete", !counts.interrupted}}},
      {"weights",
       {{"vgg", {{"path", net.vgg().path}, {"sha256", net.vgg().sha256}, {"format", net.vgg().format}}},
        {"decoder",
         {{"path", net.decoder().path},
          {"sha256", net.decoder().sha256},
          {"format", net.decoder().format}}}}},
      {"provenance", provenance_json("bagnet-stylize", describe_device(device), runtime_threads())},
  };
  counts.manifest = o.output_dir + "/manifest" + suffix + ".csv";
  atomic_write(counts.manifest, manifest_csv(rows));
  atomic_write(o.output_dir + "/manifest" + suffix + ".json", header.dump(2) + "\n");
  const std::string skipped_path = o.output_dir + "/skipped" + suffix + ".txt";
  if (!skipped.empty()) {
    std::sort(skipped.begin(), skipped.end());
    std::string text;
    for (const auto& s : skipped) text += s + "\n";
    atomic_write(skipped_path, text);
  } else {
    fs::remove(skipped_path, ec);
  }
  return counts;
}

}  // namespace bagnet::stylize
