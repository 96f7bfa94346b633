// effi.quantize: effi::Quantize (effi/quantize.hpp) from Python. Returns the document `effi
// quantize --json` prints, as a dict (QuantizeReport::ToJson, parsed by the json module), so the
// two cannot drift apart. The GIL is released while it runs; it is taken back for each progress
// call, which also checks for signals, so Ctrl-C stops a long run (nothing is written).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bindings.h"
#include "effi/quantize.hpp"

namespace py = pybind11;

namespace effi_py {
namespace {

py::object Quantize(const py::object& model, const py::object& out, const py::object& calib,
                    int64_t calib_count, std::optional<uint64_t> calib_seed,
                    const std::string& observer, double percentile,
                    const std::vector<std::string>& keep_float, bool output_qdq,
                    const std::string& fallback, double target_cosine, int64_t sensitivity_count,
                    bool measure_isolated, const py::object& val, double max_drop,
                    int64_t val_count, const std::string& passes, int threads, int64_t memory_limit,
                    const py::object& progress) {
  const std::string model_path = FsPath(model), out_path = FsPath(out);
  effi::QuantizeOptions o;
  o.calibration = FsPath(calib);
  o.calibration_count = calib_count;
  o.calibration_seed = calib_seed;
  o.observer = observer;
  o.percentile = percentile;
  o.keep_float = keep_float;
  o.output_qdq = output_qdq;
  o.fallback = fallback;
  o.target_cosine = target_cosine;
  o.sensitivity_count = sensitivity_count;
  o.measure_isolated = measure_isolated;
  if (!val.is_none()) o.validation = FsPath(val);
  o.max_drop = max_drop;
  o.validation_count = val_count;
  o.passes = passes;
  o.threads = threads;
  o.memory_limit_bytes = memory_limit;
  o.progress = [&progress](const std::string& stage, size_t done, size_t total) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!progress.is_none()) progress(stage, done, total);
  };
  std::string json;
  {
    py::gil_scoped_release release;
    json = effi::Quantize(model_path, out_path, o).ToJson();
  }
  return py::module_::import("json").attr("loads")(json);
}

}  // namespace

void BindQuantize(py::module_& m) {
  m.def("quantize", &Quantize, py::arg("model"), py::arg("out"), py::arg("calib"),
        py::arg("calib_count") = 256, py::arg("calib_seed") = py::none(),
        py::arg("observer") = "mse", py::arg("percentile") = 99.99,
        py::arg("keep_float") = std::vector<std::string>{}, py::arg("output_qdq") = false,
        py::arg("fallback") = "auto", py::arg("target_cosine") = 0.9998,
        py::arg("sensitivity_count") = 32, py::arg("measure_isolated") = false,
        py::arg("val") = py::none(), py::arg("max_drop") = 0.5, py::arg("val_count") = 1000,
        py::arg("passes") = "all", py::arg("threads") = 0, py::arg("memory_limit") = 0,
        py::arg("progress") = py::none(),
        R"doc(Post-training int8 quantization to a QDQ ONNX model (`effi quantize`).

Quantizes the float ONNX image classifier `model` with activation ranges calibrated on `calib` and
writes the QDQ model (opset >= 13, runs in ONNX Runtime and effi) to `out`. Returns the document
`effi quantize --json` prints, as a dict: per-layer rows ("layers": precision, MACs, activation
ranges and u8 scale/zero point, weight scales, output cosine/SQNR and isolated model cosine vs
float), the fallback decision ("fallback"), Q/DQ counts, opsets, sizes and times.

  model, out, calib   str or os.PathLike; calib: an IDX file, a folder of images or of class
                      folders, a `path label` list or an .npy of preprocessed [N,3,H,W] inputs
  calib_count         calibration items: the first N, or N drawn with calib_seed
  observer            "minmax", "percentile" (with percentile, in %), "mse" or "entropy"
  keep_float          Conv/Gemm/MatMul node names left in float
  output_qdq          also a Q/DQ pair on each int8 layer's output (ONNX Runtime's QDQ fusion)
  fallback            "auto": the most sensitive layers go float until target_cosine (model
                      output vs float, on the first sensitivity_count items) is met; "none"
  measure_isolated    measure each layer's isolated sensitivity with fallback "none" too
  val, max_drop, val_count   decide the fallback by top-1 on a labelled set instead: layers go
                      float until int8 is within max_drop points of float on its first val_count
  passes, threads, memory_limit   as Model(); threads=0: every CPU
  progress            callable(stage, done, total), stage "calibrate", "sensitivity" or
                      "fallback"; an exception it raises stops the run

Errors: effi.Error with .code ('io' for a missing model or set or an unwritable out,
'invalid_argument' for bad options or an empty set, 'invalid_model', 'unsupported'). Nothing is
written at `out` on error. Releases the GIL.
)doc");
}

}  // namespace effi_py
