#pragma once
// The report of a bagnet-heatmap run (--html): OUTPUT_DIR/index.html, a gallery of one card per
// image built from every JSON sidecar below OUTPUT_DIR (so a resumed run, or shards sharing the
// folder, get one report of everything done): the image's panel (or first map), its top classes
// with probabilities, the true class where the run had --targets. Filters by class and by
// correct/wrong, sorts by logit; a click opens the full-size panel. Torch-free.
#include <cstddef>
#include <string>

namespace bagnet::reports {

struct ReportOutput {
  std::string path;         // index.html
  std::size_t items = 0;    // cards (heatmaps: sidecars read)
  std::size_t skipped = 0;  // files that could not be used, each named on stderr
};

// Throws bagnet::Error when `output_dir` is no directory, bagnet::OutputError when index.html
// cannot be written. A .json file that is not a readable sidecar is named on stderr (one line:
// "file: reason") and left out.
ReportOutput write_heatmap_report(const std::string& output_dir);

}  // namespace bagnet::reports
