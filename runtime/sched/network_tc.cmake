# gpu-tc's block: the RNNoise network as one tensor-core kernel (kernels/network_tc.cu; fp16
# weights/activations, fp32 accumulation), CudaPlan's network stage with
# CudaPlanOptions::network = kFp16. Included from cuda_plan.cmake (whole project and the
# standalone runtime build on the GPU machine).
set(_ghostnv_tc_dir ${CMAKE_CURRENT_LIST_DIR})
target_sources(ghostnv_cuda_plan PRIVATE ${_ghostnv_tc_dir}/network_tc.cc)

if(GHOSTNV_BUILD_TESTS)
  # No device: fp16 conversion, weight packing and the fp16 bound through the host emulation.
  ghostnv_test(sched_network_tc_host_test
               SOURCES ${_ghostnv_tc_dir}/network_tc_host_test.cc ${_ghostnv_tc_dir}/network_tc_test_util.h
               LIBS ghostnv_cuda_plan LABELS unit)
  # GPU (skips "no GPU: ..."): the kernel vs the CPU twin per layer at odd batches, the whole
  # network vs the CPU family's, CudaPlan with network = fp16 vs the CPU family end to end.
  ghostnv_test(sched_network_tc_test
               SOURCES ${_ghostnv_tc_dir}/network_tc_test.cc ${_ghostnv_tc_dir}/network_tc_test_util.h
               LIBS ghostnv_cuda_plan LABELS gpu)
  set_tests_properties(sched_network_tc_test PROPERTIES SKIP_REGULAR_EXPRESSION "no GPU: ")
  # gpubatch (session 6): CudaPlanOptions::lane_highpass — the split frontend (rnn_highpass_* +
  # rnn_frontend_hp) vs the fused rnn_frontend_* bit for bit, on host threads (no device).
  ghostnv_test(sched_cuda_plan_highpass_host_test
               SOURCES ${_ghostnv_tc_dir}/cuda_plan_highpass_host_test.cc ${_ghostnv_tc_dir}/cuda_host_shim.h
               LIBS ghostnv_cuda_plan LABELS unit)
  target_compile_options(sched_cuda_plan_highpass_host_test PRIVATE -Wno-unknown-pragmas -ffp-contract=off)
endif()

# The network alone, fp16 tensor cores vs the fp32 stage, with ceiling probes (not a test).
add_executable(ghostnv_network_tc_benchmark ${_ghostnv_tc_dir}/network_tc_benchmark.cc)
target_link_libraries(ghostnv_network_tc_benchmark PRIVATE ghostnv_cuda_plan absl::strings)
