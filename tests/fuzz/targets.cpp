#include "tests/fuzz/targets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "datasets/eval_dataset.h"
#include "datasets/idx.h"
#include "evaluation/categories.h"
#include "evaluation/results_file.h"
#include "evaluation/shape_bias.h"
#include "evaluation/trials_csv.h"
#include "lib/error.h"
#include "lib/image.h"
#include "lib/json_read.h"
#include "lib/npy.h"
#include "lib/pickle.h"
#include "networks/labels.h"
#include "networks/registry.h"

namespace bagnet::fuzz {

namespace {

// The 16 categories of Geirhos et al., which the CSV and results readers meet in practice.
const std::vector<std::string>& categories() {
  static const std::vector<std::string> c = {"airplane", "bear",  "bicycle", "bird",  "boat", "bottle",
                                             "car",      "cat",   "chair",   "clock", "dog",  "elephant",
                                             "keyboard", "knife", "oven",    "truck"};
  return c;
}

// A small label space with names, WordNet ids and indices for the list reader to resolve.
const Labels& labels() {
  static const Labels l = [] {
    Labels out;
    out.names = {"tench", "goldfish", "great white shark", "T-shirt/top", "Ankle boot", "cat", "dog"};
    out.wnids = {"n01440764", "n01443537", "n01484850", "n00000001", "n00000002", "n00000003", "n00000004"};
    return out;
  }();
  return l;
}

std::string text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace

std::string input_file(const std::uint8_t* data, std::size_t size, const std::string& suffix) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("bagnet-fuzz-" + std::to_string(::getpid()) + suffix))
          .string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size > 0 && std::fwrite(data, 1, size, f) != size)) {
    std::perror(path.c_str());
    std::abort();  // the harness's own failure, not the parser's
  }
  std::fclose(f);
  return path;
}

const std::vector<std::string>& parser_targets() {
  static const std::vector<std::string> t = {"pickle", "image",   "npy",      "idx",    "trials_csv",
                                             "list",   "results", "registry", "mapping"};
  return t;
}

void run_parser_target(const std::string& target, const std::uint8_t* data, std::size_t size) {
  if (target == "pickle") {
    std::istringstream in(text(data, size));
    const Pickle p = read_pickle(in, size, "input.pkl", "the pickle");
    (void)p.root().get("state_dict");
  } else if (target == "image") {
    // A 4-megapixel limit keeps every accepted input small; the preprocessing then runs as a
    // model's would, with the same limit on what the resize makes.
    constexpr long long kPixels = 1LL << 22;
    const Image img = decode_image(std::vector<std::uint8_t>(data, data + size), "input.img", kPixels);
    Preprocessing p;
    int h = 0, w = 0;
    preprocess(img, p, &h, &w, kPixels);
    p.grayscale = true;
    p.resize = 32;
    p.crop = 28;
    if (img.width >= 28 && img.height >= 28) preprocess(img, p, &h, &w, kPixels);
  } else if (target == "npy") {
    parse_npy(text(data, size), "input.npy");
  } else if (target == "idx") {
    read_idx(input_file(data, size, ".idx"));
  } else if (target == "trials_csv") {
    const auto rows = evaluation::read_trials_csv(input_file(data, size, ".csv"));
    for (const auto& row : rows) evaluation::stimulus_name(row.imagename);
    const auto trials = evaluation::cue_conflict_trials(rows, categories());
    evaluation::shape_bias_json(evaluation::shape_bias(trials, categories()), categories());
  } else if (target == "list") {
    DatasetOptions options;
    options.kind = "list";
    open_eval_dataset(input_file(data, size, ".list"), options, labels(), categories());
  } else if (target == "results") {
    const auto f = evaluation::parse_results(text(data, size), "results.jsonl");
    const auto cats = evaluation::categories_of(f.header["run"]);
    for (const auto& r : f.records)
      if (r.decision >= 0) (void)cats.at(static_cast<size_t>(r.decision));  // at(): a bad index throws
  } else if (target == "registry") {
    const auto specs = parse_model_registry(parse_json(text(data, size), "models.json"), "models.json");
    for (const auto& s : specs) (void)s.preprocessing.resize;
  } else if (target == "mapping") {
    const auto m = evaluation::parse_category_mapping(text(data, size), "mapping.json");
    std::vector<float> probabilities(static_cast<size_t>(m.num_classes), 0.5f);
    if (m.num_classes <= (1 << 16)) m.decide(probabilities.data(), evaluation::Aggregation::Mean);
  } else {
    throw std::invalid_argument("unknown fuzz target " + target);
  }
}

}  // namespace bagnet::fuzz
