#pragma once
// The report of bagnet-shape-bias: shape bias of models (from a run) and of decision makers in
// model-vs-human CSVs (human observers pooled, as in Geirhos et al., ICLR 2019), as JSON, text
// and the paper's figure. No torch here.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluation/evaluate.h"
#include "evaluation/shape_bias.h"

namespace bagnet::evaluation {

struct ShapeBiasEntry {
  std::string name;
  std::string kind;  // "model" (run here), "humans" (observers pooled), "csv" (any other subj)
  std::vector<std::string> sources;
  ShapeBias result;
  nlohmann::json extra = nlohmann::json::object();  // e.g. edge/silhouette accuracy, model and weights
};

// Human observers are subjects named "subject-NN" (model-vs-human's convention).
bool is_human_observer(const std::string& subj);

// One entry per subj of the CSVs, except human observers, who form one pooled "humans" entry
// (their individual entries go to `observers`). Throws bagnet::Error (file:line) for rows that
// are not cue-conflict trials.
std::vector<ShapeBiasEntry> entries_from_csv(const std::vector<std::string>& files,
                                             const std::vector<std::string>& categories,
                                             std::vector<ShapeBiasEntry>& observers);

// A model's entry from its cue-conflict run.
ShapeBiasEntry entry_from_run(const std::string& name, const std::vector<Record>& records,
                              const std::vector<std::string>& categories);

// Category order of the figure: by the humans' shape fraction (highest first) when there are
// humans, else as given.
std::vector<std::string> figure_order(const std::vector<ShapeBiasEntry>& entries,
                                      const std::vector<std::string>& categories);

nlohmann::json report_json(const std::vector<ShapeBiasEntry>& entries,
                           const std::vector<ShapeBiasEntry>& observers,
                           const std::vector<std::string>& categories);
std::string report_text(const std::vector<ShapeBiasEntry>& entries,
                        const std::vector<ShapeBiasEntry>& observers);

// shape_bias.svg, .pdf and .png in `dir`; returns the paths.
std::vector<std::string> write_shape_bias_figures(const std::string& dir,
                                                  const std::vector<ShapeBiasEntry>& entries,
                                                  const std::vector<std::string>& categories);

}  // namespace bagnet::evaluation
