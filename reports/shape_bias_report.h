#pragma once
// The report of bagnet-shape-bias (--html): OUTPUT_DIR/index.html from shape_bias.json and the
// cue-conflict runs below OUTPUT_DIR: the figure, the decision makers (models, humans pooled,
// each observer) with shape bias and accuracies, shape bias per category, and the stimuli with
// the model's decision (shape, texture or other), filtered by category. Torch-free.
#include <string>

#include "reports/heatmap_report.h"

namespace bagnet::reports {

// Throws bagnet::Error without a readable shape_bias.json, bagnet::OutputError when index.html
// cannot be written.
ReportOutput write_shape_bias_report(const std::string& output_dir);

}  // namespace bagnet::reports
