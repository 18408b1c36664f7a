#pragma once
// The report of a bagnet-experiment run, or of the run its merge made from shards (--html):
// OUTPUT_DIR/index.html from OUTPUT_DIR/summary.json alone: the experiment's figure, every
// model's summary numbers in a table sorted by a click on a column (masking: the guided and
// random curves and the areas between them; interactions: correlation and the difference between
// joint change and sum of single changes; scrambling: accuracy and logit change per grid; errors:
// per-class accuracies and the pairs' Pearson, Spearman and Cohen's kappa), the parameters, the
// images that could not be used, provenance. Compiled into bagnet_experiments. Torch-free.
#include <string>

#include "reports/heatmap_report.h"

namespace bagnet::reports {

// Throws bagnet::Error for a folder without a readable summary.json, bagnet::OutputError when
// index.html cannot be written. ReportOutput::items: the models in the table.
ReportOutput write_experiment_report(const std::string& output_dir);

}  // namespace bagnet::reports
