// The parts of the Python module `effi` defined outside effi_py.cc, one function per file, each
// adding its functions and classes to the module.
#pragma once

#include <pybind11/pybind11.h>

namespace effi_py {

void BindEval(pybind11::module_& m);      // eval_py.cc: effi.evaluate
void BindQuantize(pybind11::module_& m);  // quantize_py.cc: effi.quantize

}  // namespace effi_py
