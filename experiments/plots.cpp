#include "experiments/plots.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "figures/canvas.h"
#include "lib/error.h"

namespace bagnet::experiments {

namespace detail {

namespace cv = figures::canvas;

namespace {

// matplotlib's tab10.
constexpr double kTab10[10][3] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                                  {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
                                  {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
                                  {0.090, 0.745, 0.812}};

void set_color(cairo_t* cr, int i) {
  const auto& c = kTab10[((i % 10) + 10) % 10];
  cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

void set_dash(cairo_t* cr, bool dashed) {
  const double d[] = {5, 3};
  cairo_set_dash(cr, d, dashed ? 2 : 0, 0);
}

std::string tick_text(double v, double step) {
  int decimals = 0;
  while (decimals < 6 &&
         std::abs(step * std::pow(10, decimals) - std::round(step * std::pow(10, decimals))) > 1e-9)
    ++decimals;
  return cv::format_fixed(v, decimals);
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double p = std::pow(10, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) {
      step = m * p;
      break;
    }
  std::vector<double> t;
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  for (double i = first; i <= last; ++i) t.push_back(i * step);
  if (t.size() < 2) t.push_back(t.back() + step);
  return t;
}

void write_panels(const std::string& path, const std::string& title, const std::vector<Panel>& panels,
                  const std::vector<Series>& legend) {
  const cv::Format format = cv::format_of(path);
  const double pw = 220, ph = 170, left = 52, gap = 70, top = 48, bottom = 44, legend_row = 16;
  const double width = left + panels.size() * pw + (panels.size() - 1) * gap + 24;
  const double height = top + ph + bottom + legend_row * static_cast<double>(legend.size()) + 12;
  const std::string bytes = cv::render(path, format, width, height, [&](cairo_t* cr) {
    cv::prepare_text(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, cv::kTitleFont);
    cv::draw_text(cr, title, width / 2, 16, cv::Align::center);
    for (size_t pi = 0; pi < panels.size(); ++pi) {
      const Panel& p = panels[pi];
      const double x0 = left + pi * (pw + gap), y0 = top;
      double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymin = xmin, ymax = -xmin;
      for (const auto& s : p.series)
        for (size_t i = 0; i < s.x.size(); ++i)
          if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
            xmin = std::min(xmin, s.x[i]);
            xmax = std::max(xmax, s.x[i]);
            ymin = std::min(ymin, s.y[i]);
            ymax = std::max(ymax, s.y[i]);
          }
      if (!std::isfinite(xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1;
      if (p.identity) ymin = xmin = std::min(xmin, ymin), ymax = xmax = std::max(xmax, ymax);
      const auto xt = nice_ticks(xmin, xmax), yt = nice_ticks(ymin, ymax);
      const double xa = xt.front(), xb = xt.back(), ya = yt.front(), yb = yt.back();
      auto X = [&](double v) { return x0 + (v - xa) / (xb - xa) * pw; };
      auto Y = [&](double v) { return y0 + ph - (v - ya) / (yb - ya) * ph; };
      cairo_set_line_width(cr, 0.8);
      cairo_set_source_rgb(cr, 0, 0, 0);
      cairo_rectangle(cr, x0, y0, pw, ph);
      cairo_stroke(cr);
      cairo_set_font_size(cr, cv::kTickFont);
      for (double v : xt) {
        cairo_move_to(cr, X(v), y0 + ph);
        cairo_line_to(cr, X(v), y0 + ph + 4);
        cairo_stroke(cr);
        cv::draw_text(cr, tick_text(v, xt[1] - xt[0]), X(v), y0 + ph + 12, cv::Align::center);
      }
      for (double v : yt) {
        cairo_move_to(cr, x0 - 4, Y(v));
        cairo_line_to(cr, x0, Y(v));
        cairo_stroke(cr);
        cv::draw_text(cr, tick_text(v, yt[1] - yt[0]), x0 - 6, Y(v), cv::Align::right);
      }
      cairo_set_font_size(cr, cv::kLabelFont);
      cv::draw_text(cr, p.title, x0 + pw / 2, y0 - 10, cv::Align::center);
      cv::draw_text(cr, p.xlabel, x0 + pw / 2, y0 + ph + 28, cv::Align::center);
      cairo_save(cr);
      cairo_translate(cr, x0 - 40, y0 + ph / 2);
      cairo_rotate(cr, -cv::kPi / 2);
      cv::draw_text(cr, p.ylabel, 0, 0, cv::Align::center);
      cairo_restore(cr);
      cairo_save(cr);
      cairo_rectangle(cr, x0, y0, pw, ph);
      cairo_clip(cr);
      if (p.identity) {
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        set_dash(cr, true);
        cairo_move_to(cr, X(xa), Y(xa));
        cairo_line_to(cr, X(xb), Y(xb));
        cairo_stroke(cr);
      }
      for (const auto& s : p.series) {
        set_color(cr, s.color);
        if (s.points) {
          for (size_t i = 0; i < s.x.size(); ++i)
            if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
              cairo_new_sub_path(cr);
              cairo_arc(cr, X(s.x[i]), Y(s.y[i]), 1.6, 0, 2 * cv::kPi);
            }
          cairo_fill(cr);
          continue;
        }
        set_dash(cr, s.dashed);
        cairo_set_line_width(cr, 1.6);
        bool pen = false;
        for (size_t i = 0; i < s.x.size(); ++i) {
          if (!std::isfinite(s.y[i])) {
            pen = false;
            continue;
          }
          if (pen)
            cairo_line_to(cr, X(s.x[i]), Y(s.y[i]));
          else
            cairo_move_to(cr, X(s.x[i]), Y(s.y[i]));
          pen = true;
        }
        cairo_stroke(cr);
        for (size_t i = 0; i < s.x.size(); ++i)
          if (std::isfinite(s.y[i])) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, X(s.x[i]), Y(s.y[i]), 2.2, 0, 2 * cv::kPi);
          }
        cairo_fill(cr);
      }
      cairo_restore(cr);
      set_dash(cr, false);
    }
    cairo_set_font_size(cr, cv::kLabelFont);
    for (size_t i = 0; i < legend.size(); ++i) {
      const double y = top + ph + bottom + 6 + legend_row * static_cast<double>(i);
      set_color(cr, legend[i].color);
      set_dash(cr, legend[i].dashed);
      cairo_set_line_width(cr, 1.6);
      if (legend[i].points) {
        cairo_arc(cr, left + 12, y, 2.5, 0, 2 * cv::kPi);
        cairo_fill(cr);
      } else {
        cairo_move_to(cr, left, y);
        cairo_line_to(cr, left + 24, y);
        cairo_stroke(cr);
      }
      set_dash(cr, false);
      cairo_set_source_rgb(cr, 0, 0, 0);
      cv::draw_text(cr, legend[i].label, left + 32, y, cv::Align::left);
    }
  });
  cv::write_atomically(path, bytes);
}

}  // namespace detail

namespace {

std::vector<double> values(const nlohmann::json& a) {
  std::vector<double> v;
  for (const auto& x : a) v.push_back(x.is_number() ? x.get<double>() : std::nan(""));
  return v;
}

std::vector<double> range(size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

}  // namespace

void write_experiment_figure(const std::string& path, const nlohmann::json& s,
                             const std::vector<nlohmann::json>& records) {
  using detail::Panel;
  using detail::Series;
  const std::string ex = s.at("experiment");
  const std::string data = s.contains("dataset") ? s["dataset"].value("name", std::string()) : "";
  std::vector<Panel> panels;
  std::vector<Series> legend;
  int color = 0;
  if (ex == "masking") {
    const int q = s["parameters"]["patch"].get<int>();
    const std::string map =
        s.contains("map_model") ? s["map_model"].value("name", std::string("BagNet")) : "BagNet";
    panels = {{"true-class logit", "masked patches k", "mean logit", {}, false},
              {"true-class probability", "masked patches k", "mean probability", {}, false},
              {"top-1 accuracy", "masked patches k", "accuracy", {}, false}};
    const char* fields[] = {"logit", "probability", "top1"};
    for (auto it = s["models"].begin(); it != s["models"].end(); ++it, ++color) {
      const auto& m = *it;
      for (size_t p = 0; p < 3; ++p)
        for (const char* kind : {"guided", "random"}) {
          const auto y = values(m[kind][fields[p]]);
          panels[p].series.push_back({"", color, std::string(kind) == "random", false, range(y.size()), y});
        }
      legend.push_back({it.key() + ": the top patches of " + map + "'s map", color, false, false, {}, {}});
      legend.push_back({it.key() + ": random patches", color, true, false, {}, {}});
    }
    detail::write_panels(path,
                         "Masking the most predictive " + std::to_string(q) + "x" + std::to_string(q) +
                             " patches (" + data + ")",
                         panels, legend);
  } else if (ex == "interactions") {
    const int pairs = s["parameters"]["pairs"].get<int>();
    for (auto it = s["models"].begin(); it != s["models"].end(); ++it, ++color) {
      Series pts{"", color, false, true, {}, {}};
      // At most 4000 points per panel: enough to show the distribution, small as SVG.
      size_t stride = 1, total = records.size() * static_cast<size_t>(pairs);
      while (total / stride > 4000) ++stride;
      size_t n = 0;
      for (const auto& r : records) {
        if (r.contains("error")) continue;
        const auto& l = r["models"][it.key()]["logit"];
        const double l0 = l[0].get<double>();
        for (int p = 0; p < pairs; ++p, ++n) {
          if (n % stride) continue;
          const size_t a = 1 + 3 * static_cast<size_t>(p);
          pts.x.push_back(l[a].get<double>() - l0 + l[a + 1].get<double>() - l0);
          pts.y.push_back(l[a + 2].get<double>() - l0);
        }
      }
      char sub[96];
      std::snprintf(sub, sizeof sub, "%s (r = %.3f)", it.key().c_str(),
                    (*it)["pearson"].is_number() ? (*it)["pearson"].get<double>() : std::nan(""));
      panels.push_back({sub, "sum of single changes", "joint change", {pts}, true});
    }
    detail::write_panels(path,
                         "Interactions of patches " + std::to_string(s["parameters"]["distance"].get<int>()) +
                             " px apart: true-class logit changes (" + data + ")",
                         panels, legend);
  } else if (ex == "scrambling") {
    panels = {{"top-1 accuracy", "grid g (g x g tiles)", "accuracy", {}, false},
              {"logit change", "grid g (g x g tiles)", "mean |change| / mean |logit|", {}, false}};
    for (auto it = s["models"].begin(); it != s["models"].end(); ++it, ++color) {
      const auto g = values((*it)["grids"]);
      panels[0].series.push_back({"", color, false, false, g, values((*it)["top1"])});
      panels[1].series.push_back({"", color, false, false, g, values((*it)["relative_logit_change"])});
      legend.push_back({it.key(), color, false, false, {}, {}});
    }
    detail::write_panels(path, "Scrambled tiles (" + data + ")", panels, legend);
  } else {
    throw Error(path, "no figure for experiment " + ex);
  }
}

}  // namespace bagnet::experiments
