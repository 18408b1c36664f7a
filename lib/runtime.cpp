#include "lib/runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <malloc.h>
#include <torch/cuda.h>

#include <thread>
#ifndef BAGNET_NO_OPENCV  // the minimal build (cmake/minimal.cmake) has no OpenCV
#include <opencv2/core.hpp>
#endif

#include "lib/error.h"

namespace bagnet {

void init_runtime(int threads, bool tune_malloc) {
  if (tune_malloc) {
    // 1 GiB: larger than any activation we allocate, so nothing is handed back mid-run.
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
#ifndef BAGNET_NO_OPENCV
  // Image decoding runs in our own worker threads; OpenCV's pool would oversubscribe the cores.
  cv::setNumThreads(1);
#endif
}

int runtime_threads() { return at::get_num_threads(); }

c10::Device resolve_device(const std::string& spec) {
  c10::Device device(c10::kCPU);
  if (spec == "auto") {
    device = torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  } else {
    try {
      device = c10::Device(spec);
    } catch (const std::exception&) {
      throw Error("--device " + spec, "unknown device (use auto, cpu, cuda or cuda:N)");
    }
    if (!device.is_cpu() && !device.is_cuda())
      throw Error("--device " + spec, "unsupported device (use auto, cpu, cuda or cuda:N)");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      throw Error("--device " + spec,
                  "CUDA is not available in this build or on this machine (use --device cpu)");
    const int count = static_cast<int>(torch::cuda::device_count());
    if (!device.has_index()) device = c10::Device(c10::kCUDA, 0);
    if (device.index() >= count)
      throw Error("--device " + spec, "only " + std::to_string(count) + " CUDA device(s) present");
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setBenchmarkCuDNN(true);
  }
  return device;
}

std::string describe_device(const c10::Device& device) { return device.str(); }

}  // namespace bagnet
