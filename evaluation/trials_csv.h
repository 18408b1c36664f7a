#pragma once
// Per-trial results in the raw-data CSV format of model-vs-human (Geirhos et al., NeurIPS
// 2021; github.com/bethgelab/model-vs-human): one row per image and decision maker,
//   subj,session,trial,rt,object_response,category,condition,imagename
// Writing it lets their plotting read our results; reading it lets us analyse theirs (human
// observers' and other models'). No torch here.
#include <string>
#include <vector>

namespace bagnet::evaluation {

struct TrialRow {
  std::string subj;  // observer or model name
  std::string session = "1";
  std::string trial;              // 1-based trial number
  std::string rt = "NaN";         // reaction time (s); NaN for models
  std::string object_response;    // the decision: a category, or "na" (no answer)
  std::string category;           // the true (for cue-conflict: shape) category
  std::string condition = "NaN";  // experimental condition; NaN for models here
  std::string imagename;          // file name of the stimulus
  // Where the row came from (for error messages): "file:line".
  std::string origin;
};

extern const char* const kTrialColumns[8];

// Reads a CSV with (at least) the eight columns, in any order. Throws bagnet::Error naming
// the file and line for a missing file, missing columns, or a row with the wrong field count.
std::vector<TrialRow> read_trials_csv(const std::string& path);

// The CSV text (header + rows), fields written as given (none of ours contain commas).
std::string format_trials_csv(const std::vector<TrialRow>& rows);

// model-vs-human's file name: "<dataset>_<subject>_session-1.csv", e.g.
// "cue-conflict_bagnet33_session-1.csv".
std::string trials_csv_name(const std::string& dataset, const std::string& subject);

// model-vs-human's human experiments name stimuli "0001_s5n_s01_0_bird_00_bird3-bird2.png"
// (trial, condition and category before the file name); returns the file name ("bird3-bird2.png")
// for those, and the name unchanged otherwise. Used to match trials across decision makers.
std::string stimulus_name(const std::string& imagename);

}  // namespace bagnet::evaluation
