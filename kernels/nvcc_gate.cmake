# nvcc_gate.cmake — run one nvcc compile gate (kernels/CMakeLists.txt):
#   cmake -DNVCC=... -DLOG=... -DARGS="a;b;c" -P nvcc_gate.cmake
# Keeps nvcc's and ptxas's report (registers, shared memory, spills) in LOG and fails
# the build, printing it, when the compile fails (ptxas -Werror: any spill fails).
execute_process(COMMAND ${NVCC} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE out)
file(WRITE ${LOG} "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nvcc gate failed:\n${out}")
endif()
