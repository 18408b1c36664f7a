#pragma once
// Figures of class-evidence maps that explain themselves (paper- and slide-ready): panels of
// pixels side by side (the image, its maps), a title over each panel (the class, its WordNet
// id, pooled logit, probability and rank), a colour bar labelled with what the colours mean
// ("patch logit"), and optional small print (model, weights, stride). Drawn with cairo; the
// panels' pixels come in ready-made (heatmaps/render) and are placed 1:1.
#include <string>
#include <vector>

#include "lib/image.h"

namespace bagnet::figures {

struct FigurePanel {
  Image image;                     // RGB, placed pixel for pixel
  std::vector<std::string> title;  // lines above the panel; the first in the label font
};

struct MapFigure {
  std::string title;                // a line over the whole figure; "" = none
  std::vector<FigurePanel> panels;  // left to right (wrapping after `columns`); all of one size in a grid
  int columns = 0;                  // panels per row; 0 = one row
  bool colorbar = true;
  std::string colormap = "RdBu_r";
  double clip = 1;  // the bar spans -clip (bottom) .. +clip (top)
  std::string bar_label = "patch logit";
  std::string caption;  // small print under the panels; "" = none
};

// Where everything goes, in pixels (the PNG has one pixel per point).
struct MapFigureLayout {
  int width = 0, height = 0;
  int figure_title_y = 0;                // centre of the figure's title (0: none)
  int title_top = 0, title_line = 0;     // first panel-title line's centre (first row), line spacing
  int panels_top = 0, panel_height = 0;  // the first row
  int row_pitch = 0;                     // from one row of panels (with titles) to the next
  std::vector<int> panel_left, panel_top;
  int bar_left = 0, bar_width = 0;  // the bar spans the panels' height
  int caption_y = 0;                // centre of the caption line (0: none)
};
MapFigureLayout map_figure_layout(const MapFigure& figure);

// The figure as PNG bytes. `name` labels errors (e.g. the output path). Throws bagnet::Error for
// no panels, panels of different heights or an unknown colormap.
std::string map_figure_png(const MapFigure& figure, const std::string& name = "figure");

// The colour the bar shows at row `y` of the panels' height h: +clip at the top row, -clip at
// the bottom, linear between (the lookup as for the maps).
double colorbar_value(int y, int h, double clip);

}  // namespace bagnet::figures
