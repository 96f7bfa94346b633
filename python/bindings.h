// The parts of the Python module `effi` defined outside effi_py.cc, one function per file, each
// adding its functions and classes to the module.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

namespace effi_py {

// os.fsencode: the file system's bytes for a str, bytes or os.PathLike (a name that is not UTF-8
// round-trips through its surrogate escapes).
std::string FsPath(const pybind11::handle& path);
// Text from effi (messages, labels, set descriptions) for display: bytes that are not UTF-8 (from
// a model file or a file name) become U+FFFD instead of a UnicodeDecodeError.
pybind11::str Display(const std::string& s);

void BindEval(pybind11::module_& m);      // eval_py.cc: effi.evaluate
void BindQuantize(pybind11::module_& m);  // quantize_py.cc: effi.quantize

}  // namespace effi_py
