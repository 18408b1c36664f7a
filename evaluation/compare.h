#pragma once
// Trial-by-trial comparison of decision makers (models and human observers) on the same
// images: accuracy, observed agreement and error consistency (Cohen's kappa; Geirhos, Meding &
// Wichmann, NeurIPS 2020). Inputs are bagnet-eval results (results.jsonl or its directory) and
// model-vs-human raw-data CSVs (one decision maker per subj). No torch here.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "figures/plots.h"

namespace bagnet::evaluation {

struct DecisionMaker {
  std::string name;    // model or observer
  std::string source;  // file it came from
  // Correctness per image; images are matched across files by file name, with model-vs-human's
  // experiment prefix removed (see stimulus_name).
  std::map<std::string, bool> correct;
};

// Throws bagnet::Error (path: reason) for unreadable files, a file of neither kind, or an image
// that appears twice for one decision maker.
std::vector<DecisionMaker> load_decision_makers(const std::string& path);

// {"decision_makers": [{name, source, trials, accuracy}], "pairs": [{a, b, trials, accuracy_a,
// accuracy_b, observed_agreement, expected_agreement, kappa}]} over the images each pair shares;
// kappa is null where undefined. Throws bagnet::Error when a pair shares no image.
nlohmann::json compare(const std::vector<DecisionMaker>& makers);

// The kappa matrix of compare()'s result (diagonal: NaN), for write_matrix_figure.
figures::MatrixFigure kappa_matrix(const nlohmann::json& comparison);

}  // namespace bagnet::evaluation
