#include "lib/files.h"

#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lib/error.h"

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

namespace {

// write(2) until done; false with errno set on failure.
bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void create_parent(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) throw output_error(parent.string(), "cannot create the folder", ec.value());
}

}  // namespace

std::string common_folder(const std::vector<std::string>& files) {
  if (files.empty()) return {};
  std::vector<std::filesystem::path> parts;
  for (const auto& p : std::filesystem::absolute(files[0]).lexically_normal().parent_path())
    parts.push_back(p);
  for (const auto& f : files) {
    size_t k = 0;
    for (const auto& p : std::filesystem::absolute(f).lexically_normal().parent_path()) {
      if (k >= parts.size() || parts[k] != p) break;
      ++k;
    }
    parts.resize(k);
  }
  std::filesystem::path root;
  for (const auto& p : parts) root /= p;
  return root.string();
}

std::string read_file(const std::string& path, const std::string& cannot_open) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, cannot_open);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error(path, "read error");
  return bytes.str();
}

void atomic_write(const std::string& path, const std::string& content) {
  create_parent(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw output_error(path, "cannot write", errno);
  // fsync before rename: after a node crash the file is old or new, never empty (ext4, XFS).
  bool ok = write_all(fd, content.data(), content.size()) && ::fsync(fd) == 0;
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {  // NFS reports a full disk only here
    ok = false;
    err = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    throw output_error(path, "cannot write", err);
  }
}

LineAppender::LineAppender(const std::string& path) : path_(path) {
  create_parent(path);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw output_error(path, "cannot append", errno);
}

LineAppender::~LineAppender() {
  if (fd_ >= 0) ::close(fd_);
}

void LineAppender::append(const std::string& line) {
  const off_t before = ::lseek(fd_, 0, SEEK_END);
  const std::string text = line + "\n";
  if (write_all(fd_, text.data(), text.size())) return;
  const int err = errno;
  if (before >= 0 && ::ftruncate(fd_, before) != 0) {
    // Cannot cut the torn line: the reader drops a last line without its newline.
  }
  throw output_error(path_, "cannot append", err);
}

}  // namespace bagnet
