#include "evaluation/trials_csv.h"

#include <fstream>
#include <sstream>

#include "lib/error.h"

namespace bagnet::evaluation {

const char* const kTrialColumns[8] = {"subj",     "session",   "trial",    "rt", "object_response",
                                      "category", "condition", "imagename"};

namespace {

std::vector<std::string> split_csv_line(std::string line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) out.push_back(field);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

}  // namespace

std::vector<TrialRow> read_trials_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the CSV file");
  std::string line;
  if (!std::getline(in, line))
    throw Error(path + ":1", "empty file; expected the header " + format_trials_csv({}));
  const auto header = split_csv_line(line);
  int col[8];
  std::string missing;
  for (int c = 0; c < 8; ++c) {
    col[c] = -1;
    for (size_t h = 0; h < header.size(); ++h)
      if (header[h] == kTrialColumns[c]) col[c] = static_cast<int>(h);
    if (col[c] < 0) missing += std::string(missing.empty() ? "" : ", ") + kTrialColumns[c];
  }
  if (!missing.empty()) throw Error(path + ":1", "missing column(s) " + missing + " in the header");
  std::vector<TrialRow> rows;
  for (int lineno = 2; std::getline(in, line); ++lineno) {
    if (line.empty() || line == "\r") continue;
    const auto f = split_csv_line(line);
    const std::string origin = path + ":" + std::to_string(lineno);
    if (f.size() != header.size())
      throw Error(origin,
                  "expected " + std::to_string(header.size()) + " fields, found " + std::to_string(f.size()));
    TrialRow r;
    r.subj = f[col[0]];
    r.session = f[col[1]];
    r.trial = f[col[2]];
    r.rt = f[col[3]];
    r.object_response = f[col[4]];
    r.category = f[col[5]];
    r.condition = f[col[6]];
    r.imagename = f[col[7]];
    r.origin = origin;
    if (r.subj.empty() || r.object_response.empty() || r.category.empty() || r.imagename.empty())
      throw Error(origin, "empty subj, object_response, category or imagename");
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string format_trials_csv(const std::vector<TrialRow>& rows) {
  std::string out;
  for (int c = 0; c < 8; ++c) out += std::string(c ? "," : "") + kTrialColumns[c];
  out += "\n";
  for (const auto& r : rows)
    out += r.subj + "," + r.session + "," + r.trial + "," + r.rt + "," + r.object_response + "," +
           r.category + "," + r.condition + "," + r.imagename + "\n";
  return out;
}

std::string trials_csv_name(const std::string& dataset, const std::string& subject) {
  return dataset + "_" + subject + "_session-1.csv";
}

// Hand-written rather than std::regex: libstdc++'s regex backtracks recursively and overflows
// the stack on long names. The fields cannot overlap (each stops at '_'), so one pass decides.
std::string stimulus_name(const std::string& imagename) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  auto alnum = [&](char c) { return digit(c) || alpha(c); };
  // ^\d+_[A-Za-z0-9]+_[A-Za-z0-9]+_\d+_[A-Za-z]+_\d+_(.+)$
  size_t i = 0;
  enum Kind { kDigits, kAlpha, kAlnum };
  for (const Kind kind : {kDigits, kAlnum, kAlnum, kDigits, kAlpha, kDigits}) {
    const size_t start = i;
    while (i < imagename.size() && (kind == kDigits  ? digit(imagename[i])
                                    : kind == kAlpha ? alpha(imagename[i])
                                                     : alnum(imagename[i])))
      ++i;
    if (i == start || i >= imagename.size() || imagename[i] != '_') return imagename;
    ++i;
  }
  // (.+): at least one character, none a line break ('.' excludes them).
  if (i >= imagename.size() || imagename.find_first_of("\r\n", i) != std::string::npos) return imagename;
  return imagename.substr(i);
}

}  // namespace bagnet::evaluation
