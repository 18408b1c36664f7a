#pragma once
// The report of a bagnet-eval run, or of the run bagnet-merge made from its shards (--html):
// RUN_DIR/index.html from RUN_DIR/summary.json and results.jsonl. Accuracy overall and per class
// (a table sorted by a click on a column), the most frequent errors (true -> predicted, counts),
// and the misclassified images with their top-k. Thumbnails link to the dataset's images by paths
// relative to index.html (resolved from the dataset source the run recorded, against the current
// directory); images that are not found there get no thumbnail. Torch-free.
#include <string>

#include "reports/heatmap_report.h"

namespace bagnet::reports {

// Throws bagnet::Error for a run without summary.json or with unreadable results,
// bagnet::OutputError when index.html cannot be written.
ReportOutput write_evaluation_report(const std::string& run_dir);

}  // namespace bagnet::reports
