#include "lib/files.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace bagnet {

bool has_image_extension(const std::string& path) {
  static const std::set<std::string> exts = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp",
                                             ".ppm", ".pgm",  ".pbm", ".pnm", ".jpe", ".jp2"};
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return exts.count(ext) > 0;
}

namespace {

void add_directory(const std::string& dir, std::vector<std::string>& out, InputList& result) {
  std::error_code ec;
  std::vector<std::string> found;
  fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
  if (ec) {
    result.failures.emplace_back(dir, "cannot read directory: " + ec.message());
    return;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      result.failures.emplace_back(dir, "error while listing: " + ec.message());
      break;
    }
    std::error_code fec;
    if (it->is_regular_file(fec) && has_image_extension(it->path().string()))
      found.push_back(it->path().string());
  }
  if (found.empty()) result.failures.emplace_back(dir, "no image files in this directory");
  out.insert(out.end(), found.begin(), found.end());
}

}  // namespace

InputList expand_inputs(const std::vector<std::string>& inputs) {
  InputList result;
  std::vector<std::string> out;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      add_directory(in, out, result);
    } else if (fs::exists(in, ec)) {
      out.push_back(in);  // an explicit file: decoded (or refused) later, by name
    } else if (in.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      const int rc = glob(in.c_str(), 0, nullptr, &g);
      size_t matched = 0;
      if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; ++i) {
          const std::string p = g.gl_pathv[i];
          if (fs::is_directory(p, ec)) {
            add_directory(p, out, result);
            ++matched;
          } else if (has_image_extension(p)) {
            out.push_back(p);
            ++matched;
          }
        }
      }
      globfree(&g);
      if (matched == 0) result.failures.emplace_back(in, "no image files match this pattern");
    } else {
      result.failures.emplace_back(in, "no such file or directory");
    }
  }
  // Stable order for reproducible batches and shards; duplicates (a file named twice) once.
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  result.files = std::move(out);
  return result;
}

}  // namespace bagnet
