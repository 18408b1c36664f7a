// OneDnnForward for builds without oneDNN's headers (the minimal build on a machine whose LibTorch
// carries oneDNN inside it, e.g. the GPU machine of scripts/gpu_check.sh): supports() is false,
// so "--engine auto" resolves to eager there, and asking for the engine is a one-line error.
#include "inference/onednn.h"
#include "lib/error.h"

namespace bagnet {

struct OneDnnForward::Network {};
struct OneDnnForward::Plan {};

bool OneDnnForward::supports(const NetworkImpl&) { return false; }

OneDnnForward::OneDnnForward(std::shared_ptr<NetworkImpl> net, Precision precision)
    : net_(std::move(net)), precision_(precision) {
  throw Error("--engine onednn", "this build has no oneDNN (configure with libdnnl-dev installed)");
}

OneDnnForward::~OneDnnForward() = default;
torch::Tensor OneDnnForward::forward(const torch::Tensor&) { return {}; }
torch::Tensor OneDnnForward::features(const torch::Tensor&, const std::vector<BlockGeometry>&) { return {}; }
std::vector<BlockGeometry> OneDnnForward::block_geometry() const { return {}; }
size_t OneDnnForward::compiled_shapes() const { return 0; }

}  // namespace bagnet
