#include "heatmaps/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "figures/colormap.h"
#include "lib/error.h"

namespace bagnet::heatmaps {
namespace {

using figures::Colormap;
using figures::colormap;

cv::Mat to_mat(const Image& img) {
  return cv::Mat(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.rgb.data()));
}

Image from_mat(const cv::Mat& m) {
  Image img;
  img.width = m.cols;
  img.height = m.rows;
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  img.rgb.assign(c.data, c.data + static_cast<size_t>(c.rows) * c.cols * 3);
  return img;
}

}  // namespace

Image render_figure(const Image* image, const Image& edges_source, const std::vector<const float*>& maps,
                    int rows, int cols, int stride, double clip, const RenderOptions& o) {
  const Colormap& cm = colormap(o.colormap);
  // Small images (28x28 Fashion-MNIST) are enlarged by an integer factor, pixels as blocks.
  const int scale = o.min_height > edges_source.height
                        ? (o.min_height + edges_source.height - 1) / std::max(1, edges_source.height)
                        : 1;
  const int h = edges_source.height * scale, w = edges_source.width * scale, gap = 4;
  auto enlarge = [&](const cv::Mat& m) {
    cv::Mat out;
    cv::resize(m, out, cv::Size(), scale, scale, cv::INTER_NEAREST);
    return out;
  };
  if (clip <= 0 || !std::isfinite(clip)) clip = 1;  // an all-zero map: any limit shows it white
  cv::Mat edges;
  if (o.edges) {
    cv::Mat gray;
    cv::cvtColor(to_mat(edges_source), gray, cv::COLOR_RGB2GRAY);
    cv::Canny(gray, edges, 50, 150);
    if (scale > 1) edges = enlarge(edges);
  }
  const int panels = static_cast<int>(maps.size()) + (image ? 1 : 0);
  cv::Mat fig(h, panels * w + (panels - 1) * gap, CV_8UC3, cv::Scalar(255, 255, 255));
  int x0 = 0;
  if (image) {
    (scale > 1 ? enlarge(to_mat(*image)) : to_mat(*image)).copyTo(fig(cv::Rect(0, 0, w, h)));
    x0 += w + gap;
  }
  // Pixel y shows map row round(y / stride): the patch centred nearest to it.
  std::vector<int> row_of(h), col_of(w);
  for (int y = 0; y < h; ++y) row_of[y] = std::min(rows - 1, (2 * (y / scale) + stride) / (2 * stride));
  for (int x = 0; x < w; ++x) col_of[x] = std::min(cols - 1, (2 * (x / scale) + stride) / (2 * stride));
  for (const float* map : maps) {
    for (int y = 0; y < h; ++y) {
      auto* px = fig.ptr<cv::Vec3b>(y) + x0;
      for (int x = 0; x < w; ++x) {
        const auto& c = cm.color(map[static_cast<size_t>(row_of[y]) * cols + col_of[x]], clip);
        px[x] = o.edges && edges.at<std::uint8_t>(y, x) ? cv::Vec3b(40, 40, 40) : cv::Vec3b(c[0], c[1], c[2]);
      }
    }
    x0 += w + gap;
  }
  return from_mat(fig);
}

std::string encode_png(const Image& image) {
  cv::Mat bgr;
  cv::cvtColor(to_mat(image), bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> buf;
  if (!cv::imencode(".png", bgr, buf)) throw Error("png", "OpenCV could not encode the image");
  return std::string(buf.begin(), buf.end());
}

}  // namespace bagnet::heatmaps
