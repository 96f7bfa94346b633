# The install as a user gets it: `cmake --install <build> --prefix <tmp>`, then the examples built
# against it three ways and run on the bundled demo model and image (installed to share/effi):
#   1. find_package(effi) from the install prefix (CMAKE_PREFIX_PATH), examples/CMakeLists.txt as is;
#   2. find_package(effi) from the build tree (effi_DIR=<build>/src);
#   3. after moving the install elsewhere: plain compiler calls with `pkg-config --cflags --libs
#      effi` (PKG_CONFIG_PATH=<moved>/<libdir>/pkgconfig), so effi.pc must be relocatable.
# Run by ctest (tests/package/CMakeLists.txt) with the parent build's generator and compilers.
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR C_COMPILER CXX_COMPILER PKG_CONFIG LIBDIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_test.cmake: -D${var}= missing")
  endif()
endforeach()

# Runs a command; fails the test with its output when it fails or when its output lacks `expect`.
function(run what expect)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  if(expect AND NOT out MATCHES "${expect}")
    message(FATAL_ERROR "${what}: expected '${expect}' in the output:\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run("install" "" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(file "${LIBDIR}/libeffi.so" "${LIBDIR}/${SONAME}" "include/effi/effi.hpp"
             "include/effi/image.hpp" "include/effi/effi.h" "${LIBDIR}/pkgconfig/effi.pc"
             "${LIBDIR}/cmake/effi/effiConfig.cmake" "share/effi/models/efficientformer_l1_fmnist96.onnx")
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "the install lacks ${file}")
  endif()
endforeach()
# Public headers only: nothing installed may include an internal one.
file(GLOB headers "${prefix}/include/effi/*")
foreach(header IN LISTS headers)
  file(STRINGS "${header}" includes REGEX "#include \"")
  foreach(line IN LISTS includes)
    if(NOT line MATCHES "#include \"effi/")
      message(FATAL_ERROR "${header} includes a header that is not installed: ${line}")
    endif()
  endforeach()
endforeach()

set(generator -G "${GENERATOR}")
if(MAKE_PROGRAM)
  list(APPEND generator "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
set(compilers "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}"
              -DCMAKE_BUILD_TYPE=Release)

# The examples on the demo: the classifier (labels from the model) and the tensor API on zeros.
function(run_examples what cpp c env)
  set(model "${ARGN}/share/effi/models/efficientformer_l1_fmnist96.onnx")
  set(image "${ARGN}/share/effi/images/00_ankle_boot.png")
  run("${what}: C++ classify" "Ankle boot" ${env} "${cpp}" "${model}" "${image}")
  run("${what}: C++ tensor API" "top-1 class" ${env} "${cpp}" "${model}")
  run("${what}: C classify" "Ankle boot" ${env} "${c}" "${model}" "${image}")
  run("${what}: C tensor API" "top-1 class" ${env} "${c}" "${model}")
endfunction()

# 1. find_package from the install.
set(build1 "${WORK_DIR}/examples-installed")
run("configure the examples against the install" "" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/examples"
    -B "${build1}" ${generator} ${compilers} "-DCMAKE_PREFIX_PATH=${prefix}")
run("build them" "" "${CMAKE_COMMAND}" --build "${build1}")
run_examples("find_package(effi), installed" "${build1}/effi_example_cpp"
             "${build1}/effi_example_c" "" "${prefix}")

# 2. find_package from the build tree.
set(build2 "${WORK_DIR}/examples-build-tree")
run("configure the examples against the build tree" "" "${CMAKE_COMMAND}"
    -S "${SOURCE_DIR}/examples" -B "${build2}" ${generator} ${compilers}
    "-Deffi_DIR=${BUILD_DIR}/src")
run("build them" "" "${CMAKE_COMMAND}" --build "${build2}" --target effi_example_c)
run("find_package(effi), build tree: C classify" "Ankle boot" "${build2}/effi_example_c"
    "${SOURCE_DIR}/assets/models/efficientformer_l1_fmnist96.onnx"
    "${SOURCE_DIR}/assets/images/00_ankle_boot.png")

# 3. pkg-config, after moving the install (nothing may point at the old prefix).
set(moved "${WORK_DIR}/moved")
file(RENAME "${prefix}" "${moved}")
set(ENV{PKG_CONFIG_PATH} "${moved}/${LIBDIR}/pkgconfig")
run("pkg-config" "" "${PKG_CONFIG}" --cflags --libs effi)
string(STRIP "${last_output}" flags)
# pkg-config prints ${pcfiledir} resolved: "-I<moved>/lib/pkgconfig/../../include".
string(FIND "${flags}" "-I${moved}/" at)
string(FIND "${flags}" "${prefix}/" stale)
if(at LESS 0 OR stale GREATER_EQUAL 0)
  message(FATAL_ERROR "effi.pc is not relocatable: '${flags}' does not point into ${moved}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
run("cc c_example.c $(pkg-config --cflags --libs effi)" "" "${C_COMPILER}"
    "${SOURCE_DIR}/examples/c_example.c" ${flags} -o "${WORK_DIR}/c_pkgconfig")
run("c++ cpp_example.cc $(pkg-config --cflags --libs effi)" "" "${CXX_COMPILER}" -std=c++17
    "${SOURCE_DIR}/examples/cpp_example.cc" ${flags} -o "${WORK_DIR}/cpp_pkgconfig")
run_examples("pkg-config, moved install" "${WORK_DIR}/cpp_pkgconfig" "${WORK_DIR}/c_pkgconfig"
             "${CMAKE_COMMAND};-E;env;LD_LIBRARY_PATH=${moved}/${LIBDIR}" "${moved}")

file(REMOVE_RECURSE "${WORK_DIR}")
