// The checkpoint target, apart because it needs torch (slow to compile).
#include "lib/checkpoint.h"
#include "tests/fuzz/targets.h"

namespace bagnet::fuzz {

void run_checkpoint_target(const std::uint8_t* data, std::size_t size) {
  const StateDict sd = load_state_dict(input_file(data, size, ".pt"));
  for (const auto& [key, tensor] : sd.tensors) (void)tensor.sum();  // touch every byte
}

}  // namespace bagnet::fuzz
