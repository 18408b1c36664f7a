#pragma once
// Decoding and preprocessing images on worker threads while the network runs.
// Items come out in input order; at most `lookahead` are held in memory.
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/image.h"

namespace bagnet {

struct LoadedImage {
  size_t index = 0;  // position in the input list
  std::string path;
  std::string error;          // non-empty when the file could not be used: "reason" (without the path)
  std::string conversion;     // what decoding had to do (grayscale, alpha, 16-bit), for diagnostics
  int height = 0, width = 0;  // of the preprocessed tensor
  int source_height = 0, source_width = 0;
  std::vector<float> chw;  // normalised CHW float32
};

// Produces item i of a dataset (decoded, preprocessed); errors go into LoadedImage::error.
// Called concurrently from worker threads, so it must be thread-safe.
using LoadFunction = std::function<LoadedImage(size_t)>;

class ImageLoader {
 public:
  // Image files, decoded and preprocessed with `prep`.
  ImageLoader(std::vector<std::string> files, Preprocessing prep, long long max_pixels, int workers,
              size_t lookahead = 64);
  // Any `count` items (e.g. images inside an idx file, or a subset of a dataset).
  ImageLoader(size_t count, LoadFunction load, int workers, size_t lookahead = 64);
  ~ImageLoader();
  ImageLoader(const ImageLoader&) = delete;
  ImageLoader& operator=(const ImageLoader&) = delete;

  // Next image in input order; false when all have been returned.
  bool next(LoadedImage& out);
  size_t size() const { return count_; }

 private:
  void start(int workers);
  void work();
  size_t count_;
  LoadFunction load_;
  size_t lookahead_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  size_t next_to_claim_ = 0, next_to_return_ = 0;
  bool stop_ = false;
  std::map<size_t, LoadedImage> done_;
  std::vector<std::thread> threads_;
};

// The preprocessed image back in 8 bits (x * std + mean, rounded; one channel repeated to RGB),
// for figures drawn over what the network saw.
Image denormalise(const LoadedImage& item, const Preprocessing& p);

// Decode + preprocess one file; errors are returned in LoadedImage::error, never thrown.
LoadedImage load_and_preprocess(const std::string& path, const Preprocessing& prep, long long max_pixels);

}  // namespace bagnet
