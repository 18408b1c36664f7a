// bagnet-bench: times forward passes of a registered network (benchmark, not a test).
// Prints one JSON object per configuration on stdout; scripts/bench_forward.py compares the
// figures with PyTorch on the same weights.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>

#include "lib/error.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "networks/model.h"

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Time forward passes (median of --iters after --warmup)."};
  std::string model = "bagnet33", weights, device = "cpu", mode = "pooled";
  std::vector<int> batches{1, 8};
  int size = 224, iters = 10, warmup = 2, threads = 0;
  bool contiguous = false, default_malloc = false, no_fold = false;
  app.add_option("-m,--model", model)->capture_default_str();
  app.add_option("-w,--weights", weights, "Weights file (default: random initialisation)");
  app.add_option("-b,--batch", batches, "Batch sizes")->capture_default_str();
  app.add_option("-s,--size", size, "Input height and width")->capture_default_str();
  app.add_option("--iters", iters)->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  app.add_option("-t,--threads", threads, "0 = all cores")->capture_default_str();
  app.add_option("-d,--device", device)->capture_default_str();
  app.add_option("--mode", mode, "pooled logits or the logit map")->check(CLI::IsMember({"pooled", "map"}));
  app.add_flag("--contiguous", contiguous, "NCHW memory format (the tools use NHWC, channels-last)");
  app.add_flag("--no-fold", no_fold, "Keep BatchNorm separate (the tools fold it into the convolutions)");
  app.add_flag("--default-malloc", default_malloc,
               "Keep glibc's default mmap threshold (to measure its cost)");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads, /*tune_malloc=*/!default_malloc);
  try {
    const auto& spec = bagnet::find_model(model);
    const auto dev = bagnet::resolve_device(device);
    std::shared_ptr<bagnet::NetworkImpl> net;
    if (weights.empty()) {
      net = bagnet::build_network(spec);
      net->eval();
      net->to(dev);
      if (!no_fold) net->fold_batchnorm();
    } else {
      net = bagnet::load_model(spec, weights, dev, !no_fold).net;
    }
    net->set_channels_last(!contiguous);
    torch::NoGradGuard ng;
    for (int b : batches) {
      auto x = torch::randn({b, spec.in_channels, size, size}).to(dev);
      std::vector<double> ms;
      for (int i = 0; i < warmup + iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        auto y = mode == "map" ? net->logit_map(x) : net->forward(x);
        if (dev.is_cuda()) y = y.cpu();
        const auto t1 = std::chrono::steady_clock::now();
        if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      }
      std::sort(ms.begin(), ms.end());
      nlohmann::json row = {{"model", model},
                            {"batch", b},
                            {"size", size},
                            {"mode", mode},
                            {"ms_median", ms[ms.size() / 2]},
                            {"ms_min", ms.front()},
                            {"images_per_s", b * 1000.0 / ms[ms.size() / 2]},
                            {"threads", bagnet::runtime_threads()},
                            {"device", dev.str()},
                            {"channels_last", !contiguous},
                            {"batchnorm_folded", !no_fold},
                            {"default_malloc", default_malloc}};
      std::cout << row.dump() << std::endl;
    }
    return 0;
  } catch (const bagnet::Error& e) {
    std::cerr << "bagnet-bench: " << e.what() << "\n";
    return 1;
  }
}
