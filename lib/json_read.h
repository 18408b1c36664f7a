#pragma once
// Reading values out of JSON that came from a file (results, mappings, the registry), so that a
// wrong or hostile file gives bagnet::Error("file", "field: reason") and never a JSON type error
// without the file name, an out-of-range conversion (get<int>() on 1e300 is undefined
// behaviour) or a stack overflow on deep nesting. Header-only: no torch, no .cpp to list.
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <type_traits>

#include "lib/error.h"

namespace bagnet {

// Deeper nesting than any file of ours has; nlohmann's dump() and our comparisons recurse.
constexpr int kMaxJsonDepth = 64;

// Parses `text`; malformed JSON or nesting deeper than kMaxJsonDepth is bagnet::Error(file, ...).
inline nlohmann::json parse_json(const std::string& text, const std::string& file) {
  bool too_deep = false;
  nlohmann::json::parser_callback_t depth_check = [&too_deep](int depth, nlohmann::json::parse_event_t,
                                                              nlohmann::json&) {
    if (depth > kMaxJsonDepth) too_deep = true;
    return !too_deep;  // stop keeping values once too deep; the error follows
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, depth_check);
  } catch (const nlohmann::json::exception& e) {
    throw Error(file, std::string("not valid JSON: ") + e.what());
  }
  if (too_deep) throw Error(file, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  return j;
}

// j[key] of an object; Error(file, "missing field 'where.key'") when absent or j is no object.
inline const nlohmann::json& json_field(const nlohmann::json& j, const char* key, const std::string& file,
                                        const std::string& where = "") {
  const std::string name = where.empty() ? std::string(key) : where + "." + key;
  if (!j.is_object())
    throw Error(file, "'" + (where.empty() ? std::string("top level") : where) + "' is not an object");
  const auto it = j.find(key);
  if (it == j.end()) throw Error(file, "missing field '" + name + "'");
  return *it;
}

// A JSON integer (or an integral float, as some writers emit 3.0) as T, range-checked against
// [lo, hi]; anything else is Error(file, "field: ...").
template <typename T>
T json_integer(const nlohmann::json& v, const std::string& file, const std::string& field,
               T lo = std::numeric_limits<T>::lowest(), T hi = std::numeric_limits<T>::max()) {
  static_assert(std::is_integral_v<T>, "integer types only");
  auto bad = [&](const std::string& what) {
    return Error(file, "'" + field + "' " + what + " (expected an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "])");
  };
  // Integer JSON values are compared as 128-bit integers, so no bound or value is converted
  // before it is known to fit.
  if (v.is_number_integer()) {
    const __int128 x = v.is_number_unsigned() ? static_cast<__int128>(v.get<std::uint64_t>())
                                              : static_cast<__int128>(v.get<std::int64_t>());
    if (x < static_cast<__int128>(lo) || x > static_cast<__int128>(hi)) throw bad("is " + v.dump());
    return static_cast<T>(x);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 and -2^63 are exact doubles; the range test is done before any conversion.
    if (!std::isfinite(d) || d != std::floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
      throw bad("is " + v.dump());
    return json_integer<T>(nlohmann::json(static_cast<std::int64_t>(d)), file, field, lo, hi);
  }
  throw bad(std::string("is a ") + v.type_name());
}

// A JSON number as a finite double within [lo, hi].
inline double json_number(const nlohmann::json& v, const std::string& file, const std::string& field,
                          double lo = -std::numeric_limits<double>::max(),
                          double hi = std::numeric_limits<double>::max()) {
  if (!v.is_number())
    throw Error(file, "'" + field + "' is a " + std::string(v.type_name()) + ", not a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw Error(file, "'" + field + "' is " + v.dump() + ", outside [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  return d;
}

inline std::string json_string(const nlohmann::json& v, const std::string& file, const std::string& field) {
  if (!v.is_string())
    throw Error(file, "'" + field + "' is a " + std::string(v.type_name()) + ", not a string");
  return v.get<std::string>();
}

inline bool json_bool(const nlohmann::json& v, const std::string& file, const std::string& field) {
  if (!v.is_boolean())
    throw Error(file, "'" + field + "' is a " + std::string(v.type_name()) + ", not a boolean");
  return v.get<bool>();
}

// The first key path whose values differ between two JSON documents ("run.options.k"; "value"
// for two different scalars at the top; "" when equal): for messages that refuse to mix runs.
inline std::string first_difference(const nlohmann::json& a, const nlohmann::json& b,
                                    const std::string& prefix = "") {
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      if (!a.contains(k) || !b.contains(k)) return prefix + k;
      auto d = first_difference(a[k], b[k], prefix + k + ".");
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a != b) return prefix.empty() ? "value" : prefix.substr(0, prefix.size() - 1);
  return "";
}

}  // namespace bagnet
