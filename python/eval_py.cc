// effi.evaluate: effi::Evaluate (effi/eval.hpp), top-1 / top-5 of classifiers on a labelled set,
// returned as the dict `effi eval --json` prints (plus the set's description, the time and, when
// asked, the first model's logits). The GIL is released while it runs; Ctrl-C stops it.
#include <Python.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "effi/eval.hpp"

namespace py = pybind11;

namespace effi_py {
namespace {

py::dict Evaluate(const py::object& models, const py::object& data, int64_t limit, int threads,
                  const std::string& passes, int64_t memory_limit, bool logits,
                  const py::object& progress) {
  // One path or a list of them; each model is named in the results as os.fsdecode gives it.
  std::vector<py::object> given;
  if (py::isinstance<py::str>(models) || py::isinstance<py::bytes>(models) ||
      py::hasattr(models, "__fspath__")) {
    given.push_back(models);
  } else {
    for (const py::handle& m : py::iter(models))
      given.push_back(py::reinterpret_borrow<py::object>(m));
  }
  std::vector<std::string> paths;
  for (const py::object& m : given) paths.push_back(FsPath(m));
  const std::string source = FsPath(data);
  if (!progress.is_none() && !PyCallable_Check(progress.ptr()))
    throw py::type_error("evaluate(): progress must be callable(done, total) or None");

  effi::EvalOptions options;
  options.limit = limit;
  options.threads = threads;
  options.model.passes = passes;
  options.model.memory_limit_bytes = memory_limit;
  options.keep_logits = logits;
  // Runs on this thread, between images: takes the GIL to call `progress` and to let a pending
  // KeyboardInterrupt (Ctrl-C) stop the run (effi::Evaluate rethrows what this throws).
  options.progress = [&progress](size_t done, size_t total) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!progress.is_none()) progress(done, total);
  };
  effi::EvalReport report;
  {
    py::gil_scoped_release release;
    report = effi::Evaluate(paths, source, options);
  }

  const py::object fsdecode = py::module_::import("os").attr("fsdecode");
  py::list results;
  for (size_t k = 0; k < report.results.size(); ++k) {
    const effi::EvalResult& r = report.results[k];
    py::dict d;
    d["model"] = fsdecode(given[k]);
    d["top1"] = r.top1;
    d["top5"] = r.top5;
    d["correct"] = r.correct;
    d["agreement"] = r.agreement;
    d["logit_cosine"] = r.logit_cosine;
    results.append(std::move(d));
  }
  py::dict out;
  out["count"] = report.items;
  out["dataset"] = Display(report.dataset);
  out["seconds"] = report.seconds;
  out["results"] = std::move(results);
  if (logits) {
    // The rows are handed to NumPy without a copy: the array's base owns the vector.
    auto* owned = new std::vector<float>(std::move(report.logits));
    py::capsule base(owned, [](void* p) { delete static_cast<std::vector<float>*>(p); });
    out["logits"] = py::array_t<float>(
        {static_cast<py::ssize_t>(report.items), static_cast<py::ssize_t>(report.classes)},
        owned->data(), base);
  }
  return out;
}

}  // namespace

void BindEval(py::module_& m) {
  m.def("evaluate", &Evaluate, py::arg("models"), py::arg("data"), py::arg("limit") = 0,
        py::arg("threads") = 0, py::arg("passes") = "all", py::arg("memory_limit") = 0,
        py::arg("logits") = false, py::arg("progress") = py::none(),
        R"doc(Top-1 / top-5 accuracy of image classifiers on a labelled set, side by side.

evaluate(models, data, limit=0, threads=0, passes="all", memory_limit=0, logits=False,
         progress=None) -> dict, as `effi eval --json` prints it:
  {"count": 16, "dataset": "IDX 't10k-images-idx3-ubyte.gz' (10000 images 28x28, gray)",
   "seconds": 0.3, "results": [{"model": path, "top1": 1.0, "top5": 1.0, "correct": 16,
   "agreement": 1.0, "logit_cosine": 1.0}, ...]}

models        an .onnx path (str or os.PathLike) or a list of them; agreement (share of equal top-1
              classes) and logit_cosine (mean cosine of the output rows) are against the first
data          an IDX `*-images-idx3-ubyte[.gz]` (labels beside it), a folder with one subfolder
              per class, a `path label` list file, or a preprocessed X.npy with X_labels.npy
limit         only the first `limit` items (0: all)
threads       images evaluated at once, one thread each (0: the CPU count); the numbers do not
              depend on it
passes, memory_limit  as effi.Model
logits        add "logits": the first model's outputs, a float32 array [count, classes]
progress      callable(done, total), called now and then on the calling thread; what it raises
              stops the run and is raised here

Each model uses its own preprocessing ("preprocess" metadata, else timm's defaults). effi.Error:
code 'io' for a missing file, 'invalid_argument' for an unknown or unlabelled set or a label the
models do not have, 'unsupported' for a model that is no classifier, 'invalid_image' for an image
that does not decode. Releases the GIL; Ctrl-C stops it between images.
)doc");
}

}  // namespace effi_py
