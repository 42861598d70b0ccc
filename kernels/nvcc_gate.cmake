# nvcc_gate.cmake — run one nvcc compile gate (kernels/CMakeLists.txt):
#   cmake -DNVCC=... -DLOG=... -DARGS="a;b;c" [-DSTATIC_SMEM_MAX=n] -P nvcc_gate.cmake
# Keeps nvcc's and ptxas's report (registers, shared memory, spills) in LOG and fails
# the build, printing it, when the compile fails (ptxas -Werror: any spill fails), or
# when a kernel's static shared memory exceeds STATIC_SMEM_MAX bytes.
execute_process(COMMAND ${NVCC} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
file(WRITE ${LOG} "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nvcc gate failed:\n${out}")
endif()
if(DEFINED STATIC_SMEM_MAX)
  string(REGEX MATCHALL "[0-9]+ bytes smem" smem_lines "${out}")
  foreach(line ${smem_lines})
    string(REGEX REPLACE " bytes smem" "" bytes "${line}")
    if(bytes GREATER STATIC_SMEM_MAX)
      message(FATAL_ERROR "nvcc gate failed: ${bytes} bytes of static shared memory in a "
                          "kernel, at most ${STATIC_SMEM_MAX} (kernels/viterbi.cuh):\n${out}")
    endif()
  endforeach()
endif()
