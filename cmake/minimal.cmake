# The minimal build (-DBAGNET_MINIMAL=ON), included from the top-level CMakeLists.txt after
# bagnet_registry: the networks, the dense maps and bagnet-bench, without OpenCV and cairo.
# It exists for machines that have LibTorch but not this project's other -dev packages, such as
# the GPU machine that scripts/gpu_check.sh builds on (nlohmann-json, CLI11, OpenSSL and zlib
# then come from the folder that `scripts/gpu_check.sh --prepare` fills).
#
# networks/ is taken whole (a network needs only LibTorch and lib/), so a network added there
# is in this build without a second list to keep; a networks/ file that needs OpenCV or cairo
# must be left out here.
# LibTorch >= 2.12 needs C++20 (scripts/gpu_check.sh passes -DBAGNET_CXX_STANDARD=20 there).
if(BAGNET_CXX_STANDARD)
  set(CMAKE_CXX_STANDARD ${BAGNET_CXX_STANDARD})
endif()
file(GLOB BAGNET_NN_NETWORKS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/networks/*.cpp)
list(REMOVE_ITEM BAGNET_NN_NETWORKS ${CMAKE_SOURCE_DIR}/networks/registry.cpp
     ${CMAKE_SOURCE_DIR}/networks/labels.cpp)  # in bagnet_registry
# The oneDNN engine where oneDNN's headers and library are found (libdnnl-dev); a pip LibTorch
# keeps its oneDNN inside libtorch_cpu, so there the stub (supports() false: eager) is built.
find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
find_library(DNNL_LIBRARY dnnl)
if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
  set(BAGNET_ONEDNN_SOURCE inference/onednn.cpp)
else()
  set(BAGNET_ONEDNN_SOURCE inference/onednn_stub.cpp)
  set(DNNL_LIBRARY "")
endif()
add_library(bagnet_nn STATIC
  # lib/ without image.cpp (OpenCV) and progress/run_lock (used by the batch tools only)
  lib/sha256.cpp
  lib/pickle.cpp
  lib/checkpoint.cpp
  lib/npy.cpp
  lib/provenance.cpp
  lib/runtime.cpp
  lib/interrupt.cpp
  ${BAGNET_NN_NETWORKS}
  heatmaps/dense.cpp
  inference/torchscript.cpp
  ${BAGNET_ONEDNN_SOURCE}
)
target_include_directories(bagnet_nn PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
target_link_libraries(bagnet_nn PUBLIC bagnet_registry ${TORCH_LIBRARIES} nlohmann_json::nlohmann_json
                      Threads::Threads ZLIB::ZLIB OpenSSL::Crypto ${DNNL_LIBRARY})
target_compile_options(bagnet_nn PRIVATE ${BAGNET_WARNINGS})
# lib/runtime.cpp: no OpenCV thread pool to configure.
target_compile_definitions(bagnet_nn PRIVATE BAGNET_NO_OPENCV)

add_executable(bagnet-bench apps/bagnet_bench.cpp)
target_link_libraries(bagnet-bench PRIVATE bagnet_nn)
if(TARGET CLI11::CLI11)
  target_link_libraries(bagnet-bench PRIVATE CLI11::CLI11)
endif()
target_compile_options(bagnet-bench PRIVATE ${BAGNET_WARNINGS})
