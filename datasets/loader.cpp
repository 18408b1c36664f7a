#include "datasets/loader.h"

#include <algorithm>
#include <cmath>

#include "lib/error.h"

namespace bagnet {

LoadedImage load_and_preprocess(const std::string& path, const Preprocessing& prep, long long max_pixels) {
  LoadedImage r;
  r.path = path;
  try {
    Image img = load_image(path, max_pixels);
    r.conversion = img.conversion;
    r.source_height = img.height;
    r.source_width = img.width;
    r.chw = preprocess(img, prep, &r.height, &r.width, max_pixels);
  } catch (const Error& e) {
    r.error = e.reason();
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

ImageLoader::ImageLoader(std::vector<std::string> files, Preprocessing prep, long long max_pixels,
                         int workers, size_t lookahead)
    : count_(files.size()), lookahead_(std::max<size_t>(lookahead, 1)) {
  load_ = [files = std::move(files), prep = std::move(prep), max_pixels](size_t i) {
    return load_and_preprocess(files[i], prep, max_pixels);
  };
  start(workers);
}

ImageLoader::ImageLoader(size_t count, LoadFunction load, int workers, size_t lookahead)
    : count_(count), load_(std::move(load)), lookahead_(std::max<size_t>(lookahead, 1)) {
  start(workers);
}

void ImageLoader::start(int workers) {
  workers = std::max(1, workers);
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

ImageLoader::~ImageLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void ImageLoader::work() {
  for (;;) {
    size_t i;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Claim only within the lookahead window, so memory stays bounded.
      space_.wait(lock, [&] {
        return stop_ || next_to_claim_ >= count_ || next_to_claim_ < next_to_return_ + lookahead_;
      });
      if (stop_ || next_to_claim_ >= count_) return;
      i = next_to_claim_++;
    }
    LoadedImage item;
    try {
      item = load_(i);
    } catch (const std::exception& e) {  // a loader must not take the run down
      item.error = e.what();
    }
    item.index = i;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.emplace(i, std::move(item));
    }
    ready_.notify_all();
  }
}

bool ImageLoader::next(LoadedImage& out) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_to_return_ >= count_) return false;
  ready_.wait(lock, [&] { return done_.count(next_to_return_) > 0; });
  auto node = done_.extract(next_to_return_);
  out = std::move(node.mapped());
  ++next_to_return_;
  lock.unlock();
  space_.notify_all();
  return true;
}

Image denormalise(const LoadedImage& item, const Preprocessing& p) {
  Image img;
  img.width = item.width;
  img.height = item.height;
  img.rgb.resize(static_cast<size_t>(item.width) * item.height * 3);
  const size_t plane = static_cast<size_t>(item.width) * item.height;
  const size_t channels = item.chw.size() / plane;
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      const size_t src = channels == 1 ? 0 : c;
      const float v = (item.chw[src * plane + i] * p.std[src] + p.mean[src]) * 255.0f;
      img.rgb[i * 3 + c] = static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  return img;
}

}  // namespace bagnet
