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

}  // namespace bagnet
