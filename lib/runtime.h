#pragma once
// Process-wide set-up shared by every tool: threads, allocator, device.
#include <c10/core/Device.h>

#include <string>

namespace bagnet {

// Call once at start-up, before any tensor work.
// - glibc's malloc returns blocks above the (dynamic) mmap threshold to the system after
//   each use, so tens of MB of activations page-fault on every forward pass (measured here:
//   3.4x slower at batch 1, 8x at batch 8). Raising M_MMAP_THRESHOLD / M_TRIM_THRESHOLD keeps
//   them in the heap.
// - LibTorch runs on one thread unless told: threads <= 0 means all cores.
void init_runtime(int threads, bool tune_malloc = true);

// The number of intra-op threads in use.
int runtime_threads();

// "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N". On CUDA, TF32 is switched
// off for matmuls and convolutions: the released BagNet-33 weights lose ~2.5 points top-1
// under TF32. Throws bagnet::Error for an unknown or unavailable device.
c10::Device resolve_device(const std::string& spec);

// "cpu" or "cuda:0 (NVIDIA H200)", for provenance.
std::string describe_device(const c10::Device& device);

}  // namespace bagnet
