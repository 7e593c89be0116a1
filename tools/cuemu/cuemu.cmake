# cuemu: the CUDA backend's sources (cuda/) rewritten by cuemu-rewrite into C++ and built against
# cuemu's stand-ins for the CUDA headers (tools/cuemu/include), so that the tests' CUDA cases run
# the real kernels on the CPU. Included by the top-level CMakeLists.txt when LONGTAIL_CUDA_EMU=ON.
enable_language(CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(cuemu_dir ${PROJECT_SOURCE_DIR}/tools/cuemu)
set(cuemu_gen ${CMAKE_BINARY_DIR}/cuemu)
add_executable(cuemu_rewrite ${cuemu_dir}/rewrite.c)

set(cuemu_sources ${cuemu_dir}/cuemu.cc)
# FMA instructions, so that a * b + c fuses as nvcc fuses it in kernels
if(LONGTAIL_NATIVE)
  set(cuemu_arch -march=native)
else()
  set(cuemu_arch -mfma)
endif()
# IN, a CUDA source, rewritten into OUT for cuemu
function(cuemu_rewrite_source in out)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${cuemu_gen}
    COMMAND cuemu_rewrite ${in} ${out}
    DEPENDS cuemu_rewrite ${in}
    COMMENT "cuemu: rewriting ${in}")
endfunction()
# the headers keep their names (the .cu files include them by name); the .cu files become .cc
foreach(src ${LONGTAIL_CUDA_SOURCES} cuda_common.cuh ptx.cuh)
  string(REGEX REPLACE "\\.cu$" ".cc" out ${src})
  cuemu_rewrite_source(${PROJECT_SOURCE_DIR}/cuda/${src} ${cuemu_gen}/${out})
  if(out MATCHES "\\.cc$")
    list(APPEND cuemu_sources ${cuemu_gen}/${out})
  else()
    list(APPEND cuemu_headers ${cuemu_gen}/${out})
  endif()
endforeach()
add_custom_target(cuemu_headers DEPENDS ${cuemu_headers})
add_dependencies(longtail_engine cuemu_headers)

# cuemu's own test (tools/cuemu/selftest.cu), registered by tests/CMakeLists.txt
cuemu_rewrite_source(${cuemu_dir}/selftest.cu ${cuemu_gen}/selftest.cc)
set_source_files_properties(${cuemu_sources} ${cuemu_gen}/selftest.cc PROPERTIES
  INCLUDE_DIRECTORIES "${cuemu_dir}/include;${cuemu_gen}"
  COMPILE_OPTIONS "-ffp-contract=fast;${cuemu_arch};-Wno-unused-parameter;-Wno-unused-function;-Wno-strict-aliasing")

target_sources(longtail_engine PRIVATE ${cuemu_sources})
target_compile_definitions(longtail_engine PUBLIC LONGTAIL_HAVE_CUDA=1)
add_executable(test_cuemu_self ${cuemu_gen}/selftest.cc)
add_dependencies(test_cuemu_self cuemu_headers)
target_link_libraries(test_cuemu_self PRIVATE longtail_engine)
set_target_properties(test_cuemu_self PROPERTIES LINKER_LANGUAGE CXX RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
# programs linked with the engine need the C++ runtime
set(LONGTAIL_LINKER CXX)
message(STATUS "longtail: cuemu: the CUDA backend runs emulated on the CPU (tests of its kernels, not speed)")
