# Lists the dynamic symbols libeffi.so defines and fails on any that is not part of effi's public
# API (include/effi/), printing them: the internals, the ONNX protobuf classes and template code must
# stay local (cmake/effi.map), or effi would clash with ONNX Runtime, libonnx or another protobuf
# user loaded in the same process. Also fails when a symbol every user needs is missing (an
# over-tight map). The allow-list below is written apart from the map on purpose: loosening the
# map alone makes this fail.
#   cmake -DLIB=libeffi.so -DNM=nm -P check_exports.cmake
if(NOT LIB OR NOT NM)
  message(FATAL_ERROR "usage: cmake -DLIB=<libeffi.so> -DNM=<nm> -P check_exports.cmake")
endif()
execute_process(COMMAND "${NM}" -D --defined-only -C "${LIB}"
                OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIB}: ${errors}")
endif()

# One regex per kind of public symbol (demangled, symbol version removed).
set(allowed
  "^effi_[a-z0-9_]+$"                     # the C API
  "^EFFI_[0-9]+$"                         # the version node of cmake/effi.map
  "^effi::(Version|ActiveIsa|ElementTypeName|ElementSize|DecodeImage|DecodeNv12|DecodeNv12File|ModelPreprocessing|Preprocess|TopK|Evaluate|Quantize)(\\[abi:cxx11\\])?\\("
  # Members of the public classes, not of their private Impl structs.
  "^effi::(Tensor|TensorView|Model|Session|Classifier|Error)::(~?[A-Za-z_][A-Za-z_0-9]*|operator=)(\\[abi:cxx11\\])?\\("
  "^effi::QuantizeReport::ToJson(\\[abi:cxx11\\])?\\("
  "^(typeinfo|typeinfo name|vtable) for effi::Error$")
set(required
  "effi_model_load" "effi_classify" "effi_image_decode_file" "effi_last_error"
  "typeinfo for effi::Error" "effi::Model::Load(" "effi::Session::Run(" "effi::Session::Session("
  "effi::Classifier::Classify(" "effi::DecodeImage(" "effi::Version()"
  "effi::Quantize(" "effi::QuantizeReport::ToJson")

string(REPLACE ";" "\\;" listing "${listing}")
string(REPLACE "\n" ";" lines "${listing}")
set(count 0)
set(bad "")
set(names "")
foreach(line IN LISTS lines)
  # "<address> <type> <name>", or "<type> <name>" for symbols without an address.
  if(NOT line MATCHES "^([0-9a-fA-F]+ )?[A-Za-z] (.+)$")
    continue()
  endif()
  string(REGEX REPLACE "@@?[A-Za-z0-9_.]+$" "" name "${CMAKE_MATCH_2}")
  math(EXPR count "${count} + 1")
  list(APPEND names "${name}")
  set(ok FALSE)
  foreach(re IN LISTS allowed)
    if(name MATCHES "${re}")
      set(ok TRUE)
      break()
    endif()
  endforeach()
  if(NOT ok)
    string(APPEND bad "  ${name}\n")
  endif()
endforeach()

set(missing "")
foreach(want IN LISTS required)
  set(found FALSE)
  foreach(name IN LISTS names)
    string(FIND "${name}" "${want}" at)
    if(at EQUAL 0)
      set(found TRUE)
      break()
    endif()
  endforeach()
  if(NOT found)
    string(APPEND missing "  ${want}\n")
  endif()
endforeach()

if(count EQUAL 0)
  message(FATAL_ERROR "${LIB}: no exported symbols found (nm output not understood?)")
endif()
if(bad OR missing)
  message(FATAL_ERROR "${LIB} exports ${count} symbols.\n"
          "Not part of the effi API (hide them: cmake/effi.map):\n${bad}"
          "Missing from the exports (users cannot link them):\n${missing}")
endif()
message(STATUS "${LIB}: ${count} exported symbols, all effi API")
