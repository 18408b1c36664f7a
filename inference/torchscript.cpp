#include "inference/torchscript.h"

#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include "lib/error.h"

namespace bagnet {

struct TorchScriptForward::Compiled {
  torch::jit::Module module;
};

TorchScriptForward::TorchScriptForward(std::shared_ptr<NetworkImpl> net) : net_(std::move(net)) {
  if (!net_) throw Error("torchscript", "no network");
  for (auto& p : net_->parameters()) p.set_requires_grad(false);
}

TorchScriptForward::~TorchScriptForward() = default;

size_t TorchScriptForward::compiled_shapes() const { return modules_.size(); }

torch::Tensor TorchScriptForward::forward(const torch::Tensor& x) {
  if (!x.device().is_cpu()) return net_->forward(x);  // the passes below are CPU (oneDNN) ones
  const std::vector<int64_t> key = x.sizes().vec();
  auto it = modules_.find(key);
  if (it == modules_.end()) {
    torch::NoGradGuard no_grad;
    // Trace the eager forward: the weights become constants of the graph (as freezing would
    // make them). Sizes are recorded as constants too, hence one module per input shape.
    auto traced = torch::jit::tracer::trace(
        {x}, [&](torch::jit::Stack in) -> torch::jit::Stack { return {net_->forward(in[0].toTensor())}; },
        [](const torch::autograd::Variable&) { return std::string(); }, /*strict=*/false,
        /*force_outplace=*/false);
    auto graph = traced.first->graph;
    // A module whose forward is that graph (a method's first input is the module itself).
    torch::jit::Module m("__torch__.bagnet.Traced");
    graph->insertInput(0, "self")->setType(m._ivalue()->type());
    m.type()->addMethod(
        m._ivalue()->compilation_unit()->create_function("__torch__.bagnet.Traced.forward", graph));
    m.eval();
    auto frozen = torch::jit::freeze(m);
    auto compiled = std::make_unique<Compiled>();
    compiled->module = torch::jit::optimize_for_inference(frozen);
    it = modules_.emplace(key, std::move(compiled)).first;
  }
  return it->second->module.forward({x}).toTensor();
}

}  // namespace bagnet
