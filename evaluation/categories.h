#pragma once
// Decisions among coarse categories from a model's class probabilities: the 16-class
// ImageNet mapping of Geirhos et al. (ICLR 2019) by default, or a user's own mapping file.
// No torch here.
#include <string>
#include <vector>

namespace bagnet::evaluation {

// How the probabilities of a category's classes become the category's score.
// Mean is the rule of Geirhos et al. and model-vs-human (and the recommended one); sum favours
// categories with many classes (dog: 117), max the single most confident class.
enum class Aggregation { Mean, Sum, Max };
Aggregation parse_aggregation(const std::string& name);  // "mean", "sum", "max"; throws bagnet::Error
std::string to_string(Aggregation a);

struct CategoryMapping {
  std::string name;                       // e.g. "16-class-ImageNet"
  std::string path;                       // file it was read from
  int num_classes = 0;                    // size of the model's label space
  std::vector<std::string> categories;    // decision order (ties go to the earlier one)
  std::vector<std::vector<int>> indices;  // per category, the model classes it aggregates

  size_t size() const { return categories.size(); }
  int category_index(const std::string& category) const;  // -1 when unknown

  // Per-category scores of one probability vector (num_classes entries).
  std::vector<double> scores(const float* probabilities, Aggregation aggregation) const;
  // Arg-max of the scores (the first one on ties).
  int decide(const float* probabilities, Aggregation aggregation) const;
};

// Reads a mapping file: {"name", "num_classes", "categories": [{"category", "indices": [...]}, ...]}.
// Throws bagnet::Error (path: reason) for unreadable JSON, missing fields, indices outside
// [0, num_classes), a class listed twice, or an empty category.
CategoryMapping load_category_mapping(const std::string& path);
// The same from the file's text; `path` names it in errors.
CategoryMapping parse_category_mapping(const std::string& text, const std::string& path);

// configs/sixteen_class.json: the 16 categories and their 207 ImageNet indices.
const CategoryMapping& sixteen_class_mapping();

}  // namespace bagnet::evaluation
