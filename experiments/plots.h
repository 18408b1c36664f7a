#pragma once
// The experiments' figures, drawn with cairo through figures/canvas.h (.svg, .pdf, .png by
// extension): masking curves (true-class logit, probability, top-1 against k; BagNet-guided
// solid, random dashed; one colour per model), interactions (joint change against the sum of
// single changes, one panel per model, the identity dashed), scrambling (top-1 and relative
// logit change against g). No torch here.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bagnet::experiments {

// From a summary (and, for the interactions' scatter, the records). Throws bagnet::Error for an
// unknown extension or a write failure.
void write_experiment_figure(const std::string& path, const nlohmann::json& summary,
                             const std::vector<nlohmann::json>& records);

namespace detail {

struct Series {
  std::string label;
  int color = 0;  // tab10 index
  bool dashed = false;
  bool points = false;  // a scatter instead of a line
  std::vector<double> x, y;
};

struct Panel {
  std::string title, xlabel, ylabel;
  std::vector<Series> series;
  bool identity = false;  // the dashed line y = x
};

// Panels side by side with a legend (label, colour, dashed) under them.
void write_panels(const std::string& path, const std::string& title, const std::vector<Panel>& panels,
                  const std::vector<Series>& legend);

// Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace detail

}  // namespace bagnet::experiments
