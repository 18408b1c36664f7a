#pragma once
// Turning command-line inputs (files, directories, globs) into a list of image files.
#include <string>
#include <vector>

namespace bagnet {

struct InputList {
  std::vector<std::string> files;                             // sorted, deduplicated
  std::vector<std::pair<std::string, std::string>> failures;  // (input, reason): nothing matched
};

// True for the extensions OpenCV decodes (case-insensitive): jpg jpeg png bmp tif tiff webp ppm pgm pbm pnm.
bool has_image_extension(const std::string& path);

// Files are taken as given (whatever their extension: a bad one fails at decode time, with
// its name); directories are walked recursively for image files; arguments with * ? [ are
// globbed. Directory listings are sorted so runs are reproducible.
InputList expand_inputs(const std::vector<std::string>& inputs);

// The deepest folder holding every file (absolute; "" for no files): outputs that mirror the
// inputs' tree are placed relative to it.
std::string common_folder(const std::vector<std::string>& files);

// A whole file's bytes. Throws bagnet::Error(path, `cannot_open`) when it cannot be opened (the
// caller says what the file is and what to do), and (path, "read error") when reading fails.
std::string read_file(const std::string& path, const std::string& cannot_open = "cannot open");

// Writes a whole file atomically: a temporary file beside it (path.tmp.PID), fsync, rename. A
// reader sees the old file or the new one, never a part; a failed write (no space left,
// permission denied) removes the temporary file and throws bagnet::OutputError naming `path`.
void atomic_write(const std::string& path, const std::string& content);

// A file that grows by whole lines (results.jsonl): each append is one write of the complete
// line; when it fails (disk full), the file is cut back to its last complete line and
// bagnet::OutputError is thrown, so a resumed run finds no torn record.
class LineAppender {
 public:
  explicit LineAppender(const std::string& path);  // throws OutputError
  ~LineAppender();
  LineAppender(const LineAppender&) = delete;
  LineAppender& operator=(const LineAppender&) = delete;
  void append(const std::string& line);  // `line` without its newline
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace bagnet
